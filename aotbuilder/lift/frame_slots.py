"""Stack-frame slots a load in a later guest block reads back from the prologue.

A function's prologue saves ra and callee-saved registers with `sd reg, off(sp)` in its entry
block; its epilogue, in another block, loads them back from the same slots.  Where the slot
cannot have changed in between, the load takes the value the prologue stored (no guest access),
and a register restored to the value the CPU state still holds is not written back
(Emitter._dirty_flow).  A slot stays unchanged while, on every path from the store: sp is not
written; every store goes through sp to other bytes (a store through another register may
alias the slot); and nothing else writes guest memory or runs other guest code (calls, system
calls, atomics, fences).  A signal handler can run at a poll and write the slot: the poll's
slow path compares the slots live there with memory and leaves the function if one changed
(lower.py, poll_interrupt).
"""

from __future__ import annotations

from dataclasses import dataclass

from aotbuilder.cfg.program import Function, Instruction
from aotbuilder.lift.emitter import operands

SP = 2
_STORE_SIZES = {"sb": 1, "sh": 2, "sw": 4, "sd": 8, "fsw": 4, "fsd": 8}
# Instructions that write guest memory other than through a plain store, order other harts'
# stores in, or run other code.
_KILLERS = ("ecall", "ebreak", "fence", "fence.i", "fence.tso")
_KILLER_PREFIXES = ("amo", "lr.", "sc.")


@dataclass(frozen=True)
class Slot:
    """Eight bytes at sp + offset, last written by the `sd` at store_pc."""

    offset: int
    store_pc: int


@dataclass(frozen=True)
class FrameSlots:
    """The forwarding the lowering may do: for each `ld` (by pc) the `sd` whose value it reads,
    the pcs of those stores, and for each block (by start) the slots live on entry, which its
    poll checks."""

    loads: dict[int, int]
    live: dict[int, frozenset[Slot]]
    stores: frozenset[int] = frozenset()


def _step(slots: frozenset[Slot], ins: Instruction, entry_block: bool) -> frozenset[Slot]:
    insn = ins.insn
    if insn is None:
        return frozenset()
    m = insn.mnemonic
    size = _STORE_SIZES.get(m)
    if size is not None:
        if insn.rs1 != SP:
            return frozenset()
        kept = {s for s in slots if s.offset + 8 <= insn.imm or insn.imm + size <= s.offset}
        if m == "sd" and entry_block:
            kept.add(Slot(insn.imm, ins.pc))
        return frozenset(kept)
    if m in _KILLERS or m.startswith(_KILLER_PREFIXES) or (m in ("jal", "jalr") and insn.rd != 0):
        return frozenset()
    if ("x", SP) in operands(insn)[1]:
        return frozenset()
    return slots


def _restore(ins: Instruction) -> bool:
    return ins.insn is not None and ins.insn.mnemonic == "ld" and ins.insn.rs1 == SP


def frame_slots(func: Function, lowered_more_than_once: set[int]) -> FrameSlots:
    """The slots of `func`'s entry block (when it is its lowest block and is lowered once, so
    the value each store takes is lowered before anything that reads it) that later blocks
    read back unchanged: a forward must-analysis over the guest blocks."""
    entry = func.entry
    if not func.blocks or min(func.blocks) != entry or entry in lowered_more_than_once:
        return FrameSlots({}, {})
    live: dict[int, frozenset[Slot]] = {entry: frozenset()}
    work = [entry]
    while work:
        start = work.pop()
        slots = live[start]
        for ins in func.blocks[start].instructions:
            slots = _step(slots, ins, start == entry)
        for succ in func.cfg.successors(start):
            if succ not in func.blocks:
                continue
            merged = slots if succ not in live else live[succ] & slots
            if live.get(succ) != merged:
                live[succ] = merged
                work.append(succ)
    # Only registers that nothing but their restores writes: a register the body changes (zig's
    # s0, the frame pointer) would keep its saved value live through the body, in a host
    # register or a spill slot, which cost `free` more than the load it saves.
    stored_reg = {ins.pc: ins.insn.rs2 for ins in func.blocks[entry].instructions
                  if ins.insn is not None and ins.insn.mnemonic == "sd"}
    changed = {reg for ins in func.instructions() if ins.insn is not None and not _restore(ins)
               for bank, reg in operands(ins.insn)[1] if bank == "x"}
    loads: dict[int, int] = {}
    for start, slots in live.items():
        if start == entry:
            continue  # the block's own stores are forwarded by the Emitter already
        for ins in func.blocks[start].instructions:
            insn = ins.insn
            if _restore(ins):
                found = next((s for s in slots if s.offset == insn.imm), None)
                if found is not None and stored_reg[found.store_pc] not in changed:
                    loads[ins.pc] = found.store_pc
            slots = _step(slots, ins, False)
    return FrameSlots(loads, {start: slots for start, slots in live.items() if slots}, frozenset(loads.values()))
