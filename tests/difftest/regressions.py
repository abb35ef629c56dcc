"""Minimal cases of every bug the differential fuzzer found, replayed by tests/test_difftest.py.

Add the reproducer the runner prints (``Case(...)``) with a line saying what was wrong.  Bugs
found by the instruction vectors have their vectors in tests/insn_vectors.py instead.
"""

from __future__ import annotations

from difftest.generator import Case

_ZERO_MEMORY = bytes(256)

REGRESSIONS: dict[str, Case] = {
    # LR whose destination is its own address register: the SC then has no reservation and a
    # misaligned address; qemu fails it without checking alignment, Sail checks alignment first.
    # The generator keeps LR's rd apart from the base; this case checks the aligned path.
    "lr rd != base, sc succeeds": Case(
        x=[0] * 32, f=[0] * 32, fcsr=0, memory=bytes(range(256)),
        body=[["addi x9, sp, 48"], ["lr.d.aq x10, (x9)"], ["divuw x22, x17, x12"], ["sc.d x14, x5, (x9)"],
              ["ld x7, 157(sp)"]]),
    # clz/ctz/clzw/ctzw could not be lifted (the zero-is-poison flag was built as an i0 constant).
    "clz family lifts": Case(
        x=[0, 0, 0, 0x8000, 0, 1 << 63] + [0] * 26, f=[0] * 32, fcsr=0, memory=_ZERO_MEMORY,
        body=[["clz x6, x3"], ["ctz x7, x3"], ["clzw x8, x5"], ["ctzw x9, x3"], ["cpopw x10, x5"]]),
    # Not our bug: qemu 7.2 gave ctzw 1<<63 = 63 (the specification says 32); the fuzzer flagged it
    # until the oracle guest spelled ctzw as ctz(rs << 32) - 32 (runner._spelling).
    "ctzw with a zero low word": Case(
        x=[0, 0, 0, 0, 0, 1 << 63, 0xFFFFFFFF00000000] + [0] * 25, f=[0] * 32, fcsr=0, memory=_ZERO_MEMORY,
        body=[["ctzw x10, x5"], ["ctzw x6, x6"], ["ctzw x11, x0"], ["ctzw x12, x3"]]),
    # An FP result read by the next instruction in the other precision: arithmetic read the
    # double's uncanonicalised NaN (x86 keeps the input's payload), whose upper half can look like
    # a NaN-boxed single, where the canonical NaN reads as the canonical single NaN.
    "double NaN result read as a single": Case(
        x=[0] * 32, f=[0] * 24 + [0xFFFFFFFFE0CC7804, 0x43E0000000000000, 0xFFFFFFFFE0CC7804] + [0] * 5,
        fcsr=0, memory=_ZERO_MEMORY,
        body=[["fsqrt.d f1, f24"], ["fadd.s f2, f1, f1"], ["fmul.d f3, f25, f24"], ["feq.s x10, f3, f26"],
              ["fmul.s f4, f3, f26"]]),
}
