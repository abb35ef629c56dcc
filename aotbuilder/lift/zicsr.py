"""Zicsr: the user-level CSRs.  The FP CSRs live in the CPU state and are handled inline; the
counters come from the runtime; any other CSR, and writes to read-only ones, are illegal."""

from __future__ import annotations

from aotbuilder.isa import Insn
from aotbuilder.lift.emitter import I32, I64

FFLAGS, FRM, FCSR = 0x001, 0x002, 0x003
COUNTERS = (0xC00, 0xC01, 0xC02)  # cycle, time, instret


def _read(ctx, csr: int):
    e = ctx.e
    if csr == FFLAGS:
        return e.b.zext(e.cpu_u32("fflags"), I64)
    if csr == FRM:
        return e.b.zext(e.cpu_u32("frm"), I64)
    if csr == FCSR:
        fcsr = e.b.or_(e.b.shl(e.cpu_u32("frm"), e.c(5, 32)), e.cpu_u32("fflags"))
        return e.b.zext(fcsr, I64)
    return e.call_runtime("aot_csr_read", e.c(csr, 32))


def _write(ctx, csr: int, value) -> None:
    e = ctx.e
    low = e.b.trunc(value, I32)
    if csr in (FFLAGS, FCSR):
        e.set_cpu_u32("fflags", e.b.and_(low, e.c(0x1F, 32)))
    if csr == FRM:
        e.set_cpu_u32("frm", e.b.and_(low, e.c(7, 32)))
    if csr == FCSR:
        e.set_cpu_u32("frm", e.b.and_(e.b.lshr(low, e.c(5, 32)), e.c(7, 32)))


def gen_csr(ctx, insn: Insn, op: str, source) -> None:
    """csrr{w,s,c}[i]: rd = old value; the CSR is written unless a set/clear has a zero source."""
    csr = insn.csr
    writes = op == "w" or source is not None
    if csr not in (FFLAGS, FRM, FCSR, *COUNTERS) or (csr in COUNTERS and writes):
        ctx.illegal()
        return
    e = ctx.e
    old = _read(ctx, csr)
    if writes:
        value = e.x(insn.rs1) if source == "reg" else e.c(insn.imm)
        if op == "s":
            value = e.b.or_(old, value)
        elif op == "c":
            value = e.b.and_(old, e.b.not_(value))
        _write(ctx, csr, value)
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
