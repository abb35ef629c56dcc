"""Differential random testing against qemu-riscv64 (tests/difftest/).

A fixed seed keeps CI reproducible; `nox -s fuzz -- --count N --seed S` runs long campaigns with
other seeds.  A mismatch prints the seed, the case, and a minimised reproducer to add to
tests/difftest/regressions.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from difftest import runner, toolchain
from difftest.generator import Case
from difftest.regressions import REGRESSIONS

CI_SEED = 20240603
CI_COUNT = int(os.environ.get("AOTBUILDER_DIFFTEST_COUNT", "20000"))
# LLVM's -O2 pipeline costs ~5x -O0 per function, and the semantics under test are the lifted IR's:
# the full count runs at -O0, and a tenth (another seed) through the default -O2 pipeline, which
# also catches IR whose meaning the optimiser could change (undefined behaviour in a lifted op).
CI_COUNT_O2 = int(os.environ.get("AOTBUILDER_DIFFTEST_COUNT_O2", str(CI_COUNT // 10)))


@pytest.fixture(scope="module")
def tools() -> None:
    reason = toolchain.missing_tools()
    if reason:
        pytest.skip(reason)


def _assert_cases_match_qemu(named: dict[str, Case], tmp_path: Path, name: str) -> None:
    cases = list(named.values())
    expected, actual = runner.run_cases(cases, tmp_path, tmp_path / "cache", name=name)
    assert expected.status == 0, expected.stderr
    bad = runner.compare(cases, expected, actual)
    names = list(named)
    assert not bad, "\n\n".join(runner.describe(runner.Mismatch(0, k, cases[k],
                                expected.stdout[k * runner.RECORD_OUT:(k + 1) * runner.RECORD_OUT],
                                actual.stdout[k * runner.RECORD_OUT:(k + 1) * runner.RECORD_OUT],
                                names[k])) for k in bad)


def test_regressions_match_qemu(tools: None, tmp_path: Path) -> None:
    _assert_cases_match_qemu(REGRESSIONS, tmp_path, "regressions")


_INF64, _ONE64, _NEG_ZERO64 = 0x7FF0000000000000, 0x3FF0000000000000, 0x8000000000000000
_INF32_BOXED, _ONE32_BOXED = 0xFFFFFFFF7F800000, 0xFFFFFFFF3F800000
# Each NaN-producing instruction is followed, in the same block, by readers of its result.  x86's
# default NaN is negative (0xFFF8...); arithmetic may read the host's NaN as is (docs/fp.md), but
# whatever sees the bits (sign injection, moves, stores) must see RISC-V's canonical NaN.
_NAN_READERS = [
    ["fsub.d f1, f2, f3"],  # inf - inf
    ["fclass.d x10, f1"], ["fmin.d f7, f1, f4"], ["fmax.d f8, f5, f1"], ["fmin.d f20, f1, f1"],
    ["feq.d x11, f1, f1"], ["flt.d x12, f1, f4"], ["fadd.d f9, f1, f4"], ["fmadd.d f10, f1, f4, f4"],
    ["fsgnj.d f11, f1, f1"], ["fsgnjn.d f12, f1, f1"], ["fsgnjx.d f13, f4, f1"], ["fmv.x.d x13, f1"],
    ["fsd f1, 8(sp)"], ["fcvt.w.d x14, f1, rtz"], ["fcvt.s.d f21, f1"],
    ["fmul.d f17, f1, f4"], ["fsgnj.d f18, f17, f17"],  # a NaN result read by arithmetic, then by bits
    ["fsqrt.d f19, f22"], ["fsgnj.d f23, f19, f19"], ["fsd f19, 16(sp)"],  # sqrt(-1)
    ["fsub.s f14, f15, f15"],  # single precision: inf - inf, NaN-boxed
    ["fclass.s x15, f14"], ["fmin.s f24, f14, f16"], ["fsgnj.s f25, f14, f14"], ["fmv.x.w x16, f14"],
    ["fsw f14, 24(sp)"], ["fcvt.d.s f26, f14"], ["fmadd.s f27, f16, f16, f14"], ["fsgnjx.s f28, f27, f27"],
    ["fdiv.d f29, f6, f6"], ["feq.d x17, f29, f4"], ["fsgnj.d f30, f29, f29"],  # 0/0
]


def _nan_case(fcsr: int) -> Case:
    f = [0] * 32
    f[2] = f[3] = _INF64
    f[4], f[5], f[6] = _ONE64, _NEG_ZERO64, 0
    f[15], f[16], f[22] = _INF32_BOXED, _ONE32_BOXED, _ONE64 | _NEG_ZERO64
    return Case(x=[0] * 32, f=f, fcsr=fcsr, memory=bytes(256), body=_NAN_READERS)


def test_nan_results_read_by_the_next_instructions_match_qemu(tools: None, tmp_path: Path) -> None:
    # frm = RNE takes the host's FP operations; frm = RUP computes them in software.
    _assert_cases_match_qemu({"frm rne": _nan_case(0), "frm rup": _nan_case(3 << 5)}, tmp_path, "nans")


@pytest.mark.parametrize(("seed", "count", "opt_level"), [(CI_SEED, CI_COUNT, 0), (CI_SEED + 1, CI_COUNT_O2, 2)],
                         ids=["O0", "O2"])
def test_random_sequences_match_qemu(tools: None, tmp_path: Path, seed: int, count: int, opt_level: int) -> None:
    messages: list[str] = []
    result = runner.campaign(seed, count, tmp_path, tmp_path / "cache", workers=2,
                             log=messages.append, opt_level=opt_level)
    if result.mismatches:
        first = result.mismatches[0]
        small = runner.minimise(first.case, tmp_path, tmp_path / "cache", log=messages.append)
        pytest.fail(f"{len(result.mismatches)} mismatches (seed {seed}, -O{opt_level}; re-run a batch with "
                    f"tests/difftest/runner.py):\n{runner.describe(first)}\n\nminimised reproducer:\n"
                    f"{runner.reproducer(small)}")
    assert result.sequences == count
