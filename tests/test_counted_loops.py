"""The entry check of counted loops (lift/counted.py), run on the host through LLVM's JIT against
a step-by-step simulation of the guest loop: when the check holds, the loop ends in the
iteration it computed and every access base stays below the direct window's limit in every
iteration.  A check that held wrongly would let the fast copy's unchecked %gs accesses reach host
memory beyond the window."""

from __future__ import annotations

import ctypes
import random

import llvmlite.binding as llvm
import llvmlite.ir as ir
import pytest

from aotbuilder import abi
from aotbuilder.backend.codegen import TRIPLE, CodegenOptions, target_machine
from aotbuilder.cfg.loops import Access, CountedLoop
from aotbuilder.lift.counted import entry_check, last_iteration
from aotbuilder.lift.emitter import FN_TYPE, I64, SELF_PC, Emitter, RegisterUse

MASK = (1 << 64) - 1
COUNTER, BOUND, BASE_UP, BASE_DOWN, FIXED = 10, 11, 12, 13, 14
RELATIONS = [("ne", False), ("lt", True), ("lt", False), ("le", True), ("le", False), ("gt", True), ("gt", False),
             ("ge", True), ("ge", False)]
SIMULATED = 3000  # iterations the simulation follows


def _signed(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def _goes_round(relation: str, signed: bool, counter: int, bound: int) -> bool:
    a, b = (_signed(counter), _signed(bound)) if signed else (counter, bound)
    return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[relation]


def _simulate(loop: CountedLoop, regs: dict[int, int]) -> tuple[int | None, list[int]]:
    """The guest loop, one iteration at a time: (the iteration whose branch falls through, or
    None after SIMULATED iterations; the values the access bases take)."""
    regs = dict(regs)
    bases = []
    for i in range(SIMULATED):
        for access in loop.accesses:
            bases.append((regs[access.base] + access.delta) & MASK)
        for reg, step in loop.steps.items():
            regs[reg] = (regs[reg] + step) & MASK
        if not _goes_round(loop.relation, loop.signed, regs[loop.counter], regs[loop.bound]):
            return i, bases
    return None, bases


def _loop(relation: str, signed: bool, step: int, accesses: bool) -> CountedLoop:
    steps = {COUNTER: step}
    found: tuple[Access, ...] = ()
    if accesses:
        steps |= {BASE_UP: 8, BASE_DOWN: -4096}
        found = (Access(0, BASE_UP, 0), Access(4, BASE_DOWN, -2048), Access(8, FIXED, 0), Access(12, COUNTER, 0))
    return CountedLoop(0, COUNTER, BOUND, relation, signed, steps, found, False)


@pytest.fixture(scope="module")
def engine():
    target_machine(CodegenOptions())  # initialises the native target
    # An Emitter names its function's own guest pc by a link-time symbol; the check never reads
    # it, but the JIT must resolve it: any address does.
    llvm.add_symbol(SELF_PC, ctypes.addressof(ctypes.c_char.in_dll(ctypes.CDLL(None), "environ")))
    backing = llvm.parse_assembly("")
    backing.triple = TRIPLE
    return llvm.create_mcjit_compiler(backing, llvm.Target.from_default_triple().create_target_machine())


def _interesting(rng: random.Random) -> int:
    return rng.choice([0, 1, 2, 7, 8, 4096, 1 << 38, (1 << 38) - 8, (1 << 63) - 9, 1 << 63, (1 << 63) + 3,
                       MASK - 5, MASK, rng.getrandbits(64), rng.getrandbits(40)]) + rng.randrange(-16, 16)


def _cases(rng: random.Random, count: int):
    """Loops whose distance from counter to bound is a small multiple of the step plus a little
    (most end after a few hundred iterations, some never), with edge values around them."""
    for _ in range(count):
        relation, signed = rng.choice(RELATIONS)
        step = rng.choice([1, 2, 4, 8, 16, 2048]) * (1 if relation in ("lt", "le") else -1 if relation in ("gt", "ge")
                                                    else rng.choice([1, -1]))
        counter = _interesting(rng) & MASK
        bound = (counter + step * rng.randrange(-3, 1200) + rng.choice([0, 0, 0, 1, -1, 3])) & MASK
        if rng.random() < 0.1:
            bound = _interesting(rng) & MASK
        yield relation, signed, step, counter, bound


def test_the_last_iteration_is_the_one_the_loop_ends_in(engine):
    module = ir.Module(name="t")
    module.triple = TRIPLE
    rng = random.Random(20261130)
    cases = list(_cases(rng, 4000))
    # Bounds at the ends of both orders, where `le` and `ge` can never fail and `lt` counters wrap.
    edges = (0, 1, (1 << 63) - 1, 1 << 63, MASK)
    for relation, signed in RELATIONS:
        for step in (1, 8, -1, -8):
            if (relation in ("lt", "le") and step < 0) or (relation in ("gt", "ge") and step > 0):
                continue
            cases += [(relation, signed, step, (bound + d) & MASK, bound) for bound in edges
                      for d in (-20, -9, -1, 0, 3)]
    names = {}
    for relation, signed in RELATIONS:
        for step in (1, 2, 4, 8, 16, 2048, -1, -2, -4, -8, -16, -2048):
            if (relation in ("lt", "le") and step < 0) or (relation in ("gt", "ge") and step > 0):
                continue
            name = f"k_{relation}_{int(signed)}_{step}".replace("-", "m")
            fn = ir.Function(module, ir.FunctionType(I64, [I64, I64, ir.PointerType()]), name)
            b = ir.IRBuilder(fn.append_basic_block())
            known, last = last_iteration(b, _loop(relation, signed, step, False), fn.args[0], fn.args[1])
            b.store(last, fn.args[2])
            b.ret(b.zext(known, I64))
            names[(relation, signed, step)] = name
    engine.add_module(llvm.parse_assembly(str(module)))
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p)
    functions = {key: proto(engine.get_function_address(name)) for key, name in names.items()}
    known_count = 0
    for relation, signed, step, counter, bound in cases:
        loop = _loop(relation, signed, step, False)
        last = ctypes.c_uint64()
        known = functions[(relation, signed, step)](counter, bound, ctypes.addressof(last))
        ends, _ = _simulate(loop, {COUNTER: counter, BOUND: bound})
        case = (relation, signed, step, hex(counter), hex(bound))
        if known:
            known_count += 1
            if last.value < SIMULATED:
                assert ends == last.value, case
            else:  # a long loop: it has not ended yet, and it ends where the count says
                assert ends is None, case
                at = (counter + step * last.value) & MASK
                after = (at + step) & MASK
                assert _goes_round(relation, signed, at, bound), case
                assert not _goes_round(relation, signed, after, bound), case
        elif ends is not None and relation == "ne":
            assert (bound - counter - step) % abs(step), case  # only an inexact distance is unknown
    assert known_count > len(cases) // 2


