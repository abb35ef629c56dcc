"""Discovery on hand-written guests whose shape compilers produce but rarely in small programs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aotbuilder.cfg.discover import discover
from aotbuilder.elf import load_guest

GUESTS = Path(__file__).resolve().parent / "guests"
AOTBUILDER = [sys.executable, "-m", "aotbuilder"]

# busybox's shape (the switch at 0x4e5ca): the function sets up the table's bound and base once,
# a branch ends that straight line, and the loop's own blocks only use them.
HOISTED_BOUND = r"""
    .option norelax
    .text
    .globl _start
_start:
    lla a0, cases
    call dispatch
    li a7, 93
    ecall

    .type dispatch, @function
dispatch:                   # the sum of one value per case over a list ended by -1
    li a1, 0
    li s3, 3                # the bound and the base of the table, set up before the loop
    lla s1, table
    beqz a0, done           # (busybox: a null list) ends the line that set them up
loop:
    lw a5, 0(a0)
    addi a0, a0, 4
    bltu s3, a5, done       # also leaves at -1
    slli a5, a5, 2
    add a5, a5, s1
    lw a5, 0(a5)
    add a5, a5, s1
    .globl switch
switch:
    jr a5
    .globl case0, case1, case2, case3
case0:
    addi a1, a1, 1
    j loop
case1:
    addi a1, a1, 10
    j loop
case2:
    addi a1, a1, 20
    j loop
case3:
    addi a1, a1, 40
    j loop
done:
    mv a0, a1
    ret

    .section .rodata
    .balign 4
table:
    .word case0 - table, case1 - table, case2 - table, case3 - table
cases:
    .word 3, 0, 2, 2, 1, -1
"""


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


def test_jump_table_with_a_hoisted_bound_in_a_stripped_program(riscv_gcc, qemu_run, tmp_path, shared_cache):
    """Without symbols a table's extent cannot be scanned for: its length must come from the bound
    check, whose bound a register holds from before the loop, as the table base does."""
    source = tmp_path / "hoisted_bound.S"
    source.write_text(HOISTED_BOUND)
    elf, stripped = tmp_path / "hoisted_bound", tmp_path / "hoisted_bound.stripped"
    subprocess.run([riscv_gcc, "-nostdlib", "-static", "-o", str(elf), str(source)], check=True)
    subprocess.run([riscv_gcc, "-nostdlib", "-static", "-s", "-o", str(stripped), str(source)], check=True)
    symbols = load_guest(elf)
    image = load_guest(stripped)
    assert not image.symbols
    tables = {pc: targets for f in discover(image).functions.values() for pc, targets in f.jump_tables.items()}
    cases = [symbols.symbol_named(f"case{i}").addr for i in range(4)]
    assert tables == {symbols.symbol_named("switch").addr: cases}
    expected = qemu_run(stripped)
    assert expected.status == 91  # 40 + 1 + 20 + 20 + 10: every case reached its own code
    exe = tmp_path / "hoisted_bound.x86"
    subprocess.run([*AOTBUILDER, "build", "-O", "0", str(stripped), "-o", str(exe), "--cache-dir",
                    str(shared_cache)], check=True, capture_output=True)
    assert subprocess.run([str(exe)], timeout=60).returncode == expected.status
