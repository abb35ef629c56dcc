"""Lifter properties that later stages rely on: position independence and registers in SSA."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import weakref
from pathlib import Path

import networkx as nx
import pytest

from aotbuilder import abi
from aotbuilder.backend.codegen import TRIPLE, CodegenOptions, optimise, target_machine
from aotbuilder.cfg.discover import discover
from aotbuilder.cfg.loops import counted_loop, loop_headers, strided_loop
from aotbuilder.cfg.program import Function
from aotbuilder.elf import load_guest
from aotbuilder.isa import MNEMONICS
from aotbuilder.lift.lower import garbage_collected_at_end, lower_function
from aotbuilder.lift.plain_fp import plain_fp_loop
from aotbuilder.lift.semantics import SEMANTICS

GUESTS = Path(__file__).parent / "guests"
BENCHMARKS = Path(__file__).parent.parent / "benchmarks" / "src"

# The same two functions, placed at different addresses and with their data moved.
PROGRAM_A = """
int table[4] = {1, 2, 3, 4};
__attribute__((noinline)) int g(int x) { return x * 3; }
__attribute__((noinline)) int f(int i) { return g(table[i & 3]) + 1; }
int main(int argc, char **argv) { (void)argv; return f(argc); }
"""
PROGRAM_B = """
static const int pad[100] = {9};  // in .rodata, so gcc does not anchor table to it
int table[4] = {1, 2, 3, 4};
__attribute__((noinline)) int padding(int x) { return pad[x] * x + 7 * x - pad[x + 1]; }
__attribute__((noinline)) int g(int x) { return x * 3; }
__attribute__((noinline)) int f(int i) { return g(table[i & 3]) + 1; }
int main(int argc, char **argv) { (void)argv; return f(argc) + padding(argc); }
"""


def _lifted(path, names):
    program = discover(load_guest(path))
    return {f.name: lower_function(program, f, TRIPLE) for f in program.functions.values() if f.name in names}


def test_every_mnemonic_has_semantics():
    assert set(SEMANTICS) == set(MNEMONICS)


def test_moved_function_lifts_to_identical_ir(compile_guest):
    for toolchain, pie in (("zig", False), ("zig", True), ("gcc", False)):
        a = _lifted(compile_guest(PROGRAM_A, toolchain, "2", pie), {"f", "g"})
        b = _lifted(compile_guest(PROGRAM_B, toolchain, "2", pie), {"f", "g"})
        assert a["f"].entry != b["f"].entry, "the test needs f to move"
        for name in ("f", "g"):
            assert a[name].ir == b[name].ir, f"{toolchain} {name}: IR depends on the address"
        # What differs is supplied at link time: f's own pc and its callee.
        assert a["f"].addr_refs[0] == a["f"].entry and b["f"].addr_refs[0] == b["f"].entry
        assert a["f"].fn_refs[1] == a["g"].entry and b["f"].fn_refs[1] == b["g"].entry


def test_no_absolute_guest_address_in_ir(compile_guest):
    path = compile_guest(PROGRAM_B, "zig", "2")
    image = load_guest(path)
    lifted = _lifted(path, {"f", "g", "main", "padding"})
    lo = min(s.vaddr for s in image.segments)
    hi = max(s.vaddr + s.memsz for s in image.segments)
    for fn in lifted.values():
        for literal in re.findall(r"\bi64 (-?\d+)", fn.ir):
            value = int(literal) & (2**64 - 1)
            assert not lo <= value < hi, f"{fn.name} bakes in guest address {value:#x}"


def test_registers_live_in_ssa_values(compile_guest):
    """After optimisation a loop keeps guest registers in host registers: no CPU-state traffic
    inside the loop body, only at entry, calls and exits."""
    source = """
    __attribute__((noinline)) unsigned long mix(unsigned long n) {
        unsigned long a = 1, b = 2;
        for (unsigned long i = 0; i < n; i++) { a = a * 33 + (b ^ i); b = (b << 3) - a; }
        return a ^ b;
    }
    int main(int argc, char **argv) { (void)argv; return (int)mix((unsigned long)argc * 1000); }
    """
    path = compile_guest(source, "zig", "2")
    fn = _lifted(path, {"mix"})["mix"]
    optimised = str(optimise(fn.ir, CodegenOptions()))
    body = optimised[optimised.index("define"):]
    # The CPU-state pointer is the first argument; count accesses through it.
    cpu_accesses = len(re.findall(r"getelementptr i8, ptr %0, i64 (\d+)", body))
    assert cpu_accesses <= 2 * 10, f"too much CPU-state traffic:\n{body}"
    loop_blocks = re.findall(r"\n(\S+):.*\n((?:  .*\n)+)", body)
    assert any("phi" in text for _, text in loop_blocks), "guest registers should become phis"


# Each FENCE in its own function, with whether x86-TSO needs a hardware fence for it: TSO keeps
# every order but a store before a later load, so only a fence with writes (or output) in its
# predecessor set and reads (or input) in its successor set does; FENCE.TSO never does.
FENCES = {"fence rw,rw": True, "fence w,r": True, "fence o,i": True, "fence iorw,iorw": True,
          "fence rw,w": False, "fence r,rw": False, "fence r,r": False, "fence w,w": False,
          "fence.tso": False, "fence w,0": False}


def test_only_fences_ordering_a_store_before_a_load_emit_a_host_fence(compile_guest):
    names = {f"fence{i}": text for i, text in enumerate(FENCES)}
    source = "".join(f'__attribute__((noinline)) void {name}(void) {{ __asm__ volatile("{text}"); }}\n'
                     for name, text in names.items())
    source += "int main(void) {" + "".join(f" {name}();" for name in names) + " return 0; }\n"
    lifted = _lifted(compile_guest(source, "zig", "2"), set(names))
    opts = CodegenOptions()
    for name, text in names.items():
        asm = target_machine(opts).emit_assembly(optimise(lifted[name].ir, opts))
        host_fence = re.search(r"\bmfence\b|\block\s+or", asm) is not None
        assert host_fence == FENCES[text], f"{text}: host fence {host_fence}\n{asm}"


def test_a_guest_jump_table_whose_cases_are_sparse_in_bytes_becomes_a_host_jump_table(compile_guest):
    """LLVM makes a switch a table when a tenth of the slots are cases; the guest's case blocks
    are further apart than ten bytes each, and the lowering switches over half the offset."""
    opts = CodegenOptions()
    # The benchmark's bytecode interpreter, which zig inlines into main (gcc tests the opcode
    # with branches instead of a table).
    program = discover(load_guest(compile_guest(BENCHMARKS / "branchy.c", "zig", "2")))
    interp = next(f for f in program.functions.values() if f.name == "main")
    ((_, targets),) = interp.jump_tables.items()
    cases = set(targets)
    assert len(cases) * 10 < max(cases) - min(cases) + 1, "the test needs cases sparser than a tenth in bytes"
    asm = target_machine(opts).emit_assembly(optimise(lower_function(program, interp, TRIPLE).ir, opts))
    assert re.search(r"jmpq?\s+\*\.LJTI", asm), f"no jump table\n{asm}"


# Nested loops with calls, left from the middle: the write-back placement (lift/writeback.py)
# walks sets of IR blocks, which Python orders by address.
PROGRAM_LOOPS = """
#include <string.h>
static const char *words[] = {"alpha", "beta", "gamma", "delta"};
__attribute__((noinline)) int count(const char *text, int passes) {
    int hits = 0;
    for (int p = 0; p < passes; p++)
        for (const char *t = text; *t; t++)
            for (int k = 0; k < 4; k++) {
                if (strncmp(words[k], t, strlen(words[k])) == 0) { hits += k; break; }
                if (t[1] == ',') return hits;
            }
    return hits;
}
int main(int argc, char **argv) { return count(argv[0], argc); }
"""


def test_lift_is_the_same_in_every_process(compile_guest, tmp_path):
    """The same function lifts to the same IR in two interpreters with different hash seeds:
    cache keys of objects hash the IR, so a lift that varies rebuilds (and relinks) for nothing."""
    path = compile_guest(PROGRAM_LOOPS, "zig", "2")
    script = ("import sys\nfrom pathlib import Path\nfrom aotbuilder.backend.codegen import TRIPLE\n"
              "from aotbuilder.cfg.discover import discover\nfrom aotbuilder.elf import load_guest\n"
              "from aotbuilder.lift.lower import lower_function\n"
              "program = discover(load_guest(Path(sys.argv[1])))\n"
              "f = next(f for f in program.functions.values() if f.name == 'count')\n"
              "sys.stdout.write(lower_function(program, f, TRIPLE).ir)\n")
    irs = [subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")]
    assert "reload" in irs[0], "the test needs a loop whose exits reload registers"
    assert irs[0] == irs[1] == irs[2]


PROGRAM_POLLS = """
__attribute__((noinline)) long leaf(long x) { return x * 7 + 1; }
__attribute__((noinline)) long leaf_loop(long n) { long s = 0; for (long i = 0; i < n; i++) s += i ^ n; return s; }
__attribute__((noinline)) long caller(long x) { return leaf(x) + 1; }
__attribute__((noinline)) long tail(long x) { return leaf_loop(x + 3); }
int main(int argc, char **argv) { (void)argv; return (int)(caller(argc) + tail(argc)); }
"""


def test_only_functions_that_call_out_poll_at_their_entry(compile_guest):
    """A safe point at the entry bounds recursion; a function that never calls out reaches a loop
    header (which polls) or its end in bounded time, so its entry does not poll."""
    for toolchain in ("zig", "gcc"):
        lifted = _lifted(compile_guest(PROGRAM_POLLS, toolchain, "2"), {"leaf", "leaf_loop", "caller", "tail"})
        polls = {name: re.findall(r"^(poll\.b[0-9a-f]+):", fn.ir, re.M) for name, fn in lifted.items()}
        assert polls["leaf"] == [], polls
        assert len(polls["leaf_loop"]) == 1 and polls["leaf_loop"] != ["poll.b0"], polls
        assert "poll.b0" in polls["caller"] and "poll.b0" in polls["tail"], polls


# gcc -O2 lays this loop out with the `odd++` arm before the header and the other arms jumping
# back to the shared latch: three blocks are targets of jumps that go backwards in the code.
PROGRAM_ARMS = """
__attribute__((noinline)) unsigned arms(unsigned x, int n) {
    unsigned odd = 0, big = 0;
    for (int i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        if (x & 1) odd++;
        else if ((x & 6) == 2) big += x >> 28;
        else if (x > 0x80000000u) big ^= x;
        else odd += 3;
    }
    return odd ^ big;
}
int main(int argc, char **argv) { (void)argv; return (int)arms((unsigned)argc, argc * 1000); }
"""


def test_loop_headers_cut_every_cycle(compile_guest):
    """Every cycle of every function's CFG passes a loop header (networkx: without the headers
    the CFG is acyclic), in reducible CFGs they are the blocks that dominate a predecessor, and
    a loop whose arms jump backwards to a shared latch has one header and polls there only."""
    for toolchain in ("zig", "gcc"):
        program = discover(load_guest(compile_guest(PROGRAM_ARMS, toolchain, "2")))
        for func in program.functions.values():
            headers = loop_headers(func)
            assert nx.is_directed_acyclic_graph(func.cfg.subgraph(set(func.cfg) - headers)), func.name
            reached = func.cfg.subgraph(nx.descendants(func.cfg, func.entry) | {func.entry})
            dominators = nx.immediate_dominators(reached, func.entry)
            back = {(u, v) for u, v in reached.edges if _dominates(dominators, v, u)}
            if nx.is_directed_acyclic_graph(nx.restricted_view(reached, [], back)):  # reducible
                assert headers & set(reached) == {v for _, v in back}, func.name
        arms = next(f for f in program.functions.values() if f.name == "arms")
        backwards = {v for u, v in arms.cfg.edges if v <= u}
        if toolchain == "gcc":
            assert len(backwards) >= 2, "the test needs a loop with several backward jumps"
        (header,) = loop_headers(arms)
        polls = re.findall(r"^(poll\.b[0-9a-f]+):", lower_function(program, arms, TRIPLE).ir, re.M)
        assert polls == [f"poll.b{header - arms.entry:x}"], (toolchain, polls)


def test_loop_headers_of_an_irreducible_cfg_cut_both_ways_into_its_cycle():
    """A cycle entered at two blocks (no natural loop) still has a header."""
    cfg = nx.DiGraph([(0, 8), (0, 16), (8, 16), (16, 8), (16, 24)])
    headers = loop_headers(Function(entry=0, name="f", cfg=cfg))
    assert len(headers) == 1 and headers <= {8, 16}
    assert nx.is_directed_acyclic_graph(cfg.subgraph(set(cfg) - headers))


def _dominates(idom: dict[int, int], a: int, b: int) -> bool:
    while b != a and idom.get(b, b) != b:
        b = idom[b]
    return b == a


def test_a_guessed_table_of_function_pointers_tail_calls_the_other_functions(compile_guest):
    """tests/guests/tail_table.c: `return table[s & 7](...)` with an index discovery cannot
    follow is taken for a computed goto whose one target is the handler's own entry (the table
    holds it); a jump to any other target must be an indirect jump (a native tail call when the
    target is a function), not an exit to the dispatcher."""
    for toolchain in ("zig", "gcc"):
        program = discover(load_guest(compile_guest(GUESTS / "tail_table.c", toolchain, "2")))
        op0 = next(f for f in program.functions.values() if f.name == "op0")
        (jump,) = op0.guessed_tables
        assert op0.jump_tables[jump] == [op0.entry]
        ir_text = lower_function(program, op0, TRIPLE).ir
        assert "musttail" in ir_text and "tail.hit" in ir_text, toolchain


# 0x0101010101010101 (SWAR byte tricks, popcount) is built from lui 0x1010 + addi 0x101, a value
# inside the image of a program linked at 16 MiB (zig's default); it is a number, not an address.
PROGRAM_ONES = """
static char big[1 << 17];  /* so that the image reaches past 0x01010101 */
__attribute__((noinline)) unsigned long bytes_sum(unsigned long x) {
    x = (x & 0x00FF00FF00FF00FFul) + ((x >> 8) & 0x00FF00FF00FF00FFul);
    return x * 0x0101010101010101ul >> 56;
}
int main(int argc, char **argv) {
    (void)argv; big[argc] = 1;
    return (int)bytes_sum((unsigned long)argc * 0x12345) + big[3];
}
"""


def test_a_lui_constant_that_is_multiplied_is_a_number_not_an_address(compile_guest):
    path = compile_guest(PROGRAM_ONES, "zig", "2")
    program = discover(load_guest(path))
    lo, hi = program.image_range
    assert lo <= 0x01010101 < hi, "the test needs the constant's upper part inside the image"
    fn = _lifted(path, {"bytes_sum"})["bytes_sum"]
    pcs = {i.pc for i in next(f for f in program.functions.values() if f.name == "bytes_sum").instructions()}
    pcs |= {pc + 2 for pc in pcs} | {pc + 4 for pc in pcs}
    assert set(fn.addr_refs) <= pcs, "only pcs of the function's own code are link-time addresses"
    assert str(0x0101010101010101) in str(optimise(fn.ir, CodegenOptions()))


def test_counted_loops_get_a_copy_without_window_checks(compile_guest):
    """The asm loops of tests/guests/counted_loops.c are counted loops (cfg/loops.py) with the
    steps, bounds and accesses their source says, and the function holding them has a fast copy
    of each whose accesses skip the window check (".w" access functions) next to a checked one,
    and a plain copy whose accesses are ordinary loads and stores through %gs (address space
    256), chosen after a look at the window's access map."""
    path = compile_guest(GUESTS / "counted_loops.c", "zig", "2")
    program = discover(load_guest(path))
    found = {}
    for func in program.functions.values():
        for block in func.blocks.values():
            loop = counted_loop(block)
            if loop is not None and func.name == "main":
                found[(loop.step, loop.bound == 0, len(loop.accesses), loop.dynamic_rounding)] = loop
    # sum_up: ld off a0 += 8 until a1; sum_down: ld off a0 and ld/sd off the invariant a3, a0 -= 16;
    # copy_bytes: lbu/sb off a0 += 1, t1 -= 1 until x0; fsum: fld, a0 += 8; fdot: two flds.
    assert {(8, False, 1, False), (-16, False, 3, False), (-1, True, 2, False), (8, False, 1, True),
            (8, False, 2, True)} <= set(found)
    assert found[(-1, True, 2, False)].steps == {10: 1, 6: -1}
    main = next(f for f in program.functions.values() if f.name == "main")
    ir = lower_function(program, main, TRIPLE).ir
    assert ir.count('@"aot.load64.w"(') >= 4 and '@"aot.store8.w"(' in ir and '@"aot.load64d.w"(' in ir
    assert len(re.findall(r"^fast\.b", ir, re.M)) >= 5 and len(re.findall(r"^checked\.b", ir, re.M)) >= 5
    assert len(re.findall(r"^plain\.b", ir, re.M)) >= 5 and len(re.findall(r"^lookup\.b", ir, re.M)) >= 5
    assert re.search(r"load i64, ptr addrspace\(256\)", ir) and re.search(r"store i8 .*, ptr addrspace\(256\)", ir)
    # The access map's bytes, at %gs:(WINDOW_MAP_OFFSET + page).
    assert "load i8, ptr addrspace(256)" in ir and str(abi.WINDOW_MAP_OFFSET & (2**64 - 1)) in ir


