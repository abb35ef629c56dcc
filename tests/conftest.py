"""Shared test fixtures: repository paths, the guest fixture cases, qemu-riscv64, fresh guest builds.

Parametrisation over the committed guests is by argument name (see ``pytest_generate_tests``):

- ``fixture_elf``: every ELF in fixtures/bin (id: its file name)
- ``fixture_case``: every case in fixtures/cases.json (a ``FixtureCase``; id: the case name)
- ``fixture_case_elf``: (case, elf) for every case and every built variant of its program
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load_fixture_lib():
    # fixtures/build.py is a script, not a package module; load it under a name that cannot clash.
    spec = importlib.util.spec_from_file_location("aot_fixture_build", REPO / "fixtures" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


fixture_lib = _load_fixture_lib()
FixtureCase = fixture_lib.FixtureCase
Outcome = fixture_lib.Outcome


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "fixture_elf" in names:
        elves = fixture_lib.fixture_elves()
        metafunc.parametrize("fixture_elf", elves, ids=[p.name for p in elves])
    if "fixture_case" in names:
        cases = fixture_lib.load_cases()
        metafunc.parametrize("fixture_case", cases, ids=[c.name for c in cases])
    if "fixture_case_elf" in names:
        pairs = [(c, elf) for c in fixture_lib.load_cases() for elf in c.elves()]
        metafunc.parametrize("fixture_case_elf", pairs, ids=[f"{c.name}:{e.name}" for c, e in pairs])


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return fixture_lib.FIXTURES


@pytest.fixture(scope="session")
def fixture_bin_dir() -> Path:
    return fixture_lib.BIN


@pytest.fixture(scope="session")
def fixture_cases() -> list[FixtureCase]:
    return fixture_lib.load_cases()


@pytest.fixture(scope="session")
def qemu_run() -> Callable[..., Outcome]:
    """``qemu_run(path, args=(), env=None, stdin=b"")`` -> Outcome(stdout, stderr, status).

    The guest sees exactly ``env`` as its environment.  Skips the test if qemu-riscv64 is missing.
    """
    if not fixture_lib.qemu_available():
        pytest.skip(f"{fixture_lib.QEMU} is not installed (apt install qemu-user)")

    def run(path: Path | str, args: Sequence[str] = (), env: dict[str, str] | None = None,
            stdin: bytes | str = b"") -> Outcome:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return fixture_lib.qemu_run(Path(path), args, env, data)

    return run


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One translation cache for the tests that only need programs built (not the ones about the
    cache itself), shared by all test workers of the run, as one user's cache is shared by their
    builds: each libc is translated once per run, not once per test module and worker."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / "aot-shared-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def compile_guest(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``compile_guest(source, toolchain="zig", opt="2", pie=False, libs=(), flags=())`` -> ELF path.

    ``source`` is C source text or a path to a .c file; toolchain is "zig" (musl) or "gcc" (glibc).
    Skips the calling test when the toolchain (or the PIE variant of it) is not available.  Builds
    are cached for the session by content, so many tests can share one program.
    """
    out_dir = tmp_path_factory.mktemp("guests")
    built: dict[str, Path] = {}

    def build(source: str | Path, toolchain: str = "zig", opt: str = "2", pie: bool = False,
              libs: Sequence[str] = (), flags: Sequence[str] = ()) -> Path:
        reason = fixture_lib.missing_reason(toolchain, pie)
        if reason:
            pytest.skip(reason)
        text = Path(source).read_text() if isinstance(source, Path) else source
        options = (toolchain, opt, pie, tuple(libs), tuple(flags))
        key = hashlib.sha256(repr((text, options)).encode()).hexdigest()[:16]
        if key not in built:
            src = out_dir / f"{key}.c"
            src.write_text(text)
            out = out_dir / f"{key}-{toolchain}-O{opt}{'-pie' if pie else ''}"
            built[key] = fixture_lib.compile_guest(src, out, toolchain, opt, pie, libs=libs,
                                                   extra_flags=flags)
        return built[key]

    return build


@pytest.fixture(scope="session")
def riscv_gcc() -> str:
    """Path of riscv64-linux-gnu-gcc, for tests that need its non-static modes (-c, -shared)."""
    gcc = shutil.which("riscv64-linux-gnu-gcc")
    if gcc is None:
        pytest.skip("riscv64-linux-gnu-gcc is not installed (apt install gcc-riscv64-linux-gnu)")
    return gcc
