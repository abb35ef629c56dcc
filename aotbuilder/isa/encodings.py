"""The 32-bit RV64 encodings as data (riscv-opcodes style), parsed and checked at import.

Each table line is ``mnemonic  operands...  fixed-bits...``:

* operands are the assembly operands in assembly order; each names the instruction fields it reads
  (see ``OPERANDS``) and a *kind* the lifter and the disassembler share.  ``[aq]`` / ``[rl]`` are fields
  that are not written as operands (they become the ``.aq``/``.rl`` mnemonic suffix).
* fixed bits are ``range=value``: a named range (``opcode``, ``funct3``...) or ``hi:lo``; opcode values
  may be the spec's opcode-map names (``OP-IMM``); ``*`` marks bits the spec says to ignore.
* ``[Zba]`` lines start an extension's section.

Every one of the 32 bits of every entry must be fixed, an operand, or ignored — checked below — so a
typo in a line shows up as an import error rather than as a wrong decode.
"""

from __future__ import annotations

from dataclasses import dataclass

from aotbuilder.isa.bitfield import BitField, parse_range

TABLE = """
[I]
lui         rd upper                opcode=LUI
auipc       rd upper                opcode=AUIPC
jal         rd jimm                 opcode=JAL
jalr        rd imm12(rs1)           opcode=JALR funct3=0
beq         rs1 rs2 bimm            opcode=BRANCH funct3=0
bne         rs1 rs2 bimm            opcode=BRANCH funct3=1
blt         rs1 rs2 bimm            opcode=BRANCH funct3=4
bge         rs1 rs2 bimm            opcode=BRANCH funct3=5
bltu        rs1 rs2 bimm            opcode=BRANCH funct3=6
bgeu        rs1 rs2 bimm            opcode=BRANCH funct3=7
lb          rd imm12(rs1)           opcode=LOAD funct3=0
lh          rd imm12(rs1)           opcode=LOAD funct3=1
lw          rd imm12(rs1)           opcode=LOAD funct3=2
ld          rd imm12(rs1)           opcode=LOAD funct3=3
lbu         rd imm12(rs1)           opcode=LOAD funct3=4
lhu         rd imm12(rs1)           opcode=LOAD funct3=5
lwu         rd imm12(rs1)           opcode=LOAD funct3=6
sb          rs2 simm12(rs1)         opcode=STORE funct3=0
sh          rs2 simm12(rs1)         opcode=STORE funct3=1
sw          rs2 simm12(rs1)         opcode=STORE funct3=2
sd          rs2 simm12(rs1)         opcode=STORE funct3=3
addi        rd rs1 imm12            opcode=OP-IMM funct3=0
slti        rd rs1 imm12            opcode=OP-IMM funct3=2
sltiu       rd rs1 imm12            opcode=OP-IMM funct3=3
xori        rd rs1 imm12            opcode=OP-IMM funct3=4
ori         rd rs1 imm12            opcode=OP-IMM funct3=6
andi        rd rs1 imm12            opcode=OP-IMM funct3=7
slli        rd rs1 shamt6           opcode=OP-IMM funct3=1 funct6=0b000000
srli        rd rs1 shamt6           opcode=OP-IMM funct3=5 funct6=0b000000
srai        rd rs1 shamt6           opcode=OP-IMM funct3=5 funct6=0b010000
add         rd rs1 rs2              opcode=OP funct3=0 funct7=0b0000000
sub         rd rs1 rs2              opcode=OP funct3=0 funct7=0b0100000
sll         rd rs1 rs2              opcode=OP funct3=1 funct7=0b0000000
slt         rd rs1 rs2              opcode=OP funct3=2 funct7=0b0000000
sltu        rd rs1 rs2              opcode=OP funct3=3 funct7=0b0000000
xor         rd rs1 rs2              opcode=OP funct3=4 funct7=0b0000000
srl         rd rs1 rs2              opcode=OP funct3=5 funct7=0b0000000
sra         rd rs1 rs2              opcode=OP funct3=5 funct7=0b0100000
or          rd rs1 rs2              opcode=OP funct3=6 funct7=0b0000000
and         rd rs1 rs2              opcode=OP funct3=7 funct7=0b0000000
addiw       rd rs1 imm12            opcode=OP-IMM-32 funct3=0
slliw       rd rs1 shamt5           opcode=OP-IMM-32 funct3=1 funct7=0b0000000
srliw       rd rs1 shamt5           opcode=OP-IMM-32 funct3=5 funct7=0b0000000
sraiw       rd rs1 shamt5           opcode=OP-IMM-32 funct3=5 funct7=0b0100000
addw        rd rs1 rs2              opcode=OP-32 funct3=0 funct7=0b0000000
subw        rd rs1 rs2              opcode=OP-32 funct3=0 funct7=0b0100000
sllw        rd rs1 rs2              opcode=OP-32 funct3=1 funct7=0b0000000
srlw        rd rs1 rs2              opcode=OP-32 funct3=5 funct7=0b0000000
sraw        rd rs1 rs2              opcode=OP-32 funct3=5 funct7=0b0100000
# Reserved fm/pred/succ combinations must be treated as a normal fence and rd/rs1 ignored (spec, FENCE),
# so fence matches every funct3=0 MISC-MEM word; fence.tso is fm=1000 pred=succ=rw of this encoding.
fence       pred succ               opcode=MISC-MEM funct3=0 rd=* rs1=*
ecall                               opcode=SYSTEM funct3=0 rd=0 rs1=0 funct12=0
ebreak                              opcode=SYSTEM funct3=0 rd=0 rs1=0 funct12=1

[Zifencei]
# imm, rs1 and rd are reserved for finer-grain fences; base implementations shall ignore them (spec).
fence.i                             opcode=MISC-MEM funct3=1 rd=* rs1=* funct12=*

[Zicsr]
csrrw       rd csr rs1              opcode=SYSTEM funct3=1
csrrs       rd csr rs1              opcode=SYSTEM funct3=2
csrrc       rd csr rs1              opcode=SYSTEM funct3=3
csrrwi      rd csr zimm             opcode=SYSTEM funct3=5
csrrsi      rd csr zimm             opcode=SYSTEM funct3=6
csrrci      rd csr zimm             opcode=SYSTEM funct3=7

[M]
mul         rd rs1 rs2              opcode=OP funct3=0 funct7=0b0000001
mulh        rd rs1 rs2              opcode=OP funct3=1 funct7=0b0000001
mulhsu      rd rs1 rs2              opcode=OP funct3=2 funct7=0b0000001
mulhu       rd rs1 rs2              opcode=OP funct3=3 funct7=0b0000001
div         rd rs1 rs2              opcode=OP funct3=4 funct7=0b0000001
divu        rd rs1 rs2              opcode=OP funct3=5 funct7=0b0000001
rem         rd rs1 rs2              opcode=OP funct3=6 funct7=0b0000001
remu        rd rs1 rs2              opcode=OP funct3=7 funct7=0b0000001
mulw        rd rs1 rs2              opcode=OP-32 funct3=0 funct7=0b0000001
divw        rd rs1 rs2              opcode=OP-32 funct3=4 funct7=0b0000001
divuw       rd rs1 rs2              opcode=OP-32 funct3=5 funct7=0b0000001
remw        rd rs1 rs2              opcode=OP-32 funct3=6 funct7=0b0000001
remuw       rd rs1 rs2              opcode=OP-32 funct3=7 funct7=0b0000001

[A]
lr.w        rd (rs1) [aq] [rl]      opcode=AMO funct3=2 funct5=0b00010 rs2=0
sc.w        rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b00011
amoswap.w   rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b00001
amoadd.w    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b00000
amoxor.w    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b00100
amoand.w    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b01100
amoor.w     rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b01000
amomin.w    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b10000
amomax.w    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b10100
amominu.w   rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b11000
amomaxu.w   rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=2 funct5=0b11100
lr.d        rd (rs1) [aq] [rl]      opcode=AMO funct3=3 funct5=0b00010 rs2=0
sc.d        rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b00011
amoswap.d   rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b00001
amoadd.d    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b00000
amoxor.d    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b00100
amoand.d    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b01100
amoor.d     rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b01000
amomin.d    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b10000
amomax.d    rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b10100
amominu.d   rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b11000
amomaxu.d   rd rs2 (rs1) [aq] [rl]  opcode=AMO funct3=3 funct5=0b11100

[F]
flw         frd imm12(rs1)          opcode=LOAD-FP funct3=2
fsw         frs2 simm12(rs1)        opcode=STORE-FP funct3=2
fmadd.s     frd frs1 frs2 frs3 rm   opcode=MADD fmt=0
fmsub.s     frd frs1 frs2 frs3 rm   opcode=MSUB fmt=0
fnmsub.s    frd frs1 frs2 frs3 rm   opcode=NMSUB fmt=0
fnmadd.s    frd frs1 frs2 frs3 rm   opcode=NMADD fmt=0
fadd.s      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0000000
fsub.s      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0000100
fmul.s      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0001000
fdiv.s      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0001100
fsqrt.s     frd frs1 rm             opcode=OP-FP funct7=0b0101100 rs2=0
fsgnj.s     frd frs1 frs2           opcode=OP-FP funct7=0b0010000 funct3=0
fsgnjn.s    frd frs1 frs2           opcode=OP-FP funct7=0b0010000 funct3=1
fsgnjx.s    frd frs1 frs2           opcode=OP-FP funct7=0b0010000 funct3=2
fmin.s      frd frs1 frs2           opcode=OP-FP funct7=0b0010100 funct3=0
fmax.s      frd frs1 frs2           opcode=OP-FP funct7=0b0010100 funct3=1
fcvt.w.s    rd frs1 rm              opcode=OP-FP funct7=0b1100000 rs2=0
fcvt.wu.s   rd frs1 rm              opcode=OP-FP funct7=0b1100000 rs2=1
fcvt.l.s    rd frs1 rm              opcode=OP-FP funct7=0b1100000 rs2=2
fcvt.lu.s   rd frs1 rm              opcode=OP-FP funct7=0b1100000 rs2=3
fmv.x.w     rd frs1                 opcode=OP-FP funct7=0b1110000 rs2=0 funct3=0
fclass.s    rd frs1                 opcode=OP-FP funct7=0b1110000 rs2=0 funct3=1
feq.s       rd frs1 frs2            opcode=OP-FP funct7=0b1010000 funct3=2
flt.s       rd frs1 frs2            opcode=OP-FP funct7=0b1010000 funct3=1
fle.s       rd frs1 frs2            opcode=OP-FP funct7=0b1010000 funct3=0
fcvt.s.w    frd rs1 rm              opcode=OP-FP funct7=0b1101000 rs2=0
fcvt.s.wu   frd rs1 rm              opcode=OP-FP funct7=0b1101000 rs2=1
fcvt.s.l    frd rs1 rm              opcode=OP-FP funct7=0b1101000 rs2=2
fcvt.s.lu   frd rs1 rm              opcode=OP-FP funct7=0b1101000 rs2=3
fmv.w.x     frd rs1                 opcode=OP-FP funct7=0b1111000 rs2=0 funct3=0

[D]
fld         frd imm12(rs1)          opcode=LOAD-FP funct3=3
fsd         frs2 simm12(rs1)        opcode=STORE-FP funct3=3
fmadd.d     frd frs1 frs2 frs3 rm   opcode=MADD fmt=1
fmsub.d     frd frs1 frs2 frs3 rm   opcode=MSUB fmt=1
fnmsub.d    frd frs1 frs2 frs3 rm   opcode=NMSUB fmt=1
fnmadd.d    frd frs1 frs2 frs3 rm   opcode=NMADD fmt=1
fadd.d      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0000001
fsub.d      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0000101
fmul.d      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0001001
fdiv.d      frd frs1 frs2 rm        opcode=OP-FP funct7=0b0001101
fsqrt.d     frd frs1 rm             opcode=OP-FP funct7=0b0101101 rs2=0
fsgnj.d     frd frs1 frs2           opcode=OP-FP funct7=0b0010001 funct3=0
fsgnjn.d    frd frs1 frs2           opcode=OP-FP funct7=0b0010001 funct3=1
fsgnjx.d    frd frs1 frs2           opcode=OP-FP funct7=0b0010001 funct3=2
fmin.d      frd frs1 frs2           opcode=OP-FP funct7=0b0010101 funct3=0
fmax.d      frd frs1 frs2           opcode=OP-FP funct7=0b0010101 funct3=1
fcvt.s.d    frd frs1 rm             opcode=OP-FP funct7=0b0100000 rs2=1
fcvt.d.s    frd frs1 rm             opcode=OP-FP funct7=0b0100001 rs2=0
feq.d       rd frs1 frs2            opcode=OP-FP funct7=0b1010001 funct3=2
flt.d       rd frs1 frs2            opcode=OP-FP funct7=0b1010001 funct3=1
fle.d       rd frs1 frs2            opcode=OP-FP funct7=0b1010001 funct3=0
fclass.d    rd frs1                 opcode=OP-FP funct7=0b1110001 rs2=0 funct3=1
fcvt.w.d    rd frs1 rm              opcode=OP-FP funct7=0b1100001 rs2=0
fcvt.wu.d   rd frs1 rm              opcode=OP-FP funct7=0b1100001 rs2=1
fcvt.l.d    rd frs1 rm              opcode=OP-FP funct7=0b1100001 rs2=2
fcvt.lu.d   rd frs1 rm              opcode=OP-FP funct7=0b1100001 rs2=3
fcvt.d.w    frd rs1 rm              opcode=OP-FP funct7=0b1101001 rs2=0
fcvt.d.wu   frd rs1 rm              opcode=OP-FP funct7=0b1101001 rs2=1
fcvt.d.l    frd rs1 rm              opcode=OP-FP funct7=0b1101001 rs2=2
fcvt.d.lu   frd rs1 rm              opcode=OP-FP funct7=0b1101001 rs2=3
fmv.x.d     rd frs1                 opcode=OP-FP funct7=0b1110001 rs2=0 funct3=0
fmv.d.x     frd rs1                 opcode=OP-FP funct7=0b1111001 rs2=0 funct3=0

[Zba]
add.uw      rd rs1 rs2              opcode=OP-32 funct3=0 funct7=0b0000100
sh1add      rd rs1 rs2              opcode=OP funct3=2 funct7=0b0010000
sh2add      rd rs1 rs2              opcode=OP funct3=4 funct7=0b0010000
sh3add      rd rs1 rs2              opcode=OP funct3=6 funct7=0b0010000
sh1add.uw   rd rs1 rs2              opcode=OP-32 funct3=2 funct7=0b0010000
sh2add.uw   rd rs1 rs2              opcode=OP-32 funct3=4 funct7=0b0010000
sh3add.uw   rd rs1 rs2              opcode=OP-32 funct3=6 funct7=0b0010000
slli.uw     rd rs1 shamt6           opcode=OP-IMM-32 funct3=1 funct6=0b000010

[Zbb]
andn        rd rs1 rs2              opcode=OP funct3=7 funct7=0b0100000
orn         rd rs1 rs2              opcode=OP funct3=6 funct7=0b0100000
xnor        rd rs1 rs2              opcode=OP funct3=4 funct7=0b0100000
clz         rd rs1                  opcode=OP-IMM funct3=1 funct12=0x600
ctz         rd rs1                  opcode=OP-IMM funct3=1 funct12=0x601
cpop        rd rs1                  opcode=OP-IMM funct3=1 funct12=0x602
sext.b      rd rs1                  opcode=OP-IMM funct3=1 funct12=0x604
sext.h      rd rs1                  opcode=OP-IMM funct3=1 funct12=0x605
clzw        rd rs1                  opcode=OP-IMM-32 funct3=1 funct12=0x600
ctzw        rd rs1                  opcode=OP-IMM-32 funct3=1 funct12=0x601
cpopw       rd rs1                  opcode=OP-IMM-32 funct3=1 funct12=0x602
max         rd rs1 rs2              opcode=OP funct3=6 funct7=0b0000101
maxu        rd rs1 rs2              opcode=OP funct3=7 funct7=0b0000101
min         rd rs1 rs2              opcode=OP funct3=4 funct7=0b0000101
minu        rd rs1 rs2              opcode=OP funct3=5 funct7=0b0000101
orc.b       rd rs1                  opcode=OP-IMM funct3=5 funct12=0x287
rev8        rd rs1                  opcode=OP-IMM funct3=5 funct12=0x6b8
rol         rd rs1 rs2              opcode=OP funct3=1 funct7=0b0110000
ror         rd rs1 rs2              opcode=OP funct3=5 funct7=0b0110000
rolw        rd rs1 rs2              opcode=OP-32 funct3=1 funct7=0b0110000
rorw        rd rs1 rs2              opcode=OP-32 funct3=5 funct7=0b0110000
rori        rd rs1 shamt6           opcode=OP-IMM funct3=5 funct6=0b011000
roriw       rd rs1 shamt5           opcode=OP-IMM-32 funct3=5 funct7=0b0110000
zext.h      rd rs1                  opcode=OP-32 funct3=4 funct7=0b0000100 rs2=0

[Zbs]
bclr        rd rs1 rs2              opcode=OP funct3=1 funct7=0b0100100
bclri       rd rs1 shamt6           opcode=OP-IMM funct3=1 funct6=0b010010
bext        rd rs1 rs2              opcode=OP funct3=5 funct7=0b0100100
bexti       rd rs1 shamt6           opcode=OP-IMM funct3=5 funct6=0b010010
binv        rd rs1 rs2              opcode=OP funct3=1 funct7=0b0110100
binvi       rd rs1 shamt6           opcode=OP-IMM funct3=1 funct6=0b011010
bset        rd rs1 rs2              opcode=OP funct3=1 funct7=0b0010100
bseti       rd rs1 shamt6           opcode=OP-IMM funct3=1 funct6=0b001010
"""

