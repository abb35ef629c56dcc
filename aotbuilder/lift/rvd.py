"""RV64D: double-precision floating point (shapes in fp.py)."""

from __future__ import annotations

from aotbuilder.isa import Insn
from aotbuilder.lift import fp


def trans_fld(ctx, insn: Insn) -> None:
    fp.gen_load(ctx, insn, fp.D)


def trans_fsd(ctx, insn: Insn) -> None:
    fp.gen_store(ctx, insn, fp.D)


def trans_fadd_d(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.D, "fadd")


def trans_fsub_d(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.D, "fsub")


def trans_fmul_d(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.D, "fmul")


def trans_fdiv_d(ctx, insn: Insn) -> None:
    fp.gen_arith(ctx, insn, fp.D, "fdiv")


def trans_fsqrt_d(ctx, insn: Insn) -> None:
    fp.gen_sqrt(ctx, insn, fp.D)


def trans_fmadd_d(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.D, negate_product=False, negate_addend=False)


def trans_fmsub_d(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.D, negate_product=False, negate_addend=True)


def trans_fnmsub_d(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.D, negate_product=True, negate_addend=False)


def trans_fnmadd_d(ctx, insn: Insn) -> None:
    fp.gen_fma(ctx, insn, fp.D, negate_product=True, negate_addend=True)


def trans_fsgnj_d(ctx, insn: Insn) -> None:
    fp.gen_sign_inject(ctx, insn, fp.D, "")


def trans_fsgnjn_d(ctx, insn: Insn) -> None:
    fp.gen_sign_inject(ctx, insn, fp.D, "n")


def trans_fsgnjx_d(ctx, insn: Insn) -> None:
    fp.gen_sign_inject(ctx, insn, fp.D, "x")


def trans_fmin_d(ctx, insn: Insn) -> None:
    fp.gen_minmax(ctx, insn, fp.D, "min")


def trans_fmax_d(ctx, insn: Insn) -> None:
    fp.gen_minmax(ctx, insn, fp.D, "max")


def trans_feq_d(ctx, insn: Insn) -> None:
    fp.gen_compare(ctx, insn, fp.D, "==")


def trans_flt_d(ctx, insn: Insn) -> None:
    fp.gen_compare(ctx, insn, fp.D, "<")


def trans_fle_d(ctx, insn: Insn) -> None:
    fp.gen_compare(ctx, insn, fp.D, "<=")


def trans_fclass_d(ctx, insn: Insn) -> None:
    fp.gen_class(ctx, insn, fp.D)


def trans_fcvt_w_d(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.D, 32, signed=True)


def trans_fcvt_d_w(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.D, 32, signed=True)


def trans_fcvt_wu_d(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.D, 32, signed=False)


def trans_fcvt_d_wu(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.D, 32, signed=False)


def trans_fcvt_l_d(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.D, 64, signed=True)


def trans_fcvt_d_l(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.D, 64, signed=True)


def trans_fcvt_lu_d(ctx, insn: Insn) -> None:
    fp.gen_to_int(ctx, insn, fp.D, 64, signed=False)


def trans_fcvt_d_lu(ctx, insn: Insn) -> None:
    fp.gen_from_int(ctx, insn, fp.D, 64, signed=False)


def trans_fcvt_d_s(ctx, insn: Insn) -> None:
    fp.gen_convert(ctx, insn, fp.S, fp.D)


def trans_fmv_x_d(ctx, insn: Insn) -> None:
    ctx.e.set_x(insn.rd, ctx.e.f_bits(insn.rs1))


def trans_fmv_d_x(ctx, insn: Insn) -> None:
    ctx.e.set_f_reg(insn.rd, ctx.e.x(insn.rs1))
