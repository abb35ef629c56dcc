"""Incremental builds through the pipeline: what a rebuild lifts and compiles, and that the
cache survives damage, concurrency and builds killed at any moment.

Guests are small zig (musl) programs; builds use -O0 to keep LLVM's share of the test time small
(the cache behaves the same at every level).  A session-wide warm cache holds musl and the runtime
once; tests that need a cold start copy nothing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aotbuilder import pipeline, translate
from aotbuilder.backend.codegen import CodegenOptions
from aotbuilder.cache.digest import guest_digest
from aotbuilder.cache.key import ir_digest, lift_key
from aotbuilder.cache.lift_record import LiftRecord, observed_lift, storable
from aotbuilder.cfg.discover import discover
from aotbuilder.elf import load_guest
from aotbuilder.errors import BuildError
from aotbuilder.lift.lower import lower_function
from aotbuilder.pipeline import BuildOptions, BuildReport, build

OPTS = CodegenOptions(opt_level=0)

# Two versions of one program: v2 changes the body of one function in the middle (and makes it
# longer), which moves every function and datum after it.
PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int table[64];

__attribute__((noinline)) int fill(int seed) {
    for (int i = 0; i < 64; i++) table[i] = (seed * 31 + i * 17) % 101;
    return table[7];
}

__attribute__((noinline)) long checksum(int n) {
    long s = 0;
    for (int i = 0; i < n; i++) s = s * 3 + table[i % 64];
    return s;
}

__attribute__((noinline)) int classify(int v) {
@CLASSIFY@
}

__attribute__((noinline)) int compare(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) void report(const char *label, long value) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s=%ld", label, value);
    puts(buf);
}

int main(int argc, char **argv) {
    int seed = argc > 1 ? atoi(argv[1]) : 5;
    report("fill", fill(seed));
    report("checksum", checksum(100));
    long classes = 0;
    for (int i = 0; i < 64; i++) classes += classify(table[i]);
    report("classes", classes);
    qsort(table, 64, sizeof table[0], compare);
    report("min", table[0]);
    report("len", (long)strlen(argv[0]) > 0);
    return 0;
}
"""
CLASSIFY_V1 = "    return v > 50 ? 2 : v > 20 ? 1 : 0;"
CLASSIFY_V2 = """    int r = 0;
    if (v > 90) r += 5;
    if (v > 50) r += 2;
    else if (v > 20) r += 1;
    if (v % 7 == 0) r *= 3;
    return r;"""

