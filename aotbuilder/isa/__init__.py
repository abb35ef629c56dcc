"""RISC-V RV64GC (+Zba, Zbb, Zbs) instruction set: encodings as data, decoder, RVC expansion, printer.

The lifter and the disassembler share one description of each instruction's operands: ``operand_kinds``.
See docs/isa.md.
"""

from __future__ import annotations

from aotbuilder.isa.csr import CSR_NAMES, csr_name
from aotbuilder.isa.decoder import decode, insn_length
from aotbuilder.isa.disasm import FREG_NAMES, RM_NAMES, XREG_NAMES, disassemble
from aotbuilder.isa.encodings import BY_MNEMONIC
from aotbuilder.isa.insn import Insn

# Every mnemonic decode can return (compressed instructions return their base mnemonic).
MNEMONICS: frozenset[str] = frozenset(BY_MNEMONIC)

# Extensions in the table's spelling: I, M, A, F, D, Zicsr, Zifencei, Zba, Zbb, Zbs.
EXTENSIONS: frozenset[str] = frozenset(e.extension for e in BY_MNEMONIC.values())


def operand_kinds(mnemonic: str) -> tuple[str, ...]:
    """The assembly operands of ``mnemonic``, in order, as kinds.

    Integer registers: "rd", "rs1", "rs2".  Floating-point registers: "frd", "frs1", "frs2", "frs3".
    "imm" (signed immediate, shift amounts too), "upper" (lui/auipc value in Insn.imm), "target"
    (pc-relative byte offset in Insn.imm), "mem" (address Insn.imm + x[rs1]), "addr" (address x[rs1]),
    "csr", "zimm" (5-bit unsigned in Insn.imm), "rm" (Insn.rm), "pred"/"succ" (fence sets in Insn.imm).
    aq/rl are not operands (they are Insn.aq/Insn.rl on every A instruction).
    Raises KeyError for a mnemonic not in MNEMONICS.
    """
    return BY_MNEMONIC[mnemonic].kinds


def extension(mnemonic: str) -> str:
    """The extension that defines ``mnemonic`` ("I", "M", "A", "F", "D", "Zicsr", ..., "Zbs")."""
    return BY_MNEMONIC[mnemonic].extension


__all__ = [
    "CSR_NAMES",
    "EXTENSIONS",
    "FREG_NAMES",
    "MNEMONICS",
    "RM_NAMES",
    "XREG_NAMES",
    "Insn",
    "csr_name",
    "decode",
    "disassemble",
    "extension",
    "insn_length",
    "operand_kinds",
]
