"""Zicsr: the user-level CSRs.  The FP CSRs live in the CPU state and are handled inline; the
counters come from the runtime; any other CSR, and writes to read-only ones, are illegal."""

from __future__ import annotations

from aotbuilder.isa import Insn

FFLAGS, FRM, FCSR = 0x001, 0x002, 0x003
COUNTERS = (0xC00, 0xC01, 0xC02)  # cycle, time, instret


# fcsr is split between the CPU state and the host's MXCSR (sticky flags, rounding mode), so the
# FP CSRs are read and written through the runtime as a whole (runtime/fpu.c).
_FIELD = {FFLAGS: (0, 0x1F), FRM: (5, 0x7), FCSR: (0, 0xFF)}  # shift and mask within fcsr


def _read(ctx, csr: int):
    e = ctx.e
    if csr in _FIELD:
        shift, mask = _FIELD[csr]
        fcsr = e.call_runtime("aot_fcsr_read")
        return e.b.and_(e.b.lshr(fcsr, e.c(shift)), e.c(mask))
    return e.call_runtime("aot_csr_read", e.c(csr, 32))


def _write(ctx, csr: int, old_fcsr, value) -> None:
    e = ctx.e
    shift, mask = _FIELD[csr]
    kept = e.b.and_(old_fcsr, e.c(~(mask << shift) & 0xFF))
    new = e.b.or_(kept, e.b.shl(e.b.and_(value, e.c(mask)), e.c(shift)))
    e.call_runtime("aot_fcsr_write", new)
    e.reload_frm()


def gen_csr(ctx, insn: Insn, op: str, source) -> None:
    """csrr{w,s,c}[i]: rd = old value; the CSR is written unless a set/clear has a zero source."""
    csr = insn.csr
    writes = op == "w" or source is not None
    if csr not in (FFLAGS, FRM, FCSR, *COUNTERS) or (csr in COUNTERS and writes):
        ctx.illegal()
        return
    e = ctx.e
    value = e.x(insn.rs1) if source == "reg" else e.c(insn.imm)
    if csr in _FIELD:
        fcsr = e.call_runtime("aot_fcsr_read")
        shift, mask = _FIELD[csr]
        old = e.b.and_(e.b.lshr(fcsr, e.c(shift)), e.c(mask))
    else:
        old = _read(ctx, csr)
    if writes:
        if op == "s":
            value = e.b.or_(old, value)
        elif op == "c":
            value = e.b.and_(old, e.b.not_(value))
        _write(ctx, csr, fcsr, value)
    e.set_x(insn.rd, old)


def _source(insn: Insn, immediate: bool):
    """None when a set/clear has x0 / zimm 0 as source (then the CSR is not written)."""
    if immediate:
        return "imm" if insn.imm else None
    return "reg" if insn.rs1 else None


def trans_csrrw(ctx, insn: Insn) -> None:
    gen_csr(ctx, insn, "w", "reg")


def trans_csrrs(ctx, insn: Insn) -> None:
    gen_csr(ctx, insn, "s", _source(insn, False))


def trans_csrrc(ctx, insn: Insn) -> None:
    gen_csr(ctx, insn, "c", _source(insn, False))


def trans_csrrwi(ctx, insn: Insn) -> None:
    gen_csr(ctx, insn, "w", "imm")


def trans_csrrsi(ctx, insn: Insn) -> None:
    gen_csr(ctx, insn, "s", _source(insn, True))


def trans_csrrci(ctx, insn: Insn) -> None:
    gen_csr(ctx, insn, "c", _source(insn, True))
