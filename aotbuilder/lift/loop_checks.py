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
from aotbuilder.cfg.loops import CountedLoop, Linear, StridedLoop
from aotbuilder.isa.insn import RM_RMM
from aotbuilder.lift.emitter import GUEST_PTR, I1, I8, I32, I64, Emitter

_WORD = (1 << 64) - 1
# Iterations the fast copy runs without polling before it passes the header again: a body of up
# to cfg/loops.py's MAX_INSTRUCTIONS keeps a signal waiting for at most a few million
# instructions.
CHUNK = 1 << 16
# Shorter runs take the fast copy: looking up their pages would cost about as much as it saves.
MIN_PLAIN_RUN = 8


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


def chunk_end(b: ir.IRBuilder, loop: CountedLoop, counter: ir.Value, last: ir.Value,
              chunk: int = CHUNK) -> tuple[ir.Value, ir.Value]:
    """(stop, whole) for a run of at most `chunk` iterations of the loop from `counter`, its last
    iteration `last`: the counter's value at the branch of the run's last iteration,
    min(last, chunk - 1), and whether that is the loop's last.  No earlier iteration's counter
    equals `stop`: they differ by |step| * j, with j < chunk <= CHUNK, and that is below 2^64."""
    whole = b.icmp_unsigned("<", last, _c(chunk))
    run = b.select(whole, last, _c(chunk - 1))
    return b.add(counter, b.mul(b.add(run, _c(1)), _c(loop.step))), whole


def plain_chunk(loop: CountedLoop) -> int:
    """Iterations per run of the plain copy, 0 for none (no access, or runs that would be too
    short): a run moves no base by more than a page, so each base's accesses touch at most two
    pages, and it is at least MIN_PLAIN_RUN long."""
    if not loop.accesses:
        return 0
    most = max(abs(loop.steps.get(a.base, 0)) for a in loop.accesses)
    chunk = CHUNK if most == 0 else min(CHUNK, abi.PAGE_SIZE // most)
    return chunk if chunk >= MIN_PLAIN_RUN else 0


def plain_check(e: Emitter, loop: CountedLoop, run: ir.Value) -> ir.Value:
    """Whether no access of the iterations 0..run can fault: for each base, its lowest and
    highest byte in the run lie below DIRECT_LIMIT at most one page apart, and the window's access
    map grants both pages the access (writable where a store is; x86 has no write-only pages)."""
    b = e.b
    groups: dict[tuple[int, int], list] = {}
    for a in loop.accesses:
        groups.setdefault((a.base, a.delta), []).append(a)
    ok: ir.Value = ir.Constant(I1, 1)
    for (base, delta), accesses in sorted(groups.items()):
        step = loop.steps.get(base, 0)
        start = b.add(e.x(base), _c(delta))
        moved = b.mul(run, _c(step))
        low = b.add(start, _c(min(a.offset for a in accesses)))
        high = b.add(start, _c(max(a.offset + a.size - 1 for a in accesses)))
        low, high = (b.add(low, moved), high) if step < 0 else (low, b.add(high, moved))
        low_page, high_page = b.lshr(low, _c(abi.PAGE_SHIFT)), b.lshr(high, _c(abi.PAGE_SHIFT))
        # An address that wrapped below zero makes the low page the higher: the difference is huge.
        near = b.and_(b.icmp_unsigned("<", high, _c(abi.DIRECT_LIMIT)),
                      b.icmp_unsigned("<=", b.sub(high_page, low_page), _c(1)))
        ok = b.and_(ok, near)
        access = ir.Constant(I8, 2 if any(a.store for a in accesses) else 1)
        for page in (low_page, high_page):
            # Outside the window the byte would lie outside the map: read page 0's instead.
            index = b.select(near, page, _c(0))
            byte = b.load(b.inttoptr(b.add(index, _c(abi.WINDOW_MAP_OFFSET)), GUEST_PTR), typ=I8)
            ok = b.and_(ok, b.icmp_unsigned("!=", b.and_(byte, access), ir.Constant(I8, 0)))
    return ok


def linear_value(e: Emitter, linear: Linear) -> ir.Value:
    """A Linear (cfg/loops.py) over the registers' current values."""
    terms, const = linear
    total = _c(const)
    for reg, coefficient in sorted(terms):
        total = e.b.add(total, e.b.mul(e.x(reg), _c(coefficient)) if coefficient != 1 else e.x(reg))
    return total


def window_check(e: Emitter, loop: StridedLoop) -> ir.Value:
    """Whether the first access of each of the loop's families, in the iteration about to start,
    is in the direct window; whether each range of addresses (cfg/loops.py) is, from its low end
    to its low end plus every bound's maximum (each maximum below the window's limit, so with
    cfg/loops.MAX_SHIFT the sum cannot wrap); and whether frm is below RMM if the loop rounds
    dynamically."""
    b = e.b
    limit = _c(abi.DIRECT_LIMIT)
    ok: ir.Value = ir.Constant(I1, 1)
    for start in loop.starts:
        ok = b.and_(ok, b.icmp_unsigned("<", linear_value(e, start), limit))
    for low, bounds in loop.ranges:
        high = linear_value(e, low)
        ok = b.and_(ok, b.icmp_unsigned("<", high, limit))
        for maximum, shift in bounds:
            most = linear_value(e, maximum)
            ok = b.and_(ok, b.icmp_unsigned("<", most, limit))
            high = b.add(high, b.shl(most, _c(shift)))
        ok = b.and_(ok, b.icmp_unsigned("<", high, limit))
    if loop.dynamic_rounding:
        ok = b.and_(ok, b.icmp_unsigned("<", e.frm(), ir.Constant(I32, RM_RMM)))
    return ok
