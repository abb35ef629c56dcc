"""RV64M: multiply and divide.  Division never traps: the specification defines the results of
division by zero and of signed overflow, and LLVM's sdiv/udiv are undefined there, so every divide
uses a safe divisor and selects the specified result."""

from __future__ import annotations

from aotbuilder.isa import Insn
from aotbuilder.lift.emitter import I64


def gen_mul_high(ctx, insn: Insn, signed_a: bool, signed_b: bool) -> None:
    e = ctx.e
    a = e.extend(e.x(insn.rs1), 128, signed_a)
    b = e.extend(e.x(insn.rs2), 128, signed_b)
    e.set_x(insn.rd, e.b.trunc(e.b.lshr(e.b.mul(a, b), e.c(64, 128)), I64))


def _operands(ctx, insn: Insn, bits: int):
    e = ctx.e
    a, b = e.x(insn.rs1), e.x(insn.rs2)
    return (e.low32(a), e.low32(b)) if bits == 32 else (a, b)


def _finish(ctx, insn: Insn, value, bits: int) -> None:
    ctx.e.set_x(insn.rd, ctx.e.sext32(value) if bits == 32 else value)


def gen_div(ctx, insn: Insn, signed: bool, remainder: bool, bits: int) -> None:
    e = ctx.e
    a, b = _operands(ctx, insn, bits)
    zero = e.b.icmp_unsigned("==", b, e.c(0, bits))
    unsafe = zero
    if signed:
        overflow = e.b.and_(e.b.icmp_unsigned("==", a, e.c(1 << (bits - 1), bits)),
                            e.b.icmp_unsigned("==", b, e.c(-1, bits)))
        unsafe = e.b.or_(zero, overflow)  # divisor 1 then gives the specified MIN / 0
    divisor = e.b.select(unsafe, e.c(1, bits), b)
    if remainder:
        value = (e.b.srem if signed else e.b.urem)(a, divisor)
        value = e.b.select(zero, a, value)
    else:
        value = (e.b.sdiv if signed else e.b.udiv)(a, divisor)
        value = e.b.select(zero, e.c(-1, bits), value)
    _finish(ctx, insn, value, bits)


def trans_mul(ctx, insn: Insn) -> None:
    e = ctx.e
    e.set_x(insn.rd, e.b.mul(e.x(insn.rs1), e.x(insn.rs2)))


def trans_mulh(ctx, insn: Insn) -> None:
    gen_mul_high(ctx, insn, True, True)


def trans_mulhsu(ctx, insn: Insn) -> None:
    gen_mul_high(ctx, insn, True, False)


def trans_mulhu(ctx, insn: Insn) -> None:
    gen_mul_high(ctx, insn, False, False)


def trans_mulw(ctx, insn: Insn) -> None:
    e = ctx.e
    a, b = _operands(ctx, insn, 32)
    e.set_x(insn.rd, e.sext32(e.b.mul(a, b)))


def trans_div(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=True, remainder=False, bits=64)


def trans_divu(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=False, remainder=False, bits=64)


def trans_rem(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=True, remainder=True, bits=64)


def trans_remu(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=False, remainder=True, bits=64)


def trans_divw(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=True, remainder=False, bits=32)


def trans_divuw(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=False, remainder=False, bits=32)


def trans_remw(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=True, remainder=True, bits=32)


def trans_remuw(ctx, insn: Insn) -> None:
    gen_div(ctx, insn, signed=False, remainder=True, bits=32)
