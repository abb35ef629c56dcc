"""The cache's parts: sizes and settings, the store (checksums, LRU, eviction), counters, keys."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from aotbuilder.backend.codegen import CodegenOptions
from aotbuilder.cache import config
from aotbuilder.cache import store as store_module
from aotbuilder.cache.key import ir_digest, lift_key
from aotbuilder.cache.lift_record import (
    FUNCTION_FIELDS_IN_KEY,
    PROGRAM_FIELDS_IN_KEY,
    LiftRecord,
    Observation,
    observed_lift,
    storable,
)
from aotbuilder.cache.manage import cache_stats
from aotbuilder.cache.stats import CacheCounters, add_counters, read_counters
from aotbuilder.cache.store import HEADER, STALE_TEMP_AGE, CacheStore
from aotbuilder.cfg.addresses import offset
from aotbuilder.cfg.discover import discover
from aotbuilder.cfg.program import Function, Program
from aotbuilder.elf import load_guest

# -- sizes and settings ------------------------------------------------------------------------


@pytest.mark.parametrize("text, size", [("0", 0), ("4096", 4096), ("10K", 10 << 10), ("500M", 500 << 20),
                                        ("2G", 2 << 30), ("1.5G", 3 << 29), ("2g", 2 << 30), ("1T", 1 << 40),
                                        ("3MB", 3 << 20), ("3MiB", 3 << 20), (" 7 M ", 7 << 20), (".5K", 512)])
def test_parse_size(text: str, size: int) -> None:
    assert config.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "12Q", "-1", "M", "1.2.3G", "1 G B", "5 GiBs", "0x10"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        config.parse_size(text)


def test_max_size_environment_wins_over_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.MAX_SIZE_ENV, raising=False)
    assert config.max_size(tmp_path) == config.parse_size(config.DEFAULT_MAX_SIZE)
    (tmp_path / "config.toml").write_text('max_size = "1.5G"\n')
    assert config.max_size(tmp_path) == 3 << 29
    (tmp_path / "config.toml").write_text("max_size = 1000\n")
    assert config.max_size(tmp_path) == 1000
    monkeypatch.setenv(config.MAX_SIZE_ENV, "20M")
    assert config.max_size(tmp_path) == 20 << 20


@pytest.mark.parametrize("env, text, where", [("12Q", None, config.MAX_SIZE_ENV),
                                              (None, 'max_size = "lots"', "max_size"),
                                              (None, "max_size = [", "config.toml")])
def test_bad_setting_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env, text, where) -> None:
    monkeypatch.delenv(config.MAX_SIZE_ENV, raising=False)
    if env:
        monkeypatch.setenv(config.MAX_SIZE_ENV, env)
    if text:
        (tmp_path / "config.toml").write_text(text)
    with pytest.raises(config.CacheConfigError, match=where) as info:
        config.max_size(tmp_path)
    assert "\n" not in str(info.value)


# -- the store -----------------------------------------------------------------------------------


def test_store_round_trip_and_namespaces(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    assert store.get("objects", "ab" * 16) is None
    assert store.put("objects", "ab" * 16, b"object bytes")
    assert store.get("objects", "ab" * 16) == b"object bytes"
    assert store.get("lifts", "ab" * 16) is None
    assert store.path("objects", "ab" * 16) == tmp_path / "objects" / "ab" / ("ab" * 16)
    assert not [p for p in tmp_path.rglob(".tmp-*")]


@pytest.mark.parametrize("damage", ["truncate-payload", "truncate-header", "flip-payload", "flip-checksum",
                                    "empty", "magic", "extra-bytes"])
def test_damaged_entry_is_a_miss_and_removed(tmp_path: Path, damage: str) -> None:
    store = CacheStore(tmp_path)
    key = "cd" * 16
    payload = bytes(range(256)) * 8
    store.put("objects", key, payload)
    path = store.path("objects", key)
    data = bytearray(path.read_bytes())
    if damage == "truncate-payload":
        data = data[:-100]
    elif damage == "truncate-header":
        data = data[:HEADER.size - 3]
    elif damage == "flip-payload":
        data[HEADER.size + 500] ^= 0x40
    elif damage == "flip-checksum":
        data[HEADER.size - 1] ^= 1
    elif damage == "empty":
        data = bytearray()
    elif damage == "magic":
        data[0:4] = b"ELF\x7f"
    elif damage == "extra-bytes":
        data += b"\0"
    path.write_bytes(bytes(data))
    assert store.get("objects", key) is None
    assert not path.exists()
    store.put("objects", key, payload)
    assert store.get("objects", key) == payload


def test_put_is_best_effort(tmp_path: Path) -> None:
    """A cache that cannot be written costs a rebuild later, never the build."""
    blocker = tmp_path / "objects"
    blocker.write_text("not a directory")
    assert not CacheStore(tmp_path).put("objects", "ef" * 16, b"x")


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_hit_refreshes_last_use(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    store.put("objects", "11" * 16, b"x")
    path = store.path("objects", "11" * 16)
    _age(path, 86400)
    assert store.get("objects", "11" * 16) == b"x"
    assert time.time() - path.stat().st_mtime < 600


def test_prune_evicts_least_recently_used(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    keys = [f"{i:02x}" * 16 for i in range(10)]
    for age, key in enumerate(keys):
        store.put("objects", key, bytes(1000))
        _age(store.path("objects", key), 1000 * (10 - age))  # keys[0] is the oldest
    entry_size = store.path("objects", keys[0]).stat().st_size
    store.get("objects", keys[0])  # used now: the newest
    result = store.prune(4 * entry_size)
    assert result.evicted_entries == 6
    assert result.remaining_bytes == 4 * entry_size == store.size()
    kept = {k for k in keys if store.path("objects", k).exists()}
    assert kept == {keys[0], keys[7], keys[8], keys[9]}
    assert store.prune(0, keep=[store.path("objects", keys[0])]).remaining_bytes == entry_size


def test_prune_does_not_count_an_entry_it_cannot_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CacheStore(tmp_path)
    key = "44" * 16
    store.put("objects", key, bytes(1000))
    entry_size = store.path("objects", key).stat().st_size
    stuck = tmp_path / "programs" / "ab" / "cd"  # a run target the user may not delete
    stuck.mkdir(parents=True)
    (stuck / "exe").write_bytes(bytes(5000))
    _age(stuck / "exe", 100000)
    _age(stuck, 100000)
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if Path(path) == stuck:
            raise PermissionError(13, "Permission denied", str(path))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(store_module.shutil, "rmtree", rmtree)
    result = store.prune(0)
    assert (stuck / "exe").exists() and not store.path("objects", key).exists()
    assert (result.evicted_entries, result.evicted_bytes) == (1, entry_size)
    assert result.remaining_bytes == store.size() >= 5000


def test_prune_removes_stale_leftovers_of_killed_builds_only(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    store.put("objects", "22" * 16, b"x")
    shard = store.path("objects", "22" * 16).parent
    stale, fresh = shard / ".tmp-stale", shard / ".tmp-fresh"
    stale.write_bytes(bytes(100))
    fresh.write_bytes(bytes(100))
    _age(stale, STALE_TEMP_AGE + 60)
    store.prune(1 << 30)
    assert not stale.exists() and fresh.exists()
    assert store.get("objects", "22" * 16) == b"x"


def test_clear_keeps_settings(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    store.put("objects", "33" * 16, b"x")
    store.put("lifts", "33" * 16, b"y")
    (tmp_path / "programs" / "ab" / "cd").mkdir(parents=True)
    (tmp_path / "config.toml").write_text('max_size = "1G"\n')
    store.clear()
    assert store.size() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_upkeep_skips_what_vanishes_between_listing_and_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two builds on one cache: while one prunes, the other renames its .tmp-* file into place and
    another pruner evicts entries.  What was listed but is gone by the time of its stat is skipped
    (it used to escape as FileNotFoundError and fail the build)."""
    store = CacheStore(tmp_path)
    for k in ("aa", "ab"):
        store.put("objects", k * 16, bytes(1000))
    shard = store.path("objects", "aa" * 16).parent
    (shard / ".tmp-other-build").write_bytes(bytes(1000))
    program = tmp_path / "programs" / "cd" / ("cd" * 16)
    program.mkdir(parents=True)
    (program / "program").write_bytes(bytes(1000))
    real_scan = store_module._scan

    def racing_scan(path: Path) -> list[os.DirEntry]:
        listed = real_scan(path)
        for d in listed:  # after the listing, before the caller looks at each entry
            if d.name == ".tmp-other-build":
                os.replace(d.path, shard / ("ac" * 16))  # atomic_write's rename: an entry appears
            elif d.name == "ab" * 16:
                os.unlink(d.path)  # evicted by another prune
            elif d.name == "cd" * 16:
                shutil.rmtree(d.path)  # a program evicted by another prune
        return listed

    monkeypatch.setattr(store_module, "_scan", racing_scan)
    assert [(e.path.name, e.kind) for e in store.entries()] == [("aa" * 16, "objects")]
    stats = cache_stats(tmp_path)
    assert (stats.entries, stats.objects, stats.programs) == (2, 2, 0)  # aa, and ac that appeared
    result = store.prune(0)
    assert (result.evicted_entries, result.remaining_bytes) == (2, 0)
    assert store.size() == 0


