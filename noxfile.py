"""Developer sessions.

    nox -s lint tests     # the default: what CI runs
    nox -s fixtures       # rebuild fixtures/bin with zig and gcc, re-record fixtures/expected with qemu
    nox -s fixtures -- --check    # only compare qemu with the recordings
    nox -s bench_build    # time builds: cold, no-op, one-function change, shared libc (fixtures, busybox)
    nox -s bench_build -- --skip-busybox -O 1 --json out.json
    nox -s bench          # runtime: native vs translated vs qemu-riscv64 on benchmarks/src (medians, JSON, PNG)
    nox -s bench -- --repeat 3 --only sort nbody --json out.json --png out.png
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]

# Kept identical to the README's "Tests" command and .ci/run.
TEST_COMMAND = ("python", "-m", "pytest", "-n", "auto", "--cov=aotbuilder", "--cov-report=term")
# The committed fixture ELFs were built with this zig; another version makes different binaries.
ZIG = "ziglang==0.17.1"


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run(*TEST_COMMAND, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session
def fixtures(session: nox.Session) -> None:
    """Rebuild the guest fixtures (zig and, where installed, riscv64-linux-gnu-gcc), re-record with qemu."""
    session.install(ZIG)
    session.run("python", "fixtures/build.py", *session.posargs)


@nox.session
def bench_build(session: nox.Session) -> None:
    """Benchmarks of the build itself (bench/build_bench.py): figures, not pass/fail."""
    session.install("-e", ".")
    session.run("python", "bench/build_bench.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Runtime benchmarks (benchmarks/run.py): figures, not pass/fail; builds the suite with zig cc."""
    session.install("-e", ".", ZIG, "matplotlib")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Differential fuzzing against qemu-riscv64: nox -s fuzz -- --count N [--seed S] [--workers W]."""
    session.install("-e", ".[test]")
    session.run("python", "tests/difftest/runner.py", *(session.posargs or ["--count", "100000"]))
