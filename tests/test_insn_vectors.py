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
def tools() -> None:
    reason = toolchain.missing_tools()
    if reason:
        pytest.skip(reason)


def _describe(groups: list[Group], expected: bytes, actual: bytes, limit: int = 12) -> str:
    lines, seen = [], set()
    for off in range(0, min(len(expected), len(actual)), 8):
        if expected[off:off + 8] == actual[off:off + 8]:
            continue
        g, index, column = locate(groups, off)
        if (g.name, index) in seen:
            continue
        seen.add((g.name, index))
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
def test_instruction_vectors(kind: str, tools: None, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    groups = int_groups(rng) if kind == "int" else fp_groups(rng)
    guest = toolchain.assemble(program(groups), tmp_path / f"vectors-{kind}")
    exe = toolchain.translate(guest, tmp_path / f"vectors-{kind}.native", tmp_path / "cache", jobs=2)
    expected = toolchain.run_qemu(guest)
    assert expected.status == 0, expected.stderr
    actual = toolchain.run_native(exe)
    assert actual.status == 0, actual.stderr.decode(errors="replace")
    assert len(actual.stdout) == len(expected.stdout)
    if actual.stdout != expected.stdout:
        pytest.fail("translated results differ from qemu:\n" + _describe(groups, expected.stdout, actual.stdout))
