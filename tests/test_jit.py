"""The fallback JIT (runtime/jit.c, runtime/codecache.c, aotbuilder/jit/): code that static
discovery missed and code the guest generates run translated, with the same output as under
qemu-riscv64 (the oracle); the learned rebuild; invalidation, eviction and promotion, seen
through `run --stats-json`."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

from aotbuilder import abi
from aotbuilder.jit import worker
from aotbuilder.pipeline import learned_path, read_learned

GUESTS = Path(__file__).parent / "guests"
AOTBUILDER = [sys.executable, "-m", "aotbuilder"]
# Neither .symtab nor .eh_frame may name the hidden functions.
STRIPPED = ("-s", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables")
TIMEOUT = 900


def aot_run(guest: Path, args: list[str], cache: Path, stats: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([*AOTBUILDER, "run", "--cache-dir", str(cache), "--stats-json", str(stats), *options,
                           str(guest), *args], capture_output=True, timeout=TIMEOUT, env={"PATH": "/usr/bin:/bin"})


def same_as_qemu(got: subprocess.CompletedProcess, expected) -> None:
    assert (got.stdout, got.returncode) == (expected.stdout, expected.status), got.stderr.decode()[-2000:]


def test_missed_functions_run_through_the_jit_and_the_next_build_learns_them(compile_guest, qemu_run, tmp_path,
                                                                              shared_cache):
    elf = compile_guest(GUESTS / "hidden_pointers.c", flags=STRIPPED)
    expected = qemu_run(elf, ["12"])
    assert expected.status == 0
    stats = tmp_path / "stats.json"

    first = aot_run(elf, ["12"], shared_cache, stats)
    same_as_qemu(first, expected)
    figures = json.loads(stats.read_text())
    assert figures["jit_compiles"] > 0 and figures["jit_seconds"] > 0

    second = aot_run(elf, ["12"], shared_cache, stats)
    same_as_qemu(second, expected)
    figures = json.loads(stats.read_text())
    assert figures["jit_compiles"] == 0
    assert figures["aot_entries"] > 0


def test_a_translation_the_user_strips_still_runs_missed_code_through_the_jit(compile_guest, qemu_run, tmp_path,
                                                                                shared_cache):
    """The worker finds the runtime's intrinsics and the translated functions without .symtab."""
    elf = compile_guest(GUESTS / "hidden_pointers.c", flags=STRIPPED)
    expected = qemu_run(elf, ["12"])
    exe = tmp_path / "hidden"
    subprocess.run([*AOTBUILDER, "build", str(elf), "-o", str(exe), "--cache-dir", str(shared_cache)],
                   capture_output=True, check=True, timeout=TIMEOUT)
    subprocess.run(["strip", str(exe)], check=True)
    assert b".symtab" not in subprocess.run(["readelf", "-S", str(exe)], capture_output=True).stdout
    got = subprocess.run([str(exe), "12"], capture_output=True, timeout=TIMEOUT)
    same_as_qemu(got, expected)
    assert learned_path(exe).read_text().strip(), "the missed code did not go through the JIT"


def test_build_takes_learned_entries_as_roots(compile_guest, tmp_path, shared_cache):
    elf = compile_guest(GUESTS / "hidden_pointers.c", flags=STRIPPED)
    exe = tmp_path / "hidden"
    build = [*AOTBUILDER, "build", str(elf), "-o", str(exe), "--cache-dir", str(shared_cache), "--json"]
    report = json.loads(subprocess.run(build, capture_output=True, check=True, timeout=TIMEOUT).stdout)
    assert report["learned_entries"] == 0
    stats = tmp_path / "stats.json"
    runs = []
    for _ in range(2):
        run = subprocess.run([str(exe), "7"], capture_output=True, timeout=TIMEOUT,
                             env={"AOTBUILDER_STATS_JSON": str(stats)})
        runs.append((run.stdout, run.returncode, json.loads(stats.read_text())["jit_compiles"]))
    learned = learned_path(exe).read_text().splitlines()
    assert runs[0][2] > 0 and runs[0] == runs[1]  # not rebuilt: the JIT again
    report = json.loads(subprocess.run(build, capture_output=True, check=True, timeout=TIMEOUT).stdout)
    assert report["learned_entries"] == len(set(learned))
    run = subprocess.run([str(exe), "7"], capture_output=True, timeout=TIMEOUT,
                         env={"AOTBUILDER_STATS_JSON": str(stats)})
    assert (run.stdout, run.returncode) == runs[0][:2]
    assert json.loads(stats.read_text())["jit_compiles"] == 0


def test_read_learned_keeps_this_guests_entries(tmp_path):
    exe = tmp_path / "prog"
    learned_path(exe).write_text("aaaa 0x1000\nbbbb 0x2000\naaaa 0x1000\naaaa zz\ngarbage\naaaa 0x1ffe\n")
    assert read_learned(exe, "aaaa") == [0x1000, 0x1FFE]
    assert read_learned(exe, "cccc") == []
    assert read_learned(tmp_path / "other", "aaaa") == []


def test_generated_code_is_retranslated_after_every_rewrite(compile_guest, qemu_run, tmp_path, shared_cache):
    elf = compile_guest(GUESTS / "selfmod.c")
    expected = qemu_run(elf)
    assert expected.status == 0
    stats = tmp_path / "stats.json"
    got = aot_run(elf, [], shared_cache, stats)
    same_as_qemu(got, expected)
    figures = json.loads(stats.read_text())
    assert figures["invalidations"] >= 5  # the same address rewritten at least five times
    assert figures["jit_compiles"] > figures["invalidations"] // 2


