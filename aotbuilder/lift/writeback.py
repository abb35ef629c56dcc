"""Where a translated function's registers meet the CPU state: the placement of write-backs and
reloads around calls, decided over the finished IR of one function (Emitter.place_writebacks).

The lowering writes back every register the function writes before each call or exit and reloads
every register it uses after each call.  Three passes make that cheaper, each keeping the rule
that at a call, an exit or a poll the CPU state holds every register's current value:

* A register is written back only where it may have changed since the state last held it (a
  forward data-flow of "dirty" registers over the IR blocks).
* A loop whose body calls out is entered with registers that the code before it changed: they
  are written back once at the end of each block entering the loop, not at every call in it.
* A register that a loop with calls neither reads nor writes is not reloaded after each call in
  the loop: the state holds it throughout (it is written back on entering the loop), and it is
  reloaded on each edge that leaves the loop.
* A register that some paths into a block changed and another did not, and that nothing after
  the block writes, is written back at the end of the paths that changed it (merge_writebacks):
  the exit after the join then stores nothing for it, so the path that left it alone does not
  need its entry value (a load at the function's entry, often spilled at once, only to store it
  back unchanged).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

import llvmlite.ir as ir
import networkx as nx

Key = tuple[str, int]  # ("x" | "f", register number)
# Emitter._dirty_flow's state at a point: the registers that may differ from their CPU-state copy,
# and for others the ids of IR values known to equal that copy.
FlowState = tuple[frozenset[Key], dict[Key, frozenset[int]]]
DirtyFlow = tuple[dict[ir.Block, FlowState], dict[ir.Block, FlowState]]  # on entry to, exit from each block


def successors(block: ir.Block) -> list[ir.Block]:
    term = block.terminator
    if isinstance(term, ir.SwitchInstr):
        return [term.default, *(target for _, target in term.cases)]
    if hasattr(term, "retarget"):  # a direct access's callbr (lift/emitter.py, DirectAccess)
        return term.successors()
    return [op for op in getattr(term, "operands", ()) if isinstance(op, ir.Block)]


class WritebackMarker(ir.Instruction):
    """Where control leaves the function (Emitter.store_written): the registers that may have
    changed by then are written back here once the dirty flow is known, each with the value the
    block holds for it at that point.  Those values are the marker's operands, so the passes
    that look at an alloca's or a value's users see them used, as the stores would use them; the
    marker is replaced by the stores before the IR is printed."""

    def __init__(self, parent: ir.Block, values: dict[Key, ir.Value], handed: frozenset[Key] = frozenset()) -> None:
        super().__init__(parent, ir.VoidType(), "writeback", list(values.values()))
        self.keys = list(values)
        self.handed = handed  # registers that leave in host registers, not written back

    def values(self) -> dict[Key, ir.Value]:
        return dict(zip(self.keys, self.operands, strict=True))

    def descr(self, buf: list[str]) -> None:
        raise AssertionError("a write-back marker was left in the IR")


def written_back_as(user: ir.Instruction, value: ir.Value, owner: dict[int, Key]) -> set[Key | None]:
    """The registers as which `user` writes `value` back (None: it uses it otherwise)."""
    if isinstance(user, WritebackMarker):
        return {k for k, v in zip(user.keys, user.operands, strict=True) if v is value}
    if isinstance(user, ir.StoreInstr) and user.operands[0] is value:
        return {owner.get(id(user.operands[1]))}
    return {None}


@dataclass
class Loop:
    """A natural loop of the IR: the blocks that reach one of its header's back edges without
    passing the header.  Other blocks may enter it anywhere (a resume entry's switch)."""

    header: ir.Block
    body: set[ir.Block]
    latches: list[ir.Block]
    entering: list[tuple[ir.Block, ir.Block]] = field(default_factory=list)  # (outside, inside)
    exits: list[tuple[ir.Block, ir.Block]] = field(default_factory=list)  # (inside, outside)


class FlowGraph:
    """The reachable IR blocks of a function, their predecessors and its loops."""

    def __init__(self, fn: ir.Function) -> None:
        entry = fn.blocks[0]
        self.order: dict[ir.Block, int] = {entry: 0}
        self.preds: dict[ir.Block, list[ir.Block]] = {entry: []}
        self.postorder: list[ir.Block] = []
        back_edges: list[tuple[ir.Block, ir.Block]] = []
        on_path = {entry}
        stack = [(entry, iter(successors(entry)))]
        while stack:  # depth-first: an edge to a block on the current path is a back edge
            block, succs = stack[-1]
            succ = next(succs, None)
            if succ is None:
                on_path.discard(block)
                self.postorder.append(block)
                stack.pop()
                continue
            self.preds.setdefault(succ, []).append(block)
            if succ in on_path:
                back_edges.append((block, succ))
            elif succ not in self.order:
                self.order[succ] = len(self.order)
                on_path.add(succ)
                stack.append((succ, iter(successors(succ))))
        self._back_edges = back_edges

    @cached_property
    def loops(self) -> list[Loop]:
        """The natural loops, enclosing loops first (built on first use: the merge rounds of
        place_writebacks need only the predecessors)."""
        latches: dict[ir.Block, list[ir.Block]] = {}
        for latch, header in self._back_edges:
            latches.setdefault(header, []).append(latch)
        loops = [self._loop(header, back) for header, back in latches.items()]
        loops.sort(key=lambda loop: -len(loop.body))
        return loops

    def cold(self, rare: set[ir.Block]) -> set[ir.Block]:
        """The blocks only rare paths reach: `rare` and the blocks whose predecessors are all cold."""
        cold = {b for b in rare if b in self.preds}
        changed = True
        while changed:
            changed = False
            for block in self.order:
                if block not in cold and self.preds[block] and all(p in cold for p in self.preds[block]):
                    cold.add(block)
                    changed = True
        return cold

    def _loop(self, header: ir.Block, latches: list[ir.Block]) -> Loop:
        body, work = {header}, list(latches)
        while work:
            block = work.pop()
            if block not in body:
                body.add(block)
                work.extend(self.preds[block])
        loop = Loop(header, body, latches)
        for block in sorted(body, key=self.order.__getitem__):  # in a fixed order: the IR must not vary
            loop.entering += [(p, block) for p in self.preds[block] if p not in body]
            loop.exits += [(block, s) for s in dict.fromkeys(successors(block)) if s not in body]
        return loop


@dataclass
class RegisterSlots:
    """What the passes need of the Emitter: each register's alloca and CPU-state field."""

    allocas: dict[Key, ir.AllocaInstr]
    fields: dict[Key, ir.Value]
    written: tuple[Key, ...]  # the registers the function may write (the only ones it writes back)

    def __post_init__(self) -> None:
        # The register an alloca or a CPU field pointer belongs to (IR values hash by identity).
        self.owner: dict[int, Key] = {id(v): k for table in (self.allocas, self.fields) for k, v in table.items()}


def loop_reloads_to_sink(loop: Loop, slots: RegisterSlots, users: dict[ir.Value, list[ir.Instruction]],
                         already: set[Key]) -> tuple[set[Key], list[ir.StoreInstr]]:
    """The registers `loop` neither reads nor writes but reloads after a call, and the stores
    of those reloads into their allocas.  A read that only feeds a write-back of the same
    register does not count: the register is clean in the loop, so that store is dropped."""
    owner = slots.owner
    touched: set[Key] = set()
    reloads: dict[Key, list[ir.StoreInstr]] = {}

    def only_written_back(value: ir.Value, key: Key) -> bool:
        """Whether `value` is only stored, as register `key`, to its CPU field or alloca."""
        return all(written_back_as(u, value, owner) == {key} for u in users.get(value, ()))

    for block in loop.body:
        for ins in block.instructions:
            if isinstance(ins, ir.LoadInstr):  # of an alloca (a read) or a CPU field (a reload)
                key = owner.get(id(ins.operands[0]))
                if key is not None and not only_written_back(ins, key):
                    touched.add(key)
            elif isinstance(ins, ir.StoreInstr) and id(ins.operands[1]) in owner:
                key, value = owner[id(ins.operands[1])], ins.operands[0]
                if ins.operands[1] is not slots.allocas[key]:
                    continue  # a write-back to the CPU state
                if isinstance(value, ir.LoadInstr) and value.operands[0] is slots.fields[key]:
                    reloads.setdefault(key, []).append(ins)
                else:
                    touched.add(key)
    sunk = set(reloads) - touched - already
    return sunk, [store for key in sunk for store in reloads[key]]


def uses_of(fn: ir.Function) -> dict[ir.Value, list[ir.Instruction]]:
    users: dict[ir.Value, list[ir.Instruction]] = {}
    for block in fn.blocks:
        for ins in block.instructions:
            for op in ins.operands:
                users.setdefault(op, []).append(ins)
    return users


def split_edge(fn: ir.Function, source: ir.Block, target: ir.Block, name: str,
               fill: Callable[[ir.IRBuilder], None]) -> ir.Block:
    """A new block on the edge source -> target, holding what `fill` emits."""
    middle = fn.append_basic_block(name)
    b = ir.IRBuilder(middle)
    fill(b)
    b.branch(target)
    term = source.terminator
    if isinstance(term, ir.SwitchInstr):
        if term.default is target:
            term.default = middle
        term.cases = [(v, middle if t is target else t) for v, t in term.cases]
    elif hasattr(term, "retarget"):
        term.retarget(target, middle)
    else:
        term.replace_usage(target, middle)
    for ins in target.instructions:
        if isinstance(ins, ir.PhiInstr):
            ins.incomings = [(v, middle if blk is source else blk) for v, blk in ins.incomings]
    return middle


MergeEdge = tuple[ir.Block, "ir.Block | None"]  # (path's last block, join), or (block, None): its end


def merge_writebacks(preds: dict[ir.Block, list[ir.Block]], dirty_out: dict[ir.Block, frozenset[Key]],
                     writes: dict[ir.Block, set[Key]], keys: Iterable[Key],
                     cold: set[ir.Block]) -> dict[MergeEdge, set[Key]]:
    """Where to write back a register that is dirty on some paths into a block and clean on
    another, so that it is clean there: at the end of each path that changed it, for a register
    that no block reachable from the block writes, when no such path is on a cycle through the
    block, and the block is not cold (a rare path's shared exit: the stores would be copied onto
    every path into it).  Each edge runs at most as often as the block does, and every path on
    from the block would store the register at its next call or exit, so no path stores more
    often than before.  The store goes at the end of the path's last block, before its branch,
    when no path from any of that block's successors writes the register (the others would
    store it anyway), else on the edge into the join."""
    keys = list(keys)  # in their order, not a set's: the IR must not vary between processes
    candidates: list[tuple[ir.Block, list[ir.Block], Key]] = []  # (join, its dirty paths' blocks, register)
    for block, sources in preds.items():
        if len(sources) < 2 or block in cold:
            continue
        seen = Counter(key for p in sources for key in dirty_out.get(p, ()))
        for key in keys:
            if 0 < seen[key] < len(sources):
                candidates.append((block, [p for p in sources if key in dirty_out.get(p, ())], key))
    if not candidates:
        return {}
    graph = nx.DiGraph()
    for block, sources in preds.items():
        graph.add_node(block)
        graph.add_edges_from((source, block) for source in sources)
    condensed = nx.condensation(graph)
    component = condensed.graph["mapping"]
    written_after: dict[int, set[Key]] = {}
    for node in reversed(list(nx.topological_sort(condensed))):
        found = set().union(*(writes.get(b, set()) for b in condensed.nodes[node]["members"]))
        for succ in condensed.successors(node):
            found |= written_after[succ]
        written_after[node] = found
    edges: dict[MergeEdge, set[Key]] = {}
    for block, dirty, key in candidates:
        node = component[block]
        if key in written_after[node] or any(component[pred] == node for pred in dirty):
            continue
        for pred in dict.fromkeys(dirty):
            if all(key not in written_after[component[s]] for s in graph.successors(pred)):
                edges.setdefault((pred, None), set()).add(key)
            else:
                edges.setdefault((pred, block), set()).add(key)
    return edges