def test_fp_loops_whose_flags_llvm_keeps_get_an_fp_plain_copy(compile_guest):
    """Of the FP loops of tests/guests/fp_loops.c, those whose every flag-raising operation feeds
    a moving store or the next iteration (axpy, fnmsub with a sign injection, sqrt and divide,
    single precision with conversions, a running sum) get an FP plain copy: a function of its
    own, not strictfp, with no constrained operation, which LLVM vectorises.  A product only
    read after the loop, one stored to one place, one whose store is overwritten and a loop
    with fmin keep the constrained plain copy."""
    path = compile_guest(GUESTS / "fp_loops.c", "zig", "2")
    program = discover(load_guest(path))
    main = next(f for f in program.functions.values() if f.name == "main")
    verdicts = {}
    for block in main.blocks.values():
        loop = counted_loop(block)
        if loop is not None and any(i.insn.mnemonic in ("fld", "flw") for i in block.instructions):
            verdicts[" ".join(i.insn.mnemonic for i in block.instructions)] = plain_fp_loop(block, loop)
    eligible = {shape for shape, ok in verdicts.items() if ok}
    assert len(eligible) == 5 and len(verdicts) == 9, verdicts
    assert all(any(m in shape for shape in eligible) for m in ("fmadd.d", "fnmsub.d", "fsqrt.d", "fcvt.s.d"))
    assert not any("fmin.d" in shape for shape in eligible)
    ir = lower_function(program, main, TRIPLE).ir
    copies = re.findall(r'^define internal void @"plain_fp\.b\w+"\(.*?\) ([^{]*)\{(.*?)^}', ir, re.M | re.S)
    assert len(copies) == 7  # the five eligible shapes; axpy and singles again for the offset runs
    for attributes, body in copies:
        assert "strictfp" not in attributes and "noinline" in attributes
        assert "constrained" not in body and "addrspace(256)" in body
    # axpy's and the singles' FMAs have a multiplicand the loop does not change: a second copy
    # without the ∞×0 test runs while it is neither 0 nor ∞.
    assert sum("\nloop.finite:" in body for _, body in copies) == 4
    # A copy that stores as it walks first runs single iterations until that store reaches a
    # 32-byte boundary (dot stores nothing), and its loops ask LLVM to interleave two vectors.
    assert sum("\npeel:" in body for _, body in copies) == 6
    assert re.search(r'!\{ *!"llvm\.loop\.interleave\.count", i32 2 *\}', ir)
    optimised = str(optimise(ir, CodegenOptions(cpu="x86-64-v3")))
    vectorised = re.findall(r'^define internal fastcc void @"?plain_fp\.b\w+"?\(.*?^}', optimised, re.M | re.S)
    assert sum("<4 x double>" in fn for fn in vectorised) >= 3


