"""Decoder unit tests: immediates, RVC expansion, HINTs, reserved encodings, and the table's own checks.

Expected values are worked out by hand from the RISC-V unprivileged spec (the format figures and the
RVC expansion table), never produced by this code; each vector says which rule it checks.
"""

from __future__ import annotations

import pytest

from aotbuilder.isa import (
    EXTENSIONS,
    MNEMONICS,
    Insn,
    decode,
    disassemble,
    encodings,
    extension,
    insn_length,
    operand_kinds,
    rvc,
)
from aotbuilder.isa.bitfield import BitField


def fields(insn: Insn | None) -> tuple:
    assert insn is not None
    return (insn.mnemonic, insn.rd, insn.rs1, insn.rs2, insn.imm)


# ---- immediates of every 32-bit format --------------------------------------------------------------

@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # I-type: imm[11:0] = inst[31:20], sign bit inst[31].
        (0x80058513, ("addi", 10, 11, 0, -2048)),
        (0x7FF58513, ("addi", 10, 11, 0, 2047)),
        (0xFFF00067, ("jalr", 0, 0, 0, -1)),
        (0x80053503, ("ld", 10, 10, 0, -2048)),
        # S-type: imm[11:5] = inst[31:25], imm[4:0] = inst[11:7].
        (0xFEB13C23, ("sd", 0, 2, 11, -8)),
        (0x7EB12FA3, ("sw", 0, 2, 11, 2047)),
        # B-type: imm[12|10:5] = inst[31:25], imm[4:1|11] = inst[11:7].
        (0x80000063, ("beq", 0, 0, 0, -4096)),
        (0x7EB51FE3, ("bne", 0, 10, 11, 4094)),
        (0x00000863, ("beq", 0, 0, 0, 16)),
        # J-type: imm[20|10:1|11|19:12] = inst[31:12].
        (0x800000EF, ("jal", 1, 0, 0, -(1 << 20))),
        (0x0020006F, ("jal", 0, 0, 0, 2)),
        (0x7FFFF06F, ("jal", 0, 0, 0, (1 << 20) - 2)),
        # U-type: imm[31:12] = inst[31:12], the value sign-extended from bit 31 to 64 bits.
        (0x80000537, ("lui", 10, 0, 0, -(1 << 31))),
        (0xFFFFF537, ("lui", 10, 0, 0, -4096)),
        (0x7FFFF517, ("auipc", 10, 0, 0, 0x7FFFF000)),
        # Shift amounts: 6 bits on RV64 (inst[25:20]), 5 bits for the *w forms.
        (0x03F51513, ("slli", 10, 10, 0, 63)),
        (0x43F55513, ("srai", 10, 10, 0, 63)),
        (0x01F5151B, ("slliw", 10, 10, 0, 31)),
        (0x63F55513, ("rori", 10, 10, 0, 63)),
        (0x4BF51513, ("bclri", 10, 10, 0, 63)),
        (0x0BF5151B, ("slli.uw", 10, 10, 0, 63)),
    ],
)
def test_immediates_of_base_formats(word: int, expected: tuple) -> None:
    assert fields(decode(word)) == expected


def test_csr_and_zimm_are_unsigned() -> None:
    insn = decode(0xFFFFD573)  # csrrwi a0, 0xfff, 31
    assert insn is not None
    assert (insn.mnemonic, insn.rd, insn.csr, insn.imm) == ("csrrwi", 10, 0xFFF, 31)
    insn = decode(0x003592F3)  # csrrw t0, fcsr, a1
    assert insn is not None
    assert (insn.mnemonic, insn.rd, insn.rs1, insn.csr) == ("csrrw", 5, 11, 3)


