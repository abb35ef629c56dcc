"""Guests from assembly: build with the riscv64 GNU toolchain, translate with aotbuilder, run both."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GCC = "riscv64-linux-gnu-gcc"
QEMU = "qemu-riscv64"
MARCH = "rv64gc_zba_zbb_zbs"
TIMEOUT = 300


def missing_tools() -> str | None:
    """Why these tests cannot run here, or None."""
    for tool, package in ((GCC, "gcc-riscv64-linux-gnu"), (QEMU, "qemu-user")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt install {package})"
    return None


@dataclass(frozen=True)
class Outcome:
    stdout: bytes
    stderr: bytes
    status: int  # negative: killed by that signal


def assemble(source: str, out: Path) -> Path:
    """A static, position-dependent guest from assembly text (entry point `_start`)."""
    src = out.with_suffix(".S")
    src.write_text(source)
    proc = subprocess.run([GCC, "-nostdlib", "-static", "-no-pie", f"-march={MARCH}", "-mabi=lp64d",
                           "-Wl,--no-relax", "-o", str(out), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"assembling {src} failed:\n{proc.stderr}")
    return out


def translate(guest: Path, out: Path, cache_dir: Path, jobs: int = 1, opt_level: int = 2) -> Path:
    """`aotbuilder build` in this process (the CLI would add interpreter start-up per guest)."""
    from aotbuilder.backend.codegen import CodegenOptions
    from aotbuilder.pipeline import BuildOptions, build

    build(guest, out, BuildOptions(codegen=CodegenOptions(opt_level=opt_level), jobs=jobs, cache_dir=cache_dir))
    return out


def run(cmd: list[str], timeout: float = TIMEOUT) -> Outcome:
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env={"PATH": os.environ.get("PATH", "")})
    return Outcome(proc.stdout, proc.stderr, proc.returncode)


def run_qemu(guest: Path) -> Outcome:
    return run([QEMU, str(guest)])


def run_native(exe: Path) -> Outcome:
    return run([str(exe)])
