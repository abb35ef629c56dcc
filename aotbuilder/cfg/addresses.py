"""Address sites: the instructions whose immediate only ever reaches the IR as a link-time address.

A site is an instruction that forms a guest address from its own immediate: auipc, a lui whose
value lies in the image (and is not used as a number, numeric_luis), an addi or load/store whose
base register holds such an address (the second half of `la`, `lla`, `%pcrel_lo`), a jal or branch
that leaves the function, and a jalr whose target discovery resolved to another function.  The
lifter turns each site's address into a placeholder symbol, never into a constant, so the same
function with other immediates (libc linked into another program, code and data moved by an edit
elsewhere) has the same IR.  This analysis is the one both use: the lifter folds exactly these
instructions, the lift key hashes them without their immediates (cache/key.py), and a stored lift
is placed at a new entry by evaluating them there (cache/lift_record.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aotbuilder.cfg.program import Function, Instruction
from aotbuilder.isa import operand_kinds

MASK = (1 << 64) - 1

# Where a link-time value comes from: ("site", o) is the address the site o bytes from the entry
# forms; ("offset", d) is the entry plus d (the function's own pcs, targets inside it).
Origin = tuple[str, int]


def offset(address: int, entry: int) -> int:
    """`address - entry` modulo 2**64, as a signed number: guest arithmetic wraps (auipc reaching
    a weak undefined symbol at 0 from above, for example), and placing the offset at another entry
    must wrap the same way."""
    return ((address - entry + (1 << 63)) & MASK) - (1 << 63)

# Instructions that use rs1 + imm as a memory address (Lowering.effective_address).
# Loads and stores, by the bytes they move.
ACCESS_SIZES = {"lb": 1, "lbu": 1, "sb": 1, "lh": 2, "lhu": 2, "sh": 2, "lw": 4, "lwu": 4, "sw": 4, "flw": 4,
                "fsw": 4, "ld": 8, "sd": 8, "fld": 8, "fsd": 8}
MEMORY_ACCESSES = frozenset(ACCESS_SIZES)
STORES = frozenset(("sb", "sh", "sw", "sd", "fsw", "fsd"))
# The global pointer: linkers relax data references near __global_pointer$ to gp + imm (glibc's
# static programs do).  The offset is the site's value; gp itself stays a run-time register.
GP = 3
# Control transfers whose target is pc + imm.
PC_RELATIVE_JUMPS = frozenset("jal beq bne blt bge bltu bgeu".split())


# Uses that make a lui value a number, not an address: compiled code multiplies, divides and
# shifts left constants such as 0x01010101 (SWAR byte tricks, popcount), which lie in the image
# of a program linked at 16 MiB, but never an address it forms with lui.
NUMERIC_USES = frozenset("mul mulh mulhsu mulhu mulw div divu divw divuw rem remu remw remuw "
                         "sll slli sllw slliw slli.uw".split())


def numeric_luis(instructions: list[Instruction]) -> set[int]:
    """The pcs of the lui instructions in a block whose value (directly or after addi) reaches a
    NUMERIC_USES instruction in the block.  Whatever the guess, the code is the same: a lui that
    is not an address site only keeps its immediate in the IR, costing cache reuse if the value
    was an address after all."""
    found: set[int] = set()
    for i, ins in enumerate(instructions):
        if ins.insn is None or ins.insn.mnemonic != "lui" or not ins.insn.rd:
            continue
        holding = {ins.insn.rd}
        for later in instructions[i + 1:]:
            insn = later.insn
            if insn is None:
                break
            kinds = operand_kinds(insn.mnemonic)
            if insn.mnemonic in NUMERIC_USES and {insn.rs1, insn.rs2 if "rs2" in kinds else 0} & holding:
                found.add(ins.pc)
                break
            if insn.rd and "rd" in kinds:
                if insn.mnemonic == "addi" and insn.rs1 in holding:
                    holding.add(insn.rd)
                else:
                    holding.discard(insn.rd)
            if not holding:
                break
    return found


def near_image(image_range: tuple[int, int], value: int) -> bool:
    """Whether a lui value may be the upper part of an address in the image [lo, hi) (an addi
    after it adds at most +-2 KiB)."""
    lo, hi = image_range
    return lo - 0x800 <= value < hi + 0x800


@dataclass(frozen=True)
class Sites:
    """A function's address sites: pc -> the guest address the instruction forms, or for the
    gp-relative ones (in `gp_relative`) the offset it adds to gp at run time."""

    values: dict[int, int]
    gp_relative: frozenset[int]


def address_sites(func: Function, near: Callable[[int], bool]) -> Sites:
    """The address sites of `func`.

    Known addresses flow through registers forwards: into a block from the blocks before it that
    all lead there holding the same address in the register (a loop header, the entry and the
    return sites, where the dispatcher may enter with any registers, start with nothing known).
    An instruction that writes a register with anything else forgets it, ecall forgets all."""
    sites: dict[int, int] = {}
    gp_relative: set[int] = set()
    known_out: dict[int, dict[int, int]] = {}
    fresh = {func.entry, *func.return_sites}
    for start in sorted(func.blocks):
        preds = list(func.cfg.predecessors(start)) if start in func.cfg else []
        known: dict[int, int] = {}
        if start not in fresh and preds and all(p < start for p in preds):
            outs = [known_out[p] for p in preds]
            known = {r: a for r, a in outs[0].items() if all(o.get(r) == a for o in outs[1:])}
        numeric = numeric_luis(func.blocks[start].instructions)
        for ins in func.blocks[start].instructions:
            insn = ins.insn
            if insn is None:
                continue
            m = insn.mnemonic
            address = None
            if m == "auipc" or (m == "lui" and near(insn.imm & MASK) and ins.pc not in numeric):
                address = ((ins.pc if m == "auipc" else 0) + insn.imm) & MASK
            elif (m == "addi" or m in MEMORY_ACCESSES) and insn.rs1 in known:
                address = (known[insn.rs1] + insn.imm) & MASK
            elif (m == "addi" or m in MEMORY_ACCESSES) and insn.rs1 == GP:
                sites[ins.pc] = insn.imm & MASK
                gp_relative.add(ins.pc)
            elif m in PC_RELATIVE_JUMPS and (ins.pc + insn.imm) & MASK not in func.blocks:
                address = (ins.pc + insn.imm) & MASK
            elif m == "jalr" and ins.pc in func.resolved_jumps and func.resolved_jumps[ins.pc] not in func.blocks:
                address = func.resolved_jumps[ins.pc]
            if address is not None:
                sites[ins.pc] = address
            if m == "ecall":  # the runtime (a signal handler) may change any register
                known.clear()
            elif insn.rd and "rd" in operand_kinds(m):
                if address is not None and m in ("auipc", "lui", "addi"):
                    known[insn.rd] = address
                else:
                    known.pop(insn.rd, None)
        known_out[start] = known
    return Sites(sites, frozenset(gp_relative))