def test_strided_loops_get_a_fast_copy_that_hands_over(compile_guest):
    """The asm loops of tests/guests/strided_loops.c that end on loaded data are strided loops
    (cfg/loops.py): scan's one block with its a0 + a1 address, compare's three blocks with two
    walking bases, pairs' slli-scaled index with a second word 2040 bytes on; far_apart's two
    accesses 4088 bytes apart are not followed; histogram's masked table index is a range.  In
    the IR, each followed access of the fast copy is a move whose fault hands over to the
    checked copy's block at that instruction."""
    path = compile_guest(GUESTS / "strided_loops.c", "zig", "2")
    program = discover(load_guest(path))
    main = next(f for f in program.functions.values() if f.name == "main")
    found, ranges = set(), set()
    for header in {v for u, v in main.cfg.edges if v <= u}:
        loop = strided_loop(main, header)
        if loop is not None:
            found.add((len(loop.blocks), len(loop.followed), loop.starts))
            ranges.add(loop.ranges)
    a0, a1 = frozenset({(10, 1)}), frozenset({(11, 1)})
    assert (1, 1, ((a0 | a1, 0),)) in found  # scan: lbu 0(a2), a2 = a0 + a1
    assert (3, 2, ((a0, 0), (a1, 0))) in found  # compare
    assert (2, 1, ((a0, 0),)) in found  # sum_down_to_zero, the `j` latch
    assert (1, 2, ((a0, 0),)) in found  # fill_to_zero: lbu and sb off a0
    assert (1, 2, ((frozenset({(10, 1), (11, 8)}), 0),)) in found  # pairs: a0 + (a1 << 3), +0 and +2040
    assert not any(starts == ((a0, (-2048) & (2**64 - 1)),) for _, _, starts in found)  # far_apart
    # histogram: table a1 + ((byte & a2 & 63) << 3), a range a1 + [0, 63 << 3]
    assert (((a1, 0), (((frozenset(), 63), 3),)),) in ranges
    ir = lower_function(program, main, TRIPLE).ir
    fast = len(re.findall(r"^fast\.b", ir, re.M))
    takeovers = len(re.findall(r"^at\.b", ir, re.M))
    assert fast >= 5 and takeovers >= 6 and len(re.findall(r"^hand", ir, re.M)) == takeovers