def test_fp_fields_rm_and_rs3() -> None:
    # fmadd.d fa0, fa1, fa2, fa3, rtz: rs3 = inst[31:27], fmt = inst[26:25] = 01, rm = inst[14:12].
    insn = decode(0x6AC59543)
    assert insn is not None
    assert (insn.mnemonic, insn.rd, insn.rs1, insn.rs2, insn.rs3, insn.rm) == ("fmadd.d", 10, 11, 12, 13, 1)
    # Reserved rounding modes 5 and 6 decode (the lifter traps on them when executed).
    for rm in (5, 6):
        insn = decode(0x00B50553 | rm << 12)
        assert insn is not None and insn.mnemonic == "fadd.s" and insn.rm == rm
    # funct3 that is not a rounding mode is not stored as one.
    insn = decode(0x22B50553)  # fsgnj.d fa0, fa0, fa1
    assert insn is not None and insn.mnemonic == "fsgnj.d" and insn.rm == 0


def test_atomics_aq_rl() -> None:
    insn = decode(0x1605A52F)  # lr.w.aqrl a0, (a1)
    assert insn is not None
    assert (insn.mnemonic, insn.rd, insn.rs1, insn.aq, insn.rl) == ("lr.w", 10, 11, True, True)
    insn = decode(0x0CC5B52F)  # amoswap.d.aq a0, a2, (a1)
    assert insn is not None
    assert (insn.mnemonic, insn.rs2, insn.aq, insn.rl) == ("amoswap.d", 12, True, False)
    assert decode(0x12B5252F) is None  # lr.w with rs2 != 0 is reserved


def test_fence_keeps_raw_imm_and_ignores_reserved_fields() -> None:
    insn = decode(0x8330000F)  # fence.tso: fm=1000 pred=rw succ=rw
    assert insn is not None and (insn.mnemonic, insn.imm) == ("fence", 0x833)
    # rd/rs1 and reserved fm values must be ignored: still a fence (spec, "FENCE" and "FENCE.I").
    insn = decode(0x3FF5050F)
    assert insn is not None and (insn.mnemonic, insn.rd, insn.rs1, insn.imm) == ("fence", 0, 0, 0x3FF)
    insn = decode(0xFFF5150F)
    assert insn is not None and insn.mnemonic == "fence.i"


@pytest.mark.parametrize(
    ("word", "why"),
    [
        (0x0205151B, "slliw with shamt[5]=1 is reserved on RV64"),
        (0x4205551B, "sraiw with shamt[5]=1 is reserved on RV64"),
        (0x69855513, "rev8 with the RV32 encoding"),
        (0x08054533, "zext.h with the RV32 encoding (pack rd, rs1, zero)"),
        (0x00000573, "ecall with rd != 0"),
        (0x10200073, "sret: privileged"),
        (0x10500073, "wfi: privileged"),
        (0x04B50553, "fadd.h: Zfh is not supported"),
        (0x06B50553, "fadd.q: Q is not supported"),
        (0x0000001F, "48-bit encoding"),
        (0x0000003F, "64-bit encoding"),
        (0x0000007F, "80-bit and longer encoding"),
        (0xFFFFFFFF, "reserved >=192-bit encoding"),
    ],
)
def test_illegal_32bit(word: int, why: str) -> None:
    assert decode(word) is None, why


