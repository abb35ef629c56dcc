"""Differential random testing against qemu-riscv64 (tests/difftest/).

A fixed seed keeps CI reproducible; `nox -s fuzz -- --count N --seed S` runs long campaigns with
other seeds.  A mismatch prints the seed, the case, and a minimised reproducer to add to
tests/difftest/regressions.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from difftest import runner, toolchain
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


def test_regressions_match_qemu(tools: None, tmp_path: Path) -> None:
    cases = list(REGRESSIONS.values())
    expected, actual = runner.run_cases(cases, tmp_path, tmp_path / "cache", name="regressions")
    assert expected.status == 0, expected.stderr
    bad = runner.compare(cases, expected, actual)
    names = list(REGRESSIONS)
    assert not bad, "\n\n".join(runner.describe(runner.Mismatch(0, k, cases[k],
                                expected.stdout[k * runner.RECORD_OUT:(k + 1) * runner.RECORD_OUT],
                                actual.stdout[k * runner.RECORD_OUT:(k + 1) * runner.RECORD_OUT],
                                names[k])) for k in bad)


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
