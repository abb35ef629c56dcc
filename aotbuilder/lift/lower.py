"""Lowering driver: guest function -> LLVM function (lower_function -> lower_block -> lower_insn).

Control flow follows design.md's translation model: direct branches are LLVM branches, calls to
translated functions are native calls whose returned guest pc is checked against the expected
return address, and everything else writes back the registers this function changed on its path
and leaves through one exit block that returns the next guest pc to its caller (ultimately the
dispatcher).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import llvmlite.ir as ir

from aotbuilder import abi
from aotbuilder.cfg.addresses import Origin, Sites, address_sites, near_image
from aotbuilder.cfg.loops import ByteScan, CountedLoop, StridedLoop, byte_scan, counted_loop, loop_headers, strided_loop
from aotbuilder.cfg.program import BasicBlock, Function, Instruction, Program
from aotbuilder.errors import GuestError
from aotbuilder.isa import disassemble
from aotbuilder.isa.insn import RM_RNE
from aotbuilder.lift.emitter import (
    I64,
    PASSED_KEYS,
    PTR,
    SELF_FN,
    Emitter,
    RegisterUse,
    register_use,
    translated_function,
)
from aotbuilder.lift.fp import FLAG_NV, any_zero_or_infinite, or_flags
from aotbuilder.lift.frame_slots import SP, FrameSlots, Slot, frame_slots
from aotbuilder.lift.loop_checks import (
    MIN_PLAIN_RUN,
    chunk_end,
    entry_check,
    linear_value,
    plain_check,
    plain_chunk,
    window_check,
)
from aotbuilder.lift.plain_fp import invariant_multiplicands, plain_fp_loop
from aotbuilder.lift.semantics import SEMANTICS

# The alignment an FP plain copy's first store reaches before the copy LLVM vectorises starts: an
# AVX register's 32 bytes.
VECTOR_ALIGN = 32


def interleaved_twice(module: ir.Module) -> ir.MDValue:
    """A loop ID (self-referential, as LLVM wants) for an FP plain copy's loop: the vectoriser
    interleaves two vectors, not its four, so fewer iterations are left for the scalar remainder.
    After _peel_to_alignment `matmul`'s 256 became 2 peeled, 240 in vectors of 16 and 14 scalar
    ones, 12 % of its time; with two, at most 7 remain."""
    loop_id = module.add_metadata([ir.MetaDataString(module, "loop")])
    loop_id.operands = (loop_id, module.add_metadata([ir.MetaDataString(module, "llvm.loop.interleave.count"),
                                                      ir.Constant(ir.IntType(32), 2)]))
    return loop_id


class LiftError(GuestError):
    """An instruction the lifter could not lower; the message names pc and disassembly."""


@dataclass(frozen=True)
class LiftedFunction:
    """One translated function: position-independent IR plus what the linker must supply."""

    entry: int
    name: str
    ir: str
    addr_refs: tuple[int, ...]  # placeholder aotA_r<k> -> guest address (k = 0: the entry)
    fn_refs: tuple[int, ...]  # placeholder aotF_r<k> -> guest function entry (k = 0: itself)
    resume_pcs: tuple[int, ...]  # resume index k+1 -> guest pc (return sites)
    addr_origins: tuple[Origin, ...]  # where each addr_refs value comes from
    fn_origins: tuple[Origin, ...]
    sites: frozenset[int]  # offsets of the address sites
    sites_used: frozenset[int]  # ... whose address went into a placeholder


def block_label(offset: int) -> str:
    return f"b{offset:x}" if offset >= 0 else f"bm{-offset:x}"


class Lowering:
    """Per-function lowering state; semantic functions receive it as `ctx`."""

    def __init__(self, program: Program, func: Function, triple: str,
                 memory_model: str = abi.DEFAULT_MEMORY_MODEL, avx: bool = False) -> None:
        self.program = program
        self.func = func
        self.module = ir.Module(name="guest")
        self.module.triple = triple
        self.llfn = translated_function(self.module, SELF_FN)
        # No library calls of LLVM's making: a plain copy's %gs stores turned into llvm.memset
        # (loop idiom recognition) cannot be lowered for address space 256.  (A string
        # attribute, which llvmlite's attribute set does not list.)
        set.add(self.llfn.attributes, '"no-builtins"')
        self.e = Emitter(self.module, self.llfn, register_use(func.instructions()), func.entry, memory_model, avx)
        self.blocks = {pc: self.llfn.append_basic_block(block_label(pc - func.entry))
                       for pc in sorted(func.blocks)}
        self.exit_block = self.llfn.append_basic_block("exit")
        # The shared exit's phis: the next pc, then the passed registers' values.
        self.exit_phis: list[ir.PhiInstr] | None = None
        self.pc = func.entry
        self.size = 4
        self.sites = Sites({}, frozenset())  # the address sites (cfg/addresses.py)
        # Where a running guest can be interrupted: every loop header (cfg/loops.py), and the
        # entry of a function that calls out, so no loop or recursion runs without passing one.
        # A function that never calls finishes or reaches a loop header in bounded time, and
        # its caller or the dispatcher polls next.
        self.safe_points = set(loop_headers(func)) | ({func.entry} if calls_out(program, func) else set())
        self.memory_model = memory_model
        # The frame slots later blocks read back unchanged (lift/frame_slots.py), set by lower(),
        # and the values their stores wrote, as they are lowered.
        self.frame = FrameSlots({}, {})
        self.slot_values: dict[int, ir.Value] = {}
        # The counted loops this function versions (cfg/loops.py), by start; set by lower().
        self.counted: dict[int, CountedLoop] = {}
        # While lowering a counted loop's fast copy: the accesses whose base the entry check proved
        # in the direct window, and whether frm holds a mode the host rounds in.
        self.proven: frozenset[int] = frozenset()
        # While lowering a counted loop's plain copy: its accesses (plain LLVM loads and stores).
        self.plain: frozenset[int] = frozenset()
        self.frm_in_hardware = False
        # While lowering an FP plain copy (lift/plain_fp.py): FP operations are ordinary LLVM ones;
        # and whether an FMA there may compute ∞×0.
        self.plain_fp = False
        self.inf_times_zero = True
        # The byte scans (cfg/loops.py) this function speeds up, by start; set by lower().
        self.scans: dict[int, ByteScan] = {}
        # The strided loops this function versions, by header; set by lower().
        self.strided: dict[int, StridedLoop] = {}
        # While lowering a strided loop's fast copy: where each followed access hands over when
        # it faults (the checked copy at that instruction); while lowering the checked copy: the
        # instructions those blocks start.
        self.hand_over: dict[int, ir.Block] = {}
        self.take_over: dict[int, ir.Block] = {}

    # -- positions ---------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        return self.pc - self.func.entry

    def pc_value(self) -> ir.Value:
        return self.e.pc(self.offset)

    def next_pc(self) -> int:
        return self.pc + self.size

    def site(self) -> int | None:
        """The address this instruction forms, if it is an address site (cfg/addresses.py)."""
        return self.sites.values.get(self.pc)

    def effective_address(self, insn) -> ir.Value:
        """rs1 + imm: at an address site one link-time address, or gp + a link-time offset."""
        value = self.site()
        if value is None:
            return self.e.b.add(self.e.x(insn.rs1), self.e.c(insn.imm))
        if self.pc in self.sites.gp_relative:
            return self.e.b.add(self.e.x(insn.rs1), self.e.addr(value))
        return self.e.addr(value)

    def forwarded_slot(self) -> ir.Value | None:
        """The value an `ld` from a frame slot reads, when the prologue's store of it is known to
        be the slot's content here (lift/frame_slots.py)."""
        store_pc = self.frame.loads.get(self.pc)
        return None if store_pc is None else self.slot_values.get(store_pc)

    def remember_slot(self, value: ir.Value) -> None:
        """The value the store being lowered writes, for later blocks' loads of its slot."""
        if self.pc in self.frame.stores:
            self.slot_values[self.pc] = value

    def memory_operand(self, insn) -> tuple[ir.Value, int]:
        """A load's or store's address as (base, offset): rs1 and the instruction's 12-bit offset,
        or at an address site (effective_address) that address and 0."""
        if self.site() is None:
            return self.e.x(insn.rs1), insn.imm
        return self.effective_address(insn), 0

    def near_image(self, value: int) -> bool:
        """Whether a lui value may be the upper part of an address in the guest image."""
        return near_image(self.program.image_range, value)

    # -- control flow ----------------------------------------------------------------------------
    def goto(self, target: int) -> None:
        e = self.e
        if target in self.blocks:
            e.b.branch(self.blocks[target])
        elif self.program.is_function(target):
            e.store_written(PASSED_KEYS)
            result = e.call_translated(e.function(target, self.func.entry), e.c(0), tail=True)
            e.b.ret(result)
        else:
            self.exit(e.addr(target))

    def branch(self, cond: ir.Value, target: int) -> None:
        taken = self._edge_block(target)
        fall = self._edge_block(self.next_pc())
        self.e.b.cbranch(cond, taken, fall)

    def _edge_block(self, target: int) -> ir.Block:
        if target in self.blocks:
            return self.blocks[target]
        saved = self.e.b.block
        # Named after the branch, not its target: a target outside the function is a site, and
        # its address must stay out of the IR.
        stub = self.llfn.append_basic_block(f"to.{block_label(self.offset)}")
        self.e.b.position_at_end(stub)
        self.goto(target)
        self.e.b.position_at_end(saved)
        return stub

    def exit(self, target: ir.Value) -> None:
        """Leave to the caller (ultimately the dispatcher) with `target` as the next guest pc.  The
        write-back happens on this path, before the shared exit block: there it would write back
        what any path changed, loading on the other paths the registers they left as they were,
        only to store them again.  The returned registers leave in host registers (returned()),
        and ra too when it is `target` (a return, abi.RA_IN_STATE); else it is stored here."""
        e = self.e
        values = [e.x(reg) for reg in abi.RETURNED_REGISTERS]
        ra = e.x(abi.RA)
        e.store_written(PASSED_KEYS)
        if self.exit_phis is None:
            with e.b.goto_block(self.exit_block):
                self.exit_phis = [e.b.phi(I64, name=name) for name in
                                  ("next_pc", *(f"x{reg}" for reg in abi.RETURNED_REGISTERS))]

        def hand_over(pc: ir.Value) -> None:
            for phi, value in zip(self.exit_phis, [pc, *values], strict=True):
                phi.add_incoming(value, e.b.block)

        elsewhere = self.llfn.append_basic_block(f"ra.{block_label(self.offset)}")
        e.cbranch_rare(e.b.icmp_unsigned("!=", ra, target), elsewhere, self.exit_block)
        hand_over(target)
        e.b.position_at_end(elsewhere)
        e.store_handed(abi.RA, ra)
        hand_over(e.b.or_(target, e.c(abi.RA_IN_STATE)))
        e.b.branch(self.exit_block)

    def jump(self, target: int, link: int) -> None:
        """jal (and jalr with a known target): a call when it links, else a branch."""
        if link == 0:
            self.goto(target)
            return
        e = self.e
        if self.program.is_function(target):
            e.set_x(link, e.return_address(self.offset + self.size))
            e.store_written(PASSED_KEYS)
            result = e.call_translated(e.function(target, self.func.entry), e.c(0))
            e.reload_all()
            self._continue_if(*e.take_returned(result), self.next_pc())
        else:
            self.call_indirect(e.addr(target), link)

    def call_indirect(self, target: ir.Value, link: int) -> None:
        e = self.e
        e.set_x(link, e.return_address(self.offset + self.size))
        e.store_written(PASSED_KEYS)
        result = e.call_indirect(target)
        e.reload_all()
        self._continue_if(*e.take_returned(result), self.next_pc())

    def tail_jump(self, target: ir.Value) -> None:
        """An indirect jump that is not a return (jr through a register other than the link
        registers ra and t0): a native tail call when the runtime's entry cache knows a function
        at `target` (musl's __fwritex ends with `jr` to f->write), else a dispatcher exit.  An
        exit would unwind every translated caller to the dispatcher, which then re-enters each
        of them at its return site."""
        miss = self.llfn.append_basic_block(f"jr.{block_label(self.offset)}")
        self.e.tail_call_indirect(target, miss)
        self.e.b.position_at_end(miss)
        self.exit(target)

    def jump_table(self, target: ir.Value, targets: list[int]) -> None:
        """An indirect jump through a recognised table: a switch over offsets from the entry.
        Any other target leaves to the dispatcher, or, when the targets are guesses
        (Function.guessed_tables), is an indirect jump (tail_jump): a table of function pointers
        whose index discovery did not follow holds other functions' entries, and a jump to one
        is a tail call.  (Not for bound-checked tables: no other target comes there, and the
        fallback stays one exit.)"""
        e = self.e
        fallback = self.llfn.append_basic_block(f"jt.{block_label(self.offset)}")
        # Over half the offset: a target is even (jalr clears bit 0, and so does the entry), so
        # no two offsets meet, and the cases are twice as dense, so LLVM makes a jump table of
        # them where it would test them one by one (it wants a tenth of a table's slots used).
        half = e.b.lshr(e.b.sub(target, e.self_pc), e.c(1))
        sw = e.b.switch(half, fallback)
        for t in sorted(set(targets)):
            sw.add_case(e.c((t - self.func.entry) >> 1), self._edge_block(t))
        e.b.position_at_end(fallback)
        if self.pc in self.func.guessed_tables:
            self.tail_jump(target)
        else:
            self.exit(target)

    def _continue_if(self, next_pc: ir.Value, returned: list[ir.Value], expected: int) -> None:
        """Continue at `expected` if a translated call came back there, else leave to the
        dispatcher (as _leave_unless), handing on the pc as the callee returned it and the
        registers it `returned`, which the CPU state does not hold.  Back at `expected`, ra is
        `expected` itself (the callee's `ret` stored nothing), or, with abi.RA_IN_STATE, the CPU
        state's."""
        e = self.e
        link = e.return_address(expected - self.func.entry)
        label = block_label(self.offset)
        values = e.known_values()
        back, flagged, mismatch = (self.llfn.append_basic_block(f"{tag}.{label}") for tag in ("back", "flag", "ret"))
        e.cbranch_rare(e.b.icmp_unsigned("!=", next_pc, link), flagged, back)
        e.b.position_at_end(flagged)
        cont = self._edge_block(expected)
        e.b.cbranch(e.b.icmp_unsigned("==", next_pc, e.b.or_(link, e.c(abi.RA_IN_STATE))), cont, mismatch)
        e.b.position_at_end(mismatch)
        e.returned(next_pc, returned)
        e.continue_in(back, values)
        e.set_x(abi.RA, link)
        e.b.branch(cont)

    def _leave_unless(self, next_pc: ir.Value, expected: ir.Value, cont: ir.Block, tag: str) -> None:
        """Go on to `cont` when the runtime returned the pc `expected`; any other pc (a signal
        handler, sigreturn, longjmp) returns it to the caller at once.  The
        registers were written back before the call that returned it, and the CPU state is now
        the truth, so the path writes nothing back: through the function's shared exit it would
        add its values to the exit's phis, which costs spills on the hot paths (see
        Emitter._check_fault)."""
        e = self.e
        elsewhere = e.b.icmp_unsigned("!=", next_pc, expected)
        mismatch = self.llfn.append_basic_block(f"{tag}.{block_label(self.offset)}")
        e.cbranch_rare(elsewhere, mismatch, cont)
        e.b.position_at_end(mismatch)
        e.returned(next_pc)

    def _runtime_at(self, pc: ir.Value, intrinsic: str, *args: ir.Value, reload: bool = True) -> ir.Value:
        """Call a runtime intrinsic that may redirect control: cpu->pc set, registers written
        back before and (with `reload`) reloaded after; returns the next guest pc."""
        e = self.e
        e.set_cpu_u64("pc", pc)
        e.store_written()
        next_pc = e.call_runtime(intrinsic, *args)
        if reload:
            e.reload_all()
        return next_pc

    def ecall(self) -> None:
        next_pc = self._runtime_at(self.pc_value(), "aot_ecall")
        cont = self.llfn.append_basic_block(f"sys.{block_label(self.offset)}")
        self._leave_unless(next_pc, self.e.pc(self.offset + self.size), cont, "sysx")
        self.e.b.position_at_end(cont)

    def trap(self, cause: int, tval: ir.Value | int) -> None:
        """A synchronous exception at this instruction: the runtime decides where to go next,
        and that pc is returned at once, as in _leave_unless (the CPU state is the truth)."""
        e = self.e
        tval = e.c(tval) if isinstance(tval, int) else tval
        e.returned(self._runtime_at(self.pc_value(), "aot_trap", e.c(cause, 32), tval, reload=False))

    def poll_interrupt(self, pc: int) -> None:
        """A safe point: if the runtime raised cpu->interrupt (a signal arrived), let it deliver
        with the registers written back, then continue here unless it redirected control.
        aot_interrupt returns this pc only when every register is as it was (otherwise with
        abi.RA_IN_STATE set), so nothing is reloaded: what a loop does not change stays loop-invariant for
        LLVM, and the loops of a nest that share a header stay two loops."""
        e = self.e
        label = block_label(pc - self.func.entry)
        slow = self.llfn.append_basic_block(f"poll.{label}")
        cont = self.llfn.append_basic_block(f"body.{label}")
        e.cbranch_rare(e.interrupt_pending(), slow, cont)
        e.b.position_at_end(slow)
        self.pc = pc
        next_pc = self._runtime_at(self.pc_value(), "aot_interrupt", reload=False)
        slots = [(s, self.slot_values[s.store_pc]) for s in sorted(self.frame.live.get(pc, ()), key=lambda s: s.offset)
                 if s.store_pc in self.slot_values]
        check = self.llfn.append_basic_block(f"slots.{label}") if slots else cont
        self._leave_unless(next_pc, self.e.pc(self.offset), check, "pollx")
        if slots:
            self._check_slots(slots, check, cont, label)
        e.b.position_at_end(cont)

    def _check_slots(self, slots: list[tuple[Slot, ir.Value]], check: ir.Block, cont: ir.Block, label: str) -> None:
        """After a poll delivered a signal: a handler may have written a frame slot whose value
        later blocks take without a load (lift/frame_slots.py).  Go on to `cont` only if memory
        still holds each one, else leave to the dispatcher, which goes on at this pc with the
        registers in the CPU state (they were written back for the poll)."""
        e = self.e
        e.b.position_at_end(check)
        # Ordinary checked loads: not forwarded, nor shaped by the instruction lowered last.
        e.forget_stores()
        e.site, e.base_in_window, e.plain, e.hand_over = None, False, False, None
        same = ir.Constant(ir.IntType(1), 1)
        for slot, value in slots:
            held = e.load(e.x(SP), slot.offset, 8, True, self.pc_value())
            same = e.b.and_(same, e.b.icmp_unsigned("==", held, value))
        changed = self.llfn.append_basic_block(f"slotx.{label}")
        e.cbranch_rare(e.b.not_(same), changed, cont)
        e.b.position_at_end(changed)
        e.returned(self.pc_value())  # flagged: the dispatcher goes on here from the CPU state

    def illegal(self) -> None:
        self.trap(abi.CAUSE_ILLEGAL_INSTRUCTION, self.raw)

    # -- the driver ----------------------------------------------------------------------------
    def lower(self) -> LiftedFunction:
        func, e = self.func, self.e
        self.sites = address_sites(func, self.near_image)
        if self.memory_model == "direct":  # the TLB model has no window checks to drop
            site_pcs = frozenset(self.sites.values)
            for start, block in func.blocks.items():
                loop = counted_loop(block, site_pcs)
                if loop is not None and (loop.accesses or loop.dynamic_rounding):
                    self.counted[start] = loop
                elif loop is None and (scan := byte_scan(block, site_pcs)) is not None:
                    self.scans[start] = scan
            for header in sorted(self.safe_points - set(self.counted) - set(self.scans)):
                # (A counted block cannot be inside a chain: its own back edge enters it.)
                strided = strided_loop(func, header, site_pcs)
                if strided is not None:
                    self.strided[header] = strided
        inner = {b for loop in self.strided.values() for b in loop.blocks[1:]}
        copied = set(self.counted) | set(self.scans) | set(self.strided) | inner  # lowered more than once
        self.frame = frame_slots(func, copied)
        resume = [pc for pc in func.return_sites if pc in self.blocks]
        sw = e.b.switch(self.llfn.args[1], self.blocks[func.entry])
        for k, pc in enumerate(resume, start=1):
            sw.add_case(e.c(k), self.blocks[pc])
        for start in sorted(set(func.blocks) - inner):
            self.lower_block(func.blocks[start])
        e.b.position_at_end(self.exit_block)
        if self.exit_phis is None:
            e.b.unreachable()
        else:
            e.returned(self.exit_phis[0], self.exit_phis[1:])
        e.flush()
        e.place_writebacks()
        return LiftedFunction(func.entry, func.name, str(self.module), tuple(e.addr_refs),
                              tuple(e.fn_refs), tuple(resume), tuple(e.addr_origins), tuple(e.fn_origins),
                              frozenset(pc - func.entry for pc in self.sites.values), frozenset(e.sites_used))

    def lower_block(self, block: BasicBlock) -> None:
        if block.start in self.strided:
            self._lower_strided(self.strided[block.start])
            return
        if block.start in self.scans:
            self._lower_scan(block, self.scans[block.start])
            return
        loop = self.counted.get(block.start)
        if loop is None:
            self._lower_body(block, self.blocks[block.start])
            return
        # A counted loop: its header polls and checks, from the registers on entry, that every
        # iteration's access bases stay in the window and that frm is a hardware mode.  Then the
        # fast copy runs without those checks and without a poll, for at most loop_checks.CHUNK
        # iterations: its branch compares the counter with its value in the chunk's last
        # iteration, after which control leaves the loop, or goes back to the header (which polls)
        # when the loop goes on.  Otherwise the checked copy runs, looping to itself.
        # When a run's accesses touch few pages and the window's access map grants them all, a
        # plain copy runs instead of the fast one: its accesses are ordinary LLVM loads and
        # stores, which cannot fault (docs/architecture.md).
        e, header = self.e, self.blocks[block.start]
        label = block_label(block.start - self.func.entry)
        e.b.position_at_end(header)
        self.poll_interrupt(block.start)
        fast, checked = (self.llfn.append_basic_block(f"{kind}.{label}") for kind in ("fast", "checked"))
        ok, last = entry_check(e, loop)
        counter = e.x(loop.counter)
        stop, whole = chunk_end(e.b, loop, counter, last)
        plain_run = plain_chunk(loop)
        if plain_run:
            pages = self.llfn.append_basic_block(f"pages.{label}")
            e.b.cbranch(ok, pages, checked)
            self._plain_copy(block, loop, pages, fast, counter, last, plain_run)
        else:
            e.b.cbranch(ok, fast, checked)
        self.proven, self.frm_in_hardware = frozenset(a.pc for a in loop.accesses), loop.dynamic_rounding
        self._lower_body(block, fast, poll=False, latch=lambda: self._chunk_latch(block, loop, fast, stop, whole))
        self.proven, self.frm_in_hardware = frozenset(), False
        self.blocks[block.start] = checked
        self._lower_body(block, checked)
        self.blocks[block.start] = header

    def _plain_copy(self, block: BasicBlock, loop: CountedLoop, pages: ir.Block, fast: ir.Block,
                    counter: ir.Value, last: ir.Value, chunk: int) -> None:
        """From `pages` (the entry check held): the plain copy for a run of at most `chunk`
        iterations when the run is long enough and none of its accesses can fault
        (loop_checks.plain_check), else the fast copy."""
        e, label = self.e, block_label(block.start - self.func.entry)
        lookup, plain = (self.llfn.append_basic_block(f"{kind}.{label}") for kind in ("lookup", "plain"))
        e.b.position_at_end(pages)
        stop, whole = chunk_end(e.b, loop, counter, last, chunk)
        e.b.cbranch(e.b.icmp_unsigned("<", last, e.c(MIN_PLAIN_RUN - 1)), fast, lookup)
        e.b.position_at_end(lookup)
        allowed = plain_check(e, loop, e.b.select(whole, last, e.c(chunk - 1)))
        if plain_fp_loop(block, loop):  # LLVM's ordinary FP operations assume round-to-nearest-even
            allowed = e.b.and_(allowed, e.b.icmp_unsigned("==", e.frm(), e.c(RM_RNE, 32)))
            e.b.cbranch(allowed, plain, fast)
            e.b.position_at_end(plain)
            used = register_use(block.instructions)
            e.store_written()
            e.b.call(self._plain_fp_copy(block, loop, used), [e.cpu, stop])
            e.reload(used.written)
            self._at_latch(block)
            e.b.cbranch(whole, self._edge_block(block.end), self.blocks[block.start])
            return
        e.b.cbranch(allowed, plain, fast)
        self.plain, self.frm_in_hardware = frozenset(a.pc for a in loop.accesses), loop.dynamic_rounding
        self._lower_body(block, plain, poll=False, latch=lambda: self._chunk_latch(block, loop, plain, stop, whole))
        self.plain, self.frm_in_hardware = frozenset(), False

    def _plain_fp_copy(self, block: BasicBlock, loop: CountedLoop, used: RegisterUse) -> ir.Function:
        """The FP plain copy of the counted loop `block` (lift/plain_fp.py), which uses the
        registers `used`: fn(cpu, stop) runs iterations until the counter is `stop`, with the
        registers in the CPU state before and after."""
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR, I64]),
                         f"plain_fp.{block_label(block.start - self.func.entry)}")
        fn.linkage = "internal"
        for attribute in ("noinline", "nounwind", '"no-builtins"'):
            set.add(fn.attributes, attribute)
        outer, outer_fn = self.e, self.llfn
        e = self.e = outer.outlined(fn, used)
        self.llfn = fn
        e.invalid_slot = e.b.alloca(I64, name="invalid")
        e.b.store(e.c(0), e.invalid_slot)
        self.plain, self.frm_in_hardware, self.plain_fp = frozenset(a.pc for a in loop.accesses), True, True
        done = fn.append_basic_block("done")
        dispatch = self._peel_to_alignment(block, loop, done)
        # A copy that tests each FMA for ∞×0 (RISC-V's invalid, lift/fp.py), and one that does
        # not, for when a multiplicand the loop does not change is neither 0 nor ∞.
        e.b.position_at_end(dispatch)
        bodies = [(fn.append_basic_block("loop"), True)]
        multiplicands = invariant_multiplicands(block)
        if multiplicands:
            bodies.append((fn.append_basic_block("loop.finite"), False))
            e.b.cbranch(any_zero_or_infinite(self, multiplicands), bodies[0][0], bodies[1][0])
        else:
            e.b.branch(bodies[0][0])
        for body, tests_fma in bodies:
            self.inf_times_zero = tests_fma

            def latch(body: ir.Block = body) -> None:
                self._at_latch(block)
                branch = e.b.cbranch(e.b.icmp_unsigned("!=", e.x(loop.counter), fn.args[1]), body, done)
                branch.set_metadata("llvm.loop", interleaved_twice(self.module))

            self._lower_body(block, body, poll=False, latch=latch)
        self.plain, self.frm_in_hardware, self.plain_fp, self.inf_times_zero = frozenset(), False, False, True
        e.b.position_at_end(done)
        invalid = e.b.icmp_unsigned("!=", e.b.load(e.invalid_slot, typ=I64), e.c(0))
        or_flags(self, e.b.select(invalid, e.c(FLAG_NV, 32), e.c(0, 32)))
        e.store_written()
        e.b.ret_void()
        e.flush()
        e.place_writebacks()
        self.e, self.llfn = outer, outer_fn
        return fn

    def _peel_to_alignment(self, block: BasicBlock, loop: CountedLoop, done: ir.Block) -> ir.Block:
        """In an FP plain copy, from its entry: run single iterations until the first store that
        walks up by its own size reaches a VECTOR_ALIGN boundary, and return the block where the
        copy LLVM vectorises begins.  Its vector moves then do not straddle cache lines:
        `matmul`'s rows start 16 bytes off a 32-byte boundary, and every other 32-byte move of a
        row crossed one, which cost it 18 %."""
        e, fn = self.e, self.llfn
        dispatch = fn.append_basic_block("aligned")
        anchor = next((a for a in loop.accesses if a.store and a.size in (4, 8)
                       and loop.steps.get(a.base) == a.size), None)
        if anchor is None:
            e.b.branch(dispatch)
            return dispatch
        peel = fn.append_basic_block("peel")
        address = e.b.add(e.x(anchor.base), e.c(anchor.delta + anchor.offset))
        ahead = e.b.and_(e.b.sub(e.c(VECTOR_ALIGN), e.b.and_(address, e.c(VECTOR_ALIGN - 1))), e.c(VECTOR_ALIGN - 1))
        sized = e.b.icmp_unsigned("==", e.b.and_(address, e.c(anchor.size - 1)), e.c(0))
        count = e.b.select(sized, e.b.lshr(ahead, e.c(anchor.size.bit_length() - 1)), e.c(0))
        left = e.b.alloca(I64, name="peel.left")
        e.b.store(count, left)
        e.b.cbranch(e.b.icmp_unsigned("!=", count, e.c(0)), peel, dispatch)
        self.inf_times_zero = True

        def latch() -> None:
            self._at_latch(block)
            remaining = e.b.sub(e.b.load(left, typ=I64), e.c(1))
            e.b.store(remaining, left)
            more = fn.append_basic_block("peel.more")
            e.b.cbranch(e.b.icmp_unsigned("!=", e.x(loop.counter), fn.args[1]), more, done)
            e.b.position_at_end(more)
            e.b.cbranch(e.b.icmp_unsigned("!=", remaining, e.c(0)), peel, dispatch)

        self._lower_body(block, peel, poll=False, latch=latch)
        return dispatch

    def _lower_strided(self, loop: StridedLoop) -> None:
        """A strided loop: its header checks that each family's first access is in the window
        (and frm a hardware mode if the loop rounds dynamically), then runs the fast copy, whose
        followed accesses skip the window check, or the checked copy.  A fast access that faults
        (it left the window into a guard page, or the page is not there) does not do the access:
        the checked copy takes over at that instruction, with the registers as they were, and
        runs the loop to its end.  Both copies poll at their header."""
        e, label = self.e, block_label(loop.header - self.func.entry)
        e.b.position_at_end(self.blocks[loop.header])
        fast = {b: self.llfn.append_basic_block(f"fast.{block_label(b - self.func.entry)}") for b in loop.blocks}
        checked = {b: self.blocks[b] for b in loop.blocks}
        checked[loop.header] = self.llfn.append_basic_block(f"checked.{label}")
        take_over = {pc: self.llfn.append_basic_block(f"at.{block_label(pc - self.func.entry)}")
                     for pc in sorted(loop.followed)}
        e.b.cbranch(window_check(e, loop), fast[loop.header], checked[loop.header])
        outer = self.blocks
        self.frm_in_hardware = loop.dynamic_rounding
        self.blocks, self.hand_over = {**outer, **fast}, take_over
        for b in loop.blocks:
            self._lower_body(self.func.blocks[b], fast[b])
        self.frm_in_hardware = False
        self.blocks, self.hand_over, self.take_over = {**outer, **checked}, {}, take_over
        for b in loop.blocks:
            self._lower_body(self.func.blocks[b], checked[b])
        self.blocks, self.take_over = outer, {}

    def _lower_scan(self, block: BasicBlock, scan: ByteScan) -> None:
        """A byte scan: its header polls, then Emitter.scan_bytes counts the iterations whose byte
        does not end the loop, as far as the byte's page goes.  When the byte that ends it was
        read, the induction variables step past them all and the body runs the ending iteration,
        which writes every register the body writes.  At the page's end they step past all but
        the last, which runs as lowered (a replay), so that every register the body writes holds
        what that iteration left in it; then the body runs the next iteration, which loads from
        the next page (faulting there if the guest would), and goes back to the header."""
        e = self.e
        e.b.position_at_end(self.blocks[block.start])
        e.forget_stores()  # other paths enter here
        self.poll_interrupt(block.start)
        address, value = linear_value(e, scan.address), e.x(scan.value)
        known = e.known_values()  # the scan writes no register
        skip, ending_read = e.scan_bytes(address, value, scan.until_equal)
        label = block_label(block.start - self.func.entry)
        stepped, unread, replay, body = (self.llfn.append_basic_block(f"{kind}.{label}")
                                         for kind in ("stepped", "unread", "replay", "scanned"))
        e.b.cbranch(ending_read, stepped, unread)
        e.continue_in(stepped, known)
        self._step_scan(scan, skip)
        e.b.branch(body)
        e.continue_in(unread, known)
        e.b.cbranch(e.b.icmp_unsigned("==", skip, e.c(0)), body, replay)
        e.continue_in(replay, known)
        self._step_scan(scan, e.b.sub(skip, e.c(1)))
        for ins in block.instructions[:-1]:
            self.lower_insn(ins)
        e.b.branch(body)
        self._lower_body(block, body, poll=False)

    def _step_scan(self, scan: ByteScan, iterations: ir.Value) -> None:
        """Step the scan's induction variables past `iterations` iterations."""
        e = self.e
        for reg, step in sorted(scan.steps.items()):
            e.set_x(reg, e.b.add(e.x(reg), e.b.mul(iterations, e.c(step))))

    def _chunk_latch(self, block: BasicBlock, loop: CountedLoop, fast: ir.Block, stop: ir.Value,
                     whole: ir.Value) -> None:
        """The fast copy's branch: round again until the counter reaches `stop`, then leave the
        loop if this chunk was its rest (`whole`), else go back to the header."""
        e = self.e
        self._at_latch(block)
        chunk_done = self.llfn.append_basic_block(f"chunk.{block_label(block.start - self.func.entry)}")
        e.b.cbranch(e.b.icmp_unsigned("!=", e.x(loop.counter), stop), fast, chunk_done)
        e.b.position_at_end(chunk_done)
        e.b.cbranch(whole, self._edge_block(block.end), self.blocks[block.start])

    def _at_latch(self, block: BasicBlock) -> None:
        """Position the lowering at the block's last instruction (a loop's branch)."""
        self.pc, self.size = block.instructions[-1].pc, block.instructions[-1].size

    def _lower_body(self, block: BasicBlock, start: ir.Block, poll: bool = True,
                    latch: Callable[[], None] | None = None) -> None:
        """Lower `block` into `start`; `latch`, if given, lowers its last instruction."""
        self.e.b.position_at_end(start)
        self.e.forget_stores()  # other paths may enter here
        if poll and block.start in self.safe_points:
            self.poll_interrupt(block.start)
        for ins in block.instructions if latch is None else block.instructions[:-1]:
            self.lower_insn(ins)
            if self.e.b.block.is_terminated:
                return
        if latch is not None:
            latch()
        else:
            self.goto(block.end)

    def lower_insn(self, ins: Instruction) -> None:
        self.pc, self.size, self.raw, self.insn = ins.pc, ins.size, ins.raw, ins.insn
        if ins.insn is None:
            self.illegal()
            return
        sem = SEMANTICS.get(ins.insn.mnemonic)
        if sem is None:
            self.illegal()
            return
        e = self.e
        start = self.take_over.get(ins.pc)
        if start is not None:  # a fast copy's access hands over here: the registers are in their allocas
            e.flush()
            e.b.branch(start)
            e.b.position_at_end(start)
            e.forget_stores()
        site = self.sites.values.get(ins.pc)
        e.site = None if site is None else (ins.pc - self.func.entry, site)
        e.base_in_window = ins.pc in self.proven
        e.plain = ins.pc in self.plain
        e.hand_over = self.hand_over.get(ins.pc)
        try:
            sem(self, ins.insn)
        except Exception as exc:  # a lifter bug: name the instruction, keep the cause
            raise LiftError(f"cannot lift {disassemble(ins.insn, ins.pc)} at pc 0x{ins.pc:x} "
                            f"in {self.func.name}: {exc}") from exc
        e.site, e.hand_over, e.plain = None, None, False


