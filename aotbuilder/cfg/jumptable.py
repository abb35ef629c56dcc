"""Recognise indirect jumps through jump tables and constant targets (auipc+jalr).

A small symbolic evaluation of the straight-line code before a `jalr` expresses its target in terms
of the registers at the start of the block.  A constant is a long call or tail call; a load from
`table + index * scale` (plus a constant for PC-relative tables) is a jump table, whose length comes
from the unsigned bound check on `index` in a predecessor block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aotbuilder.cfg.addresses import ACCESS_SIZES
from aotbuilder.cfg.program import Instruction
from aotbuilder.errors import GuestError
from aotbuilder.isa import operand_kinds

MASK64 = 0xFFFF_FFFF_FFFF_FFFF
MAX_TABLE_ENTRIES = 4096

# Symbolic values: ("c", value) | ("r", reg at block start) | ("ld", addr, size, signed)
#                  | ("add", a, b) | ("shl", a, k) | None (unknown)
Value = tuple | None


def _add(a: Value, b: Value) -> Value:
    if a is None or b is None:
        return None
    if a[0] == "c" and b[0] == "c":
        return ("c", (a[1] + b[1]) & MASK64)
    if b == ("c", 0):
        return a
    if a == ("c", 0):
        return b
    return ("add", a, b)


def _shl(a: Value, k: int) -> Value:
    if a is None:
        return None
    if a[0] == "c":
        return ("c", (a[1] << k) & MASK64)
    return a if k == 0 else ("shl", a, k)


def _step(regs: dict[int, Value], ins: Instruction) -> None:
    """Apply one instruction to the symbolic register file (unknown results become None)."""
    insn = ins.insn
    if insn is None:
        return
    m, rd = insn.mnemonic, insn.rd

    def r(i: int) -> Value:
        return ("c", 0) if i == 0 else regs.get(i, ("r", i))

    value: Value
    if m == "lui":
        value = ("c", insn.imm & MASK64)
    elif m == "auipc":
        value = ("c", (ins.pc + insn.imm) & MASK64)
    elif m == "addi":
        value = _add(r(insn.rs1), ("c", insn.imm & MASK64))
    elif m == "addiw" and insn.imm == 0:  # sext.w: the bound check keeps the index small
        value = r(insn.rs1)
    elif m == "add.uw" and insn.rs2 == 0:  # zext.w, likewise
        value = r(insn.rs1)
    elif m == "add":
        value = _add(r(insn.rs1), r(insn.rs2))
    elif m == "andi" and insn.imm >= 0:
        inner = r(insn.rs1)
        value = None if inner is None else ("c", inner[1] & insn.imm) if inner[0] == "c" else ("and", inner, insn.imm)
    elif m == "slli":
        value = _shl(r(insn.rs1), insn.imm)
    elif m == "srli":
        inner = r(insn.rs1)
        value = None
        if inner is not None and inner[0] == "shl" and inner[2] >= insn.imm:
            value = _shl(inner[1], inner[2] - insn.imm)  # (x << 32) >> k: a zero-extended scale
    elif m in ("sh1add", "sh2add", "sh3add"):
        value = _add(_shl(r(insn.rs1), int(m[2])), r(insn.rs2))
    elif m in ("lb", "lh", "lw", "ld", "lbu", "lhu", "lwu"):
        size = ACCESS_SIZES[m]
        addr = _add(r(insn.rs1), ("c", insn.imm & MASK64))
        value = None if addr is None else ("ld", addr, size, not m.endswith("u"))
    else:
        value = None
        if rd == 0 or not _writes_rd(m):
            return
    if rd:
        regs[rd] = value


def _writes_rd(mnemonic: str) -> bool:
    return "rd" in operand_kinds(mnemonic)


def _terms(v: Value) -> list[Value]:
    if v is not None and v[0] == "add":
        return _terms(v[1]) + _terms(v[2])
    return [v]


def evaluate(block: list[Instruction], initial: dict[int, Value] | None = None) -> dict[int, Value]:
    """Registers after `block`, from `initial` (default: each register's unknown incoming value)."""
    regs: dict[int, Value] = dict(initial or {})
    for ins in block:
        _step(regs, ins)
    return regs


def jalr_target(block: list[Instruction], initial: dict[int, Value] | None = None) -> Value:
    """The symbolic target of the jalr that ends `block`."""
    *body, last = block
    regs = evaluate(body, initial)
    base = ("c", 0) if last.insn.rs1 == 0 else regs.get(last.insn.rs1, ("r", last.insn.rs1))
    return _add(base, ("c", last.insn.imm & MASK64))


@dataclass(frozen=True)
class TableShape:
    base: int
    scale: int
    size: int
    signed: bool
    offset: int  # added to each entry (the table base for PC-relative tables, else 0)
    index_reg: int | None  # the register (at block start) holding the index, if it is one
    count: int | None = None  # entries implied by the index expression itself (x & mask)


def table_shape(target: Value) -> TableShape | None:
    terms = _terms(target)
    loads = [t for t in terms if t is not None and t[0] == "ld"]
    consts = [t for t in terms if t is not None and t[0] == "c"]
    if len(loads) != 1 or len(loads) + len(consts) != len(terms):
        return None
    _, addr, size, signed = loads[0]
    offset = sum(c[1] for c in consts) & MASK64
    addr_terms = _terms(addr)
    base = sum(t[1] for t in addr_terms if t is not None and t[0] == "c") & MASK64
    rest = [t for t in addr_terms if t is None or t[0] != "c"]
    if len(rest) != 1 or rest[0] is None:
        return None
    idx = rest[0]
    scale = 1
    if idx[0] == "shl":
        scale, idx = 1 << idx[2], idx[1]
    if base == 0:
        return None  # a load through a pointer (a function pointer in a struct), not a table
    if idx[0] == "and" and (idx[2] + 1) & idx[2] == 0:
        return TableShape(base, scale, size, signed, offset, None, idx[2] + 1)
    return TableShape(base, scale, size, signed, offset, idx[1] if idx[0] == "r" else None)


def bound_from_branch(pred: list[Instruction], index_reg: int | None, table_is_taken: bool,
                      initial: dict[int, Value] | None = None) -> int | None:
    """The number of table entries implied by the unsigned compare ending a predecessor block."""
    *body, branch = pred
    insn = branch.insn
    if insn is None or insn.mnemonic not in ("bltu", "bgeu"):
        return None
    regs = evaluate(body, initial)

    def r(i: int) -> Value:
        return ("c", 0) if i == 0 else regs.get(i, ("r", i))

    if index_reg is None:
        return None
    a, b = r(insn.rs1), r(insn.rs2)
    less = insn.mnemonic == "bltu"
    to_table_when_less = less == table_is_taken  # the table is reached when rs1 < rs2
    # The branch reads the index register's value at the end of the predecessor, which is its
    # value at the start of the table block.
    if insn.rs1 == index_reg and b is not None and b[0] == "c":
        # idx < c reaches the table: c entries; idx >= c reaching it is no bound
        return b[1] if to_table_when_less else None
    if insn.rs2 == index_reg and a is not None and a[0] == "c":
        # c < idx reaches the default, so idx <= c reaches the table: c + 1 entries
        return None if to_table_when_less else a[1] + 1
    return None


def table_targets(shape: TableShape, count: int, read: Callable[[int, int], bytes]) -> list[int] | None:
    if not 0 < count <= MAX_TABLE_ENTRIES:
        return None
    targets = []
    for i in range(count):
        try:
            raw = read(shape.base + i * shape.scale, shape.size)
        except GuestError:  # the table runs off the image: not a table we understand
            return None
        entry = int.from_bytes(raw, "little", signed=shape.signed)
        targets.append((entry + shape.offset) & MASK64)
    return targets


def scan_table(shape: TableShape, read: Callable[[int, int], bytes],
               plausible: Callable[[int], bool]) -> list[int] | None:
    """Entries from the start of the table for as long as they are plausible targets."""
    targets: list[int] = []
    while len(targets) < MAX_TABLE_ENTRIES:
        entry = table_targets(shape, 1, lambda a, n: read(a + len(targets) * shape.scale, n))
        if not entry or not plausible(entry[0]):
            break
        targets.append(entry[0])
    return targets or None


def constant_definitions(lines: list[list[Instruction]]) -> dict[int, list[tuple[int, Value]]]:
    """reg -> [(start of a line defining it, its value at the line's end)] over the function."""
    defs: dict[int, list[tuple[int, Value]]] = {}
    for line in lines:
        regs: dict[int, Value] = {}
        written: set[int] = set()
        for ins in line:
            _step(regs, ins)
            if ins.insn is not None and ins.insn.rd and _writes_rd(ins.insn.mnemonic):
                written.add(ins.insn.rd)
        for reg in written:  # lui+addi in one line is one definition: its value at the line's end
            defs.setdefault(reg, []).append((line[0].pc, regs.get(reg)))
    return defs


def guess_constants(defs: dict[int, list[tuple[int, Value]]], at: int,
                    plausible: Callable[[int], bool]) -> dict[int, Value]:
    """Registers guessed to hold a constant at the line starting at `at`: the nearest definition
    before it in address order (loop invariants set up before the loop), if that definition is a
    plausible address (a table base) or small enough to be the bound a compare checks the index
    against (busybox: `li s3, 26` in the prologue, `bltu s3, a5, default` in the loop).

    A wrong guess never sends a jump to the wrong place: a table whose entries do not decode is
    no table, and the lowered switch compares the run-time target, so a case it lacks leaves
    through the dispatcher."""
    known: dict[int, Value] = {}
    for reg, found in defs.items():
        before = [d for d in found if d[0] < at]
        where, value = max(before, key=lambda d: d[0]) if before else min(found, key=lambda d: d[0])
        if value is not None and value[0] == "c" and (value[1] <= MAX_TABLE_ENTRIES or plausible(value[1])):
            known[reg] = value
    return known
