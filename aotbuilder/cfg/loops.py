"""Loops the lifter versions: a copy without window checks runs when a check on entry allows it.

Counted loops: one-block guest loops whose trip count is known when they are entered.  A counted
loop is a basic block that ends with a conditional branch back to its own start (bne, blt, bge,
bltu or bgeu) and holds no other control transfer, call, system or atomic instruction.
One branch operand, the counter, changes by a power of two per iteration (only `addi r, r, imm`
writes it), towards the other, which does not change: from the two values on entry follows the
number of iterations, and from it every value each induction variable takes.  The lifter
versions such a loop (lift/lower.py): when the base of each access it can follow stays in the
direct window in every iteration, and frm holds a mode the host rounds in, a copy of the body
without those checks runs.

Byte scans: one-block loops that load one byte per iteration from the next address and go
round while it differs from (or equals) a value that does not change (strlen's loop; `while
(*p == ' ') p++`).  Besides the load and the branch they only step induction variables and
compute temporaries, so the iterations before the one that ends the loop do nothing but step:
the lifter finds that iteration's byte with 16-byte compares and steps the registers to it.

Strided loops: a chain of blocks from a header to the one latch that branches back to it, each
leaving the loop or going on to the next (strlen, strcmp, memchr: they end on loaded data).
Each access's address is followed as a linear function of the registers on entry and the
iteration number; the accesses off the same registers form a family whose successive addresses
move by at most MAX_STRIDE bytes.  Starting in the direct window, such a walk cannot jump over
the window's guard pages: an access that leaves the window faults there first, and the fast
copy then hands over to the checked copy at that instruction (lower.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from aotbuilder.cfg.addresses import ACCESS_SIZES, MASK, MEMORY_ACCESSES, STORES
from aotbuilder.cfg.program import BasicBlock, Function, Instruction
from aotbuilder.isa import operand_kinds
from aotbuilder.isa.insn import RM_DYN, RM_RESERVED

# Operand kinds of instructions that leave the block, trap, call out or touch CSRs or reservations.
_UNSUITABLE_KINDS = frozenset(("target", "csr", "addr", "pred"))
# Induction variables whose step is larger are not followed: the last value an access base
# takes must be computable without overflow (lift/loop_checks.py's entry check).
MAX_STEP = 1 << 16
# Longer loops are lowered once: versioning doubles the body's code.
MAX_INSTRUCTIONS = 64


@dataclass(frozen=True)
class Access:
    """A load or store whose base the iteration count bounds: base register and what the
    iteration added to it before the access; the access's offset, size and kind."""

    pc: int
    base: int
    delta: int
    offset: int = 0
    size: int = 8
    store: bool = False


# The latch's condition for going round again, as `counter <relation> bound`, by which operand
# is the counter: (mnemonic, counter is rs1) -> relation.
_RELATIONS = {("bne", True): "ne", ("bne", False): "ne", ("blt", True): "lt", ("blt", False): "gt",
              ("bge", True): "ge", ("bge", False): "le", ("bltu", True): "lt", ("bltu", False): "gt",
              ("bgeu", True): "ge", ("bgeu", False): "le"}


@dataclass(frozen=True)
class CountedLoop:
    start: int
    counter: int  # the branch operand that steps
    bound: int  # the one that does not change (may be x0)
    relation: str  # the loop goes round while `counter <relation> bound` at the branch
    signed: bool  # whether that compare is signed (blt, bge)
    steps: dict[int, int]  # per-iteration change of each induction variable (counter included)
    accesses: tuple[Access, ...]  # loads and stores off an induction variable or an unchanged register
    dynamic_rounding: bool  # some instruction rounds in frm's mode

    @property
    def step(self) -> int:
        return self.steps[self.counter]