# ---- RVC: immediates of every C format ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("half", "compressed", "expected"),
    [
        # CJ: offset[11|4|9:8|10|6|7|3:1|5] = inst[12:2].
        (0xB001, "c.j", ("jal", 0, 0, 0, -2048)),
        (0xAFFD, "c.j", ("jal", 0, 0, 0, 2046)),
        # CB branch: offset[8|4:3] = inst[12:10], offset[7:6|2:1|5] = inst[6:2].
        (0xD001, "c.beqz", ("beq", 0, 8, 0, -256)),
        (0xEFFD, "c.bnez", ("bne", 0, 15, 0, 254)),
        # CI: imm[5] = inst[12], imm[4:0] = inst[6:2], sign-extended.
        (0x5501, "c.li", ("addi", 10, 0, 0, -32)),
        (0x357D, "c.addiw", ("addiw", 10, 10, 0, -1)),
        (0x997D, "c.andi", ("andi", 10, 10, 0, -1)),
        # c.lui: nzimm[17] = inst[12], nzimm[16:12] = inst[6:2]; Insn.imm is the full sign-extended value.
        (0x7501, "c.lui", ("lui", 10, 0, 0, -32 * 4096)),
        (0x657D, "c.lui", ("lui", 10, 0, 0, 31 * 4096)),
        # c.addi16sp: nzimm[9] = inst[12], nzimm[4|6|8:7|5] = inst[6:2].
        (0x7101, "c.addi16sp", ("addi", 2, 2, 0, -512)),
        (0x617D, "c.addi16sp", ("addi", 2, 2, 0, 496)),
        # CIW: nzuimm[5:4|9:6|2|3] = inst[12:5], zero-extended.
        (0x1FE8, "c.addi4spn", ("addi", 10, 2, 0, 1020)),
        # CL/CS: uimm[5:3] = inst[12:10], uimm[2|6] (word) or uimm[7:6] (double) = inst[6:5].
        (0x5DE8, "c.lw", ("lw", 10, 11, 0, 124)),
        (0x7DE8, "c.ld", ("ld", 10, 11, 0, 248)),
        (0x3DE8, "c.fld", ("fld", 10, 11, 0, 248)),
        (0xDDE8, "c.sw", ("sw", 0, 11, 10, 124)),
        (0xFDE8, "c.sd", ("sd", 0, 11, 10, 248)),
        (0xBDE8, "c.fsd", ("fsd", 0, 11, 10, 248)),
        # CI stack loads: uimm[5] = inst[12], uimm[4:2|7:6] (word) or [4:3|8:6] (double) = inst[6:2].
        (0x557E, "c.lwsp", ("lw", 10, 2, 0, 252)),
        (0x757E, "c.ldsp", ("ld", 10, 2, 0, 504)),
        (0x357E, "c.fldsp", ("fld", 10, 2, 0, 504)),
        # CSS: uimm[5:2|7:6] (word) or [5:3|8:6] (double) = inst[12:7].
        (0xDFAA, "c.swsp", ("sw", 0, 2, 10, 252)),
        (0xFFAA, "c.sdsp", ("sd", 0, 2, 10, 504)),
        (0xBFAA, "c.fsdsp", ("fsd", 0, 2, 10, 504)),
        # Shifts: shamt[5] = inst[12], shamt[4:0] = inst[6:2], unsigned (RV64: shamt[5] may be 1).
        (0x157E, "c.slli", ("slli", 10, 10, 0, 63)),
        (0x917D, "c.srli", ("srli", 10, 10, 0, 63)),
        (0x957D, "c.srai", ("srai", 10, 10, 0, 63)),
    ],
)
def test_immediates_of_compressed_formats(half: int, compressed: str, expected: tuple) -> None:
    insn = decode(half)
    assert fields(insn) == expected
    assert insn is not None and insn.compressed == compressed and insn.size == 2 and insn.raw == half


@pytest.mark.parametrize(
    ("half", "compressed", "expected"),
    [
        # The expansions of the spec's RVC chapter.
        (0x0001, "c.nop", ("addi", 0, 0, 0, 0)),
        (0x0505, "c.addi", ("addi", 10, 10, 0, 1)),
        (0x4515, "c.li", ("addi", 10, 0, 0, 5)),  # addi rd, x0, imm
        (0x852E, "c.mv", ("add", 10, 0, 11, 0)),  # add rd, x0, rs2
        (0x952E, "c.add", ("add", 10, 10, 11, 0)),  # add rd, rd, rs2
        (0x8082, "c.jr", ("jalr", 0, 1, 0, 0)),  # jalr x0, 0(rs1)
        (0x9502, "c.jalr", ("jalr", 1, 10, 0, 0)),  # jalr x1, 0(rs1)
        (0x9002, "c.ebreak", ("ebreak", 0, 0, 0, 0)),
        (0x8D05, "c.sub", ("sub", 10, 10, 9, 0)),
        (0x8D25, "c.xor", ("xor", 10, 10, 9, 0)),
        (0x8D45, "c.or", ("or", 10, 10, 9, 0)),
        (0x8D65, "c.and", ("and", 10, 10, 9, 0)),
        (0x9D05, "c.subw", ("subw", 10, 10, 9, 0)),
        (0x9D25, "c.addw", ("addw", 10, 10, 9, 0)),
        (0x2085, "c.addiw", ("addiw", 1, 1, 0, 1)),  # RV64: this code point is c.addiw, not c.jal
        (0x6188, "c.ld", ("ld", 10, 11, 0, 0)),  # RV64: c.ld, not c.flw
        (0xE188, "c.sd", ("sd", 0, 11, 10, 0)),  # RV64: c.sd, not c.fsw
    ],
)
def test_compressed_expansion(half: int, compressed: str, expected: tuple) -> None:
    insn = decode(half)
    assert fields(insn) == expected
    assert insn is not None and insn.compressed == compressed