def test_code_cache_stays_in_its_budget_evicting_new_code_and_keeping_hot_code(compile_guest, qemu_run, tmp_path,
                                                                               shared_cache):
    elf = compile_guest(GUESTS / "blobs.c")
    expected = qemu_run(elf, ["600"])
    assert expected.status == 0 and b"mismatches: 0" in expected.stdout
    stats = tmp_path / "stats.json"
    got = aot_run(elf, ["600"], shared_cache, stats, "--code-cache-size", "256K")
    same_as_qemu(got, expected)
    figures = json.loads(stats.read_text())
    assert figures["code_cache_budget_bytes"] == 256 * 1024
    assert 0 < figures["code_cache_peak_bytes"] <= 256 * 1024
    assert figures["gc_collections"] > 0 and figures["evictions"] > 0
    assert figures["promotions"] > 0  # the hot blob
    assert figures["gc_pause_max_ms"] >= 0
    # Evicted blobs called again are translated again.
    assert figures["jit_compiles"] > 600


def test_bad_code_cache_size_is_a_one_line_error(tmp_path):
    result = subprocess.run([*AOTBUILDER, "run", "--code-cache-size", "lots", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("aotbuilder: error: --code-cache-size:") and result.stderr.count("\n") == 1


def test_without_the_worker_the_error_names_the_pc_and_the_fix(compile_guest, tmp_path, shared_cache):
    """A translated program copied to a machine without aotbuilder: its build's Python is gone."""
    elf = compile_guest(GUESTS / "hidden_pointers.c", flags=STRIPPED)
    exe = tmp_path / "hidden"
    subprocess.run([*AOTBUILDER, "build", str(elf), "-o", str(exe), "--cache-dir", str(shared_cache)],
                   capture_output=True, check=True, timeout=TIMEOUT)
    data = exe.read_bytes()
    python = sys.executable.encode() + b"\0"
    assert data.count(python) == 1
    exe.write_bytes(data.replace(python, b"/nonexistent"[:len(python) - 1].ljust(len(python), b"\0")))
    moved = tmp_path / "copied"
    shutil.move(exe, moved)
    result = subprocess.run([str(moved)], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == -4  # SIGILL, like an instruction nothing can run
    line, = result.stderr.splitlines()
    assert line.startswith("aotbuilder: no translation for guest pc 0x")
    assert "fallback JIT could not start" in line and "aotbuilder build" in line


# -- the worker in-process: its messages, as runtime/jit.c reads them --------------------------------

def _request(pc: int, lo: int, code: bytes) -> bytes:
    return struct.pack("<3Q", pc, lo, len(code)) + code


def test_worker_translates_a_region_and_places_it_at_the_given_base(compile_guest, tmp_path, shared_cache,
                                                                  monkeypatch):
    elf = compile_guest(GUESTS / "selfmod.c")
    exe = tmp_path / "selfmod"
    subprocess.run([*AOTBUILDER, "build", str(elf), "-o", str(exe), "--cache-dir", str(shared_cache)],
                   capture_output=True, check=True, timeout=TIMEOUT)
    monkeypatch.setenv("AOTBUILDER_JIT_CACHE_DIR", str(shared_cache))
    served = worker.read_executable(str(exe))
    assert served.cache is not None and served.cache.root == shared_cache
    assert served.translated and served.image is not None
    lo = 0x3F_F000_0000
    # addi a0, a0, 5; beq a0, zero, +8; addi a0, a0, 1; ret  (then zeros: an illegal word)
    code = struct.pack("<4I", 0x00550513, 0x00050463, 0x00150513, 0x00008067) + bytes(48)
    bad = 0x3F_F000_1002  # no executable region there: the request names bytes it did not send
    base = 0x7F00_0000_0000
    rd = io.BytesIO(_request(lo, lo, code) + struct.pack("<Q", base) + _request(bad, bad, b""))
    wr = io.BytesIO()
    worker.serve(served, rd, wr)
    out = io.BytesIO(wr.getvalue())
    hello, size = struct.unpack("<Qq", out.read(16))
    assert hello == abi.JIT_HELLO and size > 0
    n, = struct.unpack("<Q", out.read(8))
    entries = [struct.unpack("<3Q", out.read(24)) for _ in range(n)]
    assert (lo, entries[0][1], 0) == entries[0] and base <= entries[0][1] < base + size
    n, = struct.unpack("<Q", out.read(8))
    assert [struct.unpack("<2Q", out.read(16)) for _ in range(n)] == [(lo, lo + 16)]
    code_out = out.read(size)
    assert len(code_out) == size
    # The second request fails: one error reply, and the worker goes on serving.
    status, length = struct.unpack("<qQ", out.read(16))
    assert status == -1 and out.read(length) == f"no instruction at guest pc 0x{bad:x}".encode()
    assert out.read() == b""


def test_worker_rejects_an_executable_without_symbols(tmp_path):
    (tmp_path / "x").write_bytes(b"not an elf")
    result = subprocess.run([*AOTBUILDER[:1], "-m", "aotbuilder.jit", str(tmp_path / "x")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "fallback JIT cannot read" in result.stderr


EXEC_ECHO = """#include <unistd.h>
int main(void) { char *argv[] = {"echo", "from echo", 0}; execv("/bin/echo", argv); return 1; }
"""


def test_statistics_are_written_when_the_guest_execs_a_native_program(compile_guest, tmp_path, shared_cache):
    elf = compile_guest(EXEC_ECHO)
    stats = tmp_path / "stats.json"
    got = aot_run(elf, [], shared_cache, stats)
    assert (got.stdout, got.returncode) == (b"from echo\n", 0)
    assert json.loads(stats.read_text())["aot_entries"] > 0
