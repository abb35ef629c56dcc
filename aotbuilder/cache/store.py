"""Content-addressed object store with atomic writes; a corrupt entry is a miss.

Layout: <root>/objects/<key[:2]>/<key>.  An entry is a header (magic, payload length, xxh3-64 of
the payload) followed by the payload.  Writers create a temporary file in the same directory and
rename it into place, so readers see a whole entry or none, even when builds run concurrently or
are killed.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import xxhash

MAGIC = b"AOTC\x01\x00\x00\x00"
HEADER = struct.Struct("<8sQQ")


def default_cache_dir() -> Path:
    env = os.environ.get("AOTBUILDER_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "aotbuilder"


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if len(data) >= HEADER.size:
            magic, length, digest = HEADER.unpack_from(data)
            payload = data[HEADER.size:]
            if magic == MAGIC and length == len(payload) and xxhash.xxh3_64_intdigest(payload) == digest:
                return payload
        path.unlink(missing_ok=True)  # corrupt or truncated: drop it, rebuild
        return None

    def put(self, key: str, payload: bytes) -> None:
        header = HEADER.pack(MAGIC, len(payload), xxhash.xxh3_64_intdigest(payload))
        atomic_write(self._path(key), header + payload)
