"""The discovered program: functions made of basic blocks, and the graphs between them."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from aotbuilder.isa import Insn


@dataclass(frozen=True, slots=True)
class Instruction:
    pc: int
    insn: Insn | None  # None: an encoding the decoder rejects (lowered to an illegal-instruction trap)
    raw: int
    size: int


@dataclass
class BasicBlock:
    start: int
    instructions: list[Instruction]

    @property
    def end(self) -> int:
        last = self.instructions[-1]
        return last.pc + last.size


@dataclass
class Function:
    entry: int
    name: str
    blocks: dict[int, BasicBlock] = field(default_factory=dict)
    cfg: nx.DiGraph = field(default_factory=nx.DiGraph)
    # pc after each call: where a callee's native return lands, and the dispatcher may resume.
    return_sites: list[int] = field(default_factory=list)
    # jalr pcs whose target is a constant (auipc+jalr long calls and tail calls).
    resolved_jumps: dict[int, int] = field(default_factory=dict)
    # jalr pcs recognised as jump tables: the targets the table holds.
    jump_tables: dict[int, list[int]] = field(default_factory=dict)
    # Those whose targets are guesses: the code pointers stored in data that land in the function
    # (a computed goto, or a table of function pointers whose index discovery did not follow).
    guessed_tables: set[int] = field(default_factory=set)

    def instructions(self) -> list[Instruction]:
        return [i for start in sorted(self.blocks) for i in self.blocks[start].instructions]


@dataclass
class Program:
    functions: dict[int, Function]
    call_graph: nx.DiGraph
    roots: set[int] = field(default_factory=set)
    # [lo, hi) of the loaded image: constants in this range are treated as guest addresses.
    image_range: tuple[int, int] = (0, 0)
    # Function entries translated elsewhere (the fallback JIT's region calls into the ahead-of-time
    # translation): calls to them are native calls, but they are not translated here.
    external: frozenset[int] = frozenset()

    def in_image(self, value: int) -> bool:
        lo, hi = self.image_range
        return lo <= value < hi

    def is_function(self, pc: int) -> bool:
        """Whether a jump to pc is a call to a translated function."""
        return pc in self.functions or pc in self.external

    def function_at(self, pc: int) -> Function | None:
        return self.functions.get(pc)