# The spec's major-opcode map (inst[6:0]; inst[1:0] = 11 for every 32-bit instruction).
OPCODES = {
    "LOAD": 0b0000011, "LOAD-FP": 0b0000111, "MISC-MEM": 0b0001111, "OP-IMM": 0b0010011,
    "AUIPC": 0b0010111, "OP-IMM-32": 0b0011011, "STORE": 0b0100011, "STORE-FP": 0b0100111,
    "AMO": 0b0101111, "OP": 0b0110011, "LUI": 0b0110111, "OP-32": 0b0111011,
    "MADD": 0b1000011, "MSUB": 0b1000111, "NMSUB": 0b1001011, "NMADD": 0b1001111,
    "OP-FP": 0b1010011, "BRANCH": 0b1100011, "JALR": 0b1100111, "JAL": 0b1101111, "SYSTEM": 0b1110011,
}

NAMED_RANGES = {
    "opcode": "6:0", "rd": "11:7", "funct3": "14:12", "rs1": "19:15", "rs2": "24:20",
    "fmt": "26:25", "funct5": "31:27", "funct6": "31:26", "funct7": "31:25", "funct12": "31:20",
}

# Instruction fields: (Insn attribute, layout in the spec's notation, sign-extended?).
FIELDS: dict[str, tuple[str, BitField]] = {
    "rd": ("rd", BitField.parse("11:7")),
    "rs1": ("rs1", BitField.parse("19:15")),
    "rs2": ("rs2", BitField.parse("24:20")),
    "rs3": ("rs3", BitField.parse("31:27")),
    "i_imm": ("imm", BitField.parse("31:20=11:0", signed=True)),
    "s_imm": ("imm", BitField.parse("31:25=11:5 11:7=4:0", signed=True)),
    "b_imm": ("imm", BitField.parse("31:25=12|10:5 11:7=4:1|11", signed=True)),
    "u_imm": ("imm", BitField.parse("31:12=31:12", signed=True)),
    "j_imm": ("imm", BitField.parse("31:12=20|10:1|11|19:12", signed=True)),
    "shamt6": ("imm", BitField.parse("25:20")),
    "shamt5": ("imm", BitField.parse("24:20")),
    "zimm": ("imm", BitField.parse("19:15")),
    "fence": ("imm", BitField.parse("31:20")),
    "csr": ("csr", BitField.parse("31:20")),
    "rm": ("rm", BitField.parse("14:12")),
    "aq": ("aq", BitField.parse("26")),
    "rl": ("rl", BitField.parse("25")),
}

