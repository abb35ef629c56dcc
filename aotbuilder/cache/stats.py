"""Hit and miss counters of a cache, shared by every build that uses it.

Builds add their counts once, at the end, under an exclusive lock (flock on <root>/.stats.lock),
and write the file by atomic rename: concurrent builds never lose each other's counts, and a
reader never sees half a file.  A build that is killed adds nothing.  An unreadable stats file
counts as zeros: the counters are information, not something a build depends on.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from aotbuilder.cache.store import atomic_write

STATS_FILE = "stats.json"
LOCK_FILE = ".stats.lock"


@dataclass
class CacheCounters:
    """Lookups by kind.  An object hit is a function that was not compiled; a lift hit is a
    function that was neither lifted nor compiled."""

    object_hits: int = 0
    object_misses: int = 0
    lift_hits: int = 0
    lift_misses: int = 0
    builds: int = 0

    def __add__(self, other: CacheCounters) -> CacheCounters:
        return CacheCounters(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def read_counters(root: Path) -> CacheCounters:
    try:
        data = json.loads((root / STATS_FILE).read_text())
        return CacheCounters(**{f.name: int(data.get(f.name, 0)) for f in fields(CacheCounters)})
    except (OSError, ValueError, TypeError, AttributeError):
        return CacheCounters()


def add_counters(root: Path, counts: CacheCounters) -> None:
    """Add `counts` to the cache's counters (best effort, like every cache write)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        total = read_counters(root) + counts
        atomic_write(root / STATS_FILE, json.dumps(asdict(total), indent=1).encode())
    except OSError:
        pass
    finally:
        os.close(fd)  # releases the lock


def reset_counters(root: Path) -> None:
    (root / STATS_FILE).unlink(missing_ok=True)
