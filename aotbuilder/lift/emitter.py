"""A thin layer over llvmlite's IRBuilder that the instruction semantics speak to.

It owns the rules every instruction shares: x0 reads as zero and ignores writes, single-precision
values are NaN-boxed in the 64-bit FP registers, guest memory goes through the software TLB, and
every guest address the code refers to is a link-time symbol rather than a constant (so a cached
object does not depend on where its function sits).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import llvmlite.ir as ir

from aotbuilder import abi
from aotbuilder.cfg.addresses import MASK, Origin, offset
from aotbuilder.cfg.program import Instruction
from aotbuilder.isa import operand_kinds
from aotbuilder.isa.insn import Insn
from aotbuilder.lift.writeback import (
    DirtyFlow,
    FlowGraph,
    FlowState,
    Key,
    RegisterSlots,
    WritebackMarker,
    loop_reloads_to_sink,
    merge_writebacks,
    split_edge,
    successors,
    uses_of,
)

I1, I8, I16, I32, I64, I128 = (ir.IntType(n) for n in (1, 8, 16, 32, 64, 128))
F32, F64 = ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()
# A pointer relative to %gs (x86 address space 256), which the runtime points at the direct window.
GUEST_PTR = ir.PointerType(addrspace=256)
INT_TYPES = {8: I8, 16: I16, 32: I32, 64: I64, 128: I128}

# The translated-function type: fn(cpu, resume, a0, a1, ra) -> {next guest pc, a0, a1} (abi.py:
# TRANSLATED_CC, PASSED_REGISTERS, RETURNED_REGISTERS, RA_IN_STATE).
RESULT_TYPE = ir.LiteralStructType([I64] * (1 + len(abi.RETURNED_REGISTERS)))
FN_TYPE = ir.FunctionType(RESULT_TYPE, [PTR, I64] + [I64] * len(abi.PASSED_REGISTERS))
PASSED_KEYS = frozenset(("x", reg) for reg in abi.PASSED_REGISTERS)

CANONICAL_NAN32 = 0x7FC00000
CANONICAL_NAN64 = 0x7FF8000000000000
NAN_BOX = 0xFFFFFFFF00000000
INF_BITS = {32: 0x7F800000, 64: 0x7FF0000000000000}

# Branch weights (taken, not taken) of a branch that is rarely taken, as __builtin_expect gives.
RARE_WEIGHTS = [1, 2000]
MERGE_ROUNDS = 3  # Emitter._write_back_before_merges: rounds of the merge write-back analysis

SELF_FN = "aotF_r000000000000000"
SELF_PC = "aotA_r000000000000000"


def placeholder(kind: str, index: int) -> str:
    """Fixed-length symbol names that the linker step rewrites (see backend/link.py)."""
    return f"aot{kind}_r{index:015d}"


@dataclass(frozen=True)
class RegisterUse:
    """The guest registers a function reads and writes (x0 excluded)."""

    x_read: frozenset[int]
    x_written: frozenset[int]
    f_read: frozenset[int]
    f_written: frozenset[int]
    # FP registers that only double-precision instructions use: they live in SSA as doubles, so a
    # value crossing a loop or a block stays in an XMM register (the others are 64-bit patterns).
    f_double: frozenset[int] = frozenset()

    @cached_property
    def written(self) -> tuple[Key, ...]:
        """The written registers in a fixed order (the IR must not vary between processes)."""
        return (*(("x", i) for i in sorted(self.x_written)), *(("f", i) for i in sorted(self.f_written)))


_OPERAND_FIELDS = {"rd": "rd", "rs1": "rs1", "rs2": "rs2", "mem": "rs1", "addr": "rs1",
                   "frd": "rd", "frs1": "rs1", "frs2": "rs2", "frs3": "rs3"}


def operands(insn: Insn) -> tuple[list[Key], list[Key]]:
    """The registers `insn` reads and those it writes, from its operand kinds (x0 left out)."""
    reads: list[Key] = []
    writes: list[Key] = []
    for kind in operand_kinds(insn.mnemonic):
        field = _OPERAND_FIELDS.get(kind)
        if field is None:
            continue
        key = ("f" if kind.startswith("f") else "x", getattr(insn, field))
        if key != ("x", 0):
            (writes if kind.endswith("rd") else reads).append(key)
    return reads, writes


def _double_only(mnemonic: str) -> bool:
    """Whether the instruction's FP operands are all doubles (fcvt.w.d: yes; fcvt.d.s: no)."""
    parts = mnemonic.split(".")[1:]
    return mnemonic in ("fld", "fsd") or ("d" in parts and "s" not in parts)


def register_use(instructions: Iterable[Instruction]) -> RegisterUse:
    """Which registers the instructions (a function's, a loop's) read and write."""
    sets: dict[str, set[int]] = {"xr": set(), "xw": set(), "fr": set(), "fw": set(), "fd": set(), "fo": set()}
    for ins in instructions:
        if ins.insn is None:
            continue
        reads, writes = operands(ins.insn)
        for (bank, reg), side in [(k, "r") for k in reads] + [(k, "w") for k in writes]:
            sets[bank + side].add(reg)
            if bank == "f":
                sets["fd" if _double_only(ins.insn.mnemonic) else "fo"].add(reg)
    return RegisterUse(frozenset(sets["xr"]), frozenset(sets["xw"]), frozenset(sets["fr"]), frozenset(sets["fw"]),
                       frozenset(sets["fd"] - sets["fo"]))


def translated_function(module: ir.Module, name: str) -> ir.Function:
    """A translated function's declaration (or definition, once it gets blocks)."""
    fn = ir.Function(module, FN_TYPE, name)
    fn.calling_convention = abi.TRANSLATED_CC
    return fn


_LLVM_TYPES = {"i32": I32, "i64": I64, "void": ir.VoidType(), "cpu": PTR}


class DirectAccess(ir.instructions.Terminator):
    """One x86 move between a register and guest memory in the direct window, as an inline-asm
    callbr: a fault-table row (abi.FAULT_TABLE_SECTION) sends a host fault at the move to `fault`,
    where the slow path runs with every value where LLVM expects it (asm goto semantics)."""

    def __init__(self, parent: ir.Block, typ: ir.Type, asm: str, constraints: str, args: list[ir.Value],
                 normal: ir.Block, fault: ir.Block, name: str = "") -> None:
        ir.instructions.Instruction.__init__(self, parent, typ, "callbr", args, name=name)
        self.asm, self.constraints, self.normal, self.fault = asm, constraints, normal, fault

    def descr(self, buf: list[str]) -> None:
        args = ", ".join(f"{a.type} {a.get_reference()}" for a in self.operands)
        asm = self.asm.replace("\\", "\\5C").replace('"', "\\22").replace("\n", "\\0A")
        buf.append(f'callbr {self.type} asm sideeffect "{asm}", "{self.constraints}"({args}) '
                   f"to label {self.normal.get_reference()} [label {self.fault.get_reference()}]")

    def successors(self) -> list[ir.Block]:
        """Its targets, which are attributes, not operands (lift/writeback.py follows them)."""
        return [self.normal, self.fault]

    def retarget(self, old: ir.Block, new: ir.Block) -> None:
        self.normal = new if self.normal is old else self.normal
        self.fault = new if self.fault is old else self.fault


class _TranslatedFunctionLoad(ir.instructions.LoadInstr):
    """A load of an aot_fn pointer: llvmlite calls through a value only when it knows its function
    type, which an opaque `ptr` does not carry."""

    function_type = FN_TYPE

    def __init__(self, parent: ir.Block, ptr: ir.Value) -> None:
        super().__init__(parent, ptr, typ=PTR)


class _TranslatedFunctionAddress(ir.instructions.GEPInstr):
    """A computed address of translated code (an aot_call_table slot), callable like
    _TranslatedFunctionLoad's value."""

    function_type = FN_TYPE

    def __init__(self, parent: ir.Block, base: ir.Value, indices: list[ir.Value]) -> None:
        super().__init__(parent, base, indices, inbounds=False, name="", source_etype=I8)


class _VolatileLoad(ir.instructions.LoadInstr):
    """A load done afresh at every execution: a flag that a signal handler sets at any time.  Unlike
    an atomic load, x86 codegen folds it into the compare (`cmpl $0, mem`); an aligned 32-bit load
    is atomic on x86 anyway."""

    def descr(self, buf: list[str]) -> None:
        super().descr(buf)
        buf[-1] = buf[-1].replace("load ", "load volatile ", 1)


def _direct_move(b: ir.IRBuilder, typ: ir.Type, asm: str, constraints: str, args: list[ir.Value],
                 normal: ir.Block, fault: ir.Block, name: str = "") -> ir.Value | None:
    """End b's block with the direct move `asm` (a DirectAccess) and go on at `normal`; returns
    what a load moved (None for a store).  LLVM lets a callbr's output be used on its indirect
    path too, and its optimiser then moves uses there, which codegen cannot handle (a
    LiveVariables assertion): an empty asm makes the value one that exists on the normal path."""
    access = DirectAccess(b.block, typ, asm, constraints, args, normal, fault, name=name)
    b.block.instructions.append(access)
    b.block.terminator = access
    b.position_at_end(normal)
    if isinstance(typ, ir.VoidType):
        return None
    output = constraints.split(",")[0]
    return b.asm(ir.FunctionType(typ, [typ]), "", f"{output},0", [access], False, name="pinned")


