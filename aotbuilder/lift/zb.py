"""Zba, Zbb, Zbs: address generation, basic bit manipulation, single-bit instructions."""

from __future__ import annotations

import llvmlite.ir as ir

from aotbuilder.isa import Insn
from aotbuilder.lift.emitter import I1, I8, I16, I32, I64

# -- Zba ---------------------------------------------------------------------------------------


def gen_shadd(ctx, insn: Insn, shift: int, unsigned_word: bool) -> None:
    e = ctx.e
    a = e.x(insn.rs1)
    if unsigned_word:
        a = e.b.zext(e.low32(a), I64)
    e.set_x(insn.rd, e.b.add(e.b.shl(a, e.c(shift)), e.x(insn.rs2)))


def trans_add_uw(ctx, insn: Insn) -> None:
    gen_shadd(ctx, insn, 0, True)


def trans_sh1add(ctx, insn: Insn) -> None:
    gen_shadd(ctx, insn, 1, False)


def trans_sh2add(ctx, insn: Insn) -> None:
    gen_shadd(ctx, insn, 2, False)


def trans_sh3add(ctx, insn: Insn) -> None:
    gen_shadd(ctx, insn, 3, False)


def trans_sh1add_uw(ctx, insn: Insn) -> None:
    gen_shadd(ctx, insn, 1, True)


def trans_sh2add_uw(ctx, insn: Insn) -> None:
    gen_shadd(ctx, insn, 2, True)


def trans_sh3add_uw(ctx, insn: Insn) -> None:
    gen_shadd(ctx, insn, 3, True)


def trans_slli_uw(ctx, insn: Insn) -> None:
    e = ctx.e
    e.set_x(insn.rd, e.b.shl(e.b.zext(e.low32(e.x(insn.rs1)), I64), e.c(insn.imm & 63)))


# -- Zbb -----------------------------------------------------------------------------------------

def gen_logic_not(ctx, insn: Insn, op: str) -> None:
    e = ctx.e
    r = getattr(e.b, op)(e.x(insn.rs1), e.b.not_(e.x(insn.rs2)))
    e.set_x(insn.rd, r)


def trans_andn(ctx, insn: Insn) -> None:
    gen_logic_not(ctx, insn, "and_")


def trans_orn(ctx, insn: Insn) -> None:
    gen_logic_not(ctx, insn, "or_")


def trans_xnor(ctx, insn: Insn) -> None:
    gen_logic_not(ctx, insn, "xor")


def gen_count(ctx, insn: Insn, name: str, word: bool) -> None:
    """clz/ctz/cpop: the count of an all-zero input is the width (is_zero_poison = false)."""
    e = ctx.e
    v = e.low32(e.x(insn.rs1)) if word else e.x(insn.rs1)
    ty = I32 if word else I64
    poison_on_zero = ir.Constant(I1, 0)
    args = [v] if name == "ctpop" else [v, poison_on_zero]
    types = [ty] if name == "ctpop" else [ty, I1]
    r = e.intrinsic_call(f"llvm.{name}.i{ty.width}", types, args, ret=ty)
    e.set_x(insn.rd, e.b.zext(r, I64))


def trans_clz(ctx, insn: Insn) -> None:
    gen_count(ctx, insn, "ctlz", False)


def trans_clzw(ctx, insn: Insn) -> None:
    gen_count(ctx, insn, "ctlz", True)


def trans_ctz(ctx, insn: Insn) -> None:
    gen_count(ctx, insn, "cttz", False)


def trans_ctzw(ctx, insn: Insn) -> None:
    gen_count(ctx, insn, "cttz", True)


def trans_cpop(ctx, insn: Insn) -> None:
    gen_count(ctx, insn, "ctpop", False)


def trans_cpopw(ctx, insn: Insn) -> None:
    gen_count(ctx, insn, "ctpop", True)


def gen_minmax(ctx, insn: Insn, cond: str, signed: bool) -> None:
    e = ctx.e
    a, b = e.x(insn.rs1), e.x(insn.rs2)
    cmp = e.b.icmp_signed if signed else e.b.icmp_unsigned
    e.set_x(insn.rd, e.b.select(cmp(cond, a, b), a, b))


def trans_max(ctx, insn: Insn) -> None:
    gen_minmax(ctx, insn, ">", True)


