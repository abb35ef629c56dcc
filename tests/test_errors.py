"""Bad input: one line on stderr, `aotbuilder: error: ...`, exit status 2, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

AOTBUILDER = [sys.executable, "-m", "aotbuilder"]


def _aotbuilder(*args: str, cache: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AOTBUILDER, *args, ], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "AOTBUILDER_CACHE_DIR": str(cache), **(env or {})})


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("aotbuilder: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def _bad_inputs(tmp_path: Path, riscv_gcc: str) -> dict[str, tuple[Path, str]]:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    src = tmp_path / "p.c"
    src.write_text("int main(void) { return 0; }\n")
    dynamic = tmp_path / "dynamic"
    subprocess.run([riscv_gcc, "-O1", str(src), "-o", str(dynamic)], check=True)
    static = tmp_path / "static"
    subprocess.run([riscv_gcc, "-O1", "-static", str(src), "-o", str(static)], check=True)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(static.read_bytes()[:100])
    elf32 = tmp_path / "elf32"
    elf32.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(9) + static.read_bytes()[16:64])
    return {
        "missing": (tmp_path / "does-not-exist", "no such file"),
        "directory": (tmp_path, "is a directory"),
        "text": (text, "not an ELF file"),
        "truncated": (truncated, "corrupt ELF"),
        "x86-64": (Path(shutil.which("true") or "/bin/true"),
                   "x86-64 ELF: aotbuilder translates RISC-V RV64 executables"),
        "32-bit": (elf32, "32-bit ELF"),
        "dynamic": (dynamic, "dynamically linked executables are not supported yet"),
    }


@pytest.mark.parametrize("command", ["build", "run"])
def test_bad_guest_is_a_one_line_error(tmp_path, riscv_gcc, command):
    for name, (path, message) in _bad_inputs(tmp_path, riscv_gcc).items():
        args = ["build", str(path), "-o", str(tmp_path / "out")] if command == "build" else ["run", str(path)]
        proc = _aotbuilder(*args, cache=tmp_path / "cache")
        _assert_one_line_error(proc, message)
        assert not (tmp_path / "out").exists(), f"{name}: a failed build must not leave an output"


def test_unwritable_output_is_a_one_line_error(tmp_path, fixture_bin_dir):
    out = tmp_path / "no-such-dir" / "sub" / "file"
    (tmp_path / "no-such-dir").write_text("a file where a directory is expected")
    proc = _aotbuilder("build", str(fixture_bin_dir / "hello-zig-O2"), "-o", str(out), cache=tmp_path / "c")
    _assert_one_line_error(proc)


def test_usage_errors_exit_2(tmp_path):
    missing_output = _aotbuilder("build", "x", cache=tmp_path)
    assert missing_output.returncode == 2
    assert "Traceback" not in missing_output.stderr
    assert _aotbuilder("frobnicate", cache=tmp_path).returncode == 2


def test_version_and_help(tmp_path):
    version = _aotbuilder("--version", cache=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("aotbuilder ")
    for args in (["--help"], ["build", "--help"], ["run", "--help"]):
        proc = _aotbuilder(*args, cache=tmp_path)
        assert proc.returncode == 0 and "Usage" in proc.stdout
    # Defaults written in the help text survive its rendering (rich takes [...] for markup).
    def wide_help(*command: str) -> str:
        return " ".join(_aotbuilder(*command, "--help", cache=tmp_path, env={"COLUMNS": "200"}).stdout.split())

    run_help = wide_help("run")
    assert "default: $AOTBUILDER_CACHE_DIR" in run_help and "(default: 64M)" in run_help
    assert "(default: the configured limit)" in wide_help("cache", "prune")
