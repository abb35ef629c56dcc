"""Fresh FP-heavy C programs (tests/guests/fpenv.c): rounding modes, fenv flags, libm, conversions,
subnormals with %a; tests/guests/frmcache.c: frm changing under a running function.  Built at test
time with musl (zig) and glibc (gcc); translated, they must print exactly what they print under
qemu-riscv64."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from difftest import toolchain

GUESTS = Path(__file__).parent / "guests"


@pytest.mark.parametrize("toolchain_name", ["zig", "gcc"])
@pytest.mark.parametrize("opt", ["0", "2"])
def test_fp_program_matches_qemu(toolchain_name: str, opt: str, compile_guest, qemu_run, tmp_path: Path,
                                 shared_cache: Path) -> None:
    guest = compile_guest(GUESTS / "fpenv.c", toolchain=toolchain_name, opt=opt, libs=("-lm",))
    expected = qemu_run(guest)
    assert expected.status == 0, expected.stderr
    assert b"mode upward" in expected.stdout and b" NX" in expected.stdout  # the program did its job
    exe = toolchain.translate(guest, tmp_path / "fpenv.native", shared_cache, jobs=2)
    actual = subprocess.run([str(exe)], capture_output=True, timeout=300, env={})
    assert actual.returncode == expected.status, actual.stderr
    if actual.stdout != expected.stdout:
        diff = [f"qemu:       {a}\ntranslated: {b}" for a, b in
                zip(expected.stdout.decode().splitlines(), actual.stdout.decode().splitlines(), strict=False) if a != b]
        pytest.fail(f"{len(diff)} lines differ, first ones:\n" + "\n".join(diff[:10]))


@pytest.mark.parametrize("toolchain_name", ["zig", "gcc"])
def test_frm_changes_under_a_function_match_qemu(toolchain_name: str, compile_guest, qemu_run, tmp_path: Path,
                                                 shared_cache: Path) -> None:
    """Translated code keeps a copy of frm (docs/fp.md); tests/guests/frmcache.c changes frm in
    every way it can change under a running function (callees direct, indirect and through libc,
    the function's own CSR writes, a signal handler's sigreturn after a poll and after an ecall,
    longjmp into the middle of the caller) and rounds in the caller right after each."""
    guest = compile_guest(GUESTS / "frmcache.c", toolchain=toolchain_name, opt="2", libs=("-lm",))
    expected = qemu_run(guest)
    assert expected.status == 0, expected.stdout + expected.stderr
    assert b"67 measurements, 0 mismatches" in expected.stdout  # the program checks itself too
    exe = toolchain.translate(guest, tmp_path / "frmcache.native", shared_cache, jobs=2)
    actual = subprocess.run([str(exe)], capture_output=True, timeout=300, env={})
    if actual.stdout != expected.stdout:
        diff = [f"qemu:       {a}\ntranslated: {b}" for a, b in
                zip(expected.stdout.decode().splitlines(), actual.stdout.decode().splitlines(), strict=False) if a != b]
        pytest.fail(f"{len(diff)} lines differ, first ones:\n" + "\n".join(diff[:10]))
    assert actual.returncode == expected.status, actual.stderr


@pytest.mark.parametrize("toolchain_name", ["zig", "gcc"])
def test_fp_loops_match_qemu(toolchain_name: str, compile_guest, qemu_run, tmp_path: Path, shared_cache: Path) -> None:
    """tests/guests/fp_loops.c: counted FP loops, some run with LLVM's ordinary (vectorised) FP
    operations (lift/plain_fp.py), over ∞×0 with NaN addends, signalling NaNs, overflow and
    underflow, in every rounding mode, with values that only code after the loop reads, stores
    to one place and overwritten stores: the same bits and exception flags as under qemu."""
    guest = compile_guest(GUESTS / "fp_loops.c", toolchain=toolchain_name, opt="2", libs=("-lm",))
    expected = qemu_run(guest)
    out = expected.stdout.decode()
    assert expected.status == 0 and out.count("frm ") == 5, expected.stderr
    invalid = [int(line.split(" flags ")[1], 16) & 0x10 for line in out.splitlines() if line.startswith("inf*0+qnan")]
    assert len(invalid) == 30 and all(invalid)  # RISC-V's invalid for ∞×0 + qNaN, in every mode and length
    exe = toolchain.translate(guest, tmp_path / "fp_loops.native", shared_cache, jobs=2)
    actual = subprocess.run([str(exe)], capture_output=True, timeout=300, env={})
    assert (actual.stdout.decode(), actual.returncode) == (out, 0), actual.stderr.decode()[-2000:]