def test_a_fast_copy_polls_with_the_same_registers_written_back_as_the_checked_copy(compile_guest):
    """At a poll the CPU state holds every register's current value (docs/runtime.md, signals), so
    the poll at a fast copy's loop header writes back what the checked copy's poll at the same pc
    does.  The fast copy's accesses are callbr moves whose targets the write-back flow must follow:
    it once missed them, and the poll of poll_context.c's s3 loop left s3 stale in the state."""
    path = compile_guest(GUESTS / "poll_context.c", "zig", "2")
    ir = _lifted(path, {"main"})["main"].ir
    blocks = dict(re.findall(r"^([\w.]+):\n(.*?)(?=^[\w.]+:|\Z)", ir, re.M | re.S))
    offsets = dict(re.findall(r'(%"\.\d+") = getelementptr i8, ptr %"\.1", i64 (\d+)', ir))

    def written_back(label):
        return {offsets[p] for p in re.findall(r'store i64 [^,]+, ptr (%"\.\d+")', blocks[label]) if p in offsets}

    fast_headers = [label[len("fast."):] for label in blocks if re.fullmatch(r"fast\.b[0-9a-f]+", label)]
    assert len(fast_headers) >= 2, list(blocks)
    for header in fast_headers:
        assert written_back(f"poll.{header}") == written_back(f"poll.{header}.1"), header