def calls_out(program: Program, func: Function) -> bool:
    """Whether some instruction may call, or tail-call, code outside the function: a linking jal
    or jalr, a jump to a translated function, or an indirect jump that is neither a return nor a
    recognised jump table."""
    for ins in func.instructions():
        insn = ins.insn
        if insn is None or insn.mnemonic not in ("jal", "jalr"):
            continue
        if insn.rd:
            return True
        target = ins.pc + insn.imm if insn.mnemonic == "jal" else func.resolved_jumps.get(ins.pc)
        if target is None:
            if not insn.is_return and ins.pc not in func.jump_tables:
                return True
        elif target not in func.blocks and program.is_function(target):
            return True
    return False


def lower_function(program: Program, func: Function, triple: str,
                   memory_model: str = abi.DEFAULT_MEMORY_MODEL, avx: bool = False) -> LiftedFunction:
    return Lowering(program, func, triple, memory_model, avx).lower()


@contextmanager
def garbage_collected_at_end() -> Iterator[None]:
    """Around the translation of one function: no automatic garbage collection inside it, and
    one collection of the young generation at its end, when its IR has become garbage.  The
    lowering makes millions of IR objects that refer to each other (parents, users) and live
    until it ends; CPython's collector promoted them through its generations and rescanned the
    whole heap again and again: half of a busybox function's lowering time.  Cyclic garbage now
    waits at most until the function's end."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)
