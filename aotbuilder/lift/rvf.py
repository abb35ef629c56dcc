"""RV64F: single-precision floating point (shapes in fp.py)."""

from __future__ import annotations

from aotbuilder.isa import Insn
from aotbuilder.lift import fp
from aotbuilder.lift.emitter import I64, NAN_BOX


def trans_flw(ctx, insn: Insn) -> None:
    fp.gen_load(ctx, insn, fp.S)


def trans_fsw(ctx, insn: Insn) -> None:
    fp.gen_store(ctx, insn, fp.S)


def trans_fadd_s(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.S, "fadd")


def trans_fsub_s(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.S, "fsub")


def trans_fmul_s(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.S, "fmul")


def trans_fdiv_s(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.S, "fdiv")


def trans_fsqrt_s(ctx, insn: Insn) -> None:
    fp.gen_sqrt(ctx, insn, fp.S)


def trans_fmadd_s(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.S, negate_product=False, negate_addend=False)


def trans_fmsub_s(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.S, negate_product=False, negate_addend=True)


def trans_fnmsub_s(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.S, negate_product=True, negate_addend=False)


def trans_fnmadd_s(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.S, negate_product=True, negate_addend=True)


def trans_fsgnj_s(ctx, insn: Insn) -> None:
    fp.gen_sign_inject(ctx, insn, fp.S, "")


def trans_fsgnjn_s(ctx, insn: Insn) -> None:
    fp.gen_sign_inject(ctx, insn, fp.S, "n")


def trans_fsgnjx_s(ctx, insn: Insn) -> None:
    fp.gen_sign_inject(ctx, insn, fp.S, "x")


def trans_fmin_s(ctx, insn: Insn) -> None:
    fp.gen_minmax(ctx, insn, fp.S, "min")


def trans_fmax_s(ctx, insn: Insn) -> None:
    fp.gen_minmax(ctx, insn, fp.S, "max")


def trans_feq_s(ctx, insn: Insn) -> None:
    fp.gen_compare(ctx, insn, fp.S, "==")


def trans_flt_s(ctx, insn: Insn) -> None:
    fp.gen_compare(ctx, insn, fp.S, "<")


def trans_fle_s(ctx, insn: Insn) -> None:
    fp.gen_compare(ctx, insn, fp.S, "<=")


def trans_fclass_s(ctx, insn: Insn) -> None:
    fp.gen_class(ctx, insn, fp.S)


def trans_fcvt_w_s(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.S, 32, signed=True)


def trans_fcvt_s_w(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.S, 32, signed=True)


def trans_fcvt_wu_s(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.S, 32, signed=False)


def trans_fcvt_s_wu(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.S, 32, signed=False)


def trans_fcvt_l_s(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.S, 64, signed=True)


def trans_fcvt_s_l(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.S, 64, signed=True)


def trans_fcvt_lu_s(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.S, 64, signed=False)


def trans_fcvt_s_lu(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.S, 64, signed=False)


def trans_fcvt_s_d(ctx, insn: Insn) -> None:
    fp.gen_convert(ctx, insn, fp.D, fp.S)


def trans_fmv_x_w(ctx, insn: Insn) -> None:
    e = ctx.e
    e.set_x(insn.rd, e.sext32(e.f_bits(insn.rs1)))


def trans_fmv_w_x(ctx, insn: Insn) -> None:
    e = ctx.e
    e.set_f_reg(insn.rd, e.b.or_(e.b.zext(e.low32(e.x(insn.rs1)), I64), e.c(NAN_BOX)))