PROGRAM_FRAME = """
__attribute__((noinline)) int compare(const int *x, const int *y) { return (*x > *y) - (*x < *y); }
int main(int argc, char **argv) { int a = argc, b = 2; (void)argv; return compare(&a, &b) + 1; }
"""


def test_registers_restored_from_their_save_slots_are_not_written_back(compile_guest):
    """zig keeps frame pointers: `compare` saves ra and s0, moves sp, and restores all three before
    it returns, in one guest block (llvm-objdump shows the sd/ld pairs).  The restores read back,
    through store-to-load forwarding, the values loaded from the CPU state at entry, and sp comes
    back to its entry value, so the state still holds sp and s0: the return writes back only the
    registers the comparison computed in; sp and s0 (the frame pointer in between) are written
    back only where a fault leaves mid-frame.  ra came in a host register (abi.PASSED_REGISTERS),
    so the state may not hold it: it is written back where a fault leaves, and where the function
    leaves for a pc other than ra (lower.py, exit), never on its return."""
    path = compile_guest(PROGRAM_FRAME, "zig", "2")
    disassembly = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", "--disassemble-symbols=compare",
                                  str(path)], capture_output=True, text=True, check=True).stdout
    for insn in ("sd\tra,", "sd\ts0,", "ld\tra,", "ld\ts0,", "addi\tsp, sp, -", "addi\tsp, sp, "):
        assert insn in disassembly, (insn, disassembly)
    ir = _lifted(path, {"compare"})["compare"].ir
    blocks = dict(re.findall(r"^([\w.]+):\n(.*?)(?=^[\w.]+:|\Z)", ir, re.M | re.S))
    offsets = dict(re.findall(r'(%"\.\d+") = getelementptr i8, ptr %"\.1", i64 (\d+)', ir))
    x = abi.CPU_OFFSETS["x"]
    stored = {(label, int(offsets[p]))
              for label, body in blocks.items()
              for p in re.findall(r'store i64 [^,]+, ptr (%"\.\d+")', body) if p in offsets}
    ra, sp, s0 = x + 8 * 1, x + 8 * 2, x + 8 * 8
    assert {label.split(".")[0] for label, o in stored if o == ra} == {"fault", "ra"}, stored
    for reg in (sp, s0):  # s0 is the frame pointer in between
        assert any(label.startswith("fault") and o == reg for label, o in stored), stored
        assert all(label.startswith("fault") for label, o in stored if o == reg), stored