def trans_maxu(ctx, insn: Insn) -> None:
    gen_minmax(ctx, insn, ">", False)


def trans_min(ctx, insn: Insn) -> None:
    gen_minmax(ctx, insn, "<", True)


def trans_minu(ctx, insn: Insn) -> None:
    gen_minmax(ctx, insn, "<", False)


def gen_extend(ctx, insn: Insn, ty, signed: bool) -> None:
    e = ctx.e
    e.set_x(insn.rd, e.extend(e.b.trunc(e.x(insn.rs1), ty), 64, signed))


def trans_sext_b(ctx, insn: Insn) -> None:
    gen_extend(ctx, insn, I8, True)


def trans_sext_h(ctx, insn: Insn) -> None:
    gen_extend(ctx, insn, I16, True)


def trans_zext_h(ctx, insn: Insn) -> None:
    gen_extend(ctx, insn, I16, False)


def gen_rotate(ctx, insn: Insn, left: bool, word: bool, amount=None) -> None:
    """Rotates are funnel shifts of a value with itself; the amount is taken modulo the width."""
    e = ctx.e
    ty = I32 if word else I64
    v = e.low32(e.x(insn.rs1)) if word else e.x(insn.rs1)
    amt = e.extend(e.x(insn.rs2), ty.width, False) if amount is None else e.c(amount, ty.width)
    name = f"llvm.fsh{'l' if left else 'r'}.i{ty.width}"
    r = e.intrinsic_call(name, [ty, ty, ty], [v, v, amt])
    e.set_x(insn.rd, e.sext32(r) if word else r)


def trans_rol(ctx, insn: Insn) -> None:
    gen_rotate(ctx, insn, True, False)


def trans_rolw(ctx, insn: Insn) -> None:
    gen_rotate(ctx, insn, True, True)


def trans_ror(ctx, insn: Insn) -> None:
    gen_rotate(ctx, insn, False, False)


def trans_rorw(ctx, insn: Insn) -> None:
    gen_rotate(ctx, insn, False, True)


def trans_rori(ctx, insn: Insn) -> None:
    gen_rotate(ctx, insn, False, False, insn.imm & 63)


def trans_roriw(ctx, insn: Insn) -> None:
    gen_rotate(ctx, insn, False, True, insn.imm & 31)


def trans_orc_b(ctx, insn: Insn) -> None:
    """Each byte becomes 0xff if it was non-zero, else 0."""
    e = ctx.e
    v = e.x(insn.rs1)
    r = e.c(0)
    for k in range(8):
        byte = e.b.and_(e.b.lshr(v, e.c(8 * k)), e.c(0xFF))
        nonzero = e.b.zext(e.b.icmp_unsigned("!=", byte, e.c(0)), I64)
        r = e.b.or_(r, e.b.shl(e.b.mul(nonzero, e.c(0xFF)), e.c(8 * k)))
    e.set_x(insn.rd, r)


def trans_rev8(ctx, insn: Insn) -> None:
    e = ctx.e
    e.set_x(insn.rd, e.intrinsic_call("llvm.bswap.i64", [I64], [e.x(insn.rs1)]))


# -- Zbs -----------------------------------------------------------------------------------------

def gen_bit(ctx, insn: Insn, op: str, amount=None) -> None:
    e = ctx.e
    index = e.b.and_(e.x(insn.rs2), e.c(63)) if amount is None else e.c(amount & 63)
    mask = e.b.shl(e.c(1), index)
    v = e.x(insn.rs1)
    if op == "clr":
        r = e.b.and_(v, e.b.not_(mask))
    elif op == "set":
        r = e.b.or_(v, mask)
    elif op == "inv":
        r = e.b.xor(v, mask)
    else:  # ext
        r = e.b.and_(e.b.lshr(v, index), e.c(1))
    e.set_x(insn.rd, r)


def trans_bclr(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "clr")


def trans_bclri(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "clr", insn.imm)


def trans_bext(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "ext")


def trans_bexti(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "ext", insn.imm)


def trans_binv(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "inv")


def trans_binvi(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "inv", insn.imm)


def trans_bset(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "set")


def trans_bseti(ctx, insn: Insn) -> None:
    gen_bit(ctx, insn, "set", insn.imm)