# Operand tokens: the fields each reads and the operand kind it is.  Kinds are the vocabulary shared with
# the lifter: rd/rs1/rs2 are integer registers, frd/frs1/frs2/frs3 floating-point registers; imm a signed
# immediate (shift amounts included); upper a lui/auipc value; target a pc-relative byte offset; mem the
# address imm(rs1); addr the address (rs1); csr, zimm, rm, pred, succ as named.  A kind of None is a field
# that is not an assembly operand.
OPERANDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "rd": (("rd",), "rd"),
    "rs1": (("rs1",), "rs1"),
    "rs2": (("rs2",), "rs2"),
    "frd": (("rd",), "frd"),
    "frs1": (("rs1",), "frs1"),
    "frs2": (("rs2",), "frs2"),
    "frs3": (("rs3",), "frs3"),
    "imm12": (("i_imm",), "imm"),
    "shamt6": (("shamt6",), "imm"),
    "shamt5": (("shamt5",), "imm"),
    "upper": (("u_imm",), "upper"),
    "bimm": (("b_imm",), "target"),
    "jimm": (("j_imm",), "target"),
    "imm12(rs1)": (("i_imm", "rs1"), "mem"),
    "simm12(rs1)": (("s_imm", "rs1"), "mem"),
    "(rs1)": (("rs1",), "addr"),
    "csr": (("csr",), "csr"),
    "zimm": (("zimm",), "zimm"),
    "rm": (("rm",), "rm"),
    "pred": (("fence",), "pred"),
    "succ": (("fence",), "succ"),
    "[aq]": (("aq",), None),
    "[rl]": (("rl",), None),
}

