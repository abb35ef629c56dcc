"""Function and block discovery by recursive descent.

Roots are the entry point, function symbols, init/fini arrays, .eh_frame FDEs and any extra roots
(learned entries).  Every `jal`/`jalr` that links makes its target a function; each function is
explored from its entry, following branches, jumps and recognised jump tables; a jump or
fall-through onto another function's entry is a tail call and ends the walk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import networkx as nx

from aotbuilder.cfg import jumptable
from aotbuilder.cfg.addresses import address_sites, near_image
from aotbuilder.cfg.pointers import code_pointers
from aotbuilder.cfg.program import BasicBlock, Function, Instruction, Program
from aotbuilder.elf import GuestImage
from aotbuilder.errors import GuestError
from aotbuilder.isa import decode

BRANCHES = frozenset({"beq", "bne", "blt", "bge", "bltu", "bgeu"})


class Decoder:
    """Decoded instructions of the guest image, by pc (each decoded once)."""

    def __init__(self, image: GuestImage) -> None:
        self.image = image
        self._cache: dict[int, Instruction | None] = {}

    def at(self, pc: int) -> Instruction | None:
        """The instruction at pc, or None when pc is not in executable memory."""
        if pc in self._cache:
            return self._cache[pc]
        ins = None
        if pc % 2 == 0 and self.image.is_code(pc):
            try:
                low = int.from_bytes(self.image.read(pc, 2), "little")
            except GuestError:
                low = None
            if low is not None:
                size = 2 if low & 3 != 3 else 4
                word = low
                if size == 4:
                    try:
                        word = int.from_bytes(self.image.read(pc, 4), "little")
                    except GuestError:
                        word = None
                if word is not None:
                    ins = Instruction(pc, decode(word), word, size)
        self._cache[pc] = ins
        return ins


class _FunctionWalk:
    """Explores one function; discovers callees as it goes."""

    def __init__(self, entry: int, name: str, size: int, decoder: Decoder, roots: set[int],
                 code_pointers: frozenset[int]) -> None:
        self.entry = entry
        self.code_pointers = code_pointers
        self.extent = (entry, entry + size) if size else None
        self.name = name
        self.decoder = decoder
        self.roots = roots
        self.insns: dict[int, Instruction] = {}
        self.leaders: set[int] = {entry}
        self.terminators: set[int] = set()
        self.edges: list[tuple[int, int]] = []  # (pc of the last instruction, successor leader)
        self.preds: dict[int, list[tuple[list[Instruction], bool]]] = defaultdict(list)
        self.callees: set[int] = set()
        self.unresolved: list[list[Instruction]] = []  # indirect jumps to retry with more knowledge
        self.func = Function(entry, name)

    def is_other_function(self, pc: int) -> bool:
        return pc != self.entry and pc in self.roots

    def run(self) -> Function:
        work = [self.entry]
        while work:
            while work:
                start = work.pop()
                work.extend(self._walk(start))
            # Indirect jumps whose table base lives in a register set elsewhere in the function:
            # retry them knowing the function's constant registers; new targets extend the walk.
            work = self._retry_unresolved()
        self._check_resolved_jumps()
        self._build_blocks()
        return self.func

    def _check_resolved_jumps(self) -> None:
        """A jalr target was evaluated over the straight line its walk decoded; it is a constant
        only if no other path joins that line before the jump (busybox's shell: each case of a
        switch sets a5 to its handler, then jumps into the middle of the first case's line, which
        ends in `jalr a5`).  Re-evaluate over the jump's own block, found now that every leader is
        known; a jump that is not constant there stays indirect."""
        for pc, target in list(self.func.resolved_jumps.items()):
            start = max(leader for leader in self.leaders if leader <= pc)
            line, at = [], start
            while at < pc and at in self.insns:
                line.append(self.insns[at])
                at += self.insns[at].size
            value = jumptable.jalr_target([*line, self.insns[pc]]) if at == pc else None
            if value is None or value[0] != "c" or value[1] & ~1 != target:
                del self.func.resolved_jumps[pc]

    def _retry_unresolved(self) -> list[int]:
        if not self.unresolved:
            return []
        definitions = jumptable.constant_definitions(self._lines())
        found: list[int] = []
        for line in list(self.unresolved):
            # Guess the table base or bound a register holds (hoisted out of a loop).  A wrong guess
            # is still correct code: the lowered switch compares the run-time target, so extra
            # cases go unused and a missing one leaves to the dispatcher (and the fallback JIT).
            known = jumptable.guess_constants(definitions, line[0].pc,
                                              lambda v: self.decoder.image.segment_at(v) is not None)
            target = jumptable.jalr_target(line, known)
            shape = jumptable.table_shape(target) if target is not None else None
            self.unresolved.remove(line)
            targets = None if shape is None else self._table_targets(line[0].pc, shape, known, scan=True)
            if targets:
                self.func.jump_tables[line[-1].pc] = targets
                for t in targets:
                    self._target(t, found)
        return found

    def _lines(self) -> list[list[Instruction]]:
        """Straight lines of the code explored so far, one from each leader."""
        lines = []
        for start in sorted(self.leaders):
            line, pc = [], start
            while pc in self.insns:
                line.append(self.insns[pc])
                if pc in self.terminators:
                    break
                pc += self.insns[pc].size
                if pc in self.leaders:
                    break
            lines.append(line)
        return lines

    def _target(self, pc: int, targets: list[int]) -> None:
        if not self.is_other_function(pc) and self.decoder.at(pc) is not None:
            targets.append(pc)

    def _walk(self, start: int) -> list[int]:
        """Decode a straight line from `start`; returns newly found successor leaders."""
        if start in self.insns:
            self.leaders.add(start)
            return []
        self.leaders.add(start)
        pc, line, found = start, [], []
        while True:
            ins = self.decoder.at(pc)
            if ins is None:
                return found
            self.insns[pc] = ins
            line.append(ins)
            nxt = pc + ins.size
            insn = ins.insn
            if insn is None or insn.mnemonic == "ebreak":
                self.terminators.add(pc)
                return found
            m = insn.mnemonic
            if m in BRANCHES:
                self.terminators.add(pc)
                for target, taken in ((pc + insn.imm, True), (nxt, False)):
                    self.preds[target].append((list(line), taken))
                    self._target(target, found)
                return found
            if m == "jal":
                self.terminators.add(pc)
                self._jump(pc, pc + insn.imm, insn.rd, nxt, found)
                return found
            if m == "jalr":
                self.terminators.add(pc)
                self._jalr(line, insn, nxt, found)
                return found
            if m == "fence.i":
                # Code may have changed: the lowering leaves to the dispatcher, which resumes at
                # the next instruction (a resume point) unless its translation was invalidated.
                self.terminators.add(pc)
                self.func.return_sites.append(nxt)
                self._target(nxt, found)
                return found
            if self.is_other_function(nxt):
                return found  # falls through into the next function: a tail call
            if nxt in self.insns:
                self.leaders.add(nxt)
                return found
            pc = nxt

    def _jump(self, pc: int, target: int, link: int, nxt: int, found: list[int]) -> None:
        if link:
            self.callees.add(target)
            self.func.return_sites.append(nxt)
            self._target(nxt, found)
        elif target != self.entry and target in self.roots:
            pass  # tail call
        else:
            self._target(target, found)

    def _jalr(self, line: list[Instruction], insn, nxt: int, found: list[int]) -> None:
        pc = line[-1].pc
        target = jumptable.jalr_target(line)
        if target is not None and target[0] == "c" and self.decoder.at(target[1] & ~1) is not None:
            resolved = target[1] & ~1
            self.func.resolved_jumps[pc] = resolved
            if insn.rd:
                self.roots.add(resolved)
            self._jump(pc, resolved, insn.rd, nxt, found)
            return
        if insn.rd:
            self.func.return_sites.append(nxt)
            self._target(nxt, found)
            return
        shape = jumptable.table_shape(target)
        targets = None if shape is None else self._table_targets(line[0].pc, shape)
        if targets is None and not insn.is_return:
            self.unresolved.append(list(line))
            if shape is None and self.extent is not None:
                # A computed goto: any label address stored in data that lies in this function.
                lo, hi = self.extent
                targets = [p for p in self.code_pointers if lo <= p < hi and self.decoder.at(p) is not None]
                if targets:
                    self.func.guessed_tables.add(pc)
        if targets:
            self.func.jump_tables[pc] = targets
            for t in targets:
                self._target(t, found)

    def _table_targets(self, block_start: int, shape: jumptable.TableShape,
                       constants: dict | None = None, scan: bool = False) -> list[int] | None:
        read = self.decoder.image.read
        bounds = [shape.count] if shape.count else [
            jumptable.bound_from_branch(pred, shape.index_reg, taken, constants)
            for pred, taken in self.preds.get(block_start, [])]
        for count in bounds:
            if count is not None:
                targets = jumptable.table_targets(shape, count, read)
                if targets and all(self.decoder.at(t) is not None for t in targets):
                    return targets
                return None
        if self.extent is None or not scan:
            return None
        # The bound is not a constant near the jump: take entries while they land inside this
        # function (its symbol's extent).  Extra entries only add unreachable switch cases.
        lo, hi = self.extent
        return jumptable.scan_table(shape, read, lambda t: lo <= t < hi and self.decoder.at(t) is not None)

    def _build_blocks(self) -> None:
        func = self.func
        for start in sorted(self.leaders):
            if start not in self.insns:
                continue
            body, pc = [], start
            while pc in self.insns:
                ins = self.insns[pc]
                body.append(ins)
                pc += ins.size
                if ins.pc in self.terminators or pc in self.leaders:
                    break
            func.blocks[start] = BasicBlock(start, body)
            func.cfg.add_node(start)
        for start, block in func.blocks.items():
            for succ in _successors(func, block):
                if succ in func.blocks:
                    func.cfg.add_edge(start, succ)
        func.return_sites = sorted(set(func.return_sites) & set(func.blocks))


def _successors(func: Function, block: BasicBlock) -> Iterable[int]:
    last = block.instructions[-1]
    insn = last.insn
    if insn is None:
        return []
    m = insn.mnemonic
    if m in BRANCHES:
        return [last.pc + insn.imm, block.end]
    if m == "jal":
        return [block.end] if insn.rd else [last.pc + insn.imm]
    if m == "jalr":
        if insn.rd:
            return [block.end]
        if last.pc in func.resolved_jumps:
            return [func.resolved_jumps[last.pc]]
        return func.jump_tables.get(last.pc, [])
    if m == "ebreak":
        return []
    return [block.end]


def _estimate_sizes(sizes: dict[int, int], roots: set[int], image: GuestImage) -> None:
    """Functions without a symbol size extend to the next known entry (or the segment's end)."""
    ordered = sorted(roots)
    ends = [hi for _, hi in image.exec_ranges()]
    for i, pc in enumerate(ordered):
        if sizes.get(pc):
            continue
        segment_end = min((e for e in ends if e > pc), default=pc)
        nxt = ordered[i + 1] if i + 1 < len(ordered) else segment_end
        sizes[pc] = min(nxt, segment_end) - pc


def discover(image: GuestImage, extra_roots: Iterable[int] = ()) -> Program:
    """Find the functions of `image` and their control-flow graphs."""
    decoder = Decoder(image)
    names, sizes = _symbol_functions(image)
    pointers = code_pointers(image)
    roots = {image.entry, *names, *image.init_array, *image.eh_frame_pcs, *extra_roots}
    stripped = not names
    if stripped:
        # Stripped: function pointers stored in data (callbacks, applet tables, vtables) are entries.
        # A pointer that is really a label inside a function only makes that label a function
        # of its own: jumping there is then a tail call, which is still correct.
        roots |= pointers
    roots = {pc for pc in roots if decoder.at(pc) is not None}
    _estimate_sizes(sizes, roots, image)
    names.setdefault(image.entry, "_start")
    return _explore(decoder, sorted(roots), roots, names, sizes, pointers, frozenset(), stripped)


def discover_from(image: GuestImage, entry: int, translated: Iterable[int]) -> Program:
    """The functions reachable from `entry` (the fallback JIT's region) that are not among
    `translated`, the entries translated already: those stay outside as `Program.external`, and
    calls to them are native calls to the existing translations."""
    decoder = Decoder(image)
    names, sizes = _symbol_functions(image)
    external = frozenset(translated) - {entry}
    roots = {entry, *external}
    _estimate_sizes(sizes, {entry, *names}, image)
    return _explore(decoder, [entry], roots, names, sizes, code_pointers(image), external, False)


def _symbol_functions(image: GuestImage) -> tuple[dict[int, str], dict[int, int]]:
    """Names and sizes of the function symbols in executable memory."""
    names: dict[int, str] = {}
    sizes: dict[int, int] = {}
    for sym in image.symbols:
        if sym.kind == "func" and image.is_executable(sym.addr):
            names.setdefault(sym.addr, sym.name)
            sizes[sym.addr] = max(sizes.get(sym.addr, 0), sym.size)
    return names, sizes


def _explore(decoder: Decoder, work: list[int], roots: set[int], names: dict[int, str], sizes: dict[int, int],
             pointers: frozenset[int], external: frozenset[int], stripped: bool) -> Program:
    """Walk the functions from `work`, and the callees they reveal (not those in `external`)."""
    image = decoder.image
    functions: dict[int, Function] = {}
    call_graph = nx.DiGraph()
    lo = min(s.vaddr for s in image.segments)
    hi = max(s.vaddr + s.memsz for s in image.segments)
    scanned: set[int] = set()  # functions whose `la` addresses were collected (stripped binaries)
    while work:
        while work:
            entry = work.pop()
            if entry in functions or entry in external or decoder.at(entry) is None:
                continue
            walk = _FunctionWalk(entry, names.get(entry, f"sub_{entry:x}"), sizes.get(entry, 0), decoder, roots,
                                 pointers)
            functions[entry] = walk.run()
            call_graph.add_node(entry)
            for callee in sorted(walk.callees):
                call_graph.add_edge(entry, callee)
                roots.add(callee)
                if callee not in functions:
                    work.append(callee)
        if stripped:
            # Stripped: functions only ever named by `la` (main, handed to __libc_start_main in a
            # register; callbacks registered in code) are entries too.
            fresh = [functions[e] for e in functions if e not in scanned]
            scanned.update(f.entry for f in fresh)
            work = sorted(_loaded_code_addresses(fresh, functions, decoder, (lo, hi)) - roots)
            roots.update(work)
    # Callees discovered late may have been explored inline by earlier walks; that is only
    # duplicated code, since a block's semantics do not depend on which function holds it.
    return Program(functions, call_graph, roots, (lo, hi), external)


def _loaded_code_addresses(scan: list[Function], functions: dict[int, Function], decoder: Decoder,
                           image_range: tuple[int, int]) -> set[int]:
    """Code addresses that an addi in `scan` completes (`la`: auipc or lui, then addi) and that no
    explored function has as an instruction: a label inside explored code is a jump target, not an
    entry."""
    explored = {ins.pc for f in functions.values() for b in f.blocks.values() for ins in b.instructions}
    found = set()
    for func in scan:
        sites = address_sites(func, lambda v: near_image(image_range, v))
        for block in func.blocks.values():
            for ins in block.instructions:
                address = sites.values.get(ins.pc)
                if (address is not None and ins.insn.mnemonic == "addi" and ins.pc not in sites.gp_relative
                        and address not in explored and decoder.at(address) is not None):
                    found.add(address)
    return found
