"""Every fixture, translated, behaves exactly as recorded under qemu-riscv64 (the oracle)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aotbuilder.cfg.discover import discover
from aotbuilder.cfg.loops import byte_scan
from aotbuilder.elf import load_guest

TIMEOUT = 120
AOTBUILDER = [sys.executable, "-m", "aotbuilder"]
GUESTS = Path(__file__).parent / "guests"


@pytest.fixture(scope="session")
def translate(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path):
    """translate(elf) -> native executable, built once per ELF through the real CLI."""
    out_dir = tmp_path_factory.mktemp("translated")
    built: dict[Path, Path] = {}

    def build(elf: Path) -> Path:
        if elf not in built:
            out = out_dir / elf.name
            proc = subprocess.run([*AOTBUILDER, "build", str(elf), "-o", str(out), "--cache-dir",
                                   str(shared_cache)], capture_output=True, text=True, timeout=1800)
            assert proc.returncode == 0, proc.stderr
            built[elf] = out
        return built[elf]

    return build


def test_fixture_matches_oracle(fixture_case_elf, translate):
    case, elf = fixture_case_elf
    exe = translate(elf)
    proc = subprocess.run([str(exe), *case.argv], input=case.stdin, capture_output=True, env=dict(case.env),
                          timeout=TIMEOUT)
    assert proc.stdout == case.expected_stdout
    assert proc.stderr == case.expected_stderr
    assert proc.returncode == case.expected_status


def test_run_passes_arguments_environment_and_status(fixture_bin_dir, shared_cache, fixture_cases):
    """`aotbuilder run GUEST ARGS...`: arguments that look like options reach the guest unchanged."""
    case = next(c for c in fixture_cases if c.name == "args")
    elf = fixture_bin_dir / f"{case.program}-zig-O2"
    env = {**os.environ, **case.env, "AOTBUILDER_CACHE_DIR": str(shared_cache)}
    proc = subprocess.run([*AOTBUILDER, "run", str(elf), *case.argv], capture_output=True, env=env,
                          timeout=TIMEOUT)
    assert proc.stdout == case.expected_stdout
    assert proc.returncode == case.expected_status
    dashed = subprocess.run([*AOTBUILDER, "run", str(elf), "--", *case.argv], capture_output=True, env=env,
                            timeout=TIMEOUT)
    assert dashed.stdout == case.expected_stdout


@pytest.mark.parametrize("variant", ["gcc-O2", "zig-O2"])
def test_stripped_program_matches_oracle(variant, fixture_bin_dir, fixture_cases, tmp_path, shared_cache):
    """Without symbols, discovery still finds `main` (only ever named by `la` in _start, handed to
    the libc in a register) and the qsort comparator (a code pointer passed in a register)."""
    strip = shutil.which("riscv64-linux-gnu-strip")
    if strip is None:
        pytest.skip("riscv64-linux-gnu-strip is not installed (apt install binutils-riscv64-linux-gnu)")
    elf = tmp_path / f"sort-{variant}-stripped"
    shutil.copy(fixture_bin_dir / f"sort-{variant}", elf)
    subprocess.run([strip, "--strip-all", str(elf)], check=True)
    exe = tmp_path / "sort.x86"
    # -O0: the point is discovery, and a stripped program's functions are new to the cache.
    proc = subprocess.run([*AOTBUILDER, "build", "-O", "0", str(elf), "-o", str(exe), "--cache-dir",
                           str(shared_cache)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    cases = [c for c in fixture_cases if c.program == "sort"]
    assert cases
    for case in cases:
        run = subprocess.run([str(exe), *case.argv], input=case.stdin, capture_output=True, env=dict(case.env),
                             timeout=TIMEOUT)
        assert (run.stdout, run.stderr, run.returncode) == (case.expected_stdout, case.expected_stderr,
                                                            case.expected_status), case.name


PRINT_ENVIRONMENT = """#include <stdio.h>
extern char **environ;
int main(void) { for (char **e = environ; *e; e++) puts(*e); return 0; }
"""


def test_run_gives_the_guest_the_callers_environment_exactly(compile_guest, qemu_run, shared_cache):
    """In the C locale Python adds LC_CTYPE=C.UTF-8 to its own environment (PEP 538); the guest
    must see what the caller passed, as under qemu."""
    elf = compile_guest(PRINT_ENVIRONMENT)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C", "AOTBUILDER_CACHE_DIR": str(shared_cache)}
    expected = qemu_run(elf, env=env)
    got = subprocess.run([*AOTBUILDER, "run", str(elf)], capture_output=True, env=env, timeout=1800)
    assert got.returncode == expected.status == 0, got.stderr
    assert sorted(got.stdout.splitlines()) == sorted(expected.stdout.splitlines())


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_indirect_calls_to_targets_sharing_an_entry_cache_slot(toolchain, compile_guest, qemu_run, shared_cache):
    """Translated indirect calls look in the runtime's entry cache first; targets that evict each
    other, nested misses and a longjmp out of a cached call must all reach the right function."""
    expected = _runs_as_under_qemu(compile_guest(GUESTS / "entry_cache.c", toolchain=toolchain), qemu_run,
                                   shared_cache)
    assert expected.stdout.startswith(b"one slot: 1\n")


def _runs_as_under_qemu(elf: Path, qemu_run, shared_cache: Path):
    """`aotbuilder run` of `elf` must print what qemu-riscv64 prints and exit 0, as qemu must;
    returns qemu's result.  A cold cache translates the guest's libc too: minutes on a loaded
    machine, hence the long timeout."""
    expected = qemu_run(elf)
    assert expected.status == 0
    got = subprocess.run([*AOTBUILDER, "run", "--cache-dir", str(shared_cache), str(elf)], capture_output=True,
                         timeout=1800)
    assert (got.stdout, got.returncode) == (expected.stdout, 0), got.stderr.decode()[-2000:]
    return expected


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_signal_handlers_at_a_poll_that_change_registers_or_not(toolchain, compile_guest, qemu_run, shared_cache):
    """A poll goes on with the registers it holds when the handler changed none, and sees the new
    value when the handler changed an integer or FP register in its frame (tests/guests/poll_context.c;
    a lost change leaves the loop spinning); the handler's frame holds what a loop changed."""
    elf = compile_guest(GUESTS / "poll_context.c", toolchain=toolchain)
    expected = qemu_run(elf)
    assert expected.status == 0 and b"s2 from the handler: 5" in expected.stdout
    assert b"the loop's count: yes" in expected.stdout
    exe = elf.with_suffix(".native")
    subprocess.run([*AOTBUILDER, "build", str(elf), "-o", str(exe), "--cache-dir", str(shared_cache)], check=True,
                   capture_output=True, timeout=1800)
    got = subprocess.run([str(exe)], capture_output=True, timeout=60)
    assert (got.stdout, got.returncode) == (expected.stdout, 0), got.stderr.decode()[-2000:]


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_fault_handler_sees_and_changes_the_registers_at_the_access(toolchain, compile_guest, qemu_run, shared_cache):
    """A SIGSEGV handler gets every register as it was at the faulting access, though translated
    code had not written them back yet, and fcsr with only the guest's own flags (the JIT, which
    runs the code after the skipped access, timed itself with doubles and leaked inexact); what
    the handler changes in its frame is what the code after the access sees, also at a callee's
    first instruction, whose a0 and a1 its caller passed in host registers
    (tests/guests/fault_state.c)."""
    elf = compile_guest(GUESTS / "fault_state.c", toolchain=toolchain)
    expected = qemu_run(elf)
    assert expected.status == 0 and expected.stdout.count(b"after: a0=5a5a fa0=7\n") == 3
    assert b" x10=400a x11=400b " in expected.stdout and expected.stdout.endswith(b"after: a0=9a65 fa0=7\n")
    exe = elf.with_suffix(".native")
    subprocess.run([*AOTBUILDER, "build", str(elf), "-o", str(exe), "--cache-dir", str(shared_cache)], check=True,
                   capture_output=True, timeout=1800)
    got = subprocess.run([str(exe)], capture_output=True, timeout=60)
    assert (got.stdout.decode(), got.returncode) == (expected.stdout.decode(), 0), got.stderr.decode()[-2000:]


