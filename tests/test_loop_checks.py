"""The entry check of counted loops (lift/loop_checks.py), run on the host through LLVM's JIT against
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
from aotbuilder.cfg.loops import MAX_STRIDE, Access, CountedLoop, byte_scan, strided_loop
from aotbuilder.cfg.program import BasicBlock, Function, Instruction
from aotbuilder.isa.insn import Insn
from aotbuilder.lift.emitter import I64, PTR, SELF_PC, Emitter, RegisterUse
from aotbuilder.lift.loop_checks import entry_check, last_iteration, plain_check, window_check

# A check compiled on its own: check(cpu, resume) -> 0 or 1.
CHECK_TYPE = ir.FunctionType(I64, [PTR, I64])

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
            fn = ir.Function(module, CHECK_TYPE, name)
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


# -- the plain copy's check -------------------------------------------------------------------------
ARCH_SET_GS = 0x1001
PAGES = abi.DIRECT_LIMIT >> abi.PAGE_SHIFT


@pytest.fixture
def access_map():
    """A buffer standing for the window's access map, byte p for page p, with this process's %gs
    base set so that %gs:(WINDOW_MAP_OFFSET + p) is that byte, as translated code reads it (the
    test process itself does not use %gs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    prot_rw, map_private_anonymous_noreserve = 3, 0x02 | 0x20 | 0x4000
    buffer = libc.mmap(None, PAGES, prot_rw, map_private_anonymous_noreserve, -1, 0)
    assert buffer not in (None, ctypes.c_void_p(-1).value)
    gs_base = buffer - abi.WINDOW_MAP_OFFSET
    assert libc.syscall(158, ARCH_SET_GS, ctypes.c_ulong(gs_base)) == 0  # arch_prctl
    yield (ctypes.c_uint8 * PAGES).from_address(buffer)
    libc.syscall(158, ARCH_SET_GS, ctypes.c_ulong(0))
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.munmap(buffer, PAGES)


def _plain_loop(rng: random.Random) -> CountedLoop:
    """Accesses off up to three bases with offsets across the 12-bit range, loads and stores of
    every size; the bases step by a few bytes up or down, or not at all."""
    steps = {COUNTER: 1}
    accesses = []
    for k, base in enumerate(rng.sample([BASE_UP, BASE_DOWN, FIXED], rng.randrange(1, 4))):
        step = rng.choice([1, 4, 8, -8, 16, -1, 0])
        if step:
            steps[base] = step
        delta = rng.choice([0, 0, step])
        for j in range(rng.randrange(1, 4)):
            accesses.append(Access(16 * k + 4 * j, base, delta, rng.choice([0, 8, -8, 2000, -2048, 2047]),
                                   rng.choice([1, 2, 4, 8]), rng.random() < 0.4))
    return CountedLoop(0, COUNTER, BOUND, "ne", False, steps, tuple(accesses), False)


def test_the_plain_check_holds_only_when_no_access_of_the_run_can_fault(engine, access_map):
    """loop_checks.plain_check, JIT-compiled, against the run simulated access by access: when
    it holds, every byte of every access of iterations 0..run lies on a page the access map
    grants it (writable for a store).  The map grants pages near the accesses at random; runs
    cross pages, reach holes, start near zero (wrapping below it) and end at the window's limit."""
    module = ir.Module(name="p")
    module.triple = TRIPLE
    used = frozenset((COUNTER, BOUND, BASE_UP, BASE_DOWN, FIXED))
    rng = random.Random(11)
    loops = [_plain_loop(rng) for _ in range(40)]
    for k, loop in enumerate(loops):
        fn = ir.Function(module, CHECK_TYPE, f"plain{k}")
        e = Emitter(module, fn, RegisterUse(used, frozenset(), frozenset(), frozenset()), 0x10000)
        e.b.ret(e.b.zext(plain_check(e, loop, fn.args[1]), I64))
    engine.add_module(llvm.parse_assembly(str(module)))
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)
    checks = [proto(engine.get_function_address(f"plain{k}")) for k in range(len(loops))]
    cpu = (ctypes.c_uint8 * abi.CPU_OFFSETS["tlb"])()
    held = 0
    for _ in range(4000):
        k = rng.randrange(len(loops))
        loop = loops[k]
        page = rng.choice([rng.randrange(16, PAGES - 16), 1, 0, PAGES - 1, PAGES - 2])
        granted = {p: rng.choice([0, 1, 3, 3, 3]) for p in range(max(page - 3, 0), min(page + 4, PAGES))}
        for p, bits in granted.items():
            access_map[p] = bits
        regs = {reg: (page * abi.PAGE_SIZE + rng.randrange(-6000, 6000)) & MASK for reg in used}
        for reg, value in regs.items():
            ctypes.c_uint64.from_buffer(cpu, abi.CPU_OFFSETS["x"] + 8 * reg).value = value
        run = rng.choice([0, 1, 7, 100, 511, 1023, 4095])
        if checks[k](ctypes.addressof(cpu), run):
            held += 1
            for i in range(run + 1):
                for a in loop.accesses:
                    first = (regs[a.base] + a.delta + loop.steps.get(a.base, 0) * i + a.offset) & MASK
                    for byte in (first, first + a.size - 1):
                        need = 2 if a.store else 1
                        assert byte < abi.DIRECT_LIMIT and granted.get(byte >> abi.PAGE_SHIFT, 0) & need, (k, i, a)
        for p in granted:
            access_map[p] = 0
    assert held > 400