PROGRAM_SCAN = """
__attribute__((noinline)) long count(const char *s) { long n = 0; while (s[n] != ';') n++; return n; }
int main(int argc, char **argv) { return (int)count(argv[argc - 1]); }
"""


def test_an_epilogue_takes_the_saved_ra_without_a_load(compile_guest):
    """zig's `count` saves ra and s0 in its entry block, scans in a loop (which polls) and
    restores both in a later block.  Nothing in between can write ra's slot, and nothing but
    the restore writes ra: the restore takes the value saved (lift/frame_slots.py), so the
    epilogue loads only s0 (the frame pointer, changed in between, is loaded as before), ra is
    not written back on the return (only where control leaves to the runtime, a fault or the
    poll's delivery, or for a pc other than ra: it came in a host register), and the loop's
    poll, after a signal was delivered, compares ra's slot with that value before going on."""
    ir = _lifted(compile_guest(PROGRAM_SCAN, "zig", "2"), {"count"})["count"].ir
    blocks = dict(re.findall(r"^([\w.]+):\n(.*?)(?=^[\w.]+:|\Z)", ir, re.M | re.S))
    loads = {label: len(re.findall(r'@"aot\.load64', body)) for label, body in blocks.items()}
    checks = [label for label in blocks if label.startswith("slots.")]
    assert len(checks) == 1 and loads[checks[0]] == 1, loads
    assert sum(n for label, n in loads.items() if not label.startswith("slots.")) == 1, loads
    offsets = dict(re.findall(r'(%"\.\d+") = getelementptr i8, ptr %"\.1", i64 (\d+)', ir))
    stored = {(label, int(offsets[p])) for label, body in blocks.items()
              for p in re.findall(r'store i64 [^,]+, ptr (%"\.\d+")', body) if p in offsets}
    ra = abi.CPU_OFFSETS["x"] + 8
    assert {label.split(".")[0] for label, o in stored if o == ra} == {"fault", "poll", "ra"}, stored


