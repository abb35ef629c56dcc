"""The entry checks of the loops lower.py versions (cfg/loops.py), which choose between the fast
copy and the checked one.  A counted loop's: from the registers on entry, the loop's iteration
count, and whether every base the loop's accesses use stays in the direct window in every
iteration.  It must never hold when a base would leave the window: the fast copy's accesses go
to %gs:base unchecked, and beyond the window lies host memory.  A strided loop's: whether each
family's first access is in the window (the guard pages catch the rest), and each range of
addresses whole."""

from __future__ import annotations

import llvmlite.ir as ir

from aotbuilder import abi
from aotbuilder.cfg.loops import CountedLoop, StridedLoop
from aotbuilder.isa.insn import RM_RMM
from aotbuilder.lift.emitter import I1, I32, I64, Emitter

_WORD = (1 << 64) - 1
# Iterations the fast copy runs without polling before it passes the header again: a body of up
# to cfg/loops.py's MAX_INSTRUCTIONS keeps a signal waiting for at most a few million
# instructions.
CHUNK = 1 << 16


def _c(value: int) -> ir.Constant:
    return ir.Constant(I64, value & _WORD)


def last_iteration(b: ir.IRBuilder, loop: CountedLoop, counter: ir.Value, bound: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(known, k) from the counter's and the bound's values on entry: whether the iteration count
    follows from them, and the number k of the iteration (from 0) whose branch falls through.
    The counter is v + s * i at the branch of iteration i, v = counter + s (s a power of two,
    stepping towards the bound).  For `ne`, k = (bound - v) / s when s divides it.  For `lt`,
    k = 0 if v >= bound, else ceil((bound - v) / s), provided the counter cannot wrap before it
    passes the bound (bound <= MAX + 1 - s); `le` is `lt` with bound + 1, and `gt` and `ge` are
    `lt` and `le` on the complements (~x reverses both orders without overflow)."""
    step = loop.step
    v = b.add(counter, _c(step))
    if loop.relation == "ne":
        distance = b.sub(bound, v) if step > 0 else b.sub(v, bound)
        known = b.icmp_unsigned("==", b.and_(distance, _c(abs(step) - 1)), _c(0))
        return known, b.lshr(distance, _c(abs(step).bit_length() - 1))
    if loop.relation in ("gt", "ge"):
        v, bound, step = b.not_(v), b.not_(bound), -step
    less = b.icmp_signed if loop.signed else b.icmp_unsigned
    top = (1 << 63) - 1 if loop.signed else _WORD
    known: ir.Value = ir.Constant(I1, 1)
    if loop.relation in ("le", "ge"):
        known = b.icmp_unsigned("!=", bound, _c(top))
        bound = b.add(bound, _c(1))
    known = b.and_(known, less("<=", bound, _c(top + 1 - step)))
    steps = b.add(b.lshr(b.sub(b.sub(bound, v), _c(1)), _c(step.bit_length() - 1)), _c(1))
    return known, b.select(less("<", v, bound), steps, _c(0))


def entry_check(e: Emitter, loop: CountedLoop) -> tuple[ir.Value, ir.Value]:
    """(ok, k): whether, for the loop's iterations from the registers now, every base in
    loop.accesses is below abi.DIRECT_LIMIT at its access, and frm is below RMM if the loop rounds
    dynamically; and the last iteration k (last_iteration, meaningful when ok).  A base r
    stepping s is r + delta + s * i in iteration i <= k, so it stays between its first and its
    last value."""
    b = e.b
    ok, last = last_iteration(b, loop, e.x(loop.counter), e.x(loop.bound))
    # At most DIRECT_LIMIT / |step| iterations (more leave the window anyway): then no base's last
    # value, with its step up to cfg/loops.py's MAX_STEP, overflows.
    ok = b.and_(ok, b.icmp_unsigned("<=", last, _c(abi.DIRECT_LIMIT >> (abs(loop.step).bit_length() - 1))))
    for base, delta in sorted({(a.base, a.delta) for a in loop.accesses}):
        first = b.add(e.x(base), _c(delta))
        ok = b.and_(ok, b.icmp_unsigned("<", first, _c(abi.DIRECT_LIMIT)))
        if base in loop.steps:
            final = b.add(first, b.mul(last, _c(loop.steps[base])))
            ok = b.and_(ok, b.icmp_unsigned("<", final, _c(abi.DIRECT_LIMIT)))
    if loop.dynamic_rounding:
        ok = b.and_(ok, b.icmp_unsigned("<", e.frm(), ir.Constant(I32, RM_RMM)))
    return ok, last


def chunk_end(b: ir.IRBuilder, loop: CountedLoop, counter: ir.Value, last: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(stop, whole) for a fast run of the loop from `counter`, its last iteration `last`: the
    counter's value at the branch of the run's last iteration, min(last, CHUNK - 1), and whether
    that is the loop's last.  No earlier iteration's counter equals `stop`: they differ by
    |step| * j, with j < CHUNK, and that is below 2^64."""
    whole = b.icmp_unsigned("<", last, _c(CHUNK))
    run = b.select(whole, last, _c(CHUNK - 1))
    return b.add(counter, b.mul(b.add(run, _c(1)), _c(loop.step))), whole


def window_check(e: Emitter, loop: StridedLoop) -> ir.Value:
    """Whether the first access of each of the loop's families, in the iteration about to start,
    is in the direct window; whether each range of addresses (cfg/loops.py) is, from its low end
    to its low end plus every bound's maximum (each maximum below the window's limit, so with
    cfg/loops.MAX_SHIFT the sum cannot wrap); and whether frm is below RMM if the loop rounds
    dynamically."""
    b = e.b
    limit = _c(abi.DIRECT_LIMIT)

    def value(linear) -> ir.Value:
        terms, const = linear
        total = _c(const)
        for reg, coefficient in sorted(terms):
            total = b.add(total, b.mul(e.x(reg), _c(coefficient)) if coefficient != 1 else e.x(reg))
        return total

    ok: ir.Value = ir.Constant(I1, 1)
    for start in loop.starts:
        ok = b.and_(ok, b.icmp_unsigned("<", value(start), limit))
    for low, bounds in loop.ranges:
        high = value(low)
        ok = b.and_(ok, b.icmp_unsigned("<", high, limit))
        for maximum, shift in bounds:
            most = value(maximum)
            ok = b.and_(ok, b.icmp_unsigned("<", most, limit))
            high = b.add(high, b.shl(most, _c(shift)))
        ok = b.and_(ok, b.icmp_unsigned("<", high, limit))
    if loop.dynamic_rounding:
        ok = b.and_(ok, b.icmp_unsigned("<", e.frm(), ir.Constant(I32, RM_RMM)))
    return ok