# Which Insn attributes each kind carries; the C table's expansions are checked against this.
KIND_ATTRS: dict[str, tuple[str, ...]] = {
    "rd": ("rd",), "rs1": ("rs1",), "rs2": ("rs2",), "frd": ("rd",), "frs1": ("rs1",), "frs2": ("rs2",),
    "frs3": ("rs3",), "imm": ("imm",), "upper": ("imm",), "target": ("imm",), "mem": ("imm", "rs1"),
    "addr": ("rs1",), "csr": ("csr",), "zimm": ("imm",), "rm": ("rm",), "pred": ("imm",),
    "succ": ("imm",),
}


@dataclass(frozen=True, slots=True)
class Encoding:
    """One table line: the bits that identify the instruction and how to read its operands."""

    mnemonic: str
    extension: str
    match: int
    mask: int
    kinds: tuple[str, ...]
    fields: tuple[tuple[str, BitField], ...]  # (Insn attribute, field), in operand order

    def matches(self, word: int) -> bool:
        return word & self.mask == self.match


def _parse_value(name: str, text: str) -> int:
    if name == "opcode" and text in OPCODES:
        return OPCODES[text]
    return int(text, 0)


def parse_fixed(token: str, named: dict[str, str], width: int) -> tuple[int, int, bool]:
    """``funct3=5`` / ``31:26=0b010000`` / ``rd=*`` -> (match, mask, ignored)."""
    name, _, text = token.partition("=")
    hi, lo = parse_range(named.get(name, name))
    if hi >= width:
        raise ValueError(f"{token!r}: bit {hi} is outside a {width}-bit instruction")
    field_mask = ((1 << (hi - lo + 1)) - 1) << lo
    if text == "*":
        return 0, field_mask, True
    value = _parse_value(name, text)
    if value >> (hi - lo + 1):
        raise ValueError(f"{token!r}: value does not fit in bits {hi}:{lo}")
    return value << lo, field_mask, False


