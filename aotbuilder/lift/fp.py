"""Shapes shared by the F and D extensions, parameterised by precision.

Results follow the RISC-V rules that differ from the host's: every NaN a computation produces is
the canonical NaN, conversions to integers saturate (NaN converts to the largest value), FMIN/FMAX
order -0 below +0 and return the other operand when one is NaN.  The rounding mode comes from the
instruction, or from frm when it says dynamic; invalid modes trap.
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir

from aotbuilder.isa import Insn
from aotbuilder.lift.emitter import CANONICAL_NAN32, CANONICAL_NAN64, F32, F64, I32, I64, INT_TYPES

RM_RNE, RM_RTZ, RM_RDN, RM_RUP, RM_RMM, RM_DYN = 0, 1, 2, 3, 4, 7
# LLVM rounding intrinsic per static rounding mode, for conversions to integer.
_ROUND = {RM_RNE: "llvm.roundeven", RM_RDN: "llvm.floor", RM_RUP: "llvm.ceil", RM_RMM: "llvm.round"}


@dataclass(frozen=True)
class Precision:
    suffix: str
    ty: ir.Type
    bits: int
    canonical_nan: int


S = Precision("f32", F32, 32, CANONICAL_NAN32)
D = Precision("f64", F64, 64, CANONICAL_NAN64)


def fget(ctx, p: Precision, i: int) -> ir.Value:
    return ctx.e.f32(i) if p is S else ctx.e.f64(i)


def fset(ctx, p: Precision, i: int, v: ir.Value) -> None:
    (ctx.e.set_f32 if p is S else ctx.e.set_f64)(i, v)


def canonical(ctx, p: Precision, v: ir.Value) -> ir.Value:
    e = ctx.e
    nan = e.b.bitcast(e.c(p.canonical_nan, p.bits), p.ty)
    return e.b.select(e.b.fcmp_unordered("uno", v, v), nan, v)


def valid_rm(ctx, insn: Insn) -> bool:
    """Reserved static rounding modes are illegal instructions."""
    if insn.rm in (5, 6):
        ctx.illegal()
        return False
    return True


def gen_arith(ctx, insn: Insn, p: Precision, op: str) -> None:
    if not valid_rm(ctx, insn):
        return
    b = ctx.e.b
    r = getattr(b, op)(fget(ctx, p, insn.rs1), fget(ctx, p, insn.rs2))
    fset(ctx, p, insn.rd, canonical(ctx, p, r))


def gen_sqrt(ctx, insn: Insn, p: Precision) -> None:
    if not valid_rm(ctx, insn):
        return
    e = ctx.e
    r = e.intrinsic_call(f"llvm.sqrt.{p.suffix}", [p.ty], [fget(ctx, p, insn.rs1)])
    fset(ctx, p, insn.rd, canonical(ctx, p, r))


def gen_fma(ctx, insn: Insn, p: Precision, negate_product: bool, negate_addend: bool) -> None:
    if not valid_rm(ctx, insn):
        return
    e = ctx.e
    a, b_, c = (fget(ctx, p, r) for r in (insn.rs1, insn.rs2, insn.rs3))
    if negate_product:
        a = e.b.fneg(a)
    if negate_addend:
        c = e.b.fneg(c)
    r = e.intrinsic_call(f"llvm.fma.{p.suffix}", [p.ty, p.ty, p.ty], [a, b_, c])
    fset(ctx, p, insn.rd, canonical(ctx, p, r))


def gen_sign_inject(ctx, insn: Insn, p: Precision, mode: str) -> None:
    e = ctx.e
    ity = INT_TYPES[p.bits]
    a = e.b.bitcast(fget(ctx, p, insn.rs1), ity)
    b = e.b.bitcast(fget(ctx, p, insn.rs2), ity)
    sign = e.c(1 << (p.bits - 1), p.bits)
    if mode == "n":
        b = e.b.not_(b)
    elif mode == "x":
        b = e.b.xor(a, b)
    r = e.b.or_(e.b.and_(a, e.b.not_(sign)), e.b.and_(b, sign))
    fset(ctx, p, insn.rd, e.b.bitcast(r, p.ty))


def gen_minmax(ctx, insn: Insn, p: Precision, op: str) -> None:
    e = ctx.e
    a, b = fget(ctx, p, insn.rs1), fget(ctx, p, insn.rs2)
    r = e.intrinsic_call(f"llvm.{op}imumnum.{p.suffix}", [p.ty, p.ty], [a, b])
    fset(ctx, p, insn.rd, canonical(ctx, p, r))


def gen_compare(ctx, insn: Insn, p: Precision, cond: str) -> None:
    e = ctx.e
    r = e.b.fcmp_ordered(cond, fget(ctx, p, insn.rs1), fget(ctx, p, insn.rs2))
    e.set_x(insn.rd, e.b.zext(r, I64))


def _rounded(ctx, insn: Insn, p: Precision, v: ir.Value) -> ir.Value:
    """v rounded to an integral value in the instruction's rounding mode."""
    e = ctx.e

    def by_mode(rm: int) -> ir.Value:
        if rm == RM_RTZ:
            return e.intrinsic_call(f"llvm.trunc.{p.suffix}", [p.ty], [v])
        return e.intrinsic_call(f"{_ROUND[rm]}.{p.suffix}", [p.ty], [v])

    if insn.rm != RM_DYN:
        return by_mode(insn.rm)
    frm = e.cpu_u32("frm")
    r = by_mode(RM_RNE)
    for rm in (RM_RTZ, RM_RDN, RM_RUP, RM_RMM):
        r = e.b.select(e.b.icmp_unsigned("==", frm, e.c(rm, 32)), by_mode(rm), r)
    return r


