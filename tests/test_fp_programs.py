"""Fresh FP-heavy C programs (tests/guests/fpenv.c): rounding modes, fenv flags, libm, conversions,
subnormals with %a.  Built at test time with musl (zig) and glibc (gcc); translated, they must print
exactly what they print under qemu-riscv64."""

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