def test_the_entry_check_holds_only_when_every_base_stays_in_the_window(engine):
    module = ir.Module(name="w")
    module.triple = TRIPLE
    used = frozenset((COUNTER, BOUND, BASE_UP, BASE_DOWN, FIXED))
    names = {}
    for relation, signed in RELATIONS:
        for step in (8, -8, 1, -1):
            if (relation in ("lt", "le") and step < 0) or (relation in ("gt", "ge") and step > 0):
                continue
            name = f"w_{relation}_{int(signed)}_{step}".replace("-", "m")
            fn = ir.Function(module, FN_TYPE, name)
            e = Emitter(module, fn, RegisterUse(used, frozenset(), frozenset(), frozenset()), 0x10000)
            e.b.ret(e.b.zext(entry_check(e, _loop(relation, signed, step, True))[0], I64))
            names[(relation, signed, step)] = name
    engine.add_module(llvm.parse_assembly(str(module)))
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)
    functions = {key: proto(engine.get_function_address(name)) for key, name in names.items()}
    cpu = (ctypes.c_uint8 * abi.CPU_OFFSETS["tlb"])()
    rng = random.Random(7)
    held = 0
    for _ in range(3000):
        relation, signed = rng.choice(RELATIONS)
        key = rng.choice([k for k in functions if k[:2] == (relation, signed)])
        step = key[2]
        near = rng.choice([0, 4096, (1 << 38) - 40000, (1 << 38) - 4096 * 5, 1 << 37, rng.getrandbits(64)])
        regs = {COUNTER: (near + rng.randrange(-4096, 4096)) & MASK,
                BASE_UP: (near + rng.randrange(-9000, 9000)) & MASK,
                BASE_DOWN: (near + rng.randrange(-9000, 9000) + rng.choice([0, 4096 * 300])) & MASK,
                FIXED: rng.choice([near, 1 << 38, (1 << 38) - 1]) & MASK}
        regs[BOUND] = (regs[COUNTER] + step * rng.randrange(-2, 400) + rng.choice([0, 0, 1])) & MASK
        for reg, value in regs.items():
            ctypes.c_uint64.from_buffer(cpu, abi.CPU_OFFSETS["x"] + 8 * reg).value = value
        ok = functions[key](ctypes.addressof(cpu), 0)
        ends, bases = _simulate(_loop(relation, signed, step, True), regs)
        if ok:
            held += 1
            assert ends is not None and all(base < abi.DIRECT_LIMIT for base in bases), (key, regs)
    assert held > 300