# -- strided loops ---------------------------------------------------------------------------------
POOL = (10, 11, 12, 13, 14, 15)
HEADER = 0x1000


def _ins(pc: int, mnemonic: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> Instruction:
    return Instruction(pc, Insn(mnemonic, 4, 0, rd=rd, rs1=rs1, rs2=rs2, imm=imm), 0, 4)


def _body_ops(rng: random.Random, pc: int) -> list[Instruction]:
    """One random instruction, or an indexed access: a bounded index (andi, srli, and) scaled,
    added to a base (or subtracted from it) and used."""
    if rng.random() < 0.08:
        index, base, other = rng.choice(POOL), rng.choice(POOL), rng.choice(POOL)
        bounded = rng.choice([("andi", index, rng.choice(POOL), 0, 255), ("srli", index, other, 0, 56),
                              ("and", index, other, base, 0)])
        combine = ("add", index, index, base, 0) if rng.random() < 0.7 else ("sub", index, base, index, 0)
        ops = [bounded, ("slli", index, index, 0, rng.choice([1, 2, 3, 12])), combine,
               (rng.choice(["ld", "lbu"]), other, index, 0, rng.choice([0, 8, -8]))]
        return [_ins(pc + 4 * k, *op) for k, op in enumerate(ops)]
    return [_body_op(rng, pc)]


def _body_op(rng: random.Random, pc: int) -> Instruction:
    rd, rs1, rs2 = rng.choice(POOL), rng.choice(POOL), rng.choice(POOL)
    kind = rng.random()
    if kind < 0.3:
        step = rng.choice([1, -1, 8, -8, 16, 24, 1024, 2048, -2048, 2056, 3000, 0])
        return _ins(pc, "addi", rd, rd if rng.random() < 0.7 else rs1, imm=step)
    if kind < 0.42:
        return _ins(pc, rng.choice(["add", "sub", "sub", "xor", "and"]), rd, rs1, rs2)
    if kind < 0.45:
        return _ins(pc, "slli", rd, rs1, imm=rng.choice([0, 1, 2, 3, 20, 30]))
    if kind < 0.5:
        return _ins(pc, "andi", rd, rs1, imm=rng.choice([255, 2047, -8, 0]))
    if kind < 0.52:
        return _ins(pc, "srli", rd, rs1, imm=rng.choice([1, 26, 27, 40, 56]))
    offset = rng.choice([0, 1, 8, -8, 2040, -2048, rng.randrange(-2048, 2048)])
    if kind < 0.8:
        return _ins(pc, rng.choice(["lbu", "ld"]), rd, rs1, imm=offset)
    return _ins(pc, "sd", 0, rs1, rs2, imm=offset)


def _random_chain(rng: random.Random) -> Function:
    """A loop of one to three blocks from HEADER: each block but the last leaves by a beq, the
    last branches back by a bne."""
    func = Function(HEADER, "loop")
    pc, starts = HEADER, []
    count = rng.randrange(1, 4)
    for k in range(count):
        start, code = pc, []
        for _ in range(rng.randrange(1, 7)):
            ops = _body_ops(rng, pc)
            code += ops
            pc += 4 * len(ops)
        code.append(_ins(pc, "bne" if k == count - 1 else "beq", 0, rng.choice(POOL), rng.choice(POOL), 0))
        pc += 4
        func.blocks[start] = BasicBlock(start, code)
        starts.append(start)
    done = pc
    func.blocks[done] = BasicBlock(done, [_ins(done, "addi", 10, 10, imm=0)])
    for k, start in enumerate(starts):
        last = func.blocks[start].instructions[-1]
        target = HEADER if k == count - 1 else done
        func.blocks[start].instructions[-1] = _ins(last.pc, last.insn.mnemonic, 0, last.insn.rs1, last.insn.rs2,
                                                   target - last.pc)
        func.cfg.add_edge(start, target)
        func.cfg.add_edge(start, starts[k + 1] if k < count - 1 else done)
    return func


def _load_value(address: int) -> int:
    return (address * 0x9E3779B97F4A7C15 >> 17) & MASK


def _run_iterations(func: Function, loop, regs: dict[int, int], iterations: int) -> list[tuple[int, int]]:
    """The loop's straight-line code, iteration after iteration (the exits only end it earlier):
    (pc, address) of each followed access in the order they run."""
    regs = dict(regs)
    out = []
    code = [ins for b in loop.blocks for ins in func.blocks[b].instructions[:-1]]
    for _ in range(iterations):
        for ins in code:
            insn = ins.insn
            m = insn.mnemonic
            a, b = regs.get(insn.rs1, 0), regs.get(insn.rs2, 0)
            if m in ("lbu", "ld", "sd"):
                address = (a + insn.imm) & MASK
                if ins.pc in loop.followed:
                    out.append((ins.pc, address))
                value = None if m == "sd" else _load_value(address)
            else:
                value = (a << insn.imm if m == "slli" else a >> insn.imm if m == "srli" else
                         {"addi": a + insn.imm, "add": a + b, "sub": a - b, "xor": a ^ b, "and": a & b,
                          "andi": a & insn.imm}[m]) & MASK
            if value is not None and insn.rd:
                regs[insn.rd] = value
    return out


def _start_address(start, regs: dict[int, int]) -> int:
    terms, const = start
    return (const + sum(coefficient * regs[reg] for reg, coefficient in terms)) & MASK


def _range(low, bounds, regs: dict[int, int]) -> tuple[int, int] | None:
    """[first, last] address of a range (cfg/loops.py), or None when the entry check fails it."""
    first = _start_address(low, regs)
    maxima = [_start_address(maximum, regs) for maximum, _ in bounds]
    last = first + sum(m << shift for m, (_, shift) in zip(maxima, bounds, strict=True))
    if max([first, last, *maxima]) >= abi.DIRECT_LIMIT:
        return None
    return first, last


def _check_holds(loop, regs: dict[int, int]) -> bool:
    return (all(_start_address(start, regs) < abi.DIRECT_LIMIT for start in loop.starts)
            and all(_range(low, bounds, regs) is not None for low, bounds in loop.ranges))


def _strided_cases(rng: random.Random, count: int):
    found = 0
    while found < count:
        func = _random_chain(rng)
        loop = strided_loop(func, HEADER)
        if loop is None:
            continue
        found += 1
        yield func, loop


def _random_registers(rng: random.Random) -> dict[int, int]:
    """Values near one another (walks that meet), or spread over the window (so that an address
    is rarely near another by chance), around the window's limit and the limit shifted right
    (bounds whose shifted maximum crosses it), or small."""
    near = rng.choice([0, 1 << 20, (1 << 38) - 3000, (1 << 38) + 100, MASK - 500, rng.getrandbits(64),
                       (1 << 36) - 2000, (1 << 35) - 2000, (1 << 18) - 300])
    spread = rng.random() < 0.3
    return {reg: rng.randrange(1 << 37) if spread and rng.random() < 0.7 else
            (near + rng.randrange(-5000, 5000)) & MASK if rng.random() < 0.8 else rng.randrange(64) for reg in POOL}


def test_each_followed_access_is_checked_on_entry_or_near_an_earlier_one():
    """The guard-page argument of cfg/loops.py: when the entry check holds, the fast copy's first
    access of a family has its address checked, every later one is within MAX_STRIDE of an
    access that ran before it (which was in the window, or the copy would have handed over), and
    an access with bounded parts lies in a range the check tested whole.  Checked over the
    simulated execution of random loops of one to three blocks."""
    rng = random.Random(20261130)
    followed = ranged = 0
    for func, loop in _strided_cases(rng, 1500):
        regs = _random_registers(rng)
        if not _check_holds(loop, regs):
            continue  # the checked copy runs
        starts = {_start_address(start, regs) for start in loop.starts}
        ranges = [_range(low, bounds, regs) for low, bounds in loop.ranges]
        seen: list[int] = []
        for pc, address in _run_iterations(func, loop, regs, 6):
            near = any(abs(_signed((address - earlier) & MASK)) <= MAX_STRIDE for earlier in seen)
            inside = any(first <= address <= last for first, last in ranges)
            assert address in starts or near or inside, (
                hex(pc), hex(address), [str(i.insn) for b in loop.blocks for i in func.blocks[b].instructions])
            seen.append(address)
        followed += len(loop.followed)
        ranged += bool(loop.ranges)
    assert followed > 800 and ranged > 50


def test_a_family_that_moves_too_far_is_not_followed():
    """ld 0(a0) then ld 2048+... : offsets -2048 and 2040 off one base are 4088 bytes apart, so
    neither is followed; a base stepping by 2056 bytes is not either."""
    def chain(*ops: tuple) -> Function:
        func = Function(HEADER, "loop")
        code = [_ins(HEADER + 4 * k, *op) for k, op in enumerate(ops)]
        end = HEADER + 4 * len(code)
        code.append(_ins(end, "bne", 0, 12, 0, HEADER - end))
        func.blocks[HEADER] = BasicBlock(HEADER, code)
        func.blocks[end + 4] = BasicBlock(end + 4, [_ins(end + 4, "addi", 10, 10)])
        func.cfg.add_edge(HEADER, HEADER)
        func.cfg.add_edge(HEADER, end + 4)
        return func

    far = strided_loop(chain(("ld", 12, 10, 0, -2048), ("ld", 13, 10, 0, 2040), ("addi", 10, 10, 0, 8)), HEADER)
    assert far is None
    near = strided_loop(chain(("ld", 12, 10, 0, -1000), ("ld", 13, 10, 0, 1000), ("addi", 10, 10, 0, 8)), HEADER)
    assert near is not None and near.followed == {HEADER, HEADER + 4}
    assert near.starts == ((frozenset({(10, 1)}), (-1000) & MASK),)
    stepping = strided_loop(chain(("lbu", 12, 10, 0, 0), ("addi", 10, 10, 0, 2056)), HEADER)
    assert stepping is None


def test_the_window_check_tests_each_family_start(engine):
    """window_check, compiled by LLVM, holds exactly when each family's first address, evaluated
    from the registers on entry, is below the window's limit, and each range is, with the maxima
    of its bounds."""
    module = ir.Module(name="s")
    module.triple = TRIPLE
    rng = random.Random(11)
    loops = [loop for _, loop in _strided_cases(rng, 300)]
    assert sum(bool(loop.ranges) for loop in loops) > 20
    for k, loop in enumerate(loops):
        fn = ir.Function(module, CHECK_TYPE, f"s{k}")
        e = Emitter(module, fn, RegisterUse(frozenset(POOL), frozenset(), frozenset(), frozenset()), 0x10000)
        e.b.ret(e.b.zext(window_check(e, loop), I64))
    engine.add_module(llvm.parse_assembly(str(module)))
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)
    cpu = (ctypes.c_uint8 * abi.CPU_OFFSETS["tlb"])()
    held = failed = 0
    for k, loop in enumerate(loops):
        check = proto(engine.get_function_address(f"s{k}"))
        for _ in range(15):
            regs = _random_registers(rng)
            for reg, value in regs.items():
                ctypes.c_uint64.from_buffer(cpu, abi.CPU_OFFSETS["x"] + 8 * reg).value = value
            expected = _check_holds(loop, regs)
            assert check(ctypes.addressof(cpu), 0) == expected, (loop, regs)
            held += expected
            failed += not expected
    assert held > 300 and failed > 300


