"""The committed guest fixtures still behave as recorded under qemu-riscv64 (the oracle).

These guard the recordings that end-to-end tests of translated programs compare against: a stale ELF,
an edited source without a rebuild, or a non-deterministic program shows up here first.
"""

from __future__ import annotations

import difflib
import json

from conftest import fixture_lib


def _diff(what: str, expected: bytes, actual: bytes) -> str:
    lines = difflib.unified_diff(expected.decode(errors="replace").splitlines(),
                                 actual.decode(errors="replace").splitlines(),
                                 f"expected {what}", f"qemu {what}", lineterm="", n=2)
    return "\n".join(list(lines)[:40])


def test_qemu_output_matches_recording(fixture_case_elf, qemu_run) -> None:
    case, elf = fixture_case_elf
    got = qemu_run(elf, case.argv, case.env, case.stdin)
    assert got.stdout == case.expected_stdout, _diff("stdout", case.expected_stdout, got.stdout)
    assert got.stderr == case.expected_stderr, _diff("stderr", case.expected_stderr, got.stderr)
    assert got.status == case.expected_status


def test_every_program_is_built_in_every_available_variant() -> None:
    # gcc cannot link static-PIE against Debian 12's riscv64 cross glibc (no rcrt1.o); every
    # other variant must be committed for every program.
    optional = {"gcc-O2-pie"}
    for program in fixture_lib.programs():
        missing = [v.name for v in fixture_lib.VARIANTS
                   if v.name not in optional and not fixture_lib.elf_path(program, v.name).exists()]
        assert not missing, f"{program}: no ELF for {missing}; run `nox -s fixtures`"


def test_elves_were_built_from_the_current_sources() -> None:
    built_from = json.loads(fixture_lib.BUILT_FROM.read_text())
    for program in fixture_lib.programs():
        assert built_from.get(program) == fixture_lib.source_digest(program), (
            f"fixtures/src/{program}.c or its build options changed since its ELFs were built; "
            "run `nox -s fixtures`")


def test_manifest_is_consistent() -> None:
    programs = fixture_lib.programs()
    cases = fixture_lib.load_cases()
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    assert {c.program for c in cases} == set(programs), "every program has a case, every case a program"
    for program in programs:
        assert (fixture_lib.SRC / f"{program}.c").is_file()
    for case in cases:
        for suffix in ("stdout", "stderr", "status"):
            assert case.expected_path(suffix).is_file(), f"{case.name}.{suffix} not recorded"
    recorded = {p.name for p in fixture_lib.EXPECTED.iterdir()}
    wanted = {f"{c.name}.{s}" for c in cases for s in ("stdout", "stderr", "status")}
    assert recorded == wanted, f"stale files in fixtures/expected: {sorted(recorded - wanted)}"


def test_recordings_cover_what_end_to_end_tests_rely_on() -> None:
    # The fixture set is meant to exercise non-zero exits (exit() and return from main), stderr,
    # argv/env and stdin; keep it that way when editing cases.json.
    cases = {c.name: c for c in fixture_lib.load_cases()}
    statuses = {c.expected_status for c in cases.values()}
    assert 0 in statuses and len(statuses) >= 3
    assert any(c.expected_stderr for c in cases.values())
    assert any(c.stdin for c in cases.values())
    assert any(c.env for c in cases.values())
    assert cases["control"].expected_status == 3  # exit(3)
    assert cases["varargs"].expected_status == 7  # return 7 from main
