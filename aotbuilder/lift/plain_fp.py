"""Ordinary LLVM FP operations in a counted loop's plain copy, where they are exact.

Translated FP arithmetic is made of constrained intrinsics (lift/fp.py, docs/fp.md), and LLVM
vectorises none of them: a loop like `c[j] += x * b[j]` stays scalar.  A counted loop's plain
copy (lower.py) runs with frm a hardware mode and accesses that cannot fault; when, moreover,
nothing LLVM may do to ordinary FP operations changes a result or the exception flags, its plain
copy runs as an *FP plain copy*: a function of its own (so no operation is hoisted out into the
caller, past its MXCSR accesses or onto paths where the guest does not compute it) made of
ordinary operations, which the caller enters only when frm is RNE, the rounding LLVM assumes.
What must hold of the loop (`plain_fp_loop`):

* its FP instructions are loads, stores, sign injections, moves to integer registers, and
  arithmetic, square roots, FMAs and conversions between precisions with the dynamic rounding
  mode.  Compares and min/max are left out: x86's `minsd`, which LLVM may pick for a select on a
  compare, raises invalid for quiet NaNs, and a quiet compare does not;
* no FP value in it is a constant LLVM can see (no move from an integer register, no conversion
  from an integer): LLVM folds `x * 1.0` to `x`, which loses the invalid flag of a signalling NaN;
* every operation that can raise a flag is *kept*: its value reaches a store to an address that
  moves every iteration, or the loop's branch, or goes round the loop into itself (a running
  sum, whose last value is written back).  LLVM deletes an operation whose value nothing in the
  loop needs (a register overwritten before it is read) and computes one that only code after
  the loop reads once, after the loop; the flags of the other iterations would be lost.  A store
  to an unmoving address, or one that a later store of the iteration overwrites, does not keep
  what it stores: LLVM moves the first out of the loop and deletes the second.

Each operation still runs once per iteration, on the same operands, rounding as MXCSR says, so
its flags accrue in MXCSR as the constrained operation's would (vectorised, four at a time).
"""

from __future__ import annotations

import llvmlite.ir as ir
import networkx as nx

from aotbuilder.cfg.addresses import STORES
from aotbuilder.cfg.loops import CountedLoop
from aotbuilder.cfg.program import BasicBlock
from aotbuilder.isa import operand_kinds
from aotbuilder.isa.insn import RM_DYN
from aotbuilder.lift.emitter import operands
from aotbuilder.lift.writeback import Key

_PRECISIONS = ("s", "d")
# FP instructions that raise no flag and make no value LLVM can fold.
_QUIET = frozenset({"flw", "fld", "fsw", "fsd", "fmv.x.w", "fmv.x.d"}
                   | {f"{m}.{p}" for m in ("fsgnj", "fsgnjn", "fsgnjx") for p in _PRECISIONS})
# FP instructions that may raise flags and round: the dynamic rounding mode only (a static one
# may need software); and those that are exact, whatever their rounding mode says.
_ROUNDING = frozenset({f"{m}.{p}" for m in ("fadd", "fsub", "fmul", "fdiv", "fsqrt", "fmadd", "fmsub", "fnmadd",
                                            "fnmsub") for p in _PRECISIONS} | {"fcvt.s.d"})
_EXACT = frozenset({"fcvt.d.s"})
_FMAS = frozenset(f"{m}.{p}" for m in ("fmadd", "fmsub", "fnmadd", "fnmsub") for p in _PRECISIONS)


def invariant_multiplicands(block: BasicBlock) -> list[tuple[int, str]] | None:
    """For each FMA of the loop `block`, a multiplicand register that the loop does not write,
    with the FMA's precision ("s" or "d"); None if some FMA has none.  While none of them holds
    0 or ∞, no FMA of the loop computes ∞×0, and an FP plain copy needs no test for RISC-V's
    invalid (lift/fp.py `_fma_invalid_fixup`): `x` in `c[j] += x * b[j]`."""
    written = {key for ins in block.instructions for key in operands(ins.insn)[1]}
    found = []
    for ins in block.instructions:
        insn = ins.insn
        if insn.mnemonic in _FMAS:
            reg = next((r for r in (insn.rs1, insn.rs2) if ("f", r) not in written), None)
            if reg is None:
                return None
            found.append((reg, insn.mnemonic[-1]))
    return found


def _is_fp(mnemonic: str) -> bool:
    return any(kind.startswith("f") for kind in operand_kinds(mnemonic))


def plain_fp_loop(block: BasicBlock, loop: CountedLoop) -> bool:
    """Whether the counted loop `block` may run its plain copy with ordinary FP operations (above)."""
    body = block.instructions
    raising: list[int] = []
    for i, ins in enumerate(body):
        m = ins.insn.mnemonic
        if (m in _ROUNDING and ins.insn.rm == RM_DYN) or m in _EXACT:
            raising.append(i)
        elif _is_fp(m) and m not in _QUIET:
            return False
    followed = {a.pc for a in loop.accesses}
    if not raising or any(ins.pc not in followed for ins in body if "mem" in operand_kinds(ins.insn.mnemonic)):
        return False  # nothing to gain, or an access that may fault
    kept = _kept(block, loop)
    return all(i in kept for i in raising)


def _kept(block: BasicBlock, loop: CountedLoop) -> set[int]:
    """The indexes of the instructions of `block` whose values LLVM keeps in every iteration:
    those that reach a root (a store to a moving address that no later store of the iteration
    overwrites, the branch) or a cycle through the back edge, in the graph of which instruction
    reads which one's value."""
    body = block.instructions
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(body)))
    last: dict[Key, int] = {}  # register -> index of its last write in the iteration
    for i, ins in enumerate(body):
        for key in operands(ins.insn)[1]:
            last[key] = i
    written: dict[Key, int] = {}
    for j, ins in enumerate(body):
        reads, writes = operands(ins.insn)
        for key in reads:
            producer = written.get(key, last.get(key))  # else from the previous iteration
            if producer is not None:
                graph.add_edge(producer, j)
        for key in writes:
            written[key] = j
    access = {a.pc: a for a in loop.accesses}
    stores = [(i, access[ins.pc]) for i, ins in enumerate(body) if ins.insn.mnemonic in STORES]
    roots = {len(body) - 1}
    for k, (i, a) in enumerate(stores):
        overwritten = any(b.base == a.base and b.delta + b.offset == a.delta + a.offset and b.size >= a.size
                          for _, b in stores[k + 1:])
        if a.base in loop.steps and not overwritten:
            roots.add(i)
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(i, i) for i in component):
            roots |= component
    kept = set(roots)
    for root in roots:
        kept |= nx.ancestors(graph, root)
    return kept


def ordinary(ctx, op: str, ret: ir.Type, args: list[ir.Value], suffix: str, predicate: str | None) -> ir.Value:
    """The ordinary LLVM operation for `llvm.experimental.constrained.<op>.<suffix>`."""
    b = ctx.e.b
    if op in ("fadd", "fsub", "fmul", "fdiv"):
        return getattr(b, op)(*args)
    if op in ("sqrt", "fma"):
        return ctx.e.intrinsic_call(f"llvm.{op}.{suffix}", [ret] * len(args), args, ret)
    if op in ("fpext", "fptrunc"):
        return getattr(b, op)(args[0], ret)
    if op == "fcmp" and predicate == "uno":  # a NaN test (fp.canonical): quiet, raises nothing here
        return b.fcmp_unordered("uno", *args)
    raise AssertionError(f"no ordinary form of constrained {op} {predicate or ''} (plain_fp_loop let it in)")
