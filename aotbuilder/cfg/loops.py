"""Counted loops: one-block guest loops whose trip count is known when they are entered.

A counted loop is a basic block that ends with a conditional branch back to its own start (bne,
blt, bge, bltu or bgeu) and holds no other control transfer, call, system or atomic instruction.
One branch operand, the counter, changes by a power of two per iteration (only `addi r, r, imm`
writes it), towards the other, which does not change: from the two values on entry follows the
number of iterations, and from it every value each induction variable takes.  The lifter
versions such a loop (lift/lower.py): when the base of each access it can follow stays in the
direct window in every iteration, and frm holds a mode the host rounds in, a copy of the body
without those checks runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from aotbuilder.cfg.addresses import MEMORY_ACCESSES
from aotbuilder.cfg.program import BasicBlock
from aotbuilder.isa import operand_kinds
from aotbuilder.isa.insn import RM_DYN, RM_RESERVED

# Operand kinds of instructions that leave the block, trap, call out or touch CSRs or reservations.
_UNSUITABLE_KINDS = frozenset(("target", "csr", "addr", "pred"))
# Induction variables whose step is larger are not followed: the last value an access base
# takes must be computable without overflow (lift/counted.py's entry check).
MAX_STEP = 1 << 16
# Longer loops are lowered once: versioning doubles the body's code.
MAX_INSTRUCTIONS = 64


@dataclass(frozen=True)
class Access:
    """A load or store whose base the iteration count bounds: base register and what the
    iteration added to it before the access."""

    pc: int
    base: int
    delta: int


# The latch's condition for going round again, as `counter <relation> bound`, by which operand
# is the counter: (mnemonic, counter is rs1) -> relation.
_RELATIONS = {("bne", True): "ne", ("bne", False): "ne", ("blt", True): "lt", ("blt", False): "gt",
              ("bge", True): "ge", ("bge", False): "le", ("bltu", True): "lt", ("bltu", False): "gt",
              ("bgeu", True): "ge", ("bgeu", False): "le"}


@dataclass(frozen=True)
class CountedLoop:
    start: int
    counter: int  # the branch operand that steps
    bound: int  # the one that does not change (may be x0)
    relation: str  # the loop goes round while `counter <relation> bound` at the branch
    signed: bool  # whether that compare is signed (blt, bge)
    steps: dict[int, int]  # per-iteration change of each induction variable (counter included)
    accesses: tuple[Access, ...]  # loads and stores off an induction variable or an unchanged register
    dynamic_rounding: bool  # some instruction rounds in frm's mode

    @property
    def step(self) -> int:
        return self.steps[self.counter]


def counted_loop(block: BasicBlock, address_sites: set[int] | frozenset[int] = frozenset()) -> CountedLoop | None:
    """The counted loop `block` is, or None.  Accesses at `address_sites` (a link-time base) are
    left out of `accesses`."""
    *body, latch = block.instructions
    branch = latch.insn
    if branch is None or (branch.mnemonic, True) not in _RELATIONS or latch.pc + branch.imm != block.start:
        return None
    if len(block.instructions) > MAX_INSTRUCTIONS:
        return None
    delta: dict[int, int] = {}  # induction variables: what the iteration added so far
    other: set[int] = set()  # registers written otherwise
    accesses: list[Access] = []
    dynamic = False
    for ins in body:
        insn = ins.insn
        if insn is None or insn.mnemonic == "jalr":
            return None
        kinds = operand_kinds(insn.mnemonic)
        if not kinds or _UNSUITABLE_KINDS & set(kinds) or ("rm" in kinds and insn.rm in RM_RESERVED):
            return None
        dynamic |= "rm" in kinds and insn.rm == RM_DYN
        if insn.mnemonic in MEMORY_ACCESSES and insn.rs1 and ins.pc not in address_sites:
            accesses.append(Access(ins.pc, insn.rs1, delta.get(insn.rs1, 0)))
        if "rd" in kinds and insn.rd:
            if insn.mnemonic == "addi" and insn.rs1 == insn.rd and insn.rd not in other:
                delta[insn.rd] = delta.get(insn.rd, 0) + insn.imm
            else:
                other.add(insn.rd)
                delta.pop(insn.rd, None)
    steps = {reg: step for reg, step in delta.items() if reg not in other and 0 < abs(step) <= MAX_STEP}

    def unchanged(reg: int) -> bool:
        return reg not in other and reg not in delta

    a, b = branch.rs1, branch.rs2
    counter, bound = (a, b) if a in steps and unchanged(b) else (b, a)
    step = steps.get(counter)
    if step is None or not unchanged(bound) or abs(step) & (abs(step) - 1):
        return None  # the count needs a power-of-two step (lower.py divides by shifting)
    relation = _RELATIONS[(branch.mnemonic, counter == a)]
    if (relation in ("lt", "le") and step < 0) or (relation in ("gt", "ge") and step > 0):
        return None  # stepping away from the bound: the loop ends only when the counter wraps
    followed = tuple(acc for acc in accesses if acc.base in steps or unchanged(acc.base))
    return CountedLoop(block.start, counter, bound, relation, branch.mnemonic in ("blt", "bge"), steps, followed,
                       dynamic)
