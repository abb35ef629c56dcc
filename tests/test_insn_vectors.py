"""Every instruction on edge values, translated, against qemu-riscv64 (tests/insn_vectors.py).

One guest runs all vector groups; qemu's output is the expectation, computed at test time.  A
mismatch names the instruction form, the vector's inputs and both outputs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from difftest import toolchain
from insn_vectors import Group, fp_groups, int_groups, locate, program

SEED = 20240603


@pytest.fixture(scope="module")
def cache(shared_cache: Path) -> Path:
    return shared_cache


@pytest.fixture(scope="module")
def tools() -> None:
    reason = toolchain.missing_tools()
    if reason:
        pytest.skip(reason)


def _describe(groups: list[Group], expected: bytes, actual: bytes, limit: int = 40) -> str:
    lines, seen = [], set()
    for off in range(0, min(len(expected), len(actual)), 8):
        if expected[off:off + 8] == actual[off:off + 8]:
            continue
        g, index, column = locate(groups, off)
        if g.name in seen:
            continue
        seen.add(g.name)
        rec = (off // 8 - column) * 8
        width = g.out_width * 8

        def words(b: bytes, rec: int = rec, width: int = width) -> str:
            return " ".join(f"{int.from_bytes(b[rec + k:rec + k + 8], 'little'):#x}" for k in range(0, width, 8))

        inputs = " ".join(f"{v:#x}" for v in g.vectors[index])
        lines.append(f"{g.name} [{index}] inputs ({inputs}): outputs (fcsr, ...) qemu {words(expected)} "
                     f"translated {words(actual)}")
        if len(lines) >= limit:
            break
    return "\n".join(lines)


@pytest.mark.parametrize("kind", ["int", "fp"])
def test_instruction_vectors(kind: str, tools: None, tmp_path: Path, cache: Path) -> None:
    rng = random.Random(SEED)
    groups = int_groups(rng) if kind == "int" else fp_groups(rng)
    guest = toolchain.assemble(program(groups), tmp_path / f"vectors-{kind}")
    exe = toolchain.translate(guest, tmp_path / f"vectors-{kind}.native", cache, jobs=2)
    expected = toolchain.run_qemu(guest)
    assert expected.status == 0, expected.stderr
    actual = toolchain.run_native(exe)
    assert actual.status == 0, actual.stderr.decode(errors="replace")
    assert len(actual.stdout) == len(expected.stdout)
    if actual.stdout != expected.stdout:
        pytest.fail("translated results differ from qemu:\n" + _describe(groups, expected.stdout, actual.stdout))


# qemu 7.2 deviations from the specification, checked against the specification's own values
# instead (and left out of the vectors): ctzw counts into the upper half of the register when the
# low word is zero (ctzw of 0x4000000000000000 gives 62; the spec says 32, the width of a word).
QEMU_BUGS = {"ctzw": [(0x8000000000000000, 32), (0x4000000000000000, 32), (0xFFFFFFFF00000000, 32)]}


def test_ctzw_counts_only_the_low_word(tools: None, tmp_path: Path, cache: Path) -> None:
    lines = [".globl _start", "_start:", "  li s1, 0"]
    for value, expected in QEMU_BUGS["ctzw"]:
        lines += [f"  li s0, {value:#x}", "  ctzw a0, s0", f"  addi a0, a0, -{expected}", "  or s1, s1, a0"]
    lines += ["  mv a0, s1", "  li a7, 93", "  ecall"]
    guest = toolchain.assemble("\n".join(lines) + "\n", tmp_path / "ctzw")
    exe = toolchain.translate(guest, tmp_path / "ctzw.native", cache)
    assert toolchain.run_native(exe).status == 0


# Instructions that must raise SIGILL: reserved rounding modes, static (in the instruction) or
# dynamic (in frm), also on instructions whose result cannot depend on the mode; encodings of
# extensions aotbuilder does not implement; the all-zero word.
ILLEGAL = {
    "fadd.d rm=5": ".insn r OP_FP, 5, 0x01, fa0, fa1, fa2",
    "fmadd.s rm=6": ".insn r4 MADD, 6, 0, fa0, fa1, fa2, fa3",
    "fcvt.d.w rm=5": ".insn r OP_FP, 5, 0x69, fa0, a0, x0",
    "fadd.s dyn frm=5": "fsrmi 5\nfadd.s fa0, fa1, fa2",
    "fsqrt.d dyn frm=6": "fsrmi 6\nfsqrt.d fa0, fa1",
    "fcvt.w.d dyn frm=7": "fsrmi 7\nfcvt.w.d a0, fa1",
    "fcvt.d.w dyn frm=7": "fsrmi 7\n.insn r OP_FP, 7, 0x69, fa0, a0, x0",
    "fcvt.d.s dyn frm=5": "fsrmi 5\n.insn r OP_FP, 7, 0x21, fa0, fa1, x0",
    "fnmadd.d dyn frm=5": "fsrmi 5\nfnmadd.d fa0, fa1, fa2, fa3",
    "fadd.h (Zfh)": ".insn r OP_FP, 0, 0x02, fa0, fa1, fa2",
    "zero word": ".word 0",
    "csrw cycle": "csrw cycle, a0",
    "unknown csr": "csrr a0, 0x7c0",
}


@pytest.mark.parametrize("name", list(ILLEGAL))
def test_illegal_instruction_raises_sigill(name: str, tools: None, tmp_path: Path, cache: Path) -> None:
    source = "\n".join([".globl _start", "_start:", "  li a0, 1", "  fcvt.d.w fa1, a0", "marker:",
                        *("  " + line for line in ILLEGAL[name].splitlines()), "  li a0, 0", "  li a7, 93",
                        "  ecall", ""])
    guest = toolchain.assemble(source, tmp_path / "illegal")
    expected = toolchain.run_qemu(guest)
    assert expected.status == -4  # SIGILL: the oracle agrees the instruction is illegal
    actual = toolchain.run_native(toolchain.translate(guest, tmp_path / "illegal.native", cache))
    assert actual.status == -4
    # The report names the faulting pc and the instruction word, as read from the guest.
    pc, word = _faulting_instruction(guest, ILLEGAL[name])
    message = actual.stderr.decode()
    assert f"{pc:x}" in message and f"{word:0{8 if word & 3 == 3 else 4}x}" in message, message


def _faulting_instruction(guest: Path, body: str) -> tuple[int, int]:
    """pc and word of the illegal instruction: the last line of the body, found by its offset
    from the `marker` symbol (frcsr-style setup instructions before it are 4 bytes)."""
    import subprocess

    out = subprocess.run(["riscv64-linux-gnu-nm", str(guest)], capture_output=True, text=True).stdout
    marker = next(int(line.split()[0], 16) for line in out.splitlines() if line.endswith(" marker"))
    pc = marker + 4 * (len(body.splitlines()) - 1)
    dump = subprocess.run(["riscv64-linux-gnu-objdump", "-d", f"--start-address={pc:#x}",
                           f"--stop-address={pc + 4:#x}", str(guest)], capture_output=True, text=True).stdout
    line = next(ln for ln in dump.splitlines() if ln.strip().startswith(f"{pc:x}:"))
    return pc, int(line.split()[1], 16)
