"""Shapes shared by the F and D extensions, parameterised by precision.

The FP model (docs/fp.md): arithmetic runs on the host's SSE unit through LLVM's constrained FP
intrinsics (dynamic rounding, strict exceptions), so MXCSR.RC does the rounding and MXCSR's sticky
flags accrue the guest's exception flags; the runtime keeps MXCSR.RC equal to frm and merges
MXCSR's flags into fflags on reads (runtime/fpu.c).  Where RISC-V and x86 differ the code here
does it the RISC-V way: every NaN result is the canonical NaN; FMIN/FMAX and conversions to
integers compute their results and flags explicitly; an operation whose rounding mode the
hardware does not hold right now (RMM, or a static mode other than frm) calls the exact software
implementation `aot_fp_soft`; reserved rounding modes, static or in frm, are illegal instructions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import llvmlite.ir as ir

from aotbuilder import abi
from aotbuilder.isa import Insn
from aotbuilder.isa.insn import RM_DYN, RM_RDN, RM_RESERVED, RM_RMM, RM_RNE, RM_RTZ, RM_RUP
from aotbuilder.lift.emitter import (
    CANONICAL_NAN32,
    CANONICAL_NAN64,
    F32,
    F64,
    I1,
    I32,
    I64,
    INF_BITS,
    INT_TYPES,
    NAN_BOX,
)
from aotbuilder.lift.plain_fp import ordinary

FLAG_NX, FLAG_UF, FLAG_OF, FLAG_DZ, FLAG_NV = 1, 2, 4, 8, 16
# Round-to-integral without the inexact exception, per static rounding mode (RMM goes to software).
_ROUND_INTEGRAL = {RM_RNE: "roundeven", RM_RTZ: "trunc", RM_RDN: "floor", RM_RUP: "ceil"}
_MD = ir.MetaDataType()


@dataclass(frozen=True)
class Precision:
    suffix: str
    ty: ir.Type
    bits: int
    canonical_nan: int
    soft_flag: int  # added to the aot_fp_soft operation code


S = Precision("f32", F32, 32, CANONICAL_NAN32, 0)
D = Precision("f64", F64, 64, CANONICAL_NAN64, abi.FP_SOFT_DOUBLE)


# -- registers -------------------------------------------------------------------------------------

def fget(ctx, p: Precision, i: int) -> ir.Value:
    """The exact register value (for operations that see a NaN's bits: sign injection)."""
    return ctx.e.f32(i) if p is S else ctx.e.f64(i)


def operand(ctx, p: Precision, i: int) -> ir.Value:
    """An operand whose NaN payload and sign cannot change the result or the flags (every
    operation here but sign injection): a quiet NaN of any bits acts as the canonical one."""
    return ctx.e.f32(i, any_nan=True) if p is S else ctx.e.f64(i, any_nan=True)


def fset(ctx, p: Precision, i: int, v: ir.Value) -> None:
    (ctx.e.set_f32 if p is S else ctx.e.set_f64)(i, v)


def reg_bits(ctx, p: Precision, v: ir.Value) -> ir.Value:
    """The 64-bit register value holding v (singles NaN-boxed)."""
    return ctx.e.b.bitcast(v, I64) if p is D else reg_value(ctx, p, v)


def reg_value(ctx, p: Precision, v: ir.Value) -> ir.Value:
    """The register value holding v: a double as it is, a single NaN-boxed in an i64."""
    e = ctx.e
    return v if p is D else e.b.or_(e.b.zext(e.b.bitcast(v, I32), I64), e.c(NAN_BOX))


def soft_operand(ctx, p: Precision, v: ir.Value) -> ir.Value:
    """An FP operand as aot_fp_soft takes it: its bits, zero-extended."""
    e = ctx.e
    return e.b.bitcast(v, I64) if p is D else e.b.zext(e.b.bitcast(v, I32), I64)


def _bits(ctx, p: Precision, v: ir.Value) -> ir.Value:
    return ctx.e.b.bitcast(v, INT_TYPES[p.bits])


def canonical(ctx, p: Precision, v: ir.Value) -> ir.Value:
    """v, or the canonical NaN if v is a NaN.  v is the result of a host operation, so never a
    signalling NaN: the quiet compare raises nothing (so LLVM may drop it when the result is
    unused, e.g. a register overwritten before anything reads it), and it keeps v in an FP
    register."""
    e = ctx.e
    nan = e.b.bitcast(e.c(p.canonical_nan, p.bits), p.ty)
    return e.b.select(fcmp(ctx, p, "uno", v, v, exceptions="ignore"), nan, v)


def or_flags(ctx, flags: ir.Value) -> None:
    """fflags |= flags (an i32): flags computed in software rather than by the host."""
    e = ctx.e
    e.set_cpu_u32("fflags", e.b.or_(e.cpu_u32("fflags"), flags))


# -- constrained (strict) FP operations --------------------------------------------------------------

def _strict(ctx) -> None:
    """Functions with FP arithmetic are strictfp: LLVM then neither reorders their FP operations
    across MXCSR accesses nor folds away exceptions.  (llvmlite does not know the attribute.)"""
    set.add(ctx.llfn.attributes, "strictfp")


def constrained(ctx, op: str, ret: ir.Type, args: list[ir.Value], suffix: str, rounding: bool = True,
                predicate: str | None = None, exceptions: str = "strict") -> ir.Value:
    """llvm.experimental.constrained.<op>.<suffix>: rounding per MXCSR, exceptions into its flags
    (`exceptions="ignore"` only where the operation cannot raise any).  In an FP plain copy
    (lift/plain_fp.py), the ordinary LLVM operation."""
    if ctx.plain_fp:
        return ordinary(ctx, op, ret, args, suffix, predicate)
    _strict(ctx)
    e = ctx.e
    name = f"llvm.experimental.constrained.{op}.{suffix}"
    md: list[ir.Value] = []
    if predicate is not None:
        md.append(ir.MetaDataString(e.module, predicate))
    if rounding:
        md.append(ir.MetaDataString(e.module, "round.dynamic"))
    md.append(ir.MetaDataString(e.module, f"fpexcept.{exceptions}"))
    fn = e.module.globals.get(name)
    if fn is None:
        fn = ir.Function(e.module, ir.FunctionType(ret, [a.type for a in args] + [_MD] * len(md)), name)
    return e.b.call(fn, [*args, *md])


def fcmp(ctx, p: Precision, cond: str, a: ir.Value, b: ir.Value, signalling: bool = False,
         exceptions: str = "strict") -> ir.Value:
    """A strict compare: quiet ones raise invalid only for signalling NaNs, signalling ones for any NaN."""
    return constrained(ctx, "fcmps" if signalling else "fcmp", I1, [a, b], rounding=False,
                       predicate=cond, suffix=p.suffix, exceptions=exceptions)


# -- rounding mode dispatch -------------------------------------------------------------------------

def valid_rm(ctx, insn: Insn) -> bool:
    """Reserved static rounding modes are illegal instructions."""
    if insn.rm in RM_RESERVED:
        ctx.illegal()
        return False
    return True


def _new_block(ctx, name: str) -> ir.Block:
    return ctx.llfn.append_basic_block(f"{name}.{ctx.offset:x}")


def illegal_dynamic_rm(ctx) -> None:
    """Trap for "dyn with a reserved mode in frm".

    One cold block per function (writing back the registers and trapping with the pc and word of
    whichever instruction came there) keeps the many rounding-mode checks small.  The pc the
    runtime returns goes straight back to the caller, as Lowering.trap does: the CPU state is
    the truth then."""
    e = ctx.e
    shared = getattr(ctx, "_fp_illegal", None)
    if shared is None:
        here = e.b.block
        block = ctx.llfn.append_basic_block("fp.illegal")
        e.b.position_at_end(block)
        offset, raw = e.b.phi(I64, "illegal.offset"), e.b.phi(I64, "illegal.word")
        e.set_cpu_u64("pc", e.b.add(e.self_pc, offset))
        e.store_written()
        e.returned(e.call_runtime("aot_trap", e.c(abi.CAUSE_ILLEGAL_INSTRUCTION, 32), raw))
        e.b.position_at_end(here)
        shared = ctx._fp_illegal = (block, offset, raw)
    block, offset, raw = shared
    offset.add_incoming(e.c(ctx.offset), e.b.block)
    raw.add_incoming(e.c(ctx.raw), e.b.block)
    e.b.branch(block)


def check_dynamic_rm(ctx, insn: Insn) -> None:
    """For an operation whose result does not depend on the rounding mode: dyn with a reserved
    mode in frm is still an illegal instruction."""
    if insn.rm != RM_DYN or ctx.frm_in_hardware:
        return
    e = ctx.e
    bad = e.b.icmp_unsigned(">", e.frm(), e.c(RM_RMM, 32))
    trap, cont = _new_block(ctx, "frm.bad"), _new_block(ctx, "frm.ok")
    known = e.known_values()
    e.cbranch_rare(bad, trap, cont)
    e.b.position_at_end(trap)
    illegal_dynamic_rm(ctx)
    e.continue_in(cont, known)


def rounded(ctx, insn: Insn, soft_op: int, soft_args: Callable[[], list[ir.Value]],
            hardware: Callable[[], ir.Value]) -> ir.Value | None:
    """The register value of a rounding operation.

    `hardware()` computes it on the host (MXCSR's mode = frm); when the instruction's mode is not
    the one MXCSR holds, `aot_fp_soft(soft_op)` computes it exactly in software instead.  Returns
    None when the instruction is statically illegal (the block is then terminated)."""
    if not valid_rm(ctx, insn):
        return None
    e = ctx.e
    op = e.c(soft_op, 32)

    def soft(rm: ir.Value) -> ir.Value:
        a, b, c = (soft_args() + [e.c(0)] * 3)[:3]
        return e.call_runtime("aot_fp_soft", op, rm, a, b, c)

    if insn.rm == RM_RMM:
        return soft(e.c(RM_RMM, 32))
    if insn.rm == RM_DYN and ctx.frm_in_hardware:
        return hardware()
    frm = e.frm()
    if insn.rm == RM_DYN:
        soft_cond = e.b.icmp_unsigned(">=", frm, e.c(RM_RMM, 32))
    else:
        soft_cond = e.b.icmp_unsigned("!=", frm, e.c(insn.rm, 32))
    fast, slow, done = _new_block(ctx, "fp.hw"), _new_block(ctx, "fp.soft"), _new_block(ctx, "fp.done")
    known = e.known_values()  # no path below writes a register: they all hold in `done` too
    e.cbranch_rare(soft_cond, slow, fast)
    e.continue_in(fast, known)
    hw_value = hardware()
    hw_end = e.b.block
    e.b.branch(done)
    e.b.position_at_end(slow)
    if insn.rm == RM_DYN:
        rmm, bad = _new_block(ctx, "fp.rmm"), _new_block(ctx, "fp.badrm")
        e.b.cbranch(e.b.icmp_unsigned("==", frm, e.c(RM_RMM, 32)), rmm, bad)
        e.b.position_at_end(bad)
        illegal_dynamic_rm(ctx)
        e.b.position_at_end(rmm)
        soft_value = soft(e.c(RM_RMM, 32))
    else:
        soft_value = soft(e.c(insn.rm, 32))
    if soft_value.type != hw_value.type:  # aot_fp_soft returns bits; hardware() may give a double
        soft_value = e.b.bitcast(soft_value, hw_value.type)
    soft_end = e.b.block
    e.b.branch(done)
    e.continue_in(done, known)
    phi = e.b.phi(hw_value.type)
    phi.add_incoming(hw_value, hw_end)
    phi.add_incoming(soft_value, soft_end)
    return phi


def _fp_result(ctx, insn: Insn, p: Precision, soft_op: str, operands: list[ir.Value],
               compute: Callable[[], ir.Value]) -> None:
    """rd = a rounded FP operation on `operands` (read already), canonical NaN on the hardware path;
    the uncanonicalised result is kept for the operations that read rd next (operand())."""
    hw: list[ir.Value] = []

    def hardware() -> ir.Value:
        r = compute()
        hw.extend((reg_value(ctx, p, canonical(ctx, p, r)), reg_value(ctx, p, r)))
        return hw[0]

    value = rounded(ctx, insn, abi.FP_SOFT[soft_op] | p.soft_flag, lambda: [soft_operand(ctx, p, v) for v in operands],
                    hardware)
    if value is None:
        return
    e = ctx.e
    if hw and value is hw[0]:  # frm known to be the host's mode: no dispatch
        e.set_f_reg(insn.rd, value)
        e.set_nan_payload_free(insn.rd, hw[1], p.bits)
        return
    if not (isinstance(value, ir.PhiInstr) and hw):
        e.set_f_reg(insn.rd, value)
        return
    raw = e.b.phi(value.type)  # before set_f_reg, which may add a bitcast after the phis
    for v, block in value.incomings:
        raw.add_incoming(hw[1] if v is hw[0] else v, block)
    e.set_f_reg(insn.rd, value)
    e.set_nan_payload_free(insn.rd, raw, p.bits)


# -- arithmetic --------------------------------------------------------------------------------------

_SOFT_ARITH = {"fadd": "ADD", "fsub": "SUB", "fmul": "MUL", "fdiv": "DIV"}


def gen_arith(ctx, insn: Insn, p: Precision, op: str) -> None:
    a, b = operand(ctx, p, insn.rs1), operand(ctx, p, insn.rs2)
    _fp_result(ctx, insn, p, _SOFT_ARITH[op], [a, b], lambda: constrained(ctx, op, p.ty, [a, b], p.suffix))


def gen_sqrt(ctx, insn: Insn, p: Precision) -> None:
    a = operand(ctx, p, insn.rs1)
    _fp_result(ctx, insn, p, "SQRT", [a], lambda: constrained(ctx, "sqrt", p.ty, [a], suffix=p.suffix))


_SOFT_FMA = {(False, False): "FMADD", (False, True): "FMSUB", (True, False): "FNMSUB", (True, True): "FNMADD"}


def gen_fma(ctx, insn: Insn, p: Precision, negate_product: bool, negate_addend: bool) -> None:
    """One rounding of ±(a×b)±c: the negations are exact, so fma(-a, b, -c) is FNMADD in every mode."""
    e = ctx.e
    a, b, c = (operand(ctx, p, r) for r in (insn.rs1, insn.rs2, insn.rs3))

    def hardware() -> ir.Value:
        x = e.b.fneg(a) if negate_product else a
        z = e.b.fneg(c) if negate_addend else c
        r = constrained(ctx, "fma", p.ty, [x, b, z], suffix=p.suffix)
        _fma_invalid_fixup(ctx, p, a, b, r)
        return r

    _fp_result(ctx, insn, p, _SOFT_FMA[(negate_product, negate_addend)], [a, b, c], hardware)


def _fma_invalid_fixup(ctx, p: Precision, a: ir.Value, b: ir.Value, r: ir.Value) -> None:
    """RISC-V raises invalid for ∞×0 even when the addend is a quiet NaN; x86 does not.  With a
    NaN addend or not, ∞×0 makes the result a NaN, and when the addend is not a NaN x86 raised
    invalid already: so fflags |= NV exactly when a×b is ∞×0.  The test is behind the (rare) NaN
    result, whose compare is the one its canonicalisation makes; an FP plain copy tests every
    time, as a branch in the loop would keep LLVM from vectorising it."""
    e = ctx.e
    if ctx.plain_fp and not ctx.inf_times_zero:
        return
    if not ctx.plain_fp:
        nan_result, cont = _new_block(ctx, "fma.nan"), _new_block(ctx, "fma.ok")
        pending = e.take_pending()  # the test reads and writes no register
        e.cbranch_rare(fcmp(ctx, p, "uno", r, r, exceptions="ignore"), nan_result, cont)
        e.b.position_at_end(nan_result)

    # On the magnitudes' bits A and B: with A 0 or ∞, A ^ B is ∞ exactly when B is the other
    # one; otherwise bit 0 is set, which ∞'s pattern has clear.  One compare per lane, so a
    # vectorised loop keeps the test in 64-bit lanes.
    inf = e.c(INF_BITS[p.bits], p.bits)
    mixed = e.b.or_(e.b.xor(e.magnitude(_bits(ctx, p, a)), e.magnitude(_bits(ctx, p, b))),
                    e.b.select(zero_or_infinite(ctx, p, a), e.c(0, p.bits), e.c(1, p.bits)))
    inf_zero = e.b.icmp_unsigned("==", mixed, inf)
    if ctx.plain_fp:  # gathered in an i64 (Emitter.invalid_slot): a vectorised loop keeps 64-bit lanes
        e.b.store(e.b.or_(e.b.load(e.invalid_slot, typ=I64), e.b.zext(inf_zero, I64)), e.invalid_slot)
        return
    or_flags(ctx, e.b.select(inf_zero, e.c(FLAG_NV, 32), e.c(0, 32)))
    e.b.branch(cont)
    e.resume_pending(cont, pending)


def zero_or_infinite(ctx, p: Precision, v: ir.Value) -> ir.Value:
    """Whether v is ±0 or ±∞ (a test on its bits: it raises nothing)."""
    e = ctx.e
    magnitude = e.magnitude(_bits(ctx, p, v))
    return e.b.or_(e.b.icmp_unsigned("==", magnitude, e.c(0, p.bits)),
                   e.b.icmp_unsigned("==", magnitude, e.c(INF_BITS[p.bits], p.bits)))


def any_zero_or_infinite(ctx, registers: list[tuple[int, str]]) -> ir.Value:
    """Whether one of the FP registers (number, precision "s" or "d") holds ±0 or ±∞."""
    e = ctx.e
    found: ir.Value = ir.Constant(I1, 0)
    for reg, precision in registers:
        p = S if precision == "s" else D
        found = e.b.or_(found, zero_or_infinite(ctx, p, operand(ctx, p, reg)))
    return found


# -- sign injection, min/max, compares, class (exact: no rounding) -----------------------------------

def gen_sign_inject(ctx, insn: Insn, p: Precision, mode: str) -> None:
    """fsgnj/fsgnjn/fsgnjx: bit operations, done as LLVM's fneg and copysign where they fit, so
    the value stays in an FP register (fneg.d is a single xorpd)."""
    e = ctx.e
    a = fget(ctx, p, insn.rs1)
    if mode == "x":
        ity = INT_TYPES[p.bits]
        sign = e.c(1 << (p.bits - 1), p.bits)
        r = e.b.xor(e.b.bitcast(a, ity), e.b.and_(e.b.bitcast(fget(ctx, p, insn.rs2), ity), sign))
        fset(ctx, p, insn.rd, e.b.bitcast(r, p.ty))
        return
    if insn.rs1 == insn.rs2:  # fmv and fneg
        fset(ctx, p, insn.rd, a if mode == "" else e.b.fneg(a))
        return
    b = fget(ctx, p, insn.rs2)
    fset(ctx, p, insn.rd, e.intrinsic_call(f"llvm.copysign.{p.suffix}", [p.ty, p.ty],
                                           [a, e.b.fneg(b) if mode == "n" else b]))


def gen_minmax(ctx, insn: Insn, p: Precision, op: str) -> None:
    """IEEE 754-2019 minimumNumber/maximumNumber: a NaN operand yields the other one (both: the
    canonical NaN), -0 < +0, and only signalling NaNs raise invalid (the quiet compares do that)."""
    e = ctx.e
    a, b = operand(ctx, p, insn.rs1), operand(ctx, p, insn.rs2)
    ia, ib = _bits(ctx, p, a), _bits(ctx, p, b)
    less = fcmp(ctx, p, "olt" if op == "min" else "ogt", a, b)
    equal = fcmp(ctx, p, "oeq", a, b)
    # Equal operands differ at most in the sign of zero: OR of the bits picks -0, AND picks +0.
    tie = e.b.or_(ia, ib) if op == "min" else e.b.and_(ia, ib)
    r = e.b.select(less, ia, e.b.select(equal, tie, ib))
    nan_a, nan_b = e.is_nan_bits(ia), e.is_nan_bits(ib)
    r = e.b.select(nan_b, ia, r)
    r = e.b.select(nan_a, ib, r)
    r = e.b.select(e.b.and_(nan_a, nan_b), e.c(p.canonical_nan, p.bits), r)
    fset(ctx, p, insn.rd, e.b.bitcast(r, p.ty))


def gen_compare(ctx, insn: Insn, p: Precision, cond: str) -> None:
    """FEQ is a quiet compare (invalid only for signalling NaNs); FLT and FLE signal on any NaN."""
    e = ctx.e
    pred = {"==": "oeq", "<": "olt", "<=": "ole"}[cond]
    r = fcmp(ctx, p, pred, operand(ctx, p, insn.rs1), operand(ctx, p, insn.rs2), signalling=cond != "==")
    e.set_x(insn.rd, e.b.zext(r, I64))


def gen_class(ctx, insn: Insn, p: Precision) -> None:
    """FCLASS: a one-hot mask of the operand's class (spec table 'Format of result of FCLASS')."""
    e = ctx.e
    b = e.b
    ity = INT_TYPES[p.bits]
    exp_bits = 8 if p is S else 11
    mant_bits = p.bits - 1 - exp_bits
    bits = b.bitcast(operand(ctx, p, insn.rs1), ity)
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


# -- conversions ---------------------------------------------------------------------------------------

_SOFT_TO_INT = {(32, True): "CVT_W_F", (32, False): "CVT_WU_F", (64, True): "CVT_L_F", (64, False): "CVT_LU_F"}
_SOFT_FROM_INT = {(32, True): "CVT_F_W", (32, False): "CVT_F_WU", (64, True): "CVT_F_L", (64, False): "CVT_F_LU"}


def gen_to_int(ctx, insn: Insn, p: Precision, bits: int, signed: bool) -> None:
    """FCVT.{W,WU,L,LU}: round to an integral value, then saturate (NaN gives the maximum).

    x86's conversions return one "integer indefinite" value and have no unsigned forms, so the
    result and the flags (NV out of range or NaN, else NX when inexact) are computed here; the
    rounding to integral raises nothing but invalid for signalling NaNs, which is NV anyway."""
    if not valid_rm(ctx, insn):
        return
    e = ctx.e
    v = fget(ctx, p, insn.rs1)

    def hardware(rm: int) -> ir.Value:
        if rm == RM_DYN:
            r = constrained(ctx, "nearbyint", p.ty, [v], suffix=p.suffix)
        else:
            r = constrained(ctx, _ROUND_INTEGRAL[rm], p.ty, [v], rounding=False, suffix=p.suffix)
        lo = -(2.0 ** (bits - 1)) if signed else 0.0
        hi = 2.0 ** (bits - 1) if signed else 2.0 ** bits
        in_range = e.b.and_(fcmp(ctx, p, "oge", r, ir.Constant(p.ty, lo)),
                            fcmp(ctx, p, "olt", r, ir.Constant(p.ty, hi)))
        safe = e.b.select(in_range, r, ir.Constant(p.ty, 0.0))
        ity = INT_TYPES[bits]
        converted = constrained(ctx, "fptosi" if signed else "fptoui", ity, [safe], rounding=False,
                                suffix=f"i{bits}.{p.suffix}")
        largest = e.c((1 << (bits - 1)) - 1 if signed else (1 << bits) - 1, bits)
        smallest = e.c(-(1 << (bits - 1)) if signed else 0, bits)
        negative = e.b.icmp_signed("<", _bits(ctx, p, v), e.c(0, p.bits))
        positive_or_nan = e.b.or_(e.b.not_(negative), e.is_nan_bits(_bits(ctx, p, v)))
        saturated = e.b.select(positive_or_nan, largest, smallest)
        result = e.b.select(in_range, converted, saturated)
        inexact = e.b.and_(in_range, fcmp(ctx, p, "une", r, v))
        flags = e.b.select(in_range, e.b.zext(inexact, I32), e.c(FLAG_NV, 32))
        or_flags(ctx, flags)
        return e.extend(result, 64, signed=True)

    op = e.c(abi.FP_SOFT[_SOFT_TO_INT[(bits, signed)]] | p.soft_flag, 32)
    arg = soft_operand(ctx, p, v)
    if insn.rm == RM_RMM:
        value = e.call_runtime("aot_fp_soft", op, e.c(RM_RMM, 32), arg, e.c(0), e.c(0))
    elif insn.rm != RM_DYN:
        value = hardware(insn.rm)
    elif ctx.frm_in_hardware:
        value = hardware(RM_DYN)
    else:
        frm = e.frm()
        fast, slow, done = _new_block(ctx, "cvt.hw"), _new_block(ctx, "cvt.rmm"), _new_block(ctx, "cvt.done")
        bad = _new_block(ctx, "cvt.badrm")
        known = e.known_values()  # no path below writes a register
        e.cbranch_rare(e.b.icmp_unsigned(">=", frm, e.c(RM_RMM, 32)), slow, fast)
        e.b.position_at_end(slow)
        rmm = _new_block(ctx, "cvt.soft")
        e.b.cbranch(e.b.icmp_unsigned("==", frm, e.c(RM_RMM, 32)), rmm, bad)
        e.b.position_at_end(bad)
        illegal_dynamic_rm(ctx)
        e.b.position_at_end(rmm)
        soft_value = e.call_runtime("aot_fp_soft", op, e.c(RM_RMM, 32), arg, e.c(0), e.c(0))
        e.b.branch(done)
        e.b.position_at_end(fast)
        hw_value = hardware(RM_DYN)
        hw_end = e.b.block
        e.b.branch(done)
        e.continue_in(done, known)
        value = e.b.phi(I64)
        value.add_incoming(hw_value, hw_end)
        value.add_incoming(soft_value, rmm)
    e.set_x(insn.rd, value)


def gen_from_int(ctx, insn: Insn, p: Precision, bits: int, signed: bool) -> None:
    e = ctx.e
    x = e.x(insn.rs1)
    v = e.extend(x, bits, signed=False)

    def hardware() -> ir.Value:
        return reg_bits(ctx, p, constrained(ctx, "sitofp" if signed else "uitofp", p.ty, [v],
                                            suffix=f"{p.suffix}.i{bits}"))

    if bits == 32 and p is D:  # exact: the rounding mode cannot matter
        if valid_rm(ctx, insn):
            check_dynamic_rm(ctx, insn)
            e.set_f_reg(insn.rd, hardware())
        return
    op = abi.FP_SOFT[_SOFT_FROM_INT[(bits, signed)]] | p.soft_flag
    value = rounded(ctx, insn, op, lambda: [x], hardware)
    if value is not None:
        e.set_f_reg(insn.rd, value)


def gen_convert(ctx, insn: Insn, src: Precision, dst: Precision) -> None:
    e = ctx.e
    v = fget(ctx, src, insn.rs1)
    if dst.bits > src.bits:  # widening is exact
        if valid_rm(ctx, insn):
            check_dynamic_rm(ctx, insn)
            r = constrained(ctx, "fpext", dst.ty, [v], rounding=False, suffix=f"{dst.suffix}.{src.suffix}")
            fset(ctx, dst, insn.rd, canonical(ctx, dst, r))
        return
    value = rounded(ctx, insn, abi.FP_SOFT["CVT_S_D"], lambda: [soft_operand(ctx, src, v)],
                    lambda: reg_bits(ctx, dst, canonical(ctx, dst, constrained(
                        ctx, "fptrunc", dst.ty, [v], suffix=f"{dst.suffix}.{src.suffix}"))))
    if value is not None:
        e.set_f_reg(insn.rd, value)


# -- loads and stores -------------------------------------------------------------------------------------

def gen_load(ctx, insn: Insn, p: Precision) -> None:
    """A double goes straight into an FP register when rd lives as a double, else through a
    general one (the register's bits)."""
    e = ctx.e
    as_double = p is D and e.f_is_double(insn.rd)
    v = e.load(*ctx.memory_operand(insn), p.bits // 8, False, ctx.pc_value(), double=as_double)
    if p is S:
        fset(ctx, p, insn.rd, e.b.bitcast(e.b.trunc(v, I32), F32))
    else:
        e.set_f_reg(insn.rd, v)


def gen_store(ctx, insn: Insn, p: Precision) -> None:
    e = ctx.e
    if p is D and e.f_is_double(insn.rs2):
        value = e.f64(insn.rs2)
    else:
        raw = e.f_bits(insn.rs2)
        value = e.b.trunc(raw, I32) if p is S else raw
    e.store(*ctx.memory_operand(insn), value, p.bits // 8, ctx.pc_value())
