"""RV64A: LR/SC and AMOs, mapped to host atomics.

Every AMO is sequentially consistent on the host, which honours any aq/rl combination.  SC succeeds
when the reservation is for the same address and memory still holds the value LR saw (compare and
exchange): a store by another hart in between makes it fail, as on hardware."""

from __future__ import annotations

from aotbuilder.isa import Insn
from aotbuilder.lift.emitter import I64, INT_TYPES

READ, WRITE = 1, 2


def _address(ctx, insn: Insn):
    return ctx.e.x(insn.rs1)


def gen_lr(ctx, insn: Insn, size: int) -> None:
    e = ctx.e
    addr = _address(ctx, insn)
    host = e.host_addr(addr, size, READ, ctx.pc_value())
    value = e.b.load_atomic(host, "seq_cst", size, typ=INT_TYPES[size * 8])
    e.set_cpu_u64("res_addr", addr)
    e.set_cpu_u64("res_val", e.extend(value, 64, signed=False))
    e.set_x(insn.rd, e.extend(value, 64, signed=True))


def gen_sc(ctx, insn: Insn, size: int) -> None:
    e = ctx.e
    ty = INT_TYPES[size * 8]
    addr = _address(ctx, insn)
    host = e.host_addr(addr, size, READ | WRITE, ctx.pc_value())
    reserved = e.b.icmp_unsigned("==", e.cpu_u64("res_addr"), addr)
    before = e.b.block
    with e.b.if_then(reserved):
        expected = e.b.trunc(e.cpu_u64("res_val"), ty) if size < 8 else e.cpu_u64("res_val")
        new = e.extend(e.x(insn.rs2), size * 8, signed=False)
        pair = e.b.cmpxchg(host, expected, new, "seq_cst", "seq_cst")
        failed = e.b.zext(e.b.not_(e.b.extract_value(pair, 1)), I64)
        tried = e.b.block
    result = e.b.phi(I64)
    result.add_incoming(e.c(1), before)
    result.add_incoming(failed, tried)
    e.set_cpu_u64("res_addr", e.c(-1))
    e.set_x(insn.rd, result)


def gen_amo(ctx, insn: Insn, size: int, op: str) -> None:
    e = ctx.e
    addr = _address(ctx, insn)
    host = e.host_addr(addr, size, READ | WRITE, ctx.pc_value())
    value = e.extend(e.x(insn.rs2), size * 8, signed=False)
    old = e.b.atomic_rmw(op, host, value, "seq_cst")
    e.set_x(insn.rd, e.extend(old, 64, signed=True))


def trans_lr_w(ctx, insn: Insn) -> None:
    gen_lr(ctx, insn, 4)


def trans_lr_d(ctx, insn: Insn) -> None:
    gen_lr(ctx, insn, 8)


def trans_sc_w(ctx, insn: Insn) -> None:
    gen_sc(ctx, insn, 4)


def trans_sc_d(ctx, insn: Insn) -> None:
    gen_sc(ctx, insn, 8)


def trans_amoswap_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "xchg")


def trans_amoadd_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "add")


def trans_amoxor_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "xor")


def trans_amoand_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "and")


def trans_amoor_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "or")


def trans_amomin_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "min")


def trans_amomax_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "max")


def trans_amominu_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "umin")


def trans_amomaxu_w(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 4, "umax")


def trans_amoswap_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "xchg")


def trans_amoadd_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "add")


def trans_amoxor_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "xor")


def trans_amoand_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "and")


def trans_amoor_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "or")


def trans_amomin_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "min")


def trans_amomax_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "max")


def trans_amominu_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "umin")


def trans_amomaxu_d(ctx, insn: Insn) -> None:
    gen_amo(ctx, insn, 8, "umax")