@pytest.mark.parametrize(
    ("half", "expected"),
    [
        # HINTs: legal, and they decode to a base instruction that writes x0 (or shifts by 0).
        (0x0065, ("addi", 0, 0, 0, 25)),  # c.nop with nonzero imm
        (0x0501, ("addi", 10, 10, 0, 0)),  # c.addi with imm 0
        (0x4005, ("addi", 0, 0, 0, 1)),  # c.li rd=0
        (0x6005, ("lui", 0, 0, 0, 4096)),  # c.lui rd=0
        (0x0006, ("slli", 0, 0, 0, 1)),  # c.slli rd=0
        (0x0502, ("slli", 10, 10, 0, 0)),  # c.slli shamt=0 (c.slli64)
        (0x8101, ("srli", 10, 10, 0, 0)),  # c.srli shamt=0 (c.srli64)
        (0x8501, ("srai", 10, 10, 0, 0)),  # c.srai shamt=0 (c.srai64)
        (0x802E, ("add", 0, 0, 11, 0)),  # c.mv rd=0
        (0x902E, ("add", 0, 0, 11, 0)),  # c.add rd=0
    ],
)
def test_compressed_hints_decode_to_base(half: int, expected: tuple) -> None:
    assert fields(decode(half)) == expected


@pytest.mark.parametrize(
    ("half", "why"),
    [
        (0x0000, "all-zero parcel is defined illegal"),
        (0x0004, "c.addi4spn with nzuimm=0"),
        (0x6101, "c.addi16sp with nzimm=0"),
        (0x6501, "c.lui with nzimm=0"),
        (0x6001, "c.lui rd=0 with nzimm=0"),
        (0x2005, "c.addiw with rd=0"),
        (0x4002, "c.lwsp with rd=0"),
        (0x6002, "c.ldsp with rd=0"),
        (0x8002, "c.jr with rs1=0"),
        (0x8000, "quadrant 0, funct3=100"),
        (0x9C41, "CA format funct6=100111 funct2=10"),
        (0x9C61, "CA format funct6=100111 funct2=11"),
    ],
)
def test_reserved_compressed(half: int, why: str) -> None:
    assert decode(half) is None, why


def test_compressed_ignores_upper_half() -> None:
    assert decode(0xFFFF_0505) == decode(0x0505)
    assert decode(0x1234_0000) is None


@pytest.mark.parametrize(
    ("halfword", "length"),
    [
        (0x0001, 2), (0xFFFE, 2), (0x0003, 4), (0x0013, 4), (0x001F, 6), (0x003F, 8),
        (0x007F, 10), (0x107F, 12), (0x607F, 22), (0x707F, 0),
    ],
)  # fmt: skip
def test_insn_length(halfword: int, length: int) -> None:
    assert insn_length(halfword) == length


# ---- disassembly conventions that the llvm comparison does not exercise -----------------------------

def test_targets_without_pc_are_offsets() -> None:
    insn = decode(0x80000063)
    assert insn is not None
    assert disassemble(insn) == "beq zero, zero, -4096"
    assert disassemble(insn, pc=0x1000) == "beq zero, zero, 0x0"
    assert disassemble(insn, pc=0) == "beq zero, zero, 0xfffffffffffff000"


