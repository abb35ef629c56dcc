"""Lift results stored under a lift key, and the check that makes storing one safe.

A lift result is what linking needs besides the object: the IR digest (which names the object,
see key.object_key) and the link-time values (guest addresses, callees, resume pcs), stored by
origin (an address site of the function, or an offset from its entry) so that a hit at another
place, in another program, yields the addresses a real lift there would.

``lift_key`` hashes what the lifter is known to read.  Before a result is stored, ``observed_lift``
lifts through thin views of the Program and Function that record what the lifter actually read;
a result is stored only if that was all covered by the key.  So a lifter that starts reading
something new makes lifts uncacheable (slower), never wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aotbuilder import abi
from aotbuilder.backend.codegen import TRIPLE
from aotbuilder.cache.key import NEAR, LiftKey
from aotbuilder.cfg.addresses import MASK, Origin, offset
from aotbuilder.cfg.program import Function, Program
from aotbuilder.lift.lower import LiftedFunction, Lowering

# What lift_key covers of a Function and of a Program; reading anything else is not covered.
# name: error messages only, not in the IR.
FUNCTION_FIELDS_IN_KEY = frozenset({"entry", "blocks", "cfg", "return_sites", "resolved_jumps", "jump_tables",
                                    "guessed_tables", "instructions", "name"})
PROGRAM_FIELDS_IN_KEY = frozenset({"functions", "image_range", "function_at", "is_function", "external"})


@dataclass(frozen=True)
class LiftRecord:
    """A stored lift: the IR's digest and where each link-time value comes from (Origin), so that
    the same lift can be placed at another entry, with other immediates at its address sites."""

    ir_digest: str
    addr_origins: tuple[Origin, ...]
    fn_origins: tuple[Origin, ...]
    resume_offsets: tuple[int, ...]

    @classmethod
    def of(cls, lifted: LiftedFunction, ir_digest: str) -> LiftRecord:
        return cls(ir_digest, lifted.addr_origins, lifted.fn_origins,
                   tuple(offset(r, lifted.entry) for r in lifted.resume_pcs))

    def refs(self, entry: int, sites: dict[int, int]) -> tuple[tuple[int, ...], ...] | None:
        """(addr_refs, fn_refs, resume_pcs) of this lift placed at `entry`, where the address
        sites form `sites` (pc -> address); None if a site of the lift is not a site there."""
        def place(origins: tuple[Origin, ...]) -> tuple[int, ...] | None:
            out = []
            for kind, d in origins:
                value = (entry + d) & MASK if kind == "offset" else sites.get(entry + d)
                if value is None:
                    return None
                out.append(value)
            return tuple(out)

        addr, fn = place(self.addr_origins), place(self.fn_origins)
        if addr is None or fn is None:
            return None
        return addr, fn, tuple((entry + d) & MASK for d in self.resume_offsets)

    def encode(self) -> bytes:
        return json.dumps({"ir": self.ir_digest, "addr": self.addr_origins, "fn": self.fn_origins,
                           "resume": self.resume_offsets}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> LiftRecord | None:
        """The record, or None if the bytes are not one (treated as a miss)."""
        def origins(values: list) -> tuple[Origin, ...]:
            out = tuple((kind, d) for kind, d in values)
            if not all(kind in ("site", "offset") and isinstance(d, int) for kind, d in out):
                raise ValueError("not an origin")
            return out

        try:
            d = json.loads(data)
            record = cls(str(d["ir"]), origins(d["addr"]), origins(d["fn"]), tuple(d["resume"]))
        except (ValueError, KeyError, TypeError):
            return None
        if not all(isinstance(v, int) for v in record.resume_offsets):
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


def observed_lift(program: Program, func: Function, memory_model: str = abi.DEFAULT_MEMORY_MODEL,
                  avx: bool = False) -> tuple[LiftedFunction, Observation]:
    """lower_function(program, func, TRIPLE, memory_model, avx), and what it read of the program and function."""
    seen = Observation()
    view = _ObservedProgram.__new__(_ObservedProgram)
    view.__dict__.update(program.__dict__, functions=_ObservedFunctions(program.functions, seen), _seen=seen)
    fview = _ObservedFunction.__new__(_ObservedFunction)
    fview.__dict__.update(func.__dict__, _seen=seen)
    lowering = _ObservedLowering(view, fview, TRIPLE, memory_model, avx)
    lowering._seen = seen
    return lowering.lower(), seen


def storable(lifted: LiftedFunction, seen: Observation, key: LiftKey) -> bool:
    """Whether this lift may be stored under `key`: the key covered everything it read, every
    address site's address went into a placeholder (so the immediates the key leaves out reach the
    code only that way), and every other value is a pc-relative distance from the entry."""
    if not seen.covered_by(key) or lifted.sites_used != lifted.sites:
        return False
    near = all(-NEAR < d < NEAR for kind, d in (*lifted.addr_origins, *lifted.fn_origins) if kind == "offset")
    return near and all(-NEAR < offset(r, lifted.entry) < NEAR for r in lifted.resume_pcs)
