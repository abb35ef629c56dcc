"""What the `aotbuilder cache` commands do: figures about a cache, clearing it, pruning it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from aotbuilder.cache import config
from aotbuilder.cache.stats import read_counters, reset_counters
from aotbuilder.cache.store import CacheStore, PruneResult


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was created or cleared, and what it holds now."""

    root: str
    hits: int  # functions whose object came from the cache
    misses: int  # functions compiled
    lift_hits: int  # functions neither lifted nor compiled
    lift_misses: int
    builds: int
    entries: int  # objects + lifts + programs
    objects: int
    lifts: int
    programs: int
    size_bytes: int  # everything, the runtime archive and leftovers of killed builds included
    max_size_bytes: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        lookups = self.hits + self.misses
        rate = f" ({100 * self.hits / lookups:.1f}% hits)" if lookups else ""
        rows = [("cache directory", self.root),
                ("builds", str(self.builds)),
                ("hits", f"{self.hits}{rate}"),
                ("misses", str(self.misses)),
                ("lift hits", str(self.lift_hits)),
                ("lift misses", str(self.lift_misses)),
                ("entries", f"{self.entries} ({self.objects} objects, {self.lifts} lifts, {self.programs} programs)"),
                ("size", f"{config.format_size(self.size_bytes)} ({self.size_bytes} bytes)"),
                ("max size", f"{config.format_size(self.max_size_bytes)} ({self.max_size_bytes} bytes)")]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def cache_stats(root: Path) -> CacheStats:
    counters = read_counters(root)
    kinds: Counter[str] = Counter()
    size = 0
    for entry in CacheStore(root).entries():
        kinds[entry.kind] += 1
        size += entry.size
    return CacheStats(str(root), counters.object_hits, counters.object_misses, counters.lift_hits,
                      counters.lift_misses, counters.builds, kinds["objects"] + kinds["lifts"] + kinds["programs"],
                      kinds["objects"], kinds["lifts"], kinds["programs"], size, config.max_size(root))


def cache_clear(root: Path) -> None:
    CacheStore(root).clear()
    reset_counters(root)


def cache_prune(root: Path, max_size: str | None) -> PruneResult:
    """Evict least recently used entries down to `max_size` (text such as 500M), or to the
    configured limit."""
    if max_size is None:
        limit = config.max_size(root)
    else:
        try:
            limit = config.parse_size(max_size)
        except ValueError as e:
            raise config.CacheConfigError(f"--max-size: {e}") from None
    return CacheStore(root).prune(limit)