def loop_headers(func: Function) -> frozenset[int]:
    """Blocks whose poll interrupts every loop: the targets of the edges a depth-first search of
    the CFG (from the entry, then from each block it did not reach, in address order) finds
    going back to a block on its stack.  Without those edges the graph has no cycle left, so
    every cycle passes one of them; in a reducible CFG they are the natural loops' headers, so a
    loop polls once per iteration however many of its branches go backwards in the code (gcc
    ends each arm of an `if` in a loop with its own jump back to the latch)."""
    cfg = func.cfg
    headers: set[int] = set()
    state: dict[int, bool] = {}  # True while on the stack, False when finished
    for root in [func.entry, *sorted(cfg.nodes)]:
        if root in state or root not in cfg:
            continue
        state[root] = True
        stack = [(root, iter(sorted(cfg.successors(root))))]
        while stack:
            node, successors = stack[-1]
            succ = next(successors, None)
            if succ is None:
                state[node] = False
                stack.pop()
            elif succ not in state:
                state[succ] = True
                stack.append((succ, iter(sorted(cfg.successors(succ)))))
            elif state[succ]:
                headers.add(succ)
    return frozenset(headers)


def _loop_kinds(ins: Instruction) -> tuple[str, ...] | None:
    """The operand kinds of an instruction a versioned loop may hold, or None for one it may not:
    one that leaves the loop, traps, calls out, or touches CSRs or reservations."""
    insn = ins.insn
    if insn is None or insn.mnemonic == "jalr":
        return None
    kinds = operand_kinds(insn.mnemonic)
    if not kinds or _UNSUITABLE_KINDS & set(kinds) or ("rm" in kinds and insn.rm in RM_RESERVED):
        return None
    return kinds


def counted_loop(block: BasicBlock, address_sites: set[int] | frozenset[int] = frozenset()) -> CountedLoop | None:
    """The counted loop `block` is, or None.  Accesses at `address_sites` (a link-time base) are
    left out of `accesses`."""
    *body, latch = block.instructions
    branch = latch.insn
    if branch is None or (branch.mnemonic, True) not in _RELATIONS or latch.pc + branch.imm != block.start:
        return None
    if len(block.instructions) > MAX_INSTRUCTIONS:
        return None
    delta: dict[int, int] = {}  # induction variables: what the iteration added so far
    other: set[int] = set()  # registers written otherwise
    accesses: list[Access] = []
    dynamic = False
    for ins in body:
        insn, kinds = ins.insn, _loop_kinds(ins)
        if kinds is None:
            return None
        dynamic |= "rm" in kinds and insn.rm == RM_DYN
        if insn.mnemonic in MEMORY_ACCESSES and insn.rs1 and ins.pc not in address_sites:
            m = insn.mnemonic
            accesses.append(Access(ins.pc, insn.rs1, delta.get(insn.rs1, 0), insn.imm, ACCESS_SIZES[m], m in STORES))
        if "rd" in kinds and insn.rd:
            # An address site's immediate is not in the lift key (cache/key.py): no step from it.
            if insn.mnemonic == "addi" and insn.rs1 == insn.rd and insn.rd not in other and ins.pc not in address_sites:
                delta[insn.rd] = delta.get(insn.rd, 0) + insn.imm
            else:
                other.add(insn.rd)
                delta.pop(insn.rd, None)
    steps = {reg: step for reg, step in delta.items() if reg not in other and 0 < abs(step) <= MAX_STEP}

    def unchanged(reg: int) -> bool:
        return reg not in other and reg not in delta

    a, b = branch.rs1, branch.rs2
    counter, bound = (a, b) if a in steps and unchanged(b) else (b, a)
    step = steps.get(counter)
    if step is None or not unchanged(bound) or abs(step) & (abs(step) - 1):
        return None  # the count needs a power-of-two step (lower.py divides by shifting)
    relation = _RELATIONS[(branch.mnemonic, counter == a)]
    if (relation in ("lt", "le") and step < 0) or (relation in ("gt", "ge") and step > 0):
        return None  # stepping away from the bound: the loop ends only when the counter wraps
    followed = tuple(acc for acc in accesses if acc.base in steps or unchanged(acc.base))
    return CountedLoop(block.start, counter, bound, relation, branch.mnemonic in ("blt", "bge"), steps, followed,
                       dynamic)