def test_byte_scans_are_loops_that_only_step_to_the_next_byte() -> None:
    """zig's strlen loop (add a2, a0, a1; lbu a2, 0(a2); addi a1, a1, 1; bnez a2) is a byte scan
    whose byte's address is a0 + a1 and a1 steps by 1; the same loop is not one with a stride of
    2, with a temporary carried from one iteration to the next, or with an address site in it
    (its immediate is not in the lift key: the scan's address would bake it into the IR)."""
    def loop(*body: tuple) -> BasicBlock:
        code = [_ins(0x100 + 4 * i, *op) for i, op in enumerate(body)]
        latch = len(code) * 4
        code.append(_ins(0x100 + latch, "bne", rs1=12, rs2=0, imm=-latch))
        return BasicBlock(0x100, code)

    strlen = loop(("add", 12, 10, 11), ("lbu", 12, 12, 0, 0), ("addi", 11, 11, 0, 1))
    scan = byte_scan(strlen)
    assert scan is not None and scan.steps == {11: 1} and scan.value == 0 and scan.until_equal
    assert scan.address == (frozenset({(10, 1), (11, 1)}), 0)
    assert byte_scan(loop(("add", 12, 10, 11), ("lbu", 12, 12, 0, 0), ("addi", 11, 11, 0, 2))) is None
    assert byte_scan(loop(("add", 13, 13, 12), ("lbu", 12, 10, 0, 0), ("addi", 10, 10, 0, 1))) is None
    sited = loop(("addi", 13, 10, 0, 0x120), ("add", 13, 13, 11), ("lbu", 12, 13, 0, 0), ("addi", 11, 11, 0, 1))
    assert byte_scan(sited) is not None and byte_scan(sited, frozenset({0x100})) is None