def test_upkeep_does_not_hide_other_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what vanished is skipped: a file that cannot be looked at is still an error."""
    store = CacheStore(tmp_path)
    store.put("objects", "aa" * 16, b"x")
    shard = store.path("objects", "aa" * 16).parent

    class Unsearchable:  # what scandir lists in a directory one may read but not search
        name = "ab" * 16
        path = str(shard / name)

        def is_file(self, follow_symlinks: bool = True) -> bool:
            return True

        def stat(self, follow_symlinks: bool = True) -> os.stat_result:
            raise PermissionError(13, "Permission denied", self.path)

    real_scan = store_module._scan
    monkeypatch.setattr(store_module, "_scan", lambda path: real_scan(path) + [Unsearchable()] * (path == shard))
    with pytest.raises(PermissionError):
        store.prune(0)


def test_concurrent_clears(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory that another `cache clear` renames away between our look and our rename is
    already being cleared: not an error."""
    store = CacheStore(tmp_path)
    store.put("objects", "44" * 16, b"x")
    store.put("lifts", "44" * 16, b"y")
    real_mkdtemp = tempfile.mkdtemp

    def racing_mkdtemp(**kwargs) -> str:
        other = real_mkdtemp(**kwargs)  # the other clear's trash, taking "objects" first
        if (tmp_path / "objects").exists():
            os.replace(tmp_path / "objects", Path(other) / "objects")
        return real_mkdtemp(**kwargs)

    monkeypatch.setattr(store_module.tempfile, "mkdtemp", racing_mkdtemp)
    store.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- counters ------------------------------------------------------------------------------------


