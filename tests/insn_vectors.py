"""Instruction test vectors: every RV64GC + Zba/Zbb/Zbs instruction on edge values, in one guest.

Each *group* is one instruction form (a mnemonic with its static rounding mode or immediate) run
in a loop over a table of input vectors: the loop loads the inputs into registers, sets fcsr,
executes the body, then stores fcsr and the outputs (raw 64-bit register bits).  The guest writes
all results to stdout; the expectations are whatever qemu-riscv64 prints for the same guest, so
the vectors only choose *inputs* and never encode expected results.

Register conventions in bodies: integer inputs s0, s1 (x8, x9), result a0 (x10), memory base a1
(x11); FP inputs fs0, fs1, fa0 (f8, f9, f10), result fa1 (f11).  The loop itself uses t0, t3-t5.
"""

from __future__ import annotations

import itertools
import random
import struct
from dataclasses import dataclass

MASK64 = (1 << 64) - 1
RMS = ("rne", "rtz", "rdn", "rup", "rmm", "dyn")
FRM_VALUES = (0, 1, 2, 3, 4)


def d(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def s(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def boxed(bits32: int) -> int:
    return 0xFFFFFFFF00000000 | bits32


F64_VALUES = [
    0, 1 << 63, d(1.0), d(-1.0), d(0.5), d(1.5), d(2.5), d(-2.5), d(3.0), d(-7.0), d(1 / 3), d(-2 / 3),
    d(0.1), d(1e308), 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x0010000000000000, 0x8010000000000000,
    0x0018000000000000, 1, 0x8000000000000001, 0x000FFFFFFFFFFFFF, 0x0000000000000003, d(1e-310),
    0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000123, 0x7FF0000000000001,
    0xFFF4000000000000, d(2.0**63), d(-(2.0**63)), d(2.0**64), d(2.0**31), d(-(2.0**31) - 1.0),
    d(4294967295.5), d(2.0**53 + 2), d(1.0000000000000002), d(0.9999999999999999), d(-0.5), d(2.0**-1022 * 0.75),
]
F32_VALUES = [
    boxed(v) for v in (
        0, 0x80000000, s(1.0), s(-1.0), s(0.5), s(1.5), s(2.5), s(-2.5), s(3.0), s(-7.0), s(1 / 3), s(-2 / 3),
        s(0.1), 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x80800000, 0x00C00000, 1, 0x80000001, 0x007FFFFF, 3,
        0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00123, 0x7F800001, 0xFFA00000, s(2.0**63), s(-(2.0**63)),
        s(2.0**64), s(2.0**31), s(-(2.0**31)), s(4294967296.0), s(16777217.0), s(1.0000001), s(-0.5),
    )
] + [0x000000003F800000, 0xFFFFFFFE3F800000, 0x7FF8000000000000]  # improperly NaN-boxed: canonical NaN
INT_VALUES = [
    0, 1, MASK64, 2, 3, 5, 31, 32, 63, 64, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000,
    0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0x8000000000000001, (1 << 53) + 1, (1 << 24) + 1,
    0x123456789ABCDEF0, -0x123456789 & MASK64, 0xDEADBEEF, 0xFFFF0000, 0xFFFFFFFF80000000,
    0x00FF00FF00FF00FF, 0x8000000080000000, -(1 << 31) & MASK64, -3 & MASK64,
]


@dataclass
class Group:
    """One instruction form run over many input vectors."""

    name: str
    body: str  # assembly; may span lines
    x_inputs: tuple[str, ...] = ()  # registers loaded from the vector, in order
    f_inputs: tuple[str, ...] = ()
    x_outputs: tuple[str, ...] = ("a0",)
    f_outputs: tuple[str, ...] = ()
    vectors: list[tuple[int, ...]] | None = None  # x inputs, f inputs, then fcsr

    @property
    def width(self) -> int:
        return len(self.x_inputs) + len(self.f_inputs) + 1

    @property
    def out_width(self) -> int:
        return 1 + len(self.x_outputs) + len(self.f_outputs)


def _fcsr_cycle(rng: random.Random, dyn: bool, index: int) -> int:
    """fcsr for a vector: frm cycles through the valid modes for dyn forms; mostly no flags set
    beforehand, sometimes some (flags accrue, they are never cleared by an instruction)."""
    frm = FRM_VALUES[index % len(FRM_VALUES)] if dyn else rng.choice(FRM_VALUES)
    flags = rng.choice((0, 0, 0, 0, 0x1F, rng.randrange(32)))
    return frm << 5 | flags


def _fp_vectors(rng: random.Random, values: list[int], arity: int, dyn: bool, limit: int | None = None):
    combos = list(itertools.product(values, repeat=arity))
    if limit is not None and len(combos) > limit:
        combos = rng.sample(combos, limit)
    repeat = len(FRM_VALUES) if dyn else 1
    out = []
    for k, combo in enumerate(c for c in combos for _ in range(repeat)):
        out.append((*combo, _fcsr_cycle(rng, dyn, k)))
    return out


def _int_vectors(rng: random.Random, arity: int):
    return [(*combo, 0) for combo in itertools.product(INT_VALUES, repeat=arity)]


def fp_groups(rng: random.Random) -> list[Group]:
    groups: list[Group] = []
    for p, values in (("s", F32_VALUES), ("d", F64_VALUES)):
        fin2 = ("fs0", "fs1")
        for op in ("fadd", "fsub", "fmul", "fdiv"):
            for rm in RMS:
                groups.append(Group(f"{op}.{p} {rm}", f"{op}.{p} fa1, fs0, fs1, {rm}", f_inputs=fin2,
                                    x_outputs=(), f_outputs=("fa1",),
                                    vectors=_fp_vectors(rng, values, 2, rm == "dyn")))
        for rm in RMS:
            groups.append(Group(f"fsqrt.{p} {rm}", f"fsqrt.{p} fa1, fs0, {rm}", f_inputs=("fs0",), x_outputs=(),
                                f_outputs=("fa1",), vectors=_fp_vectors(rng, values, 1, rm == "dyn")))
            for op in ("fmadd", "fmsub", "fnmsub", "fnmadd"):
                groups.append(Group(f"{op}.{p} {rm}", f"{op}.{p} fa1, fs0, fs1, fa0, {rm}",
                                    f_inputs=("fs0", "fs1", "fa0"), x_outputs=(), f_outputs=("fa1",),
                                    vectors=_fp_vectors(rng, values, 3, rm == "dyn", limit=600)))
        for op in ("fmin", "fmax", "fsgnj", "fsgnjn", "fsgnjx"):
            groups.append(Group(f"{op}.{p}", f"{op}.{p} fa1, fs0, fs1", f_inputs=fin2, x_outputs=(),
                                f_outputs=("fa1",), vectors=_fp_vectors(rng, values, 2, False)))
        for op in ("feq", "flt", "fle"):
            groups.append(Group(f"{op}.{p}", f"{op}.{p} a0, fs0, fs1", f_inputs=fin2,
                                vectors=_fp_vectors(rng, values, 2, False)))
        groups.append(Group(f"fclass.{p}", f"fclass.{p} a0, fs0", f_inputs=("fs0",),
                            vectors=_fp_vectors(rng, values, 1, False)))
        # Same-register operands (rd = rs1 = rs2), as compilers emit for x*x and fabs/fneg.
        groups.append(Group(f"fmul.{p} same", f"fmv.d fa1, fs0\nfmul.{p} fa1, fa1, fa1", f_inputs=("fs0",),
                            x_outputs=(), f_outputs=("fa1",), vectors=_fp_vectors(rng, values, 1, False)))
        groups.append(Group(f"fsgnjx.{p} same", f"fsgnjx.{p} fa1, fs0, fs0", f_inputs=("fs0",),
                            x_outputs=(), f_outputs=("fa1",), vectors=_fp_vectors(rng, values, 1, False)))
        for ity in ("w", "wu", "l", "lu"):
            for rm in RMS:
                groups.append(Group(f"fcvt.{ity}.{p} {rm}", f"fcvt.{ity}.{p} a0, fs0, {rm}", f_inputs=("fs0",),
                                    vectors=_fp_vectors(rng, values, 1, rm == "dyn")))
                groups.append(Group(f"fcvt.{p}.{ity} {rm}", _fcvt_to_fp(p, ity, rm), x_inputs=("s0",),
                                    x_outputs=(), f_outputs=("fa1",),
                                    vectors=[(v, f) for v, *_, f in _fp_vectors(rng, INT_VALUES, 1, rm == "dyn")]))
    for rm in RMS:
        groups.append(Group(f"fcvt.s.d {rm}", f"fcvt.s.d fa1, fs0, {rm}", f_inputs=("fs0",), x_outputs=(),
                            f_outputs=("fa1",), vectors=_fp_vectors(rng, F64_VALUES, 1, rm == "dyn")))
        groups.append(Group(f"fcvt.d.s {rm}", _fcvt_to_fp("d", "s", rm), f_inputs=("fs0",), x_outputs=(),
                            f_outputs=("fa1",), vectors=_fp_vectors(rng, F32_VALUES, 1, rm == "dyn")))
    bits = [(v, 0) for v in F64_VALUES + F32_VALUES]
    for op in ("fmv.x.w", "fmv.x.d"):
        groups.append(Group(op, f"{op} a0, fs0", f_inputs=("fs0",), vectors=bits))
    for op in ("fmv.w.x", "fmv.d.x"):
        groups.append(Group(op, f"{op} fa1, s0", x_inputs=("s0",), x_outputs=(), f_outputs=("fa1",),
                            vectors=[(v, 0) for v in INT_VALUES + F64_VALUES]))
    # Loads and stores of FP registers: flw NaN-boxes, fsw/fsd store the raw low bits.
    mem = [(v, 0) for v in F64_VALUES + F32_VALUES]
    groups.append(Group("flw/fsw", "sd s0, 0(a1)\nflw fa1, 0(a1)\nfsw fa1, 8(a1)\nfsw fs0, 12(a1)\nld a0, 8(a1)",
                        x_inputs=("s0",), f_inputs=("fs0",), f_outputs=("fa1",),
                        vectors=[(v, v, 0) for v, _ in mem]))
    groups.append(Group("fld/fsd", "sd s0, 0(a1)\nfld fa1, 0(a1)\nfsd fs0, 8(a1)\nld a0, 8(a1)",
                        x_inputs=("s0",), f_inputs=("fs0",), f_outputs=("fa1",),
                        vectors=[(v, v ^ 0x5555, 0) for v, _ in mem]))
    groups.append(Group("c.fld/c.fsd", "sd s0, 8(a1)\nc.fld fa1, 8(a1)\nc.fsd fs0, 16(a1)\nld a0, 16(a1)",
                        x_inputs=("s0",), f_inputs=("fs0",), f_outputs=("fa1",),
                        vectors=[(v, v ^ 0xFF00, 0) for v, _ in mem]))
    groups += _csr_groups(rng)
    return groups


def _fcvt_to_fp(p: str, src: str, rm: str) -> str:
    """GNU as refuses a rounding mode on the exact conversions, which still must check it: .insn."""
    exact = {("d", "w"): (0x69, "x0", "s0"), ("d", "wu"): (0x69, "x1", "s0"), ("d", "s"): (0x21, "x0", "fs0")}
    if (p, src) not in exact:
        return f"fcvt.{p}.{src} fa1, {'fs0' if src == 's' else 's0'}, {rm}"
    funct7, rs2, rs1 = exact[(p, src)]
    return f".insn r OP_FP, {RMS.index(rm) if rm != 'dyn' else 7}, {funct7}, fa1, {rs1}, {rs2}"


def _csr_groups(rng: random.Random) -> list[Group]:
    """fcsr, frm and fflags through every CSR instruction form, and their effect on arithmetic."""
    vectors = [(v, (f << 5) | g, 0) for v in (0, 1, 0x1F, 0x20, 0xE0, 0xFF, 0x155, MASK64, 0x81)
               for f in range(5) for g in (0, 0x15)]
    vectors = [(v, fcsr) for v, fcsr, _ in vectors]
    groups = []
    for csr in ("fflags", "frm", "fcsr"):
        for op in ("csrrw", "csrrs", "csrrc"):
            groups.append(Group(f"{op} {csr}", f"{op} a0, {csr}, s0\nfrcsr s1", x_inputs=("s0",),
                                x_outputs=("a0", "s1"), vectors=vectors))
            for imm in (0, 1, 0x1F, 0x0A):
                groups.append(Group(f"{op}i {csr} {imm}", f"{op}i a0, {csr}, {imm}\nfrcsr s1", x_inputs=("s0",),
                                    x_outputs=("a0", "s1"), vectors=vectors))
    # Flags raised by arithmetic are visible to every read form, and a write clears them.
    arith = "fdiv.d fa1, fs0, fs1\nfrflags a0\ncsrrs s1, fflags, zero\nfsflags zero\nfrflags s0\n" \
            "fdiv.d fa1, fs0, fs1\nfsrm t0, s0\nfrcsr t1\nadd a0, a0, t1"
    values = [d(1.0), d(3.0), 0, 0x7FF0000000000001, d(1e308), 1]
    groups.append(Group("flags through csr", arith, f_inputs=("fs0", "fs1"), x_outputs=("a0", "s0", "s1"),
                        f_outputs=("fa1",), vectors=[(a, b, f << 5) for a in values for b in values
                                                      for f in range(5)]))
    # Setting frm changes how the next dynamic operation rounds.
    body = "fsrm s0\nfdiv.d fa1, fs0, fs1\nfrcsr a0"
    groups.append(Group("fsrm then dyn", body, x_inputs=("s0",), f_inputs=("fs0", "fs1"), f_outputs=("fa1",),
                        vectors=[(m, a, b, 0) for m in range(5) for a in values for b in values]))
    return groups


# -- integer --------------------------------------------------------------------------------------------

R_TYPE = ("add sub sll slt sltu xor srl sra or and addw subw sllw srlw sraw mul mulh mulhsu mulhu mulw div divu "
          "rem remu divw divuw remw remuw andn orn xnor min minu max maxu rol ror rolw rorw sh1add sh2add sh3add "
          "add.uw sh1add.uw sh2add.uw sh3add.uw bclr bext binv bset").split()
UNARY = "clz ctz cpop clzw ctzw cpopw sext.b sext.h zext.h orc.b rev8".split()
IMM12 = (0, 1, -1, 2047, -2048, 0x555, -0x556)
I_TYPE = {op: IMM12 for op in ("addi", "slti", "sltiu", "xori", "ori", "andi", "addiw")}
I_TYPE.update({op: (0, 1, 31, 32, 63) for op in ("slli", "srli", "srai", "rori", "bclri", "bexti", "binvi",
                                                 "bseti", "slli.uw")})
I_TYPE.update({op: (0, 1, 17, 31) for op in ("slliw", "srliw", "sraiw", "roriw")})
BRANCHES = ("beq", "bne", "blt", "bge", "bltu", "bgeu")


def int_groups(rng: random.Random) -> list[Group]:
    groups: list[Group] = []
    two = _int_vectors(rng, 2)
    one = _int_vectors(rng, 1)
    for op in R_TYPE:
        groups.append(Group(op, f"{op} a0, s0, s1", x_inputs=("s0", "s1"), vectors=two))
        groups.append(Group(f"{op} rd=rs1", f"mv a0, s0\n{op} a0, a0, s1", x_inputs=("s0", "s1"), vectors=two))
    groups.append(Group("mulh same", "mulh a0, s0, s0", x_inputs=("s0",), vectors=one))
    for op in UNARY:
        vectors = one
        if op == "ctzw":  # qemu 7.2 counts into the upper half when the low word is 0 (QEMU_BUGS)
            vectors = [v for v in one if v[0] & 0xFFFFFFFF or not v[0] >> 32]
        groups.append(Group(op, f"{op} a0, s0", x_inputs=("s0",), vectors=vectors))
    for op, imms in I_TYPE.items():
        for imm in imms:
            groups.append(Group(f"{op} {imm}", f"{op} a0, s0, {imm}", x_inputs=("s0",), vectors=one))
    for imm in (0, 1, -1, 0x7FFFF, 0x80000, 0xFFFFF):
        groups.append(Group(f"lui {imm}", f"lui a0, {imm & 0xFFFFF}\nadd a0, a0, s0", x_inputs=("s0",), vectors=one))
        groups.append(Group(f"auipc {imm}", f"auipc a0, {imm & 0xFFFFF}\nauipc s1, 0\nsub a0, a0, s1",
                            x_inputs=("s0",), vectors=one[:2]))
    for op in BRANCHES:
        body = f"li a0, 0\n{op} s0, s1, 1f\nli a0, 1\n1:"
        groups.append(Group(op, body, x_inputs=("s0", "s1"), vectors=two))
    groups.append(Group("c.beqz/c.bnez", "li a0, 0\nc.beqz s0, 1f\naddi a0, a0, 1\n"
                        "1: c.bnez s1, 2f\naddi a0, a0, 2\n2:", x_inputs=("s0", "s1"), vectors=two))
    groups.append(Group("jal/jalr", "jal a0, 1f\n1: auipc s1, 0\nsub a0, a0, s1\n"
                        "lla t0, 2f\njalr s1, 0(t0)\n2: auipc t0, 0\nsub s1, s1, t0\nadd a0, a0, s1",
                        x_inputs=("s0",), vectors=one[:2]))
    groups += _compressed_groups(rng)
    groups += _memory_groups(rng)
    return groups


def _compressed_groups(rng: random.Random) -> list[Group]:
    one, two = _int_vectors(rng, 1), _int_vectors(rng, 2)
    groups = []
    for op, imms in (("c.addi", (1, -1, 31, -32)), ("c.addiw", (0, 1, -1, 31, -32)), ("c.andi", (0, 1, -1, 31, -32)),
                     ("c.slli", (1, 31, 32, 63)), ("c.srli", (1, 31, 32, 63)), ("c.srai", (1, 31, 32, 63))):
        for imm in imms:
            groups.append(Group(f"{op} {imm}", f"mv a0, s0\n{op} a0, {imm}", x_inputs=("s0",), vectors=one))
    for imm in (0, 1, -1, 31, -32):
        groups.append(Group(f"c.li {imm}", f"c.li a0, {imm}\nxor a0, a0, s0", x_inputs=("s0",), vectors=one[:3]))
    for imm in (1, 31, 0xFFFE0, 0xFFFFF):
        groups.append(Group(f"c.lui {imm}", f"c.lui a0, {imm}\nxor a0, a0, s0", x_inputs=("s0",), vectors=one[:3]))
    for op in ("c.and", "c.or", "c.xor", "c.sub", "c.addw", "c.subw", "c.add"):
        groups.append(Group(op, f"mv a0, s0\n{op} a0, s1", x_inputs=("s0", "s1"), vectors=two))
    groups.append(Group("c.mv", "c.mv a0, s0", x_inputs=("s0",), vectors=one))
    # Stack-pointer forms, on a scratch stack: c.addi16sp, c.addi4spn, c.*sp loads and stores.
    sp_body = ("mv t1, sp\nmv sp, a1\nc.addi16sp sp, 32\nc.addi16sp sp, -16\nc.addi4spn a0, sp, 8\nsub a0, a0, a1\n"
               "c.sdsp s0, 0(sp)\nc.swsp s1, 8(sp)\nc.ldsp s1, 0(sp)\nc.lwsp t2, 8(sp)\nadd a0, a0, t2\n"
               "c.fsdsp fs0, 16(sp)\nc.fldsp fa1, 16(sp)\nmv sp, t1")
    groups.append(Group("c.*sp", sp_body, x_inputs=("s0", "s1"), f_inputs=("fs0",), x_outputs=("a0", "s1"),
                        f_outputs=("fa1",), vectors=[(a, b, a, 0) for a, b, _ in two[::7]]))
    groups.append(Group("c.lw/c.ld/c.sw/c.sd", "c.sd s0, 0(a1)\nc.sw s1, 4(a1)\nc.lw a0, 0(a1)\nc.ld s1, 0(a1)",
                        x_inputs=("s0", "s1"), x_outputs=("a0", "s1"), vectors=two))
    groups.append(Group("c.j/c.jr/c.jalr", "li a0, 0\nc.j 1f\nli a0, 1\n1: lla t0, 2f\nc.jr t0\nli a0, 2\n"
                        "2: lla t0, 3f\nmv t6, ra\nc.jalr t0\n3: auipc t1, 0\nsub t1, ra, t1\nadd a0, a0, t1\n"
                        "mv ra, t6",
                        x_inputs=("s0",), vectors=one[:2]))
    return groups


def _memory_groups(rng: random.Random) -> list[Group]:
    """Loads and stores of every width at aligned and misaligned offsets; AMOs; LR/SC."""
    two = _int_vectors(rng, 2)
    groups = []
    for store in ("sb", "sh", "sw", "sd"):
        for off in (0, 1, 3, 7):
            body = f"sd zero, 0(a1)\nsd zero, 8(a1)\n{store} s0, {off}(a1)\nld a0, 0(a1)\nld s1, 8(a1)"
            groups.append(Group(f"{store} +{off}", body, x_inputs=("s0",), x_outputs=("a0", "s1"),
                                vectors=[(v, 0) for v in INT_VALUES]))
    for load in ("lb", "lbu", "lh", "lhu", "lw", "lwu", "ld"):
        for off in (0, 1, 2, 5, 8):
            body = f"sd s0, 0(a1)\nsd s1, 8(a1)\n{load} a0, {off}(a1)"
            groups.append(Group(f"{load} +{off}", body, x_inputs=("s0", "s1"), vectors=two[::3]))
    for width in ("w", "d"):
        for op in ("amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax", "amominu", "amomaxu"):
            for order in ("", ".aq", ".rl", ".aqrl"):
                body = f"sd s0, 0(a1)\n{op}.{width}{order} a0, s1, (a1)\nld s1, 0(a1)"
                groups.append(Group(f"{op}.{width}{order}", body, x_inputs=("s0", "s1"), x_outputs=("a0", "s1"),
                                    vectors=two[:: 5 if order else 1]))
        lrsc = {
            "lr/sc": f"sd s0, 0(a1)\nlr.{width} a0, (a1)\nsc.{width} t0, s1, (a1)\nld s1, 0(a1)\nslli t0, t0, 32\n"
                     "add a0, a0, t0",
            "sc alone": f"sd s0, 0(a1)\nsc.{width} a0, s1, (a1)\nld s1, 0(a1)",
            "lr/sc other address": f"sd s0, 0(a1)\naddi a2, a1, 8\nlr.{width} a0, (a1)\nsc.{width} t0, s1, (a2)\n"
                                   "ld s1, 8(a1)\nadd a0, a0, t0",
            "lr/sc twice": f"sd s0, 0(a1)\nlr.{width}.aq a0, (a1)\nsc.{width}.rl t0, s1, (a1)\n"
                           f"sc.{width} t1, s0, (a1)\nld s1, 0(a1)\nslli t0, t0, 1\nadd t0, t0, t1\nxor a0, a0, t0",
        }
        for name, body in lrsc.items():
            groups.append(Group(f"{name}.{width}", body, x_inputs=("s0", "s1"), x_outputs=("a0", "s1"),
                                vectors=two[::4]))
    return groups


# -- the guest ---------------------------------------------------------------------------------------------

def program(groups: list[Group]) -> str:
    """Assembly for a guest that runs every group and writes all results to stdout."""
    text = [".option norelax", ".text", ".globl _start", "_start:", "  lla a1, membuf", "  lla t4, results"]
    loops = []
    data = [".data", ".balign 8"]
    for k, g in enumerate(groups):
        assert g.vectors, g.name
        text += [f"  lla t3, in{k}", f"  li t5, {len(g.vectors)}", f"  call group{k}"]
        loop = [f"group{k}:  # {g.name}", "  .option push", "  .option rvc", "9:"]
        col = 0
        for r in g.x_inputs:
            loop.append(f"  ld {r}, {8 * col}(t3)")
            col += 1
        for r in g.f_inputs:
            loop += [f"  ld t0, {8 * col}(t3)", f"  fmv.d.x {r}, t0"]
            col += 1
        loop += [f"  ld t0, {8 * col}(t3)", "  fscsr t0", *("  " + line for line in g.body.splitlines()),
                 "  frcsr t0", "  sd t0, 0(t4)"]
        out = 1
        for r in g.x_outputs:
            loop.append(f"  sd {r}, {8 * out}(t4)")
            out += 1
        for r in g.f_outputs:
            loop += [f"  fmv.x.d t0, {r}", f"  sd t0, {8 * out}(t4)"]
            out += 1
        loop += [f"  addi t3, t3, {8 * g.width}", f"  addi t4, t4, {8 * g.out_width}", "  addi t5, t5, -1",
                 "  bnez t5, 9b", "  ret", "  .option pop"]
        loops += loop
        data.append(f"in{k}:")
        for vec in g.vectors:
            assert len(vec) == g.width, (g.name, vec)
            data.append("  .dword " + ", ".join(f"0x{v & MASK64:x}" for v in vec))
    total = sum(len(g.vectors) * g.out_width * 8 for g in groups)
    text += ["  li a0, 1", "  lla a1, results", f"  li a2, {total}", "  li a7, 64", "  ecall",
             "  li a0, 0", "  li a7, 93", "  ecall"]
    bss = [".bss", ".balign 16", "membuf: .zero 64", f"results: .zero {total}"]
    return "\n".join(text + loops + data + bss) + "\n"


def locate(groups: list[Group], offset: int) -> tuple[Group, int, int]:
    """The group, vector index and output column of byte `offset` in the results."""
    for g in groups:
        size = len(g.vectors) * g.out_width * 8
        if offset < size:
            record = offset // (g.out_width * 8)
            return g, record, (offset % (g.out_width * 8)) // 8
        offset -= size
    raise IndexError(offset)
