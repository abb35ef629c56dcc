"""The translation cache on disk: content-addressed entries, atomic writes, checksums, LRU eviction.

Layout under the cache root (see docs/cache.md):

    objects/<key[:2]>/<key>     compiled function objects, named by key.object_key
    lifts/<key[:2]>/<key>       lift results (LiftRecord), named by key.lift_key
    builds/<key[:2]>/<key>      what the last build to an output path made there (pipeline.Stamp)
    programs/<k[:2]>/<k>/       executables kept by `aotbuilder run`
    runtime/<k>/libaotrt.a      the C runtime archive (backend/runtime.py)
    stats.json                  hit and miss counters (cache/stats.py)
    config.toml                 optional settings, e.g. max_size = "5G" (cache/config.py)

An entry is a header (magic, payload length, xxh3-64 of the payload) and the payload.  Writers
create a temporary file in the entry's directory and rename it into place, so a reader sees a
whole entry or none, whether builds run concurrently or are killed.  A header that does not match
its payload (a truncated or damaged file, a file from a power cut before the data reached the disk)
makes the entry a miss; it is deleted and rebuilt.  Hits set the entry's modification time, which
is the "last used" time eviction goes by.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import xxhash

MAGIC = b"AOTC\x02\x00\x00\x00"
HEADER = struct.Struct("<8sQQ")
NAMESPACES = ("objects", "lifts", "builds")
# Directories `cache clear` empties; config.toml (the user's) stays.
CLEARED = (*NAMESPACES, "programs", "runtime")
# A hit refreshes the last-used time only when it is older than this: fewer writes, same LRU order
# at the granularity that matters.
TOUCH_INTERVAL = 60.0
# Temporary files and build directories older than this belong to a killed build.
STALE_TEMP_AGE = 3600.0
TEMP_PREFIXES = (".tmp-", ".build-", ".trash-")


def default_cache_dir() -> Path:
    """$AOTBUILDER_CACHE_DIR, else $XDG_CACHE_HOME/aotbuilder, else ~/.cache/aotbuilder."""
    env = os.environ.get("AOTBUILDER_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "aotbuilder"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file, or the new one whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def seal(payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, len(payload), xxhash.xxh3_64_intdigest(payload)) + payload


def unseal(data: bytes) -> bytes | None:
    """The payload of a whole, undamaged entry, else None."""
    if len(data) < HEADER.size:
        return None
    magic, length, digest = HEADER.unpack_from(data)
    payload = data[HEADER.size:]
    if magic != MAGIC or length != len(payload) or xxhash.xxh3_64_intdigest(payload) != digest:
        return None
    return payload


@dataclass(frozen=True)
class Entry:
    """One evictable thing in the cache: a file (objects, lifts) or a directory (a program)."""

    path: Path
    kind: str  # "objects", "lifts", "programs", "runtime" or "temp"
    size: int
    last_used: float


@dataclass(frozen=True)
class PruneResult:
    evicted_entries: int
    evicted_bytes: int
    remaining_bytes: int


class CacheStore:
    """The cache at `root`: content-addressed entries in NAMESPACES, and the whole tree's upkeep."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / key[:2] / key

    def get(self, namespace: str, key: str) -> bytes | None:
        """The payload stored under `key`, or None (absent, or damaged: then it is removed)."""
        path = self.path(namespace, key)
        try:
            with open(path, "rb") as f:
                data = f.read()
                mtime = os.fstat(f.fileno()).st_mtime
        except OSError:
            return None
        payload = unseal(data)
        if payload is None:
            path.unlink(missing_ok=True)
            return None
        now = time.time()
        if now - mtime > TOUCH_INTERVAL:
            try:
                os.utime(path)
            except OSError:  # evicted meanwhile, or a read-only cache: the payload is still good
                pass
        return payload

    def put(self, namespace: str, key: str, payload: bytes) -> bool:
        """Store `payload` under `key`.  Best effort: a cache that cannot be written (full disk, a
        concurrent `cache clear`) only costs a later rebuild, so the build goes on."""
        try:
            atomic_write(self.path(namespace, key), seal(payload))
            return True
        except OSError:
            return False

    # -- upkeep ----------------------------------------------------------------------------------
    def entries(self) -> Iterator[Entry]:
        """Every entry, with its size and last use.  Leftovers of killed builds are kind "temp".

        Other builds share the cache: anything listed may be gone by the time it is looked at (a
        .tmp-* file renamed into place, an entry evicted by another prune, a `cache clear`).  Such
        entries are skipped; an object or lift file that cannot be looked at for another reason
        (permissions, say) is still an error.
        """
        for namespace in NAMESPACES:
            for shard in _subdirs(self.root / namespace):
                for f in _scan(shard):
                    if f.is_file(follow_symlinks=False):
                        try:
                            st = f.stat(follow_symlinks=False)
                        except FileNotFoundError:  # gone since the listing, see above
                            continue
                        kind = "temp" if f.name.startswith(TEMP_PREFIXES) else namespace
                        yield Entry(Path(f.path), kind, st.st_size, st.st_mtime)
        for shard in _subdirs(self.root / "programs"):
            for d in _scan(shard):
                yield from _tree_entry(Path(d.path), "temp" if d.name.startswith(TEMP_PREFIXES) else "programs")
        for d in _scan(self.root / "runtime"):
            yield from _tree_entry(Path(d.path), "temp" if d.name.startswith(TEMP_PREFIXES) else "runtime")
        for d in _scan(self.root):
            if d.name.startswith(TEMP_PREFIXES):
                yield from _tree_entry(Path(d.path), "temp")

    def size(self) -> int:
        return sum(e.size for e in self.entries())

    def prune(self, max_size: int, keep: Iterable[Path] = ()) -> PruneResult:
        """Evict least recently used entries until the cache holds at most `max_size` bytes.

        Leftovers of killed builds go first (once they are STALE_TEMP_AGE old: younger ones may
        belong to a build still running).  The runtime archive is never evicted: a build may be
        linking against it right now, and it is small.  Entries in `keep` (what the calling build
        is about to use) stay too.
        """
        keep = {Path(p) for p in keep}
        now = time.time()
        entries = list(self.entries())
        total = sum(e.size for e in entries)
        evicted = evicted_bytes = 0
        stale = [e for e in entries if e.kind == "temp" and now - e.last_used > STALE_TEMP_AGE]
        candidates = sorted((e for e in entries if e.kind in (*NAMESPACES, "programs") and e.path not in keep),
                            key=lambda e: e.last_used)
        for e in stale:
            if _remove(e.path):
                total -= e.size
                evicted_bytes += e.size
        for e in candidates:
            if total <= max_size:
                break
            if _remove(e.path):  # one that cannot be removed (permissions) still takes its space
                total -= e.size
                evicted += 1
                evicted_bytes += e.size
        return PruneResult(evicted, evicted_bytes, total)

    def clear(self) -> None:
        """Remove every entry (config.toml stays).  Each directory is first renamed away, so a
        concurrent build sees a complete cache or an empty one, and then deleted."""
        for name in CLEARED:
            path = self.root / name
            if not path.exists():
                continue
            trash = Path(tempfile.mkdtemp(dir=self.root, prefix=".trash-"))
            try:
                os.replace(path, trash / name)
            except FileNotFoundError:  # a concurrent `cache clear` renamed it away first
                pass
            shutil.rmtree(trash, ignore_errors=True)
        for d in _scan(self.root):
            if d.name.startswith(TEMP_PREFIXES):
                _remove(Path(d.path))


