"""Discovery on hand-written guests whose shape compilers produce but rarely in small programs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aotbuilder.cfg.discover import discover
from aotbuilder.elf import load_guest

GUESTS = Path(__file__).resolve().parent / "guests"
AOTBUILDER = [sys.executable, "-m", "aotbuilder"]


def test_jump_into_a_line_that_set_the_target_keeps_the_call_indirect(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """One case of a switch sets a5 and falls into `jalr a5`; the other sets a5 and jumps to the
    jalr's block.  Walking the first case's straight line makes a5 look constant; it is not, and
    the translation must call whichever handler a5 holds (busybox's shell dispatches its node
    types this way)."""
    elf = tmp_path / "shared_indirect_call"
    subprocess.run([riscv_gcc, "-nostdlib", "-static", "-o", str(elf), str(GUESTS / "shared_indirect_call.S")],
                   check=True)
    image = load_guest(elf)
    program = discover(image)
    shared_jalr = image.symbol_named("shared").addr + 2  # after `li a0, 0` (compressed)
    dispatch = program.functions[image.symbol_named("dispatch").addr]
    assert any(ins.pc == shared_jalr and ins.insn.mnemonic == "jalr" for ins in dispatch.instructions())
    assert shared_jalr not in dispatch.resolved_jumps
    expected = qemu_run(elf)
    assert expected.status == 30  # each call reached its own handler (10 + 20)
    exe = tmp_path / "shared_indirect_call.x86"
    subprocess.run([*AOTBUILDER, "build", "-O", "0", str(elf), "-o", str(exe), "--cache-dir", str(shared_cache)],
                   check=True, capture_output=True)
    assert subprocess.run([str(exe)], timeout=60).returncode == expected.status
