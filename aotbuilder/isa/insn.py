"""The decoded instruction: the one shape every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass

# FENCE's predecessor and successor sets (imm[7:4] and imm[3:0]): device input and output, memory
# reads and writes.
FENCE_I, FENCE_O, FENCE_R, FENCE_W = 8, 4, 2, 1
FENCE_TSO = 0b1000_0011_0011  # fm=1000 pred=rw succ=rw; other fm values are reserved: a normal fence
# Rounding modes (Insn.rm, frm): 5 and 6 are reserved, DYN (in an instruction only) means frm's.
RM_RNE, RM_RTZ, RM_RDN, RM_RUP, RM_RMM, RM_DYN = 0, 1, 2, 3, 4, 7
RM_RESERVED = (5, 6)


@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded RV64GC instruction; compressed ones arrive already expanded to their base form.

    ``imm`` is in the unit the semantics use: a byte offset for branches, jal, jalr, loads and stores;
    the full value (imm20 << 12, sign-extended) for lui/auipc; the shift amount for shift-immediates and
    Zbb/Zbs immediates; zimm for csrr*i; the raw imm[11:0] (fm, pred, succ) for fence.
    """

    mnemonic: str
    size: int
    raw: int
    rd: int = 0
    rs1: int = 0
    rs2: int = 0
    rs3: int = 0
    imm: int = 0
    csr: int = 0
    rm: int = 0
    aq: bool = False
    rl: bool = False
    compressed: str | None = None

    @property
    def is_return(self) -> bool:
        """jr ra / jr t0 (the millicode return): a return by the specification's hint for return
        address stacks (jalr with rd x0 and rs1 a link register, x1 or x5)."""
        return self.mnemonic == "jalr" and self.rd == 0 and self.imm == 0 and self.rs1 in (1, 5)

    @property
    def fence_pred(self) -> int:
        """FENCE's predecessor set (FENCE_I | FENCE_O | FENCE_R | FENCE_W bits)."""
        return self.imm >> 4 & 0xF

    @property
    def fence_succ(self) -> int:
        """FENCE's successor set."""
        return self.imm & 0xF