def test_window_checks_test_the_root_a_base_stays_close_to():
    """The direct model checks the value an access base was computed from by adding small
    non-negative numbers that are not constants (and constants), as long as base + a 12-bit
    offset stays within the guard page (4 KiB) on either side of that value:
    `x - 16 + (y & 0xff) * 4` checks `x - 16`, the value the frame's other accesses check too;
    a term that can reach past 2 KiB (`(y & 0xfff) * 4`, `x + 4080`) stops the walk, and
    constants alone do not move the check."""
    import llvmlite.ir as ir

    from aotbuilder.lift.emitter import Emitter

    i64 = ir.IntType(64)
    fn = ir.Function(ir.Module(), ir.FunctionType(i64, [i64, i64, ir.IntType(8), i64]), "f")
    b = ir.IRBuilder(fn.append_basic_block())
    x, y, byte, index = fn.args
    e = object.__new__(Emitter)  # only the bookkeeping _window_root reads
    e.value_bounds = {}
    frame = b.add(x, ir.Constant(i64, -16))
    element = b.shl(b.and_(y, ir.Constant(i64, 0xFF)), ir.Constant(i64, 2))
    assert e._window_root(b.add(frame, element)) is frame
    assert e._window_root(b.add(b.zext(byte, i64), frame)) is frame
    assert e._window_root(b.add(b.add(x, element), ir.Constant(i64, 8))) is x
    assert e._window_root(frame) is frame
    far = b.add(frame, b.shl(b.and_(y, ir.Constant(i64, 0xFFF)), ir.Constant(i64, 2)))
    assert e._window_root(far) is far
    beyond = b.add(x, ir.Constant(i64, 4080))
    assert e._window_root(b.add(b.add(beyond, element), ir.Constant(i64, 1000))) is beyond
    too_far = b.add(b.add(frame, element), ir.Constant(i64, 1900))
    assert e._window_root(too_far) is too_far
    unknown = b.add(x, y)
    assert e._window_root(unknown) is unknown
    # A value known to be small (a loaded byte, _bounded): its bound counts.
    e._bounded(index, 24)
    assert e._window_root(b.add(b.shl(index, ir.Constant(i64, 3)), frame)) is frame
    e._bounded(y, 300)
    wide = b.add(b.shl(y, ir.Constant(i64, 3)), frame)
    assert e._window_root(wide) is wide