@dataclass(frozen=True)
class ByteScan:
    start: int
    address: Linear  # the byte's address in the iteration about to run, over the registers then
    steps: dict[int, int]  # per-iteration change of each induction variable
    value: int  # the register the branch compares the byte with (x0 or one the loop leaves alone)
    until_equal: bool  # the loop ends at the first byte equal to the value (bne), else unequal (beq)


# The instructions a byte scan may hold besides its load and its branch.
_SCAN_STEPS = frozenset(("addi", "add"))


def byte_scan(block: BasicBlock, address_sites: set[int] | frozenset[int] = frozenset()) -> ByteScan | None:
    """The byte scan `block` is, or None (see the module doc)."""
    *body, latch = block.instructions
    branch = latch.insn
    if (branch is None or branch.mnemonic not in ("bne", "beq") or latch.pc + branch.imm != block.start
            or len(block.instructions) > MAX_INSTRUCTIONS):
        return None
    if any(ins.pc in address_sites for ins in body):
        return None  # an address site's immediate is not in the lift key (cache/key.py)
    loads = [ins for ins in body if ins.insn is not None and ins.insn.mnemonic == "lbu"]
    if len(loads) != 1:
        return None
    written = {ins.insn.rd for ins in body if ins.insn is not None and ins.insn.rd}
    steps: dict[int, int] = {}
    for reg in written:
        writes = [ins.insn for ins in body if ins.insn is not None and ins.insn.rd == reg]
        if all(w.mnemonic == "addi" and w.rs1 == reg for w in writes):
            steps[reg] = sum(w.imm for w in writes)
    # Each register's value so far in the iteration, over the registers when it began.
    env: dict[int, Value | None] = {r: ((frozenset({(r, 1)}), 0), _NO_BOUNDS) for r in range(1, 32)}
    fresh: set[int] = set()  # temporaries written in this iteration
    address: Linear | None = None
    for ins in body:
        insn = ins.insn
        if insn is None or (insn.mnemonic not in _SCAN_STEPS and ins is not loads[0]):
            return None
        sources = (insn.rs1, insn.rs2) if insn.mnemonic == "add" else (insn.rs1,)
        if any(r in written and r not in steps and r not in fresh for r in sources):
            return None  # reads what an earlier iteration left in a temporary
        if ins is loads[0]:
            base = env[insn.rs1] if insn.rs1 else ((frozenset(), 0), _NO_BOUNDS)
            if base is None or base[1]:
                return None
            address = _combine(base[0], (frozenset(), insn.imm))
            env[insn.rd] = None  # the byte
        elif insn.rd:
            env[insn.rd] = _evaluate(insn, env)
        if insn.rd:
            fresh.add(insn.rd)
    byte, value = loads[0].insn.rd, branch.rs2 if branch.rs1 == loads[0].insn.rd else branch.rs1
    if not byte or byte in steps or {branch.rs1, branch.rs2} != {byte, value} or value in written:
        return None
    if any(ins.insn.rd == byte for ins in body[body.index(loads[0]) + 1:]):
        return None  # the branch would compare something else
    # Every register in the address was read before anything wrote it, so it is an induction
    # variable or one the loop leaves alone (a temporary read so was refused above).
    if address is None:
        return None
    if sum(c * steps.get(r, 0) for r, c in address[0]) & MASK != 1:
        return None  # not the next byte each iteration
    return ByteScan(block.start, address, steps, value, branch.mnemonic == "bne")


# How a strided loop's blocks end (besides falling through): a conditional branch, or `j`.
_CHAIN_LINKS = frozenset(("beq", "bne", "blt", "bge", "bltu", "bgeu", "jal"))
# A family's successive accesses move by at most this many bytes: with a 12-bit offset, an access
# after one inside the window lands in the window or in the guard page beyond either end of it.
MAX_STRIDE = 2048
# A bounded part is at most (a value below the window's limit, checked on entry) << shift: up to
# this shift, and two such parts, the sum stays below 2^63.
MAX_SHIFT = 24
_ITERATION = -1  # the iteration number's key in a Linear's terms