# How far an access's base may lie from the value its window check tests (Emitter._window_root):
# with the 12-bit offset and 8 bytes of access, the address stays within the guard page on either
# side of the window (abi.DIRECT_LIMIT).
ROOT_SLACK = abi.PAGE_SIZE // 2 - 8


def _fault_row(move: str, label_operand: int) -> str:
    """The asm of a direct access: the move, and its fault-table row (both offsets relative)."""
    return (f"1: {move}\n.pushsection {abi.FAULT_TABLE_SECTION},\"a\"\n.balign 4\n"
            f".long 1b - .\n.long ${{{label_operand}:l}} - .\n.popsection")


# x86 loads of a direct access by (size, signed), each giving the 64-bit register value: a move to
# a 32-bit register (${0:k}) clears the upper half, so LLVM needs no extension after the asm.
# {mem} is the guest operand: %gs:offset(base), the offset an immediate operand (${n:c}).
_DIRECT_LOADS = {(1, False): "movzbl {mem}, ${{0:k}}", (1, True): "movsbq {mem}, ${{0}}",
                 (2, False): "movzwl {mem}, ${{0:k}}", (2, True): "movswq {mem}, ${{0}}",
                 (4, False): "movl {mem}, ${{0:k}}", (4, True): "movslq {mem}, ${{0}}",
                 (8, False): "movq {mem}, ${{0}}"}
_DIRECT_STORES = {1: "movb", 2: "movw", 4: "movl", 8: "movq"}


def _tbaa_tags(module: ir.Module) -> tuple[ir.MDValue, ir.MDValue]:
    """The module's TBAA access tags for CPU state and for guest memory: two scalar types under one
    root, so LLVM takes accesses with different tags to different memory."""
    root = module.add_metadata([ir.MetaDataString(module, "aotbuilder")])
    tags = []
    for name in ("cpu state", "guest memory"):
        scalar = module.add_metadata([ir.MetaDataString(module, name), root, ir.Constant(I64, 0)])
        tags.append(module.add_metadata([scalar, scalar, ir.Constant(I64, 0)]))
    return tags[0], tags[1]