def test_reserved_rounding_mode_prints_its_number() -> None:
    insn = decode(0x00B55553)
    assert insn is not None and disassemble(insn) == "fadd.s fa0, fa0, fa1, 5"


# ---- the table: interface and validation --------------------------------------------------------------

def test_operand_kinds_say_which_registers_are_fp() -> None:
    assert operand_kinds("fadd.d") == ("frd", "frs1", "frs2", "rm")
    assert operand_kinds("fmadd.s") == ("frd", "frs1", "frs2", "frs3", "rm")
    assert operand_kinds("fsw") == ("frs2", "mem")
    assert operand_kinds("fld") == ("frd", "mem")
    assert operand_kinds("fcvt.s.w") == ("frd", "rs1", "rm")
    assert operand_kinds("fcvt.l.d") == ("rd", "frs1", "rm")
    assert operand_kinds("fmv.x.d") == ("rd", "frs1")
    assert operand_kinds("feq.s") == ("rd", "frs1", "frs2")
    assert operand_kinds("sc.d") == ("rd", "rs2", "addr")
    assert operand_kinds("jalr") == ("rd", "mem")
    assert operand_kinds("csrrsi") == ("rd", "csr", "zimm")
    assert operand_kinds("fence") == ("pred", "succ")
    assert operand_kinds("ecall") == ()
    with pytest.raises(KeyError):
        operand_kinds("c.addi")


def test_mnemonics_cover_the_extensions() -> None:
    assert EXTENSIONS == {"I", "M", "A", "F", "D", "Zicsr", "Zifencei", "Zba", "Zbb", "Zbs"}
    counts = {ext: sum(extension(m) == ext for m in MNEMONICS) for ext in EXTENSIONS}
    # RV64I 52 (incl. fence, ecall, ebreak), M 13, A 22, F 30, D 32, Zicsr 6, Zifencei 1,
    # Zba 8, Zbb 24 (RV64 forms), Zbs 8.
    assert counts == {"I": 52, "M": 13, "A": 22, "F": 30, "D": 32, "Zicsr": 6, "Zifencei": 1,
                      "Zba": 8, "Zbb": 24, "Zbs": 8}  # fmt: skip
    assert {e.mnemonic for e in rvc.COMPRESSED} <= MNEMONICS


def test_table_rejects_overlapping_encodings() -> None:
    with pytest.raises(ValueError, match="overlap"):
        encodings.parse_table("[I]\nadd rd rs1 rs2 opcode=OP funct3=0 funct7=0\n"
                              "foo rd rs1 rs2 opcode=OP funct3=0 funct7=0\n")  # fmt: skip


def test_table_rejects_uncovered_bits() -> None:
    with pytest.raises(ValueError, match="neither fixed nor operands"):
        encodings.parse_table("[I]\nadd rd rs1 opcode=OP funct3=0 funct7=0\n")


def test_compressed_table_rejects_ambiguous_order() -> None:
    # c.addi listed before the more specific c.nop would swallow it.
    text = ("c.addi | op=1 funct3=0 | addi rd=rd rs1=rd imm=imm6 | rd imm |\n"
            "c.nop | op=1 funct3=0 11:7=0 | addi rd=0 rs1=0 imm=imm6 | imm? |\n")  # fmt: skip
    with pytest.raises(ValueError, match="ambiguously"):
        rvc.parse_table(text)


def test_compressed_table_checks_expansion_operands() -> None:
    with pytest.raises(ValueError, match="needs"):
        rvc.parse_table("c.li | op=1 funct3=2 | addi rd=rd imm=imm6 | rd imm |\n")  # rs1 is missing


def test_bitfield_notation() -> None:
    b_imm = BitField.parse("31:25=12|10:5 11:7=4:1|11", signed=True)
    assert b_imm.extract(0x80000000) == -4096
    assert b_imm.extract(0x00000080) == 2048
    assert b_imm.insert(-4096) == 0x80000000
    with pytest.raises(ValueError):
        BitField.parse("31:25=12|10:4")  # 8 value bits in 7 instruction bits
