"""Lift results stored under a lift key, and the check that makes storing one safe.

A lift result is what linking needs besides the object: the IR digest (which names the object,
see key.object_key) and the link-time values (guest addresses, callees, resume pcs), stored as
offsets from the function's entry so that a hit at another place yields the addresses a real
lift there would.

``lift_key`` hashes what the lifter is known to read.  Before a result is stored, ``observed_lift``
lifts through thin views of the Program and Function that record what the lifter actually read;
a result is stored only if that was all covered by the key.  So a lifter that starts reading
something new makes lifts uncacheable (slower), never wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aotbuilder.backend.codegen import TRIPLE
from aotbuilder.cache.key import NEAR, LiftKey
from aotbuilder.cfg.program import Function, Program
from aotbuilder.lift.lower import LiftedFunction, Lowering

# What lift_key covers of a Function and of a Program; reading anything else is not covered.
FUNCTION_FIELDS_IN_KEY = frozenset({"entry", "blocks", "cfg", "return_sites", "resolved_jumps", "jump_tables",
                                    "instructions", "name"})  # name: error messages only, not in the IR
PROGRAM_FIELDS_IN_KEY = frozenset({"functions", "image_range", "function_at"})


MASK = (1 << 64) - 1


def offset(address: int, entry: int) -> int:
    """`address - entry` modulo 2**64, as a signed number: guest arithmetic wraps (auipc reaching
    a weak undefined symbol at 0 from above, for example), and placing the offset at another entry
    must wrap the same way."""
    return ((address - entry + (1 << 63)) & MASK) - (1 << 63)


@dataclass(frozen=True)
class LiftRecord:
    """A stored lift: the IR's digest and the link-time values as offsets from the entry."""

    ir_digest: str
    addr_offsets: tuple[int, ...]
    fn_offsets: tuple[int, ...]
    resume_offsets: tuple[int, ...]

    @classmethod
    def of(cls, lifted: LiftedFunction, ir_digest: str) -> LiftRecord:
        e = lifted.entry
        return cls(ir_digest, tuple(offset(a, e) for a in lifted.addr_refs),
                   tuple(offset(f, e) for f in lifted.fn_refs), tuple(offset(r, e) for r in lifted.resume_pcs))

    def refs(self, entry: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(addr_refs, fn_refs, resume_pcs) of this lift placed at `entry`."""
        def place(offsets: tuple[int, ...]) -> tuple[int, ...]:
            return tuple((entry + d) & MASK for d in offsets)

        return place(self.addr_offsets), place(self.fn_offsets), place(self.resume_offsets)

    def encode(self) -> bytes:
        return json.dumps({"ir": self.ir_digest, "addr": self.addr_offsets, "fn": self.fn_offsets,
                           "resume": self.resume_offsets}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> LiftRecord | None:
        """The record, or None if the bytes are not one (treated as a miss)."""
        try:
            d = json.loads(data)
            record = cls(str(d["ir"]), tuple(d["addr"]), tuple(d["fn"]), tuple(d["resume"]))
        except (ValueError, KeyError, TypeError):
            return None
        if not all(isinstance(v, int) for v in (*record.addr_offsets, *record.fn_offsets, *record.resume_offsets)):
            return None
        return record


@dataclass
class Observation:
    """What one lift read beyond the function's own code."""

    entry_queries: set[int] = field(default_factory=set)
    image_range_reads: int = 0
    image_values: list[int] = field(default_factory=list)
    other_reads: set[str] = field(default_factory=set)

    def covered_by(self, key: LiftKey) -> bool:
        return (not self.other_reads and self.entry_queries <= key.targets
                and set(self.image_values) <= key.image_values
                and self.image_range_reads <= len(self.image_values))


class _ObservedFunctions(dict):
    """program.functions, recording which addresses the lifter asked about."""

    def __init__(self, functions: dict[int, Function], seen: Observation) -> None:
        super().__init__(functions)
        self._seen = seen

    def __contains__(self, pc: object) -> bool:
        self._seen.entry_queries.add(pc)  # type: ignore[arg-type]
        return super().__contains__(pc)

    def __getitem__(self, pc: int) -> Function:
        self._seen.entry_queries.add(pc)
        return super().__getitem__(pc)

    def get(self, pc: int, default=None):  # type: ignore[override]
        self._seen.entry_queries.add(pc)
        return super().get(pc, default)

    def __iter__(self):
        self._seen.other_reads.add("functions:iter")
        return super().__iter__()


class _ObservedProgram(Program):
    def __getattribute__(self, name: str):
        if not name.startswith("_"):
            seen = object.__getattribute__(self, "_seen")
            if name == "image_range":
                seen.image_range_reads += 1
            elif name not in PROGRAM_FIELDS_IN_KEY:
                seen.other_reads.add(f"program.{name}")
        return object.__getattribute__(self, name)


class _ObservedFunction(Function):
    def __getattribute__(self, name: str):
        if not name.startswith("_") and name not in FUNCTION_FIELDS_IN_KEY:
            object.__getattribute__(self, "_seen").other_reads.add(f"function.{name}")
        return object.__getattribute__(self, name)


class _ObservedLowering(Lowering):
    def near_image(self, value: int) -> bool:
        self._seen.image_values.append(value)
        return super().near_image(value)


def observed_lift(program: Program, func: Function) -> tuple[LiftedFunction, Observation]:
    """lower_function(program, func, TRIPLE), and what it read of the program and function."""
    seen = Observation()
    view = _ObservedProgram.__new__(_ObservedProgram)
    view.__dict__.update(program.__dict__, functions=_ObservedFunctions(program.functions, seen), _seen=seen)
    fview = _ObservedFunction.__new__(_ObservedFunction)
    fview.__dict__.update(func.__dict__, _seen=seen)
    lowering = _ObservedLowering(view, fview, TRIPLE)
    lowering._seen = seen
    return lowering.lower(), seen


def storable(lifted: LiftedFunction, seen: Observation, key: LiftKey) -> bool:
    """Whether this lift may be stored under `key`: the key covered everything it read, and (for a
    position-independent key) every address it refers to is a pc-relative distance away."""
    if not seen.covered_by(key):
        return False
    if key.pinned:
        return True
    e = lifted.entry
    return all(0 <= v <= MASK and -NEAR < offset(v, e) < NEAR
               for v in (*lifted.addr_refs, *lifted.fn_refs, *lifted.resume_pcs))