class Emitter:
    """Builds one translated function: registers, memory, refs and exits."""

    def __init__(self, module: ir.Module, fn: ir.Function, used: RegisterUse, entry_pc: int,
                 memory_model: str = abi.DEFAULT_MEMORY_MODEL, avx: bool = False) -> None:
        assert memory_model in abi.MEMORY_MODELS
        self.memory_model = memory_model
        # An AVX target gets VEX encodings in the direct accesses' asm: a legacy SSE load into an
        # XMM register keeps bits 255:128 of the YMM register, a false dependency on its last
        # writer that made a printf-heavy program 1.5x slower (docs/performance.md).
        self.avx = avx
        self.module = module
        self.fn = fn
        self.cpu = fn.args[0]
        # A translated function takes and returns the passed registers (an outlined part of one,
        # lift/plain_fp.py, does neither), so it holds them whether it uses them or not, and as
        # changed: the caller did not write them back.
        self.passes = fn.ftype == FN_TYPE
        if self.passes:
            passed = frozenset(abi.PASSED_REGISTERS)
            used = replace(used, x_read=used.x_read | passed, x_written=used.x_written | passed)
        self.use = used
        entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(entry)
        self.tbaa_cpu, self.tbaa_guest = _tbaa_tags(module)
        # Only the registers this function touches live in SSA values; the rest stay in the CPU state.
        self.xregs = {i: self.b.alloca(I64, name=f"x{i}") for i in sorted(used.x_read | used.x_written)}
        self.fregs = {i: self.b.alloca(F64 if i in used.f_double else I64, name=f"f{i}")
                      for i in sorted(used.f_read | used.f_written)}
        # A copy of cpu->frm, refreshed wherever the runtime may have changed it (reload_all, fcsr
        # writes): in SSA form the FP rounding-mode checks of a loop use one loaded value.
        self.frm_slot = self.b.alloca(I32, name="frm")
        # Pointers into the CPU state, computed once in the entry block (it dominates every use).
        self._fields: dict[tuple[str, int], ir.Value] = {}
        for i in self.xregs:
            self._cpu_field("x", i)
        for i in self.fregs:
            self._cpu_field("f", i)
        for name in ("pc", "res_addr", "res_val"):
            self._cpu_field(name, 0)
        for name in ("fflags", "frm", "interrupt"):
            self._cpu_field(name, 0, I32)
        # The current value of each register in the current IR block: saves re-loading it.
        self._values: dict[tuple[str, int], ir.Value] = {}
        self._values_block: ir.Block | None = None
        self._dirty: set[tuple[str, int]] = set()
        # Per IR block, in order: guest writes to registers, write-back stores and reloads of the
        # CPU state; place_writebacks() uses them to delete stores of unchanged registers.
        self._state_events: dict[ir.Block, list[tuple]] = {}
        self._raw_twins: dict[int, tuple[ir.Value, ir.Value, int]] = {}
        # Guest stores made since the guest block began (forget_stores): (base, offset, size) ->
        # (base, value), for loads of the same bytes (_forwarded).
        self._stored: dict[tuple[int, int, int], tuple[ir.Value, ir.Value]] = {}
        self.reload_all()
        if self.passes:  # the truth, which the CPU state may not hold
            for reg, arg in zip(abi.PASSED_REGISTERS, fn.args[2:], strict=True):
                self.set_x(reg, arg)
        self.entry_pc = entry_pc
        self.addr_refs: list[int] = [entry_pc]  # index 0 is the function's own pc
        self.fn_refs: list[int] = [entry_pc]  # index 0 is the function itself
        # Where each ref's value comes from (see Origin): one placeholder per origin, so a stored
        # lift is placed by evaluating them at the new entry (cache/lift_record.py).
        self.addr_origins: list[Origin] = [("offset", 0)]
        self.fn_origins: list[Origin] = [("offset", 0)]
        # The address site being lowered (cfg/addresses.py): (its offset, its address).
        self.site: tuple[int, int] | None = None
        # Whether the access being lowered has a base proven to be in the direct window (a
        # counted loop's fast copy, lower.py): its access function skips the base check.
        self.base_in_window = False
        # Where the access being lowered goes instead of its slow path, having done nothing (a
        # strided loop's fast copy, lower.py; direct model only): a bare move, no base check.
        self.hand_over: ir.Block | None = None
        # Whether the access being lowered is a plain one (a counted loop's plain copy, lower.py).
        self.plain = False
        # In an FP plain copy (lower.py): whether an FMA raised invalid in software (lift/fp.py), as
        # an i64 that is not 0 when one did.
        self.invalid_slot: ir.AllocaInstr | None = None
        self.sites_used: set[int] = set()
        self._addr_index: dict[Origin, int] = {("offset", 0): 0}
        self._fn_index: dict[Origin, int] = {}
        self._intrinsics: dict[str, ir.Function] = {}
        # Values known to be small (by id, with the value: ids of dropped values get reused).
        self.value_bounds: dict[int, tuple[ir.Value, int]] = {}
        self.rare_blocks: set[ir.Block] = set()  # the rare targets of cbranch_rare
        self.self_pc = self.b.ptrtoint(self._extern_addr(SELF_PC), I64, name="selfpc")

    def outlined(self, fn: ir.Function, used: RegisterUse) -> Emitter:
        """An emitter for `fn`, a function of this module that part of this function's code moves
        to, which uses the registers `used`: it shares the refs (their placeholders belong to the
        module) and the runtime's declarations."""
        e = Emitter(self.module, fn, used, self.entry_pc, self.memory_model, self.avx)
        for name in ("addr_refs", "fn_refs", "addr_origins", "fn_origins", "_addr_index", "_fn_index",
                     "sites_used", "_intrinsics"):
            setattr(e, name, getattr(self, name))
        return e

    # -- registers -------------------------------------------------------------------------
    # Register values are cached per IR block: a read after a read or write in the same block reuses
    # the SSA value, and writes reach the alloca only once, when the lowering leaves the block.  The
    # switch of blocks is noticed on the next register access (or flush()), and the pending stores
    # go in before the old block's terminator.
    def _known_values(self) -> dict[tuple[str, int], ir.Value]:
        if self._values_block is not self.b.block:
            self.flush()
            self._values_block = self.b.block
        return self._values

    def flush(self) -> None:
        """Store the register values written in the cached block into their allocas."""
        block = self._values_block
        ends_function = block is not None and isinstance(block.terminator, (ir.Ret, ir.Unreachable))
        if block is not None and self._dirty and not ends_function:
            saved = self.b.block
            term = block.terminator
            if term is not None:
                self.b.position_before(term)
            else:
                self.b.position_at_end(block)
            for key in sorted(self._dirty):
                self.b.store(self._values[key], self._slot(key))
            self.b.position_at_end(saved)
        self._dirty = set()
        self._values = {}
        self._values_block = None

    def known_values(self) -> dict[tuple[str, int], ir.Value]:
        """The register values known in the current block, with its pending stores to the allocas
        done (code reached from here may read them): for continue_in in a block it dominates."""
        values = dict(self._known_values())
        self.flush()
        return values

    def continue_in(self, block: ir.Block, values: dict[tuple[str, int], ir.Value] | None = None) -> None:
        """Go on lowering in `block`, where `values` (default: the current block's known_values())
        still hold: a block that only the current one enters, or a join of paths that leave the
        registers alone.  A value in SSA survives a reload from its alloca anyway; what this keeps
        is the raw twin of an FP result (set_nan_payload_free), so the canonical NaN is computed
        only where something reads the register's bits."""
        if values is None:
            values = dict(self._known_values())
        self.flush()  # pending alloca stores: the paths that leave read the allocas
        self.b.position_at_end(block)
        self._values_block, self._values = block, dict(values)

    def take_pending(self) -> tuple[dict[Key, ir.Value], set[Key]]:
        """The current block's register values and its pending alloca stores, taken out of it:
        for a branch whose other paths read no register from its alloca.  The stores then go on
        the paths that do (resume_pending), not on the hot path before the branch, where they
        would make it compute every canonical NaN the allocas must hold."""
        pending = dict(self._known_values()), set(self._dirty)
        self._dirty = set()
        return pending

    def resume_pending(self, block: ir.Block, pending: tuple[dict[Key, ir.Value], set[Key]]) -> None:
        """continue_in(block) with the values and pending stores take_pending took."""
        values, dirty = pending
        self.continue_in(block, values)
        self._dirty = set(dirty)

    def _read(self, bank: str, i: int, slots: dict[int, ir.Value]) -> ir.Value:
        known = self._known_values()
        v = known.get((bank, i))
        if v is None:
            v = known[(bank, i)] = self.b.load(slots[i], typ=slots[i].allocated_type)
            self._state_event("read", (bank, i), v)
        return v

    def _write(self, bank: str, i: int, slots: dict[int, ir.Value], v: ir.Value) -> None:
        self._known_values()[(bank, i)] = v
        self._dirty.add((bank, i))

    def x(self, i: int) -> ir.Value:
        return ir.Constant(I64, 0) if i == 0 else self._read("x", i, self.xregs)

    def set_x(self, i: int, v: ir.Value) -> None:
        if i != 0:
            v = self.extend(v, 64, signed=True)
            self._write("x", i, self.xregs, v)
            self._state_event("write", ("x", i), v)

    def add_imm(self, v: ir.Value, imm: int) -> ir.Value:
        """v + imm, folding an add of a constant into v: a frame's `addi sp, sp, 16` then gives
        back the very value sp had before `addi sp, sp, -16`, which _dirty_flow knows the CPU
        state still holds."""
        if isinstance(v, ir.Instruction) and v.opname == "add" and isinstance(v.operands[1], ir.Constant) \
                and isinstance(v.operands[1].constant, int):
            v, imm = v.operands[0], v.operands[1].constant + imm
        imm &= (1 << 64) - 1
        return v if imm == 0 else self.b.add(v, self.c(imm))

    def _as(self, v: ir.Value, ty: ir.Type) -> ir.Value:
        """A register value (i64 bits or a double) as `ty`: the same 64 bits."""
        return v if v.type == ty else self.b.bitcast(v, ty)

    def f_is_double(self, i: int) -> bool:
        """Whether FP register i lives in SSA as a double (RegisterUse.f_double)."""
        return self.fregs[i].allocated_type == F64

    def f_bits(self, i: int) -> ir.Value:
        return self._as(self._read("f", i, self.fregs), I64)

    def set_f_reg(self, i: int, v: ir.Value) -> None:
        """Write FP register i: `v` is its 64 bits, as an i64 or as a double."""
        v = self._as(v, self.fregs[i].allocated_type)
        self._write("f", i, self.fregs, v)
        self._state_event("write", ("f", i), v)

    def set_nan_payload_free(self, i: int, raw: ir.Value, precision: int) -> None:
        """FP register i (just written) holds `raw` (same type) with a NaN replaced by the
        canonical NaN.  An operation whose result does not depend on a NaN operand's payload or
        sign (arithmetic, compares, min/max, class) may read the raw value instead:
        then the canonicalisation of a register that is overwritten before anything reads its
        bits is dead code.  A read in the other `precision` (32 or 64) gets the canonical value:
        the NaN-boxing test of a double's raw NaN can pass where the canonical NaN's fails."""
        value = self._read("f", i, self.fregs)
        self._raw_twins[id(value)] = (value, self._as(raw, value.type), precision)

    def _canonical_in_exit(self) -> None:
        """In a cold block that leaves: the FP registers that hold an arithmetic result get their
        canonical NaN computed here, from the raw twin, so the hot path need not compute it for
        this path alone.  A test on the bits, which raises nothing.  (Not in fault and poll
        exits: there, with the raw value kept alive to the exit, `nbody` ran 12% slower.)"""
        values = self._known_values()
        for key, value in list(values.items()):
            twin = self._raw_twins.get(id(value))
            if key[0] != "f" or twin is None or twin[0] is not value:
                continue
            bits = self._as(twin[1], I64)
            double = twin[2] == 64
            nan = self.is_nan_bits(bits if double else self.b.trunc(bits, I32))
            canonical = CANONICAL_NAN64 if double else NAN_BOX | CANONICAL_NAN32
            values[key] = self._as(self.b.select(nan, self.c(canonical), bits), value.type)

    def magnitude(self, bits: ir.Value) -> ir.Value:
        """An FP value's integer bits (i32 or i64) without its sign."""
        width = bits.type.width
        return self.b.and_(bits, self.c((1 << (width - 1)) - 1, width))

    def is_nan_bits(self, bits: ir.Value) -> ir.Value:
        """NaN test on an FP value's integer bits (raises no FP exception, unlike a compare)."""
        width = bits.type.width
        return self.b.icmp_unsigned(">", self.magnitude(bits), self.c(INF_BITS[width], width))

    def _f_operand(self, i: int, precision: int) -> ir.Value:
        value = self._read("f", i, self.fregs)
        twin = self._raw_twins.get(id(value))
        return twin[1] if twin is not None and twin[0] is value and twin[2] == precision else value

    def f32(self, i: int, any_nan: bool = False) -> ir.Value:
        """Single-precision read: an improperly NaN-boxed value reads as the canonical NaN.  With
        `any_nan`, a NaN may have any payload and sign (see set_nan_payload_free)."""
        bits = self._as(self._f_operand(i, 32), I64) if any_nan else self.f_bits(i)
        boxed = self.b.icmp_unsigned("==", self.b.lshr(bits, self.c(32)), self.c(0xFFFFFFFF))
        low = self.b.select(boxed, self.b.trunc(bits, I32), self.c(CANONICAL_NAN32, 32))
        return self.b.bitcast(low, F32)

    def set_f32(self, i: int, v: ir.Value) -> None:
        bits = self.b.zext(self.b.bitcast(v, I32), I64)
        self.set_f_reg(i, self.b.or_(bits, self.c(NAN_BOX)))

    def f64(self, i: int, any_nan: bool = False) -> ir.Value:
        return self._as(self._f_operand(i, 64) if any_nan else self._read("f", i, self.fregs), F64)

    def set_f64(self, i: int, v: ir.Value) -> None:
        self.set_f_reg(i, v)

    def store_written(self, handed: frozenset[Key] = frozenset()) -> None:
        """Write back what this function changed, before control leaves it.  Only a marker goes
        in here: place_writebacks, which knows on which paths each register may have changed,
        puts the stores of those registers before it, storing the values the block holds here.
        (Making every store now and deleting most later was most of the lifter's time.)
        `handed`: registers that leave in host registers instead (returned()), not stored."""
        known = self._known_values()
        marker = WritebackMarker(self.b.block, {k: known[k] for k in self.use.written if k in known}, handed)
        self.b._insert(marker)
        self._state_event("store written", None, marker)

    def _slot(self, key: Key) -> ir.AllocaInstr:
        """The alloca of register `key`."""
        return (self.xregs if key[0] == "x" else self.fregs)[key[1]]

    def _write_back(self, key: Key) -> None:
        bank, i = key
        value = self.x(i) if bank == "x" else self._read("f", i, self.fregs)
        self._state_event("store", key, self._cpu_store(value, self._cpu_field(bank, i)))

    def _state_event(self, kind: str, reg: Key | None = None, what: object = None) -> None:
        """Record, in program order, what _replay needs: a register's "read" from its alloca or
        "write" (what: the value), a write-back "store" of one register or a "store written"
        marker (what: the instruction), a "reload" (what: each reloaded register's load)."""
        self._state_events.setdefault(self.b.block, []).append((kind, reg, what))

    def place_writebacks(self) -> None:
        """Delete the write-backs and reloads that need not run, once the function is lowered
        (lift/writeback.py): a write-back store is deleted where the register cannot have
        changed since the state last held it, on every path to the store; registers changed
        only before a loop with calls are written back on entering it; registers such a loop
        does not use are not reloaded in it."""
        graph = FlowGraph(self.fn)
        flow = self._dirty_flow(graph)
        dirty_out = {block: dirty for block, (dirty, _) in flow[1].items()}
        held = [("x", i) for i in self.xregs] + [("f", i) for i in self.fregs]
        slots = RegisterSlots({k: self._slot(k) for k in held}, {k: self._cpu_field(*k) for k in held},
                              self.use.written)
        users = uses_of(self.fn) if graph.loops else {}  # only the loop rule reads them
        written = set(slots.written)
        entering: dict[ir.Block, set[Key]] = {}
        exit_reloads: dict[tuple[ir.Block, ir.Block], set[Key]] = {}
        sunk_by: dict[ir.Block, set[Key]] = {}
        for loop in graph.loops:
            clean_around = set().union(*(written - dirty_out.get(b, frozenset()) for b in loop.latches))
            sunk, reload_stores = loop_reloads_to_sink(loop, slots, users, sunk_by.get(loop.header, set()))
            for store in reload_stores:
                store.parent.instructions.remove(store)
            for pred, _ in loop.entering:
                if dirty := (clean_around | sunk) & dirty_out.get(pred, frozenset()):
                    entering.setdefault(pred, set()).update(dirty)
            if sunk:
                for block in loop.body:
                    sunk_by.setdefault(block, set()).update(sunk)
                for edge in loop.exits:
                    exit_reloads.setdefault(edge, set()).update(sunk)
        for (inside, outside), reloaded in exit_reloads.items():
            split_edge(self.fn, inside, outside, "reload", lambda b, r=reloaded: self._reload_into(b, r))
        for block, stored in entering.items():
            self._write_back_at_end(block, stored)
        # Without those stores and reload blocks, the IR's flow is still the one just computed.
        flow_in = self._write_back_before_merges(None if entering or exit_reloads else (graph, flow))
        for block in self._state_events:
            if block in flow_in:
                self._replay(block, flow_in[block], drop=True)
            else:  # not reached in the flow: store everything, as if every register had changed
                for kind, _, event in self._state_events[block]:
                    if kind == "store written":
                        self._store_at(block, event, self.use.written)

    def _write_back_at_end(self, block: ir.Block, keys: set[Key]) -> None:
        self.b.position_before(block.terminator)
        self._values_block, self._values, self._dirty = block, {}, set()
        for key in sorted(keys):
            self._write_back(key)
        self._values_block = None

    def _write_back_before_merges(self, known: tuple[FlowGraph, DirtyFlow] | None) -> dict[ir.Block, FlowState]:
        """Write back a register where a path that changed it joins one that did not, when
        nothing after writes it (writeback.merge_writebacks); a few rounds, as cleaning one
        merge can leave a later one with clean and dirty paths.  `known`: the graph and dirty
        flow of the IR as it is, if the caller has them.  Returns the dirty flow's state on
        entry to each block, with those write-backs."""
        writes = {block: {reg for kind, reg, _ in events if kind == "write"}
                  for block, events in self._state_events.items()}
        # The passed registers leave a return in host registers: a store of them would be new.
        keys = [key for key in self.use.written if key not in PASSED_KEYS]
        for _ in range(MERGE_ROUNDS):
            if known is None:
                graph = FlowGraph(self.fn)
                known = graph, self._dirty_flow(graph)
            graph, (flow_in, flow_out) = known
            known = None
            edges = merge_writebacks(graph.preds, {b: d for b, (d, _) in flow_out.items()}, writes, keys,
                                     graph.cold(self.rare_blocks))
            if not edges:
                return flow_in
            for (pred, block), stored in edges.items():
                # A direct access's callbr: before it (its other edge is a cold fault path).
                if (block is not None and len(dict.fromkeys(successors(pred))) > 1
                        and not hasattr(pred.terminator, "retarget")):
                    pred = split_edge(self.fn, pred, block, "merge", lambda b: None)
                self._write_back_at_end(pred, stored)
        return self._dirty_flow(FlowGraph(self.fn))[0]

    def _reload_into(self, b: ir.IRBuilder, keys: set[Key]) -> None:
        for key in sorted(keys):
            slot = self._slot(key)
            b.store(self._cpu_load(self._cpu_field(*key), slot.allocated_type, b), slot)

    def _dirty_flow(self, graph: FlowGraph) -> DirtyFlow:
        """On entry to and exit from each block of `graph` (built on the IR as it is): the
        registers that may differ from their CPU-state copy (dirty), and for the others, values
        known to equal that copy (held): a register written with such a value stays clean.  So a
        register restored from a save slot with the value it was saved with (a frame's ra and s0
        through store-to-load forwarding) is not written back: the state still holds it."""
        order = graph.postorder[::-1]  # visiting in reverse postorder, most blocks are replayed once
        rank = {block: i for i, block in enumerate(order)}
        flow_in: dict[ir.Block, FlowState] = {order[0]: (frozenset(), {})}
        flow_out: dict[ir.Block, FlowState] = {}
        work, queued = [0], {0}
        while work:
            index = heapq.heappop(work)
            queued.discard(index)
            block = order[index]
            out = flow_out[block] = self._replay(block, flow_in[block], drop=False)
            for succ in successors(block):
                before = flow_in.get(succ)
                if before is None:
                    merged = out
                else:
                    held = {k: both for k, v in before[1].items() if (both := v & out[1].get(k, frozenset()))}
                    merged = (before[0] | out[0], held)
                if merged != before:
                    flow_in[succ] = merged
                    if rank[succ] not in queued:
                        queued.add(rank[succ])
                        heapq.heappush(work, rank[succ])
        return flow_in, flow_out

    def _replay(self, block: ir.Block, state: FlowState, drop: bool) -> FlowState:
        """The flow state (_dirty_flow) at the end of `block`; with `drop`, put the stores of the
        registers that may be dirty at the block's store_written markers and delete its other
        write-back stores of registers that cannot be."""
        dirty, held = set(state[0]), dict(state[1])
        written = self.use.written
        for kind, reg, what in self._state_events.get(block, ()):
            if kind == "read":
                if reg not in dirty:
                    held[reg] = held.get(reg, frozenset()) | {id(what)}
            elif kind == "write":
                if id(what) in held.get(reg, ()):
                    dirty.discard(reg)
                else:
                    dirty.add(reg)
            elif kind == "reload":
                dirty.clear()
                held = {key: frozenset({id(load)}) for key, load in what.items()}
            elif kind == "store written":
                stored = [key for key in written if key in dirty and key not in what.handed]
                if drop:
                    self._store_at(block, what, stored)
                values = what.values()
                for key in stored:
                    held[key] = frozenset({id(values[key])}) if key in values else frozenset()
                for key in what.handed:  # left in host registers: the state's copy is stale
                    held.pop(key, None)
                dirty.difference_update(written)
            elif reg in dirty:  # a write-back store of one register
                dirty.discard(reg)
                held[reg] = frozenset({id(what.operands[0])})
            elif drop:
                block.instructions.remove(what)
        return frozenset(dirty), {k: v for k, v in held.items() if v}

    def _store_at(self, block: ir.Block, marker: WritebackMarker, keys: Sequence[Key]) -> None:
        """The write-back stores of `keys` in place of a store_written marker: each stores the
        value the block held there, else its alloca's (no write was pending there)."""
        self.b.position_before(marker)
        values = marker.values()
        for key in keys:
            value = values.get(key)
            if value is None:
                slot = self._slot(key)
                value = self.b.load(slot, typ=slot.allocated_type)
            self._cpu_store(value, self._cpu_field(*key))
        block.instructions.remove(marker)

    def reload_all(self) -> None:
        """Reload the registers after control came back from elsewhere."""
        self.reload([("x", i) for i in self.xregs] + [("f", i) for i in self.fregs])
        self.reload_frm()

    def reload(self, keys: Iterable[Key]) -> None:
        """Reload these registers, after a call that wrote them (the state holds every other one:
        what this function changed was written back before the call)."""
        loads = {}
        for key in keys:
            slot = self._slot(key)
            loads[key] = self._cpu_load(self._cpu_field(*key), slot.allocated_type)
            self._write(*key, self.xregs if key[0] == "x" else self.fregs, loads[key])
        self._state_event("reload", None, loads)

    def reload_frm(self) -> None:
        self.b.store(self.cpu_u32("frm"), self.frm_slot)

    def frm(self) -> ir.Value:
        """The dynamic rounding mode (cpu->frm as of the last runtime call that could change it)."""
        return self.b.load(self.frm_slot, typ=I32)

    # CPU-state accesses carry the "cpu" TBAA tag and guest memory accesses the "guest" one: guest
    # memory never overlaps the runtime's CPU state, and saying so lets LLVM keep frm, TLB entries
    # and the like in registers across guest stores.
    def _cpu_load(self, ptr: ir.Value, ty: ir.Type, b: ir.IRBuilder | None = None) -> ir.Value:
        load = (b or self.b).load(ptr, typ=ty)
        load.set_metadata("tbaa", self.tbaa_cpu)
        return load

    def _cpu_store(self, v: ir.Value, ptr: ir.Value) -> ir.Instruction:
        store = self.b.store(v, ptr)
        store.set_metadata("tbaa", self.tbaa_cpu)
        return store

    def cpu_u32(self, name: str) -> ir.Value:
        return self._cpu_load(self._cpu_field(name, 0, I32), I32)

    def set_cpu_u32(self, name: str, v: ir.Value) -> None:
        self._cpu_store(v, self._cpu_field(name, 0, I32))

    def cpu_u64(self, name: str) -> ir.Value:
        return self._cpu_load(self._cpu_field(name, 0), I64)

    def set_cpu_u64(self, name: str, v: ir.Value) -> None:
        self._cpu_store(v, self._cpu_field(name, 0))

    def interrupt_pending(self) -> ir.Value:
        """cpu->interrupt != 0, read afresh at every poll: a signal handler sets it at any time
        (a volatile load, so LLVM cannot hoist it out of a loop that makes no call)."""
        flag = _VolatileLoad(self.b.block, self._cpu_field("interrupt", 0, I32), typ=I32)
        flag.align = 4
        self.b._insert(flag)
        return self.b.icmp_unsigned("!=", flag, self.c(0, 32))

    def _cpu_field(self, name: str, index: int, ty: ir.Type = I64) -> ir.Value:
        ptr = self._fields.get((name, index))
        if ptr is None:
            assert self.b.block.name == "entry", f"CPU field {name} first used outside the entry block"
            elem = 4 if ty is I32 else 8
            offset = abi.CPU_OFFSETS[name] + index * elem
            ptr = self._fields[(name, index)] = self.b.gep(self.cpu, [self.c(offset)], source_etype=I8)
        return ptr

    # -- constants and link-time values ------------------------------------------------------
    @staticmethod
    def c(v: int, bits: int = 64) -> ir.Constant:
        return ir.Constant(INT_TYPES[bits], v & ((1 << bits) - 1))

    def pc(self, offset: int) -> ir.Value:
        """The guest pc `offset` bytes from this function's entry."""
        return self.b.add(self.self_pc, self.c(offset)) if offset else self.self_pc

    def return_address(self, offset: int) -> ir.Value:
        """The pc `offset` bytes from the entry where a call returns: a link-time constant of its
        own, which x86 takes as an immediate both where the call stores it in ra and where the
        caller compares the returned pc with it (`pc(offset)` is an add on the entry's address,
        which lives through the function in a register or a spill slot).  Only for these hot
        uses: a constant per fault exit would be a symbol per guest access."""
        return self._link_addr(("offset", offset), self.entry_pc + offset)

    def _link_addr(self, origin: Origin, guest_addr: int) -> ir.Value:
        index = self._addr_index.get(origin)
        if index is None:
            index = self._addr_index[origin] = len(self.addr_refs)
            self.addr_refs.append(guest_addr)
            self.addr_origins.append(origin)
        return self.b.ptrtoint(self._extern_addr(placeholder("A", index)), I64)

    def _origin(self, guest_addr: int) -> Origin:
        if self.site is not None and self.site[1] == guest_addr & MASK:
            self.sites_used.add(self.site[0])
            return ("site", self.site[0])
        return ("offset", offset(guest_addr, self.entry_pc))

    def addr(self, guest_addr: int) -> ir.Value:
        """A guest address the code refers to (pc-relative data), supplied at link time."""
        return self._link_addr(self._origin(guest_addr), guest_addr)

    def _extern_addr(self, name: str) -> ir.GlobalVariable:
        g = self.module.globals.get(name)
        if g is None:
            g = ir.GlobalVariable(self.module, I8, name)
            g.linkage = "external"
        return g

    def function(self, entry: int, own_entry: int) -> ir.Function:
        """The translated function for the guest function at `entry`."""
        if entry == own_entry:
            return self.fn
        origin = self._origin(entry)
        index = self._fn_index.get(origin)
        if index is None:
            index = self._fn_index[origin] = len(self.fn_refs)
            self.fn_refs.append(entry)
            self.fn_origins.append(origin)
            translated_function(self.module, placeholder("F", index))
        return self.module.globals[placeholder("F", index)]

    def intrinsic(self, name: str) -> ir.Function:
        fn = self._intrinsics.get(name)
        if fn is None:
            spec = next(i for i in abi.INTRINSICS if i.name == name)
            fnty = ir.FunctionType(_LLVM_TYPES[spec.ret], [_LLVM_TYPES[p] for p in spec.params])
            fn = self._intrinsics[name] = ir.Function(self.module, fnty, name)
            if spec.cconv:
                fn.calling_convention = spec.cconv
        return fn

    def call_runtime(self, name: str, *args: ir.Value) -> ir.Value:
        self.forget_stores()
        return self.runtime_call(self.b, name, [self.cpu, *args])

    def runtime_call(self, b: ir.IRBuilder, name: str, args: list[ir.Value]) -> ir.Value:
        fn = self.intrinsic(name)
        return b.call(fn, args, cconv=fn.calling_convention or None)

    def call_translated(self, fn: ir.Value, resume: ir.Value, tail: bool = False) -> ir.Value:
        """Call a translated function (a native call; `tail`: a guaranteed tail call), passing
        it the passed registers, which the write-back before it left out (store_written with
        PASSED_KEYS): the callee takes them as changed.  Returns its result (take_returned)."""
        self.forget_stores()
        args = [self.cpu, resume, *(self.x(reg) for reg in abi.PASSED_REGISTERS)]
        return self.b.call(fn, args, cconv=abi.TRANSLATED_CC, tail="musttail" if tail else False)

    def take_returned(self, result: ir.Value) -> tuple[ir.Value, list[ir.Value]]:
        """A translated call's next pc (with abi.RA_IN_STATE) and returned registers, which
        become the registers' values (changed: the CPU state may not hold them); after
        reload_all."""
        values = [self.b.extract_value(result, k + 1) for k in range(len(abi.RETURNED_REGISTERS))]
        for reg, value in zip(abi.RETURNED_REGISTERS, values, strict=True):
            self.set_x(reg, value)
        return self.b.extract_value(result, 0), values

    def returned(self, next_pc: ir.Value, values: list[ir.Value] | None = None) -> None:
        """Return to the caller: the next pc and the returned registers' `values` (as a callee
        returned them, its pc's RA_IN_STATE bit included), or (None) the CPU state's, where a
        runtime call just left the state holding every register, ra too."""
        if values is None:
            next_pc, values = self.b.or_(next_pc, self.c(abi.RA_IN_STATE)), self._state_returned()
        self.b.ret(self._result(next_pc, values))

    def _result(self, next_pc: ir.Value, values: list[ir.Value]) -> ir.Value:
        result = ir.Constant(RESULT_TYPE, ir.Undefined)
        for k, v in enumerate([next_pc, *values]):
            result = self.b.insert_value(result, v, k)
        return result

    def store_handed(self, reg: int, value: ir.Value) -> None:
        """Store `value` in the CPU state as x`reg`, a register the write-back left out as handed
        over in a host register (store_written's `handed`), on a path where the runtime needs
        it after all.  A plain store, not _write_back: the flow counts handed registers as
        written at the marker, and would delete it."""
        self._cpu_store(value, self._cpu_field("x", reg))

    def _state_returned(self) -> list[ir.Value]:
        return [self._cpu_load(self._cpu_field("x", reg), I64) for reg in abi.RETURNED_REGISTERS]

    def call_indirect(self, target: ir.Value) -> ir.Value:
        """Run the guest code at `target` until it returns (registers written back); returns
        what a translated call does (take_returned).  A target the call table covers
        (abi.CALL_TABLE_SLOT) is a native call of its slot, whose address is computed, not
        loaded: a mispredicted call resolves as soon as the target is known.  Others look in
        the runtime's entry cache (abi.ENTRY_CACHE_BITS): a hit is a native indirect call; a
        miss asks aot_call_indirect, which also fills the cache and leaves every register in the
        CPU state."""
        b = self.b
        inside, outside, hit, miss, done = (self.fn.append_basic_block(f"icall.{tag}")
                                            for tag in ("table", "cache", "hit", "miss", "done"))
        offset = b.sub(target, b.ptrtoint(self._extern_addr("aot_call_table_base"), I64))
        self.cbranch_rare(b.icmp_unsigned(">=", offset, b.ptrtoint(self._extern_addr("aot_call_table_span"), I64)),
                          outside, inside)
        b.position_at_end(inside)
        stub = _TranslatedFunctionAddress(b.block, self._extern_addr("aot_call_table_origin"),
                                          [b.mul(target, self.c(abi.CALL_TABLE_SCALE))])
        b._insert(stub)
        from_table = self.call_translated(stub, self.c(0))
        b.branch(done)
        b.position_at_end(outside)
        entry = self._cached_entry(target)
        self.cbranch_rare(b.icmp_unsigned("!=", self._entry_field(entry, "pc"), target), miss, hit)
        b.position_at_end(hit)
        direct = self.call_translated(self._entry_fn(entry), self._entry_field(entry, "resume"))
        b.branch(done)
        b.position_at_end(miss)
        # The runtime runs the target from the CPU state.
        for reg in abi.PASSED_REGISTERS:
            self.store_handed(reg, self.x(reg))
        next_pc = self.call_runtime("aot_call_indirect", target)
        looked_up = self._result(b.or_(next_pc, self.c(abi.RA_IN_STATE)), self._state_returned())
        b.branch(done)
        b.position_at_end(done)
        result = b.phi(RESULT_TYPE)
        result.add_incoming(from_table, inside)
        result.add_incoming(direct, hit)
        result.add_incoming(looked_up, miss)
        return result

    def tail_call_indirect(self, target: ir.Value, miss: ir.Block) -> None:
        """Jump to `target` as a guaranteed tail call when the entry cache holds the entry of a
        function there, else go to `miss`.  Only function entries (resume 0) qualify: they start
        with a poll, so a loop of such jumps still passes a safe point."""
        b = self.b
        entry = self._cached_entry(target)
        hit = self.fn.append_basic_block("tail.hit")
        is_function = b.and_(b.icmp_unsigned("==", self._entry_field(entry, "pc"), target),
                             b.icmp_unsigned("==", self._entry_field(entry, "resume"), self.c(0)))
        b.cbranch(is_function, hit, miss)
        b.position_at_end(hit)
        self.store_written(PASSED_KEYS)
        b.ret(self.call_translated(self._entry_fn(entry), self.c(0), tail=True))

    def _cached_entry(self, target: ir.Value) -> ir.Value:
        """The entry cache's slot for `target`: a struct aot_entry, maybe another pc's."""
        b = self.b
        cache = self.module.globals.get("aot_entry_cache")
        if cache is None:
            cache = ir.GlobalVariable(self.module, ir.ArrayType(I8, abi.ENTRY_CACHE_SIZE * abi.ENTRY_CACHE_SLOT),
                                      "aot_entry_cache")
        index = b.and_(b.lshr(target, self.c(1)), self.c(abi.ENTRY_CACHE_SIZE - 1))
        return b.gep(cache, [b.mul(index, self.c(abi.ENTRY_CACHE_SLOT))], source_etype=I8)

    def _entry_field(self, entry: ir.Value, name: str) -> ir.Value:
        return self.b.load(self.b.gep(entry, [self.c(abi.ENTRY_OFFSETS[name])], source_etype=I8), typ=I64)

    def _entry_fn(self, entry: ir.Value) -> ir.Value:
        fn = _TranslatedFunctionLoad(self.b.block, self.b.gep(entry, [self.c(abi.ENTRY_OFFSETS["fn"])],
                                                              source_etype=I8))
        self.b._insert(fn)
        return fn

    # -- integer helpers ------------------------------------------------------------------------
    def extend(self, v: ir.Value, bits: int, signed: bool) -> ir.Value:
        width = v.type.width
        if width == bits:
            return v
        if width > bits:
            return self.b.trunc(v, INT_TYPES[bits])
        return (self.b.sext if signed else self.b.zext)(v, INT_TYPES[bits])

    def low32(self, v: ir.Value) -> ir.Value:
        return self.b.trunc(v, I32)

    def sext32(self, v: ir.Value) -> ir.Value:
        """A W-form result: the low 32 bits, sign-extended."""
        return self.b.sext(self.extend(v, 32, signed=False), I64)

    def bool_to_x(self, v: ir.Value) -> ir.Value:
        return self.b.zext(v, I64)

    def intrinsic_call(self, name: str, types: list[ir.Type], args: list[ir.Value],
                       ret: ir.Type | None = None) -> ir.Value:
        """Call an LLVM intrinsic such as llvm.ctpop.i64 (declared once per module)."""
        fn = self.module.globals.get(name)
        if fn is None:
            fnty = ir.FunctionType(ret if ret is not None else types[0], types)
            fn = ir.Function(self.module, fnty, name)
        return self.b.call(fn, args)

    # -- guest memory through the software TLB --------------------------------------------------
    # Each access size gets one small always-inline function per module, so the IR of a function
    # holds one call per access (cheap to build in Python); LLVM inlines the TLB fast path.
    def load(self, base: ir.Value, offset: int, size: int, signed: bool, pc: ir.Value,
             double: bool = False) -> ir.Value:
        """Load `size` bytes of guest memory at base + offset (a 12-bit offset: the direct model
        checks only the base, see abi.DIRECT_LIMIT); returns an i64 (extended), or with `double`
        an 8-byte double loaded straight into an FP register."""
        # An 8-byte load has nothing to extend: one access function serves ld and fld.
        vty = F64 if double else I64
        forwarded = self._forwarded(base, offset, size, signed, vty)
        if forwarded is not None:
            return forwarded
        if self.plain:
            return self._plain_access(size, signed and size < 8, vty, base, offset)
        if self.hand_over is not None:
            return self._handing_over("load", size, signed and size < 8, vty, base, offset, None)
        result = self.b.call(self._access_fn("load", size, signed and size < 8, vty),
                             [self.cpu, base, self._checked_value(base), self.c(offset), pc])
        self._check_fault(self.b.extract_value(result, 1), pc)
        loaded = self.b.extract_value(result, 0)
        if size == 1 and not signed:
            self._bounded(loaded, 0xFF)
        return loaded

    def store(self, base: ir.Value, offset: int, value: ir.Value, size: int, pc: ir.Value) -> None:
        """Store the low `size` bytes of `value` (an integer, or a double stored straight from its
        FP register) at base + offset, as for load."""
        if value.type != F64:
            value = self.extend(value, size * 8, signed=False)
        if self.plain:
            self._plain_access(size, False, value.type, base, offset, value)
            self.forget_stores()
            return
        if self.hand_over is not None:
            self._handing_over("store", size, False, value.type, base, offset, value)
            self.forget_stores()
            return
        faulted = self.b.call(self._access_fn("store", size, False, value.type if value.type == F64 else I64),
                              [self.cpu, base, self._checked_value(base), self.c(offset), value, pc])
        self._check_fault(faulted, pc)
        self._remember_store(base, offset, size, value)

    def _small_bound(self, v: ir.Value, depth: int = 4) -> int | None:
        """An upper bound of v (as an unsigned number) when it is at most ROOT_SLACK: a
        constant, a mask (`andi`), a small value shifted left, a zero-extended narrow value, a
        loaded byte (_bounded).  Within the guest block only: across blocks the registers go
        through allocas, whose loads the IR knows nothing about."""
        known = self.value_bounds.get(id(v))
        if known is not None and known[0] is v:
            return known[1]
        if isinstance(v, ir.Constant) and isinstance(v.constant, int):
            bound = v.constant & MASK
        elif not isinstance(v, ir.Instruction) or depth == 0:
            return None
        elif v.opname == "and":
            bounds = [b for b in (self._small_bound(o, depth - 1) for o in v.operands) if b is not None]
            bound = min(bounds) if bounds else None
        elif v.opname == "shl" and isinstance(v.operands[1], ir.Constant) and v.operands[1].constant < 64:
            inner = self._small_bound(v.operands[0], depth - 1)
            bound = None if inner is None else inner << v.operands[1].constant
        elif v.opname == "zext":
            bound = (1 << v.operands[0].type.width) - 1
        else:
            return None
        return bound if bound is not None and bound <= ROOT_SLACK else None

    def _bounded(self, v: ir.Value, bound: int) -> None:
        """Remember that v is at most `bound` (an unsigned number), for _small_bound."""
        if bound <= ROOT_SLACK:
            self.value_bounds[id(v)] = (v, bound)

    def _checked_value(self, base: ir.Value) -> ir.Value:
        """What the access function's window check tests: the root, where there is a check (the
        direct model, a base not proven in the window); else the base, which it ignores."""
        return self._window_root(base) if self.memory_model == "direct" and not self.base_in_window else base

    def _window_root(self, base: ir.Value) -> ir.Value:
        """The value the direct model's window check tests for an access off `base`: `base`
        itself, or the value it is computed from by adding small non-negative numbers that are
        not constants (`a + (i & 3) * 8`), with any constants added in between, as long as
        together they stay within ROOT_SLACK of it.  The accesses of an array's masked elements
        then share one check.  (A constant alone does not move the check: the accesses off one
        frame base, `sp - 16`, share theirs already, in later blocks too, where the IR knows the
        base but not what it was computed from.)  A root in the window and a base outside it put
        the address in a guard page, where the move faults and the slow path does the access."""
        root, v, lo, hi = base, base, 0, 0
        for _ in range(8):
            if not (isinstance(v, ir.Instruction) and v.opname == "add"):
                break
            step = None
            for term, other in (v.operands, reversed(v.operands)):
                if isinstance(term, ir.Constant) and isinstance(term.constant, int):
                    c = offset(term.constant, 0)  # as a signed number
                    step = (other, c, c, False)
                else:
                    bound = self._small_bound(term)
                    step = None if bound is None else (other, 0, bound, True)
                if step is not None:
                    break
            if step is None:
                break
            v, lo, hi = step[0], lo + step[1], hi + step[2]
            if lo < -ROOT_SLACK or hi > ROOT_SLACK:
                break
            if step[3]:
                root = v
        return root

    def forget_stores(self) -> None:
        """Guest memory may have changed other than through this block's stores (a call, a
        system call, an atomic, another path joining), or a fence orders other harts' stores in
        between: no load is forwarded from them."""
        self._stored.clear()

    def _remember_store(self, base: ir.Value, offset: int, size: int, value: ir.Value) -> None:
        """After a store that did not fault: a later load of the same bytes off the same base
        value gets `value` (_forwarded).  A store through another base may alias anything."""
        self._stored = {key: (b, v) for key, (b, v) in self._stored.items()
                        if b is base and (key[1] + key[2] <= offset or offset + size <= key[1])}
        self._stored[(id(base), offset, size)] = (base, value)

    def _forwarded(self, base: ir.Value, offset: int, size: int, signed: bool, vty: ir.Type) -> ir.Value | None:
        """The value a load of `size` bytes at base + offset reads when this guest block stored
        those bytes through the same base value and nothing may have changed them since: no
        access.  The load cannot fault: the store to the same bytes just did not (the guest's
        own munmap or mprotect is a system call, which forgets the stores; another thread's
        between the two instructions is a race, as for plain copies).  RVWMO lets a load return
        its own hart's earlier store."""
        entry = self._stored.get((id(base), offset, size))
        if entry is None or entry[0] is not base:
            return None
        value = entry[1]
        if vty == F64:
            return value if value.type == F64 else self.b.bitcast(value, F64)
        if value.type == F64:
            value = self.b.bitcast(value, I64)
        return self.extend(self.extend(value, size * 8, signed=False), 64, signed)

    def _plain_access(self, size: int, signed: bool, vty: ir.Type, base: ir.Value, offset: int,
                      value: ir.Value | None = None) -> ir.Value | None:
        """A counted loop's plain-copy access (lower.py): an ordinary LLVM load or store through
        %gs, which LLVM may combine, move and vectorise.  It cannot fault: the loop's header found
        every page the run touches granted in the window's access map.  A GEP off null, not an
        inttoptr: LLVM's scalar evolution follows it, which vectorising needs."""
        b = self.b
        ptr = b.gep(ir.Constant(GUEST_PTR, None), [b.add(base, self.c(offset))], source_etype=I8)
        raw_ty = F64 if vty == F64 else INT_TYPES[size * 8]
        if value is not None:
            b.store(value if value.type == raw_ty else b.trunc(value, raw_ty), ptr, align=1).set_metadata(
                "tbaa", self.tbaa_guest)
            return None
        loaded = b.load(ptr, typ=raw_ty, align=1)
        loaded.set_metadata("tbaa", self.tbaa_guest)
        return loaded if raw_ty in (F64, I64) else (b.sext if signed else b.zext)(loaded, I64)

    def _handing_over(self, kind: str, size: int, signed: bool, vty: ir.Type, base: ir.Value, offset: int,
                      value: ir.Value | None) -> ir.Value | None:
        """A strided loop's fast-copy access (lower.py): the move without a base check; when it
        faults it has done nothing, and control goes to hand_over with the registers in their
        allocas.  Inline, not an access function: a fault flag returned through one is a phi of
        two constants that LLVM does not thread over the move's callbr."""
        pending = self.take_pending()
        hand, cont = self.fn.append_basic_block("hand"), self.fn.append_basic_block("mem.ok")
        loaded = self._direct_access(self.b, kind, size, signed, vty, base, self.c(offset), value, cont, hand,
                                     root=None)
        self.resume_pending(hand, pending)
        self._canonical_in_exit()
        self.flush()  # the checked copy reads the allocas
        self.b.branch(self.hand_over)
        self.resume_pending(cont, pending)
        return loaded

    def _check_fault(self, faulted: ir.Value, pc: ir.Value) -> None:
        """Leave the function when a slow path reported a fault the guest handles: the access's
        own exit writes back the registers that may have changed and lets aot_interrupt deliver
        the fault at this instruction.  The fast path returns a constant false, so after inlining
        the exit hangs off the slow path only.  One exit per access, not one block shared by all:
        merging every access's register values in phis made LLVM shuffle them through spill
        slots on the hot paths (docs/performance.md)."""
        values = dict(self._known_values())
        exit_block = self.fn.append_basic_block("fault")
        cont = self.fn.append_basic_block("mem.ok")
        self.cbranch_rare(faulted, exit_block, cont)
        self.continue_in(exit_block, values)
        self.set_cpu_u64("pc", pc)
        self.store_written()
        self.returned(self.runtime_call(self.b, "aot_interrupt", [self.cpu]))  # leaves: the stores hold on
        self.continue_in(cont, values)

    def _access_fn(self, kind: str, size: int, signed: bool, vty: ir.Type = I64) -> ir.Function:
        """The access function of `size` bytes; a load returns the value extended to 64 bits, or
        with `vty` F64 an 8-byte double (a store then takes one).  With base_in_window, the direct
        model's fast path trusts the base to be in the window."""
        checked = not self.base_in_window or self.memory_model != "direct"
        name = f"aot.{kind}{size * 8}{'s' if signed else ''}{'d' if vty == F64 else ''}{'' if checked else '.w'}"
        fn = self.module.globals.get(name)
        if fn is not None:
            return fn
        raw_ty = F64 if vty == F64 else INT_TYPES[size * 8]
        # Returns (value, faulted) for loads and faulted for stores: see _check_fault.
        if kind == "load":
            fnty = ir.FunctionType(ir.LiteralStructType([vty, I1]), [PTR, I64, I64, I64, I64])
        else:
            fnty = ir.FunctionType(I1, [PTR, I64, I64, I64, raw_ty, I64])
        fn = ir.Function(self.module, fnty, name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        cpu, base, root, offset, *rest = fn.args
        value, pc = (None, rest[0]) if kind == "load" else rest
        fast, slow = fn.append_basic_block("fast"), fn.append_basic_block("slow")
        def finish(loaded: ir.Value | None, faulted: ir.Value) -> None:
            if kind == "load":
                b.ret(b.insert_value(b.insert_value(ir.Constant(fnty.return_type, None), loaded, 0), faulted, 1))
            else:
                b.ret(faulted)

        if self.memory_model == "direct":
            loaded = self._direct_access(b, kind, size, signed, vty, base, offset, value, fast, slow,
                                         root if checked else None)
        else:
            loaded = self._tlb_access(b, kind, size, signed, vty, cpu, base, offset, value, fast, slow)
        finish(loaded, ir.Constant(I1, 0))
        b.position_at_end(slow)
        addr = b.add(base, offset)  # here, so that the direct model's fast path never computes it
        size_arg = self.c(size, 32)
        interrupt = b.gep(cpu, [self.c(abi.CPU_OFFSETS["interrupt"])], source_etype=I8)
        slow_value = None
        if kind == "load":
            slow_value = self.runtime_call(b, "aot_load_slow", [cpu, addr, size_arg, pc])  # zero-extended
            if signed:
                slow_value = b.sext(b.trunc(slow_value, raw_ty), I64)
            elif vty == F64:
                slow_value = b.bitcast(slow_value, F64)
        else:
            bits = b.bitcast(value, I64) if vty == F64 else self.extend_in(b, value)
            self.runtime_call(b, "aot_store_slow", [cpu, addr, bits, size_arg, pc])
        finish(slow_value, b.icmp_unsigned("!=", b.load(interrupt, typ=I32), self.c(0, 32)))
        return fn

    def _direct_access(self, b: ir.IRBuilder, kind: str, size: int, signed: bool, vty: ir.Type,
                       base: ir.Value, offset: ir.Value, value: ir.Value | None, fast: ir.Block,
                       slow: ir.Block, root: ir.Value | None) -> ir.Value | None:
        """The direct model's fast path: with `root` (the base, or a value the base lies close
        above or below: _window_root) outside the window every access takes the slow path;
        inside, the move itself does when it faults (addr is within a guard page of the window,
        abi.DIRECT_LIMIT).  Checking the root lets the accesses off one register value (a stack
        frame, an array indexed by a masked value) share one check; without `root` the caller
        proved the base in the window.  Leaves `b` on the fast path; returns the loaded value
        (None for a store)."""
        if root is not None:
            direct = b.function.append_basic_block("direct")
            self.cbranch_rare(b.icmp_unsigned(">=", root, self.c(abi.DIRECT_LIMIT)), slow, direct, b)
            b.position_at_end(direct)
        # The runtime sets the thread's %gs base to abi.DIRECT_BASE: %gs:offset(base) is the window.
        # A double moves between memory and an XMM register ("x"), anything else a general one.
        reg = "x" if vty == F64 else "r"
        movsd = "vmovsd" if self.avx else "movsd"
        # The offset is an immediate operand: after inlining it is the instruction's constant.
        if kind == "load":
            mem = "%gs:${2:c}(${1})"
            move = f"{movsd} {mem}, ${{0}}" if vty == F64 else _DIRECT_LOADS[(size, signed)].format(mem=mem)
            return _direct_move(b, vty, _fault_row(move, 3), f"={reg},r,i,!i", [base, offset], fast, slow, "v")
        move = movsd if vty == F64 else _DIRECT_STORES[size]
        asm = _fault_row(f"{move} ${{1}}, %gs:${{2:c}}(${{0}})", 3)
        return _direct_move(b, ir.VoidType(), asm, f"r,{reg},i,!i", [base, value, offset], fast, slow)

    def scan_bytes(self, address: ir.Value, value: ir.Value, until_equal: bool) -> tuple[ir.Value, ir.Value]:
        """How many bytes from guest `address` on, within its page, differ from `value` (or with
        `until_equal` false, equal it): a byte scan's iterations to skip (cfg/loops.py), and
        whether the byte after them was read (it ends the scan) rather than on the next page.
        The reads are aligned 16-byte moves, so none leaves the page; the count is 0, and the
        byte not read, when the address is outside the direct window or its page cannot be
        read, where the guest's own load faults.  Leaves the builder after the scan."""
        b, fn = self.b, self.fn
        vec = ir.VectorType(I8, 16)
        entry = b.block
        setup, chunk_block, got, found, following, fault, done = (
            fn.append_basic_block(f"scan.{tag}") for tag in ("setup", "chunk", "got", "found", "next", "fault", "done"))
        b.cbranch(b.icmp_unsigned("<", address, self.c(abi.DIRECT_LIMIT)), setup, done)
        b.position_at_end(setup)
        page_end = b.add(b.or_(address, self.c(abi.PAGE_SIZE - 1)), self.c(1))
        page_left = b.sub(page_end, address)
        aligned = b.and_(address, self.c(~15))
        first_mask = b.shl(self.c(0xFFFF, 32), b.trunc(b.and_(address, self.c(15)), I32))
        lanes = b.insert_element(ir.Constant(vec, ir.Undefined), b.trunc(value, I8), self.c(0, 32))
        splat = b.shuffle_vector(lanes, ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(I32, 16), None))
        # A value above 255 equals no byte: no byte ends an until_equal scan, every byte the other.
        fits = b.icmp_unsigned("<", value, self.c(256))
        b.branch(chunk_block)
        b.position_at_end(chunk_block)
        chunk, mask = b.phi(I64), b.phi(I32)
        chunk.add_incoming(aligned, setup)
        mask.add_incoming(first_mask, setup)
        move = f"{'vmovdqu' if self.avx else 'movdqu'} %gs:(${{1}}), ${{0}}"
        data = _direct_move(b, vec, _fault_row(move, 2), "=x,r,!i", [chunk], got, fault, "chunk")
        hits = b.zext(b.bitcast(b.icmp_unsigned("==" if until_equal else "!=", data, splat), I16), I32)
        hits = b.and_(b.select(fits, hits, self.c(0 if until_equal else 0xFFFF, 32)), mask)
        b.cbranch(b.icmp_unsigned("!=", hits, self.c(0, 32)), found, following)
        b.position_at_end(found)
        first_hit = b.zext(self.intrinsic_call("llvm.cttz.i32", [I32, I1], [hits, ir.Constant(I1, 1)]), I64)
        found_skip = b.sub(b.add(chunk, first_hit), address)
        b.branch(done)
        b.position_at_end(following)
        next_chunk = b.add(chunk, self.c(16))
        chunk.add_incoming(next_chunk, following)
        mask.add_incoming(self.c(0xFFFF, 32), following)
        b.cbranch(b.icmp_unsigned("==", next_chunk, page_end), done, chunk_block)
        b.position_at_end(fault)
        b.branch(done)
        b.position_at_end(done)
        skip, ending_read = b.phi(I64), b.phi(I1)
        for v, block in ((self.c(0), entry), (found_skip, found), (page_left, following),
                         (self.c(0), fault)):
            skip.add_incoming(v, block)
            ending_read.add_incoming(ir.Constant(I1, block is found), block)
        return skip, ending_read

    def _tlb_access(self, b: ir.IRBuilder, kind: str, size: int, signed: bool, vty: ir.Type, cpu: ir.Value,
                    base: ir.Value, offset: ir.Value, value: ir.Value | None, fast: ir.Block,
                    slow: ir.Block) -> ir.Value | None:
        """The TLB model's fast path: a hit in the software TLB is a host load or store at the
        entry's addend.  Leaves `b` on the fast path; returns the loaded value (None for a store)."""
        addr = b.add(base, offset)
        entry = self._tlb_entry(b, cpu, addr)
        tag = self._tlb_field(b, entry, "tag_read" if kind == "load" else "tag_write")
        last = b.add(addr, self.c(size - 1)) if size > 1 else addr
        miss = b.icmp_unsigned("!=", tag, b.and_(last, self.c(~(abi.PAGE_SIZE - 1))))
        self.cbranch_rare(miss, slow, fast, b)
        b.position_at_end(fast)
        host = b.inttoptr(b.add(addr, self._tlb_field(b, entry, "addend")), PTR)
        if kind != "load":
            b.store(value, host, align=1).set_metadata("tbaa", self.tbaa_guest)
            return None
        loaded = b.load(host, typ=F64 if vty == F64 else INT_TYPES[size * 8], align=1)
        loaded.set_metadata("tbaa", self.tbaa_guest)
        return loaded if size == 8 else (b.sext if signed else b.zext)(loaded, I64)

    @staticmethod
    def extend_in(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
        return v if v.type.width == 64 else b.zext(v, I64)

    def _tlb_entry(self, b: ir.IRBuilder, cpu: ir.Value, addr: ir.Value) -> ir.Value:
        index = b.and_(b.lshr(addr, self.c(abi.PAGE_SHIFT)), self.c(abi.TLB_SIZE - 1))
        entry_off = b.add(b.mul(index, self.c(abi.TLB_ENTRY_SIZE)), self.c(abi.CPU_OFFSETS["tlb"]))
        return b.gep(cpu, [entry_off], source_etype=I8)

    def _tlb_field(self, b: ir.IRBuilder, entry: ir.Value, name: str) -> ir.Value:
        return self._cpu_load(b.gep(entry, [self.c(abi.TLB_ENTRY_OFFSETS[name])], source_etype=I8), I64, b)

    def host_addr(self, addr: ir.Value, size: int, access: int, pc: ir.Value) -> ir.Value:
        """Host pointer for an atomic access.  Inline: an aligned access whose page the TLB maps
        for every kind of access it makes; anything else asks the runtime, which checks alignment
        and permissions (and raises the guest's SIGBUS or SIGSEGV)."""
        self.forget_stores()  # the atomic may change any bytes a store of this block wrote
        b = self.b
        page = b.and_(addr, self.c(~(abi.PAGE_SIZE - 1)))
        entry = self._tlb_entry(b, self.cpu, addr)
        miss = b.icmp_unsigned("!=", b.and_(addr, self.c(size - 1)), self.c(0))
        for bit, tag in ((1, "tag_read"), (2, "tag_write")):
            if access & bit:
                miss = b.or_(miss, b.icmp_unsigned("!=", self._tlb_field(b, entry, tag), page))
        fast, slow = self.fn.append_basic_block("amo.hit"), self.fn.append_basic_block("amo.miss")
        self.cbranch_rare(miss, slow, fast)
        b.position_at_end(fast)
        fast_host = b.add(addr, self._tlb_field(b, entry, "addend"))
        fast_end = b.block
        b.position_at_end(slow)
        slow_host = self.call_runtime("aot_host_addr", addr, self.c(size, 32), self.c(access, 32), pc)
        self._check_fault(self.b.icmp_unsigned("!=", self.cpu_u32("interrupt"), self.c(0, 32)), pc)
        slow_end = b.block
        done = self.fn.append_basic_block("amo.host")
        b.branch(done)
        b.position_at_end(fast)
        b.branch(done)
        b.position_at_end(done)
        host = b.phi(I64)
        host.add_incoming(fast_host, fast_end)
        host.add_incoming(slow_host, slow_end)
        return b.inttoptr(host, PTR)

    # -- structured control helpers -------------------------------------------------------------
    def cbranch_rare(self, cond: ir.Value, rare: ir.Block, common: ir.Block, b: ir.IRBuilder | None = None) -> None:
        """Branch to `rare` when cond holds, telling LLVM it seldom does (slow paths, faults, polls),
        so block placement and register allocation favour the common path."""
        (b or self.b).cbranch(cond, rare, common).set_weights(RARE_WEIGHTS)
        self.rare_blocks.add(rare)

    def if_then(self, cond: ir.Value, then: Callable[[], None]) -> None:
        with self.b.if_then(cond):
            then()