def _asm_guest_as_under_qemu(name: str, riscv_gcc, qemu_run, tmp_path, shared_cache):
    """Assemble tests/guests/NAME.S, translate it at -O0 and -O2, and check both runs give qemu's
    output and exit status; returns qemu's result for the caller's own checks."""
    elf = tmp_path / name
    subprocess.run([riscv_gcc, "-nostdlib", "-static", "-o", str(elf), str(GUESTS / f"{name}.S")], check=True)
    expected = qemu_run(elf)
    for level in ("0", "2"):
        exe = tmp_path / f"{name}-O{level}"
        subprocess.run([*AOTBUILDER, "build", "-O", level, str(elf), "-o", str(exe), "--cache-dir",
                        str(shared_cache)], check=True, capture_output=True, timeout=TIMEOUT)
        got = subprocess.run([str(exe)], capture_output=True, timeout=60)
        assert (got.stdout, got.returncode) == (expected.stdout, expected.status)
    return expected


def test_loops_with_calls_keep_untouched_registers_in_the_state(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """Registers a loop with calls neither reads nor writes (tests/guests/loop_reloads.S) are not
    reloaded after each call in it: they are written back on entering the loop and reloaded on
    leaving it, at the bottom or from the middle, so the caller sees what the callee left."""
    expected = _asm_guest_as_under_qemu("loop_reloads", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert expected.stdout == b"".join(v.to_bytes(8, "little") for v in (110, 7, 119, 9))


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_indirect_tail_calls(toolchain, compile_guest, qemu_run, shared_cache):
    """`jr` through a pointer in tail position (tests/guests/tail_jump.c): 3,000,000 jumps deep
    with no host stack growth, between targets that share an entry cache slot, and a loop of
    such jumps alone that a signal handler ends (the jumps pass a safe point)."""
    expected = _runs_as_under_qemu(compile_guest(GUESTS / "tail_jump.c", toolchain=toolchain), qemu_run,
                                   shared_cache)
    assert b"ticks: 1, jumped: yes" in expected.stdout


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_tail_calls_through_a_table_discovery_takes_for_a_computed_goto(toolchain, compile_guest, qemu_run,
                                                                       shared_cache):
    """Handlers that tail-call table[s & 7] (tests/guests/tail_table.c), a jump discovery takes
    for a computed goto with the handler's own entry as its one target: the other targets are
    tail calls, 8,000,000 of them in chains of 1,000,000, with qemu's result."""
    expected = _runs_as_under_qemu(compile_guest(GUESTS / "tail_table.c", toolchain=toolchain), qemu_run,
                                   shared_cache)
    assert expected.stdout.startswith(b"tail table ")


def test_callees_see_registers_changed_on_some_paths_only(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """A caller writes back only the registers that may have changed since the CPU state last held
    them: registers changed on one side of a branch, in a loop (one whose body loads too), in an
    earlier callee, or given back a value the state held before a write-back must reach the next
    callee (which reads them from the state) exactly as under qemu."""
    expected = _asm_guest_as_under_qemu("writeback_paths", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert len(expected.stdout) == 43 * 8 and expected.status != 0
    assert expected.stdout[36 * 8:] == b"".join(v.to_bytes(8, "little") for v in (100, 101, 103, 106, 106, 156, 106))


def test_registers_changed_on_one_path_into_a_join_reach_callers_and_callees(riscv_gcc, qemu_run, tmp_path,
                                                                           shared_cache):
    """Registers changed on some paths into a join and written back at the end of those paths,
    not after the join (tests/guests/merge_writebacks.S): the caller reads them after the return,
    a callee after the join reads one from the state, nested joins feed each other, and two
    paths change one register by different amounts; every value must be qemu's, on the paths
    that changed them and on those that did not."""
    expected = _asm_guest_as_under_qemu("merge_writebacks", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert len(expected.stdout) == 36 * 8
    logged = [int.from_bytes(expected.stdout[i:i + 8], "little") for i in range(0, 36 * 8, 8)]
    assert logged[:6] == [11, 22, 55, 40, 44, 66] and logged[6:8] == [111, 222], logged
    assert logged[5::6] == [66, 68, 68, 69, 69, 71], logged  # either's t5 on its three paths


def test_callers_see_the_caller_saved_registers_a_callee_left(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """Callers that read caller-saved registers a callee set (tests/guests/return_conventions.S:
    after a direct call, a tail call, a callee that leaves the register alone, a call through a
    register and a jump through one), against the psABI but as hand-written code and Go's
    results in registers do: each value must be the one the callee left, as under qemu."""
    expected = _asm_guest_as_under_qemu("return_conventions", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert expected.stdout == b"".join(v.to_bytes(8, "little") for v in (30, 31, 40, 50, 60, 70, 61))


def test_passed_registers_cross_calls_both_ways(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """a0 and a1 go to a translated callee and come back in host registers
    (tests/guests/passed_registers.S): a callee that leaves them alone, one that returns to
    another pc with them set (directly and two calls deep), one reached through a register (a
    miss, then a hit in the entry cache), one that returns a system call's result, and a loop
    that feeds a callee's results back to it must each give what they give under qemu.  ra
    goes to the callee in a host register and comes back as a bit of the pc: the callee sees its
    return site (called directly, through a register, through the call table's miss path), and
    the caller sees what the callee left in ra (set, odd, or its own across a call linked through
    t0)."""
    expected = _asm_guest_as_under_qemu("passed_registers", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert expected.stdout == b"ok\n" + b"".join(v.to_bytes(8, "little") for v in
                                                 (5, 6, 11, 12, 21, 22, 34, 34, 3, 89, 144,
                                                  0, 0, 0, 0, 0x1234, 1, 0x777))


def test_indirect_calls_through_the_call_table(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """Indirect calls to pcs the call table covers (tests/guests/call_table.S): the lowest and
    the highest function entry (its first and last slots), a function's return site (a slot
    with no function: the runtime enters that function there), a pc inside a function that
    static discovery missed (the fallback JIT), each with the a0 and a1 the callee leaves."""
    expected = _asm_guest_as_under_qemu("call_table", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert expected.stdout == b"".join(v.to_bytes(8, "little")
                                       for v in (41, 42, 43, 44, 107, 55, 101, 55, 2000, 3000, 41, 42))


def test_loads_of_bytes_just_stored_read_what_memory_holds(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """Loads of bytes the same straight-line code stored before (tests/guests/store_forwarding.S),
    which the translation may answer with the stored value: each width sign- and zero-extended,
    FP values through integer registers, and the cases where memory holds something else by then
    (a store through another register to the same address, a narrower store over part of them,
    an AMO, an SC, a read(2) into them): every value as under qemu."""
    expected = _asm_guest_as_under_qemu("store_forwarding", riscv_gcc, qemu_run, tmp_path, shared_cache)
    t0, amo = 0x1122334455667788, 0x1122334455667788 + 5
    assert expected.stdout == b"".join(v.to_bytes(8, "little") for v in (
        t0, 2**64 - 1, 0xFF, 0xFFFFFFFF80000001, 0x80000001, 0xFFFFFFFFFFFF8001, 0x8001, 5, 0x55667788, t0,
        t0, 0xFFFFFFFF55667788, 0x55667788, t0, amo, 5, 5))


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_byte_scans_match_qemu(toolchain, compile_guest, qemu_run, shared_cache):
    """Loops that load the next byte until it equals (or differs from) a value
    (tests/guests/byte_scans.c), which the translation runs 16 bytes at a time: every length and
    alignment, across a page, ending on a page's last byte, a value no byte equals, loops of
    that look that are not scans; and scans into an unreadable page, whose SIGSEGV handler sees
    the fault address and the loop's registers (the byte register holding the last byte the
    guest loaded): the same output as under qemu."""
    elf = compile_guest(GUESTS / "byte_scans.c", toolchain=toolchain)
    expected = qemu_run(elf)
    out = expected.stdout.decode()
    assert expected.status == 0 and out.count("fault at") == 5 and "8/1000: 1000 +501 +501 +1001" in out
    assert "fault at +8192: a0=+8192 a1=81 x5=119" in out  # 'w', the byte before the unreadable page
    assert "fault at +8292: a0=+8292 a1=0 x5=7" in out  # the first load faults: t0 as set before the loop
    got = subprocess.run([*AOTBUILDER, "run", "--cache-dir", str(shared_cache), str(elf)], capture_output=True,
                         timeout=1800)
    assert (got.stdout.decode(), got.returncode) == (out, 0), got.stderr.decode()[-2000:]
    program = discover(load_guest(elf))
    assert sum(byte_scan(block) is not None for func in program.functions.values()
               for block in func.blocks.values()) >= 4  # the translation did take them as scans


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_counted_loops_match_qemu(toolchain, compile_guest, qemu_run, shared_cache):
    """Counted loops (tests/guests/counted_loops.c) up and down, with invariant bases, a down-counter
    against x0, in and above the direct window, faulting in the middle (an unmapped page, a
    read-only one, a misaligned load crossing into an unmapped page: si_addr is the second page's
    start; a run of the plain copy's length reaching a hole halfway; pages made read-only and
    unmapped after plain runs over them), a timer's signal during a long loop, and rounding in
    each frm mode: the same results, fault addresses and registers as under qemu."""
    elf = compile_guest(GUESTS / "counted_loops.c", toolchain=toolchain)
    expected = qemu_run(elf)
    assert expected.status == 0 and expected.stdout.count(b"SIGSEGV") == 6 and b"fsum rmm" in expected.stdout
    assert b"signal in the loop: yes" in expected.stdout
    got = subprocess.run([*AOTBUILDER, "run", "--cache-dir", str(shared_cache), str(elf)], capture_output=True,
                         timeout=1800)
    assert (got.stdout.decode(), got.returncode) == (expected.stdout.decode(), 0), got.stderr.decode()[-2000:]


@pytest.mark.parametrize("toolchain", ["zig", "gcc"])
def test_strided_loops_match_qemu(toolchain, compile_guest, qemu_run, shared_cache):
    """Loops that end on loaded data (tests/guests/strided_loops.c): strlen's and strncmp's
    shapes, a store loop, a walk down with a `j` latch, scaled indexes, in the window, into a
    hole, a read-only page and off a mapping's start, across 2^38 where two mappings meet (the
    translation leaves the window into its guard page; qemu, which keeps 2^38 for itself, walks
    across another address) and off the end there, an FP sum that is a NaN when its walk faults,
    and rounding in each frm mode: the same results, fault addresses and registers as under qemu."""
    elf = compile_guest(GUESTS / "strided_loops.c", toolchain=toolchain)
    expected = qemu_run(elf)
    out = expected.stdout.decode()
    assert expected.status == 0 and out.count("SIGSEGV") == 8 and "fsum rmm" in out and "down across" in out
    assert "fa0=7ff8000000000000" in out  # the canonical NaN
    got = subprocess.run([*AOTBUILDER, "run", "--cache-dir", str(shared_cache), str(elf)], capture_output=True,
                         timeout=1800)
    assert (got.stdout.decode(), got.returncode) == (out, 0), got.stderr.decode()[-2000:]


def test_an_access_past_the_window_off_a_checked_root_takes_the_slow_path(riscv_gcc, qemu_run, tmp_path,
                                                                          shared_cache):
    """An access off root + (i & 0xff) checks only the root against the direct window's end
    (Emitter._window_root): with the root 16 bytes below 2^38, a load and a store past it reach
    the mapping above the window through the guard page and the slow path
    (tests/guests/rooted_checks.S), as under qemu."""
    expected = _asm_guest_as_under_qemu("rooted_checks", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert expected.stdout == b"".join(v.to_bytes(8, "little") for v in (0x2222, 0x3333, 0x1111))


def test_frame_slots_are_read_back_as_memory_holds_them(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """An epilogue's load of a saved register may take the prologue's value without a load only
    while nothing can have written the slot (lift/frame_slots.py): a store through another
    register that points at it, or through sp to it, must reach the restored register, and a
    store next to it must not (tests/guests/frame_slots.S), exactly as under qemu."""
    expected = _asm_guest_as_under_qemu("frame_slots", riscv_gcc, qemu_run, tmp_path, shared_cache)
    assert expected.stdout == b"".join(v.to_bytes(8, "little") for v in (5, 77, 78, 6))