OTHER_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    char words[] = "the quick brown fox jumps over the lazy dog";
    int count = 0;
    for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) count++;
    char *copy = malloc(32);
    snprintf(copy, 32, "%d words, %s", count, argc > 1 ? argv[1] : "none");
    printf("%s\n", copy);
    free(copy);
    return 0;
}
"""


def _expected(classify_v2: bool, seed: int = 5) -> bytes:
    table = [(seed * 31 + i * 17) % 101 for i in range(64)]
    s = 0
    for i in range(100):
        s = s * 3 + table[i % 64]
    s = (s + 2**63) % 2**64 - 2**63

    def classify(v: int) -> int:
        if not classify_v2:
            return 2 if v > 50 else 1 if v > 20 else 0
        r = (5 if v > 90 else 0) + (2 if v > 50 else 1 if v > 20 else 0)
        return r * 3 if v % 7 == 0 else r

    lines = [f"fill={table[7]}", f"checksum={s}", f"classes={sum(map(classify, table))}", f"min={min(table)}",
             "len=1"]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="session")
def versions(compile_guest) -> tuple[Path, Path]:
    v1 = compile_guest(PROGRAM.replace("@CLASSIFY@", CLASSIFY_V1), opt="2")
    v2 = compile_guest(PROGRAM.replace("@CLASSIFY@", CLASSIFY_V2), opt="2")
    return v1, v2


@pytest.fixture(scope="session")
def other_program(compile_guest) -> Path:
    return compile_guest(OTHER_PROGRAM, opt="2")


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory: pytest.TempPathFactory, versions: tuple[Path, Path]) -> Path:
    """A cache that has seen v1 once (musl, the runtime archive)."""
    root = tmp_path_factory.mktemp("warm-cache")
    build(versions[0], root.parent / "warm-v1", BuildOptions(OPTS, cache_dir=root))
    return root


@pytest.fixture
def cache(tmp_path: Path, warm_cache: Path) -> Path:
    root = tmp_path / "cache"
    shutil.copytree(warm_cache, root)
    return root


def _build(guest: Path, out: Path, cache: Path, jobs: int = 0) -> BuildReport:
    return build(guest, out, BuildOptions(OPTS, jobs=jobs, cache_dir=cache))


def _run(exe: Path, *args: str) -> bytes:
    proc = subprocess.run([str(exe), *args], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cold_build_then_noop_rebuild_lifts_and_compiles_nothing(tmp_path: Path, versions) -> None:
    v1, _ = versions
    cold = _build(v1, tmp_path / "a", tmp_path / "cache")
    assert cold.functions_total > 30
    assert cold.functions_compiled > 0.8 * cold.functions_total
    assert cold.functions_lifted >= cold.functions_compiled
    assert cold.guest_code_bytes_compiled > 0.8 * cold.guest_code_bytes
    assert cold.cache_bytes > 0
    again = _build(v1, tmp_path / "b", tmp_path / "cache")
    assert (again.functions_lifted, again.functions_compiled) == (0, 0)
    assert again.functions_cached == again.functions_total == cold.functions_total
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    assert _run(tmp_path / "b") == _expected(False)


def test_a_build_of_an_output_already_built_from_the_same_inputs_redoes_nothing(tmp_path: Path, versions,
                                                                              cache: Path) -> None:
    v1, v2 = versions
    out = tmp_path / "out"
    first = _build(v1, out, cache)
    built, written = out.read_bytes(), out.stat().st_mtime_ns
    again = _build(v1, out, cache)
    assert again.up_to_date and not first.up_to_date
    assert (again.functions_total, again.functions_cached, again.guest_code_bytes) == (
        first.functions_total, first.functions_total, first.guest_code_bytes)
    assert (again.functions_lifted, again.functions_compiled) == (0, 0)
    assert (out.stat().st_mtime_ns, out.read_bytes()) == (written, built)  # not even rewritten

    def rebuilt(guest: Path, options: CodegenOptions = OPTS) -> bool:
        report = build(guest, out, BuildOptions(options, cache_dir=cache))
        assert report.output == str(out)
        return not report.up_to_date

    # Whatever the output depends on, changed, makes the build a real one again.
    assert rebuilt(v1, CodegenOptions(opt_level=1))
    assert rebuilt(v1) and out.read_bytes() == built
    renamed = tmp_path / "renamed"  # the guest's name is in the executable
    shutil.copyfile(v1, renamed)
    assert rebuilt(renamed) and rebuilt(v1) and out.read_bytes() == built
    assert rebuilt(v2) and _run(out) == _expected(True)
    assert not rebuilt(v2)
    main = next(e for e, f in discover(load_guest(v2)).functions.items() if f.name == "main")
    pipeline.learned_path(out).write_text(f"{guest_digest(v2.read_bytes())} {main:#x}\n")
    assert rebuilt(v2) and not rebuilt(v2)
    # So does an output that is not what the build wrote: replaced, damaged, removed.
    out.write_bytes(built)
    assert rebuilt(v2) and _run(out) == _expected(True)
    with open(out, "r+b") as f:
        f.seek(len(built) // 2)
        f.write(b"\0" * 16)
    assert rebuilt(v2) and _run(out) == _expected(True)
    out.unlink()
    assert rebuilt(v2) and _run(out) == _expected(True)
    # A damaged record of the last build is a rebuild, not an error.
    for stamp in (cache / "builds").rglob("*"):
        if stamp.is_file():
            stamp.write_bytes(stamp.read_bytes()[:-5])
    assert rebuilt(v2) and not rebuilt(v2) and _run(out) == _expected(True)


def test_up_to_date_builds_and_runs_of_built_programs_load_no_translator_module(tmp_path: Path, versions) -> None:
    """Both only hash inputs: loading the decoder, networkx and the lifter (most of aotbuilder's
    start-up) would make every `run` of a built program pay for a translation it does not do."""
    v1, _ = versions
    cache, out = tmp_path / "cache", tmp_path / "out"
    _build(v1, out, cache)
    options = BuildOptions(OPTS, cache_dir=cache)
    pipeline.build_for_run(v1, options)
    script = (f"import sys\nfrom pathlib import Path\nfrom aotbuilder import pipeline\n"
              f"from aotbuilder.backend.codegen import CodegenOptions\n"
              f"o = pipeline.BuildOptions(CodegenOptions(opt_level=0), cache_dir=Path({str(cache)!r}))\n"
              f"r = pipeline.build(Path({str(v1)!r}), Path({str(out)!r}), o)\n"
              f"exe = pipeline.build_for_run(Path({str(v1)!r}), o)\n"
              f"heavy = ('networkx', 'aotbuilder.isa.decoder', 'aotbuilder.lift.lower',\n"
              f"         'aotbuilder.translate', 'aotbuilder.cfg.discover', 'elftools')\n"
              f"print(r.up_to_date, exe.is_file(), [m for m in heavy if m in sys.modules])\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "True True []\n"


def test_one_function_change_rebuilds_at_most_three(tmp_path: Path, versions, cache: Path) -> None:
    v1, v2 = versions
    p1, p2 = discover(load_guest(v1)), discover(load_guest(v2))
    entries1 = {f.name: e for e, f in p1.functions.items()}
    moved = [f.name for e, f in p2.functions.items() if entries1.get(f.name, e) != e]
    assert len(moved) > 20  # the change shifted most of the program
    report = _build(v2, tmp_path / "v2", cache)
    # Every function that moved, including those building absolute addresses with lui (musl here
    # is medlow code), is found where it moved: only the changed one and its neighbours whose
    # code really differs are lifted, and compiled.
    assert report.functions_compiled <= 3, report
    assert report.functions_lifted <= 3, report
    assert _run(tmp_path / "v2") == _expected(True)
    assert _run(tmp_path / "v2", "9") == _expected(True, 9)


def test_second_program_reuses_libc(tmp_path: Path, versions, other_program: Path, cache: Path) -> None:
    report = _build(other_program, tmp_path / "other", cache)
    # musl's functions sit elsewhere in this program and reach their data and callees by other
    # offsets; those the first program had too are, nearly all, neither lifted nor compiled again.
    # (A few differ for real: a lui constant that is an image address in one program and not in
    # the other, a hoisted address base that lives across a loop.)
    seen = {f.name for f in discover(load_guest(versions[0])).functions.values()}
    shared = sum(f.name in seen for f in discover(load_guest(other_program)).functions.values())
    assert shared > 40
    assert report.functions_total - report.functions_lifted >= 0.8 * shared, report
    assert report.functions_total - report.functions_compiled >= 0.8 * shared, report
    assert _run(tmp_path / "other", "x") == b"9 words, x\n"


@pytest.mark.parametrize("second", ["changed", "other"])
def test_placed_lifts_are_exactly_real_lifts(versions, other_program: Path, second: str) -> None:
    """A lift result placed at another entry, in the changed program or in another program with
    the same libc, gives exactly what lifting there gives: the same IR and the same link-time
    addresses.  Compared against real lifts of every function found in the cache that moved."""
    v1, v2 = versions
    p1, p2 = discover(load_guest(v1)), discover(load_guest(v2 if second == "changed" else other_program))
    entries1 = {f.name: e for e, f in p1.functions.items()}
    stored: dict[str, LiftRecord] = {}
    for func in p1.functions.values():
        key = lift_key(p1, func)
        lifted, seen = observed_lift(p1, func)
        if storable(lifted, seen, key):
            stored[key.digest] = LiftRecord.of(lifted, ir_digest(lifted.ir))
    compared = 0
    for entry, func in p2.functions.items():
        key = lift_key(p2, func)
        record = stored.get(key.digest)
        if record is None:
            continue
        real = lower_function(p2, func, "x86_64-unknown-linux-gnu")
        assert record.ir_digest == ir_digest(real.ir), func.name
        placed = record.refs(entry, key.sites)
        assert placed == (real.addr_refs, real.fn_refs, real.resume_pcs), func.name
        compared += entries1.get(func.name) != entry
    assert compared > 20  # moved functions, each checked against a real lift at its new place


def test_damaged_entries_are_rebuilt(tmp_path: Path, versions, cache: Path) -> None:
    v1, _ = versions
    entries = sorted(p for ns in ("objects", "lifts") for p in (cache / ns).rglob("*") if p.is_file())
    rng = random.Random(6)
    damaged = rng.sample(entries, 12)
    for i, path in enumerate(damaged):
        data = bytearray(path.read_bytes())
        if i % 3 == 0:
            data = data[: len(data) // 2]  # truncated
        elif i % 3 == 1:
            data[rng.randrange(24, len(data))] ^= 0xFF  # a flipped payload byte
        else:
            data = bytearray()
        path.write_bytes(bytes(data))
    report = _build(v1, tmp_path / "v1", cache)
    assert 0 < report.functions_lifted <= 12
    assert _run(tmp_path / "v1") == _expected(False)
    assert _build(v1, tmp_path / "again", cache).functions_lifted == 0


def _cli(*args: str) -> list[str]:
    exe = shutil.which("aotbuilder")
    assert exe, "aotbuilder is not installed (pip install -e .)"
    return [exe, *args]


def test_concurrent_builds_share_one_cache(tmp_path: Path, versions) -> None:
    v1, v2 = versions
    cache = tmp_path / "cache"
    procs = [subprocess.Popen(_cli("build", str(g), "-o", str(tmp_path / name), "-O", "0", "-j", "2",
                                   "--cache-dir", str(cache), "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for g, name in ((v1, "v1"), (v2, "v2"), (v1, "v1b"))]
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err.decode()
    assert _run(tmp_path / "v1") == _run(tmp_path / "v1b") == _expected(False)
    assert _run(tmp_path / "v2") == _expected(True)
    assert not list(cache.rglob(".tmp-*"))
    stats = subprocess.run(_cli("cache", "stats", "--json", "--cache-dir", str(cache)), capture_output=True,
                           text=True, check=True)
    assert '"builds": 3' in stats.stdout
    rebuilt = _build(v2, tmp_path / "v2again", cache)
    assert rebuilt.functions_lifted == 0


def test_builds_killed_at_random_moments_leave_a_usable_cache(tmp_path: Path, versions) -> None:
    """SIGKILL the build (alone, or with its workers) at seeded random moments, several times,
    then rebuild: the program must be right, and later rebuilds find everything."""
    v1, _ = versions
    cache = tmp_path / "cache"
    rng = random.Random(20240606)
    # Kill moments are spread over the time a whole cold build takes on this machine.
    start = time.monotonic()
    subprocess.run(_cli("build", str(v1), "-o", str(tmp_path / "timed"), "-O", "0", "--cache-dir",
                        str(tmp_path / "timing-cache")), check=True, capture_output=True)
    cold = time.monotonic() - start
    killed = attempt = 0
    while killed < 4 and attempt < 12:  # each kill lets at most a quarter of the work finish
        attempt += 1
        out = tmp_path / f"killed{attempt}"
        proc = subprocess.Popen(_cli("build", str(v1), "-o", str(out), "-O", "0", "--cache-dir", str(cache)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.02, 0.25) * cold)
        whole_group = attempt % 2 == 0
        if proc.poll() is None:
            if whole_group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        if not whole_group:
            _wait_for_orphans(proc.pid)
    assert killed >= 3, (killed, cold)
    report = _build(v1, tmp_path / "final", cache)
    assert _run(tmp_path / "final") == _expected(False)
    assert _run(tmp_path / "final", "11") == _expected(False, 11)
    assert report.functions_total > 0
    assert _build(v1, tmp_path / "again", cache).functions_lifted == 0


def _wait_for_orphans(session: int) -> None:
    """Workers of a killed build end with it (translate._die_with_parent); wait until they have, so
    that none outlives the test."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.killpg(session, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(session, signal.SIGKILL)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_of_a_killed_build_end_with_it(tmp_path: Path, versions) -> None:
    """A build killed with SIGKILL (a timeout, the OOM killer) cannot stop its translation
    workers; they must end with it rather than wait for work forever."""
    v1, _ = versions
    proc = subprocess.Popen(_cli("build", str(v1), "-o", str(tmp_path / "out"), "-j", "2", "--cache-dir",
                                 str(tmp_path / "cache")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            workers = _children(proc.pid)
            time.sleep(0.05)
        assert len(workers) == 2, "the build never started its two workers"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)
    finally:
        _wait_for_orphans(proc.pid)


def test_jobs_do_not_change_the_output(tmp_path: Path, versions) -> None:
    _, v2 = versions
    serial = _build(v2, tmp_path / "serial", tmp_path / "serial-cache", jobs=1)
    parallel = _build(v2, tmp_path / "parallel", tmp_path / "parallel-cache", jobs=2)
    assert (serial.jobs, parallel.jobs) == (1, 2)
    # Compiled counts may differ by a function or two: two lifts with the same IR compile once in
    # a row but can compile at the same time in parallel.  What is built may not differ.
    assert serial.functions_lifted == parallel.functions_lifted
    assert (tmp_path / "serial").read_bytes() == (tmp_path / "parallel").read_bytes()


def test_a_translation_worker_that_dies_is_an_error_not_a_hang(tmp_path: Path, versions, monkeypatch) -> None:
    """LLVM aborting in a forked worker (a compiler bug on some IR) must fail the build with a
    message naming the function, not wait forever for the lost task."""
    v1, _ = versions
    real = translate.translate_function

    def crashing(program, store, opts, entry, key):
        if program.functions[entry].name == "classify":
            os.kill(os.getpid(), signal.SIGKILL)
        return real(program, store, opts, entry, key)

    monkeypatch.setattr(translate, "translate_function", crashing)
    with pytest.raises(BuildError, match=r"worker died .*classify"):
        _build(v1, tmp_path / "out", tmp_path / "cache", jobs=2)
    assert not (tmp_path / "out").exists()


def _finish_or_die(entry: int) -> int:
    """A stand-in translation: entry 2 dies a little after entry 1 has finished."""
    if entry == 2:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    return entry


def test_a_worker_dying_while_a_result_is_handled_is_an_error(monkeypatch) -> None:
    """The pool can break after a result arrives and before the next task is submitted (seen under
    CI load); that is the same build error, not a BrokenProcessPool traceback."""
    monkeypatch.setattr(translate, "_translate_in_worker", _finish_or_die)
    funcs = {e: type("F", (), {"name": f"f{e}"})() for e in (1, 2, 3, 4)}
    with pytest.raises(BuildError, match=r"worker died .*f2"):
        translate._translate_in_pool([1, 2, 3, 4], 2, lambda _: time.sleep(1.0), funcs)


def test_run_rebuilds_a_target_evicted_between_its_lookup_and_its_use(tmp_path, monkeypatch):
    """Another build's prune may remove `run`'s executable after run found it: run builds it again
    instead of failing."""
    guest = tmp_path / "guest"
    guest.write_bytes(b"guest bytes")
    options = pipeline.BuildOptions(cache_dir=tmp_path / "cache")
    monkeypatch.setattr(pipeline, "run_target", lambda g, o: tmp_path / "cache" / "programs" / "ab" / "k" / "program")
    builds = []

    def fake_build(g, out, o, progress=None):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"built")
        builds.append(out)

    monkeypatch.setattr(pipeline, "build", fake_build)
    exe = pipeline.build_for_run(guest, options)
    assert builds == [exe]
    real_utime = os.utime

    def utime_after_eviction(path, *args, **kwargs):
        Path(path).unlink()  # the prune gets there first
        return real_utime(path, *args, **kwargs)

    monkeypatch.setattr(pipeline.os, "utime", utime_after_eviction)
    assert pipeline.build_for_run(guest, options) == exe
    assert builds == [exe, exe] and exe.read_bytes() == b"built"