# sum(coefficient * value of register) + constant, mod 2^64; register _ITERATION is the iteration.
Linear = tuple[frozenset[tuple[int, int]], int]
# A part known only to lie in [0, maximum << shift], its maximum a Linear without the iteration
# (the same in every iteration: `and` with an unchanged register, `andi`, `srli` by 27 or more).
Bound = tuple[Linear, int]
# A register's value: a Linear plus bounded parts.
Value = tuple[Linear, tuple[Bound, ...]]
_NO_BOUNDS: tuple[Bound, ...] = ()


def _linear(terms: dict[int, int], const: int) -> Linear:
    return frozenset((r, c & MASK) for r, c in terms.items() if c & MASK), const & MASK


def _combine(a: Linear, b: Linear, scale: int = 1) -> Linear:
    terms = dict(a[0])
    for r, c in b[0]:
        terms[r] = terms.get(r, 0) + scale * c
    return _linear(terms, a[1] + scale * b[1])


def _scaled(a: Linear, factor: int) -> Linear:
    return _linear({r: c * factor for r, c in a[0]}, a[1] * factor)


def _invariant(v: Value | None) -> bool:
    return v is not None and not v[1] and all(r != _ITERATION for r, _ in v[0][0])


def _bounded(maximum: Linear) -> Value:
    return (frozenset(), 0), ((maximum, 0),)


def _evaluate(insn, env: dict[int, Value | None]) -> Value | None:
    """rd's new value in terms of the values in `env`, or None when it is neither linear in them
    nor that plus parts of known bounds."""
    def x(r: int) -> Value | None:
        return ((frozenset(), 0), _NO_BOUNDS) if r == 0 else env[r]
    m = insn.mnemonic
    a, b = x(insn.rs1), x(insn.rs2) if m in ("add", "sub", "and") else None
    if m == "andi" and insn.imm >= 0:
        return _bounded((frozenset(), insn.imm))
    if m == "srli" and insn.imm > MAX_SHIFT + 2:  # below 2^38 (abi.DIRECT_LIMIT)
        return _bounded((frozenset(), (1 << (64 - insn.imm)) - 1))
    if m == "and":
        # An AND is at most either operand (unsigned): bounded when one does not change.
        unchanged = a if _invariant(a) else b if _invariant(b) else None
        return None if unchanged is None else _bounded(unchanged[0])
    if a is None:
        return None
    if m == "addi":
        return _linear(dict(a[0][0]), a[0][1] + insn.imm), a[1]
    if m == "slli":
        bounds = tuple((maximum, shift + insn.imm) for maximum, shift in a[1])
        if any(shift > MAX_SHIFT for _, shift in bounds):
            return None
        return _scaled(a[0], 1 << insn.imm), bounds
    if m in ("add", "sub") and b is not None:
        if m == "sub" and b[1]:
            return None  # minus a bounded part: it could be below the linear part
        bounds = a[1] + b[1]
        return (_combine(a[0], b[0], 1 if m == "add" else -1), bounds) if len(bounds) <= 2 else None
    return None


@dataclass(frozen=True)
class StridedLoop:
    blocks: tuple[int, ...]  # the chain: header first, latch last
    # Per family, its first access's address in the first iteration: terms over the registers on
    # entry, and a constant.
    starts: tuple[Linear, ...]
    # Accesses whose address is an unchanging Linear plus bounded parts: that Linear (with the
    # offset) and the bounds, from the registers on entry.  Every such access is in the window
    # when the Linear and the Linear plus every bound's maximum are.
    ranges: tuple[tuple[Linear, tuple[Bound, ...]], ...]
    followed: frozenset[int]  # pcs of the accesses in those families and ranges
    dynamic_rounding: bool

    @property
    def header(self) -> int:
        return self.blocks[0]