def _scan(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:  # absent, or removed by a concurrent clear/prune
        return []


def _subdirs(path: Path) -> list[Path]:
    return [Path(d.path) for d in _scan(path) if d.is_dir(follow_symlinks=False)]


def _tree_entry(path: Path, kind: str) -> Iterator[Entry]:
    """The entry at `path`, a directory (its files' total size, its newest mtime) or a file; none if
    it is gone since it was listed (evicted or cleared meanwhile, or a build directory renamed)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError:  # unreadable: counts as empty and unused, as it always has
        yield Entry(path, kind, 0, 0.0)
        return
    if stat.S_ISREG(st.st_mode):
        yield Entry(path, kind, st.st_size, st.st_mtime)
        return
    size, last = 0, st.st_mtime
    for dirpath, _, files in os.walk(path):  # os.walk skips directories that vanish
        for name in files:
            try:
                fst = os.stat(os.path.join(dirpath, name), follow_symlinks=False)
            except OSError:
                continue
            size += fst.st_size
            last = max(last, fst.st_mtime)
    yield Entry(path, kind, size, last)


def _remove(path: Path) -> bool:
    """Deletes an entry (a file or a directory tree); whether it is gone (a concurrent prune or
    clear may have removed it first, which is as good)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        pass
    return not os.path.lexists(path)