def gen_to_int(ctx, insn: Insn, p: Precision, bits: int, signed: bool) -> None:
    """FCVT.{W,WU,L,LU}: round, then saturate; NaN gives the largest value."""
    if not valid_rm(ctx, insn):
        return
    e = ctx.e
    v = fget(ctx, p, insn.rs1)
    ity = INT_TYPES[bits]
    name = f"llvm.fpto{'s' if signed else 'u'}i.sat.i{bits}.{p.suffix}"
    r = e.intrinsic_call(name, [p.ty], [_rounded(ctx, insn, p, v)], ret=ity)
    largest = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    r = e.b.select(e.b.fcmp_unordered("uno", v, v), e.c(largest, bits), r)
    e.set_x(insn.rd, e.extend(r, 64, signed=True))


def gen_from_int(ctx, insn: Insn, p: Precision, bits: int, signed: bool) -> None:
    if not valid_rm(ctx, insn):
        return
    e = ctx.e
    v = e.extend(e.x(insn.rs1), bits, signed=False)
    fset(ctx, p, insn.rd, (e.b.sitofp if signed else e.b.uitofp)(v, p.ty))


def gen_convert(ctx, insn: Insn, src: Precision, dst: Precision) -> None:
    if not valid_rm(ctx, insn):
        return
    e = ctx.e
    v = fget(ctx, src, insn.rs1)
    r = e.b.fptrunc(v, dst.ty) if dst.bits < src.bits else e.b.fpext(v, dst.ty)
    fset(ctx, dst, insn.rd, canonical(ctx, dst, r))


def gen_class(ctx, insn: Insn, p: Precision) -> None:
    """FCLASS: a one-hot mask of the operand's class (spec table 'Format of result of FCLASS')."""
    e = ctx.e
    b = e.b
    ity = INT_TYPES[p.bits]
    exp_bits = 8 if p is S else 11
    mant_bits = p.bits - 1 - exp_bits
    bits = b.bitcast(fget(ctx, p, insn.rs1), ity)
    sign = b.icmp_unsigned("!=", b.lshr(bits, e.c(p.bits - 1, p.bits)), e.c(0, p.bits))
    exp = b.and_(b.lshr(bits, e.c(mant_bits, p.bits)), e.c((1 << exp_bits) - 1, p.bits))
    mant = b.and_(bits, e.c((1 << mant_bits) - 1, p.bits))
    exp_max = b.icmp_unsigned("==", exp, e.c((1 << exp_bits) - 1, p.bits))
    exp_zero = b.icmp_unsigned("==", exp, e.c(0, p.bits))
    mant_zero = b.icmp_unsigned("==", mant, e.c(0, p.bits))
    quiet = b.icmp_unsigned("!=", b.and_(mant, e.c(1 << (mant_bits - 1), p.bits)), e.c(0, p.bits))
    pos = b.not_(sign)
    inf = b.and_(exp_max, mant_zero)
    nan = b.and_(exp_max, b.not_(mant_zero))
    zero = b.and_(exp_zero, mant_zero)
    sub = b.and_(exp_zero, b.not_(mant_zero))
    normal = b.and_(b.not_(exp_max), b.not_(exp_zero))
    classes: list[ir.Value] = [
        b.and_(sign, inf), b.and_(sign, normal), b.and_(sign, sub), b.and_(sign, zero),
        b.and_(pos, zero), b.and_(pos, sub), b.and_(pos, normal), b.and_(pos, inf),
        b.and_(nan, b.not_(quiet)), b.and_(nan, quiet),
    ]
    r = e.c(0)
    for k, flag in enumerate(classes):
        r = b.or_(r, b.shl(b.zext(flag, I64), e.c(k)))
    e.set_x(insn.rd, r)


def gen_load(ctx, insn: Insn, p: Precision) -> None:
    e = ctx.e
    v = e.load(ctx.effective_address(insn), p.bits // 8, False, ctx.pc_value(), ty=p.ty)
    fset(ctx, p, insn.rd, v)


def gen_store(ctx, insn: Insn, p: Precision) -> None:
    e = ctx.e
    raw = e.f_bits(insn.rs2)
    value = e.b.trunc(raw, I32) if p is S else raw
    e.store(ctx.effective_address(insn), value, p.bits // 8, ctx.pc_value())