def _chain(func: Function, header: int) -> tuple[int, ...] | None:
    """The loop's blocks from `header` to its one latch, in address order, if every block but the
    latch goes on to the next and nothing else enters them."""
    latches = [u for u in func.cfg.predecessors(header) if u >= header]
    if len(latches) != 1:
        return None
    chain = tuple(b for b in sorted(func.blocks) if header <= b <= latches[0])
    inside = set(chain)
    for prev, block in zip(chain, chain[1:], strict=False):
        if set(func.cfg.predecessors(block)) != {prev} or block in func.return_sites:
            return None
        if block not in func.cfg.successors(prev) or len(inside & set(func.cfg.successors(prev))) != 1:
            return None
    if set(func.cfg.successors(chain[-1])) & inside != {header}:
        return None
    return chain


def strided_loop(func: Function, header: int,
                 address_sites: set[int] | frozenset[int] = frozenset()) -> StridedLoop | None:
    """The strided loop whose header is `header`, or None: its accesses off registers that change
    linearly from iteration to iteration (address sites left out), by families that pass the
    MAX_STRIDE rule."""
    chain = _chain(func, header)
    if chain is None:
        return None
    if sum(len(func.blocks[b].instructions) for b in chain) > MAX_INSTRUCTIONS:
        return None
    body = []
    dynamic = False
    for b in chain:
        code = func.blocks[b].instructions
        last = code[-1].insn
        if last is not None and last.mnemonic in _CHAIN_LINKS and last.rd == 0:
            code = code[:-1]  # the block's exit or its edge to the next: writes no register
        for ins in code:
            kinds = _loop_kinds(ins)
            if kinds is None:
                return None
            dynamic |= "rm" in kinds and ins.insn.rm == RM_DYN
            body.append((ins, kinds))

    def run(env: dict[int, Value | None], accesses: list[tuple[int, Value]] | None) -> None:
        for ins, kinds in body:
            insn = ins.insn
            site = ins.pc in address_sites  # its immediate is not in the lift key (cache/key.py)
            if accesses is not None and insn.mnemonic in MEMORY_ACCESSES and insn.rs1 and not site:
                base = env[insn.rs1]
                if base is not None:
                    accesses.append((ins.pc, (_linear(dict(base[0][0]), base[0][1] + insn.imm), base[1])))
            if "rd" in kinds and insn.rd:
                env[insn.rd] = None if site else _evaluate(insn, env)

    # What one iteration adds to each register: an induction variable ends it as itself + step.
    env: dict[int, Value | None] = {r: ((frozenset({(r, 1)}), 0), _NO_BOUNDS) for r in range(1, 32)}
    run(env, None)
    start: dict[int, Value | None] = {}
    for r in range(1, 32):
        end = env[r]
        ok = end is not None and end[0][0] == frozenset({(r, 1)}) and not end[1]
        start[r] = (_linear({r: 1, _ITERATION: end[0][1]}, 0), _NO_BOUNDS) if ok else None
    accesses: list[tuple[int, Value]] = []
    run(start, accesses)
    families: dict[frozenset[tuple[int, int]], list[tuple[int, int]]] = {}
    ranges, followed = set(), set()
    for pc, (linear, bounds) in accesses:
        if not bounds:
            families.setdefault(linear[0], []).append((pc, linear[1]))
        elif _invariant((linear, _NO_BOUNDS)):
            ranges.add((linear, bounds))
            followed.add(pc)
    starts = []
    for terms, members in families.items():
        stride = dict(terms).get(_ITERATION, 0)
        consts = [c for _, c in members]
        moves = [b - a for a, b in zip(consts, consts[1:], strict=False)] + [consts[0] + stride - consts[-1]]
        if all(abs(_signed(move)) <= MAX_STRIDE for move in moves):
            entry_terms = frozenset((r, c) for r, c in terms if r != _ITERATION)
            starts.append((entry_terms, consts[0]))
            followed.update(pc for pc, _ in members)
    if not followed:
        return None
    return StridedLoop(chain, tuple(sorted(starts, key=repr)), tuple(sorted(ranges, key=repr)), frozenset(followed),
                       dynamic)


def _signed(value: int) -> int:
    value &= MASK
    return value - (1 << 64) if value >> 63 else value