def test_registers_changed_before_a_join_are_written_back_on_the_paths_that_changed_them(riscv_gcc, tmp_path):
    """tests/guests/merge_writebacks.S: `pick` returns at once when a0 is 0, else changes t0,
    t1, ft0 and ft1 (through fcvt) and joins the early path at its `ret`; `either` changes t5 on
    two paths and joins them with one that leaves it.  Nothing after the joins writes them, so
    they are written back at the end of the changing paths, and the joins store none of them:
    t1 and ft1, which `pick` only writes, are never loaded from the CPU state (storing them after
    the join needed their entry values for the early path)."""
    elf = tmp_path / "merge_writebacks"
    subprocess.run([riscv_gcc, "-nostdlib", "-static", "-o", str(elf), str(GUESTS / "merge_writebacks.S")],
                   check=True)
    lifted = _lifted(elf, {"pick", "either"})
    x, f = abi.CPU_OFFSETS["x"], abi.CPU_OFFSETS["f"]
    changed = {"pick": {x + 5 * 8, x + 6 * 8, f, f + 8}, "either": {x + 30 * 8}}
    for name, registers in changed.items():
        body = str(optimise(lifted[name].ir, CodegenOptions()))
        body = body[body.index("define"):]
        fields = dict(re.findall(r"(%[\w.]+) = getelementptr i8, ptr %\.1, i64 (\d+)\n", body))
        blocks = re.findall(r"^([\w.]+):.*?; preds = ([^\n]*)\n(.*?)(?=^[\w.]+:|\Z)", body, re.M | re.S)
        joins = [text for _, preds, text in blocks if "%entry" in preds and "," in preds]
        assert len(joins) == 1, body
        stored = {int(fields[p]) for p in re.findall(r"store \w+ [^,]+, ptr (%[\w.]+)", joins[0]) if p in fields}
        assert not registers & stored, (name, body)
        everywhere = [int(fields[p]) for p in re.findall(r"store \w+ [^,]+, ptr (%[\w.]+)", body) if p in fields]
        assert registers <= set(everywhere), (name, body)
        if name == "pick":
            loaded = {int(fields[p]) for p in re.findall(r"= load \w+, ptr (%[\w.]+)", body) if p in fields}
            assert {x + 5 * 8, f} <= loaded and not {x + 6 * 8, f + 8} & loaded, (loaded, body)


class _Node:
    pass


def test_a_translations_cyclic_garbage_waits_for_its_end_and_is_collected_there():
    """pipeline and the JIT worker translate each function inside garbage_collected_at_end."""
    assert gc.isenabled()
    with garbage_collected_at_end():
        node = _Node()
        node.self = node
        ref = weakref.ref(node)
        del node
        kept = [_Node() for _ in range(100_000)]  # enough for many automatic collections
        assert ref() is not None and not gc.isenabled()
        del kept
    assert ref() is None and gc.isenabled()
    with pytest.raises(ValueError), garbage_collected_at_end():
        raise ValueError
    assert gc.isenabled()