def _parse_line(line: str, extension: str) -> Encoding:
    mnemonic, *tokens = line.split()
    match = mask = covered = 0
    kinds: list[str] = []
    fields: dict[str, tuple[str, BitField]] = {}
    for token in tokens:
        if "=" in token and not token.startswith("["):
            bits, bits_mask, ignored = parse_fixed(token, NAMED_RANGES, 32)
            if covered & bits_mask:
                raise ValueError(f"{mnemonic}: {token!r} overlaps other bits")
            covered |= bits_mask
            if not ignored:
                match |= bits
                mask |= bits_mask
            continue
        if token not in OPERANDS:
            raise ValueError(f"{mnemonic}: unknown operand {token!r}")
        field_names, kind = OPERANDS[token]
        if kind is not None:
            kinds.append(kind)
        for name in field_names:
            if name in fields:  # pred and succ read the same field: read it once
                continue
            attr, field = FIELDS[name]
            if covered & field.inst_mask:
                raise ValueError(f"{mnemonic}: field {name} overlaps other bits")
            covered |= field.inst_mask
            fields[name] = (attr, field)
    if covered != 0xFFFF_FFFF:
        raise ValueError(f"{mnemonic}: bits {0xFFFF_FFFF & ~covered:#010x} are neither fixed nor operands")
    if mask & 0b11111 != 0b11111 or match & 0b11 != 0b11 or match & 0b11100 == 0b11100:
        raise ValueError(f"{mnemonic}: not a 32-bit encoding")
    return Encoding(mnemonic, extension, match, mask, tuple(kinds), tuple(fields.values()))


def parse_table(text: str) -> tuple[Encoding, ...]:
    entries: list[Encoding] = []
    extension = ""
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            extension = line[1:-1]
            continue
        entries.append(_parse_line(line, extension))
    names = [e.mnemonic for e in entries]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"mnemonics listed twice: {sorted(duplicates)}")
    # Distinct 32-bit encodings must not overlap at all: the decoder may then try them in any order.
    for i, a in enumerate(entries):
        for b in entries[i + 1 :]:
            if (a.match ^ b.match) & a.mask & b.mask == 0:
                raise ValueError(f"encodings of {a.mnemonic} and {b.mnemonic} overlap")
    return tuple(entries)


BASE: tuple[Encoding, ...] = parse_table(TABLE)
BY_MNEMONIC: dict[str, Encoding] = {e.mnemonic: e for e in BASE}
