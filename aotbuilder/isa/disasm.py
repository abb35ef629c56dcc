"""Instruction text in the syntax of ``llvm-objdump -M no-aliases`` (so logs and tests compare directly).

Operands are printed by kind, from the same table the lifter reads (``operand_kinds``).  Compressed
instructions print their C form (``c.addi a0, 1``) from the C table's syntax column.
"""

from __future__ import annotations

from aotbuilder.isa.csr import csr_name
from aotbuilder.isa.encodings import BY_MNEMONIC
from aotbuilder.isa.insn import FENCE_TSO, Insn
from aotbuilder.isa.rvc import BY_NAME as C_BY_NAME

XREG_NAMES = (
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
    "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
)
FREG_NAMES = (
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2", "fa3",
    "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11",
    "ft8", "ft9", "ft10", "ft11",
)
# 5 and 6 are reserved rounding modes: they decode (the instruction traps when executed) and print as
# their number.
RM_NAMES = ("rne", "rtz", "rdn", "rup", "rmm", "5", "6", "dyn")

# Conversions that are always exact historically had rm fixed to 0 in the assemblers; llvm prints their
# rm only when it is not rne.
_RM_HIDDEN_WHEN_RNE = frozenset({"fcvt.d.s", "fcvt.d.w", "fcvt.d.wu"})

def _fence_set(bits: int) -> str:
    return "".join(c for c, b in zip("iorw", (8, 4, 2, 1), strict=True) if bits & b) or "0"


def _operand(kind: str, insn: Insn, pc: int | None) -> str:
    match kind:
        case "rd":
            return XREG_NAMES[insn.rd]
        case "rs1":
            return XREG_NAMES[insn.rs1]
        case "rs2":
            return XREG_NAMES[insn.rs2]
        case "frd":
            return FREG_NAMES[insn.rd]
        case "frs1":
            return FREG_NAMES[insn.rs1]
        case "frs2":
            return FREG_NAMES[insn.rs2]
        case "frs3":
            return FREG_NAMES[insn.rs3]
        case "imm" | "zimm" | "imm?":
            return str(insn.imm)
        case "upper":
            return str((insn.imm >> 12) & 0xFFFFF)
        case "target":
            # Like llvm-objdump: the absolute target when the address is known; else the offset, as
            # llvm-mc prints it.
            return str(insn.imm) if pc is None else f"{(pc + insn.imm) & 0xFFFF_FFFF_FFFF_FFFF:#x}"
        case "mem":
            return f"{insn.imm}({XREG_NAMES[insn.rs1]})"
        case "addr":
            return f"({XREG_NAMES[insn.rs1]})"
        case "csr":
            return csr_name(insn.csr)
        case "rm":
            return RM_NAMES[insn.rm]
        case "pred":
            return _fence_set(insn.fence_pred)
        case "succ":
            return _fence_set(insn.fence_succ)
    raise ValueError(f"unknown operand kind {kind!r}")


def disassemble(insn: Insn, pc: int | None = None) -> str:
    """Assembly text for ``insn``; with ``pc``, branch and jump targets are absolute addresses."""
    mnemonic = insn.mnemonic
    if insn.compressed is not None:
        mnemonic = insn.compressed
        kinds = C_BY_NAME[insn.compressed].syntax
        if insn.imm == 0:
            kinds = tuple(k for k in kinds if k != "imm?")
    else:
        kinds = BY_MNEMONIC[mnemonic].kinds
        if insn.aq or insn.rl:
            mnemonic += "." + "aq" * insn.aq + "rl" * insn.rl
        if mnemonic == "fence" and insn.imm == FENCE_TSO:
            return "fence.tso"
        if mnemonic in _RM_HIDDEN_WHEN_RNE and insn.rm == 0:
            kinds = kinds[:-1]
        if insn.raw == 0xC000_1073:  # csrrw zero, cycle, zero: the canonical unimp, printed as such
            return "unimp"
    if not kinds:
        return mnemonic
    return f"{mnemonic} " + ", ".join(_operand(k, insn, pc) for k in kinds)