def _add_many(root: Path) -> None:
    for _ in range(40):
        add_counters(root, CacheCounters(object_hits=1, object_misses=2, builds=1))


def test_counters_add_up_under_concurrent_builds(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_add_many, args=(tmp_path,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert read_counters(tmp_path) == CacheCounters(object_hits=160, object_misses=320, builds=160)


def test_unreadable_counters_count_as_zero(tmp_path: Path) -> None:
    (tmp_path / "stats.json").write_text("{not json")
    assert read_counters(tmp_path) == CacheCounters()
    add_counters(tmp_path, CacheCounters(lift_hits=3))
    assert read_counters(tmp_path).lift_hits == 3


# -- keys and lift results -----------------------------------------------------------------------


def test_key_covers_every_field_the_lifter_may_read() -> None:
    """A new field on Function or Program must be added to lift_key (and to these lists)."""
    fn_fields = {f.name for f in dataclasses.fields(Function)}
    assert fn_fields <= FUNCTION_FIELDS_IN_KEY, fn_fields - FUNCTION_FIELDS_IN_KEY
    not_for_lifting = {"call_graph", "roots"}  # reading them makes a lift uncacheable (see Observation)
    assert {f.name for f in dataclasses.fields(Program)} - not_for_lifting <= PROGRAM_FIELDS_IN_KEY


def test_offsets_wrap_like_guest_arithmetic() -> None:
    assert offset(0x1000, 0x1100) == -0x100
    assert offset(0xFFFF_FFFF_FFFF_FFC2, 0x1002FB4) == -0x1002FF2  # auipc reaching a weak symbol at 0
    record = LiftRecord("d", (("offset", offset(0, 0x1000)), ("offset", offset(0x2000, 0x1000))),
                        (("offset", 0),), ())
    assert record.refs(0x5000, {}) == ((0x4000, 0x6000), (0x5000,), ())
    assert LiftRecord.decode(record.encode()) == record


def test_placed_lift_takes_addresses_from_its_sites() -> None:
    record = LiftRecord("d", (("offset", 0), ("site", 8)), (("offset", 0), ("site", 12)), (0x10,))
    assert record.refs(0x5000, {0x5008: 0x9040, 0x500C: 0x7000}) == ((0x5000, 0x9040), (0x5000, 0x7000), (0x5010,))
    assert record.refs(0x5000, {0x5008: 0x9040}) is None  # no site 12 bytes in: not the same code
    assert LiftRecord.decode(record.encode()) == record
    assert LiftRecord.decode(b'{"ir":"x","addr":[["elsewhere",1]],"fn":[],"resume":[]}') is None
    assert LiftRecord.decode(b'{"ir": "x"}') is None
    assert LiftRecord.decode(b'{"ir":"x","addr":["1"],"fn":[],"resume":[]}') is None


def test_lift_reading_something_outside_the_key_is_not_stored(fixture_bin_dir: Path) -> None:
    program = discover(load_guest(fixture_bin_dir / "hello-zig-O2"))
    func = program.functions[min(program.functions)]
    key = lift_key(program, func)
    lifted, seen = observed_lift(program, func)
    assert storable(lifted, seen, key)
    assert not Observation(other_reads={"function.something_new"}).covered_by(key)
    outside = max(program.functions) + 0x100000
    assert not Observation(entry_queries={outside}).covered_by(key)
    assert not Observation(image_range_reads=1).covered_by(key)


def test_memory_models_have_their_own_lifts_and_objects(fixture_bin_dir: Path) -> None:
    """The memory model changes the IR (a TLB lookup or a direct access per load and store), so it
    is part of the lift key; objects follow from the IR."""
    program = discover(load_guest(fixture_bin_dir / "hello-zig-O2"))
    func = next(f for f in program.functions.values() if f.name == "main")
    keys = {model: lift_key(program, func, model).digest for model in ("direct", "tlb")}
    assert keys["direct"] != keys["tlb"]
    irs = {model: observed_lift(program, func, model)[0].ir for model in ("direct", "tlb")}
    assert "aot_fault_table" in irs["direct"] and "aot_fault_table" not in irs["tlb"]
    assert ir_digest(irs["direct"]) != ir_digest(irs["tlb"])


def test_avx_targets_have_their_own_lifts(fixture_bin_dir: Path) -> None:
    """On an AVX target the direct model's double loads are VEX-encoded (no false dependency on a
    YMM register's upper half), so whether the target has AVX is part of the lift key."""
    program = discover(load_guest(fixture_bin_dir / "floats-zig-O2"))
    func = next(f for f in program.functions.values() if f.name == "main")
    assert lift_key(program, func, "direct", avx=True).digest != lift_key(program, func, "direct", avx=False).digest
    vex = observed_lift(program, func, "direct", avx=True)[0].ir
    sse = observed_lift(program, func, "direct", avx=False)[0].ir
    assert "1: vmovsd %gs:" in vex and "1: movsd" not in vex
    assert "vmovsd" not in sse and "1: movsd %gs:" in sse
    assert CodegenOptions(cpu="x86-64-v3").avx and not CodegenOptions(cpu="x86-64-v2").avx
