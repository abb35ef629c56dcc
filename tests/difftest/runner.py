"""Run generated cases translated and under qemu-riscv64, compare, minimise what differs.

Many cases share one guest: each case body is its own small guest function (translation cost is
per function, and a guest build has a fixed cost), entered from a harness that loads the case's
initial state; the body ends by jumping to a dump routine that writes the memory window, every
register and fcsr to stdout.  Batches build and run in parallel.

Command line (also ``nox -s fuzz -- ...``)::

    python tests/difftest/runner.py --count 1000000 --seed 7 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `difftest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from difftest import toolchain  # noqa: E402
from difftest.generator import WINDOW, Case, generate  # noqa: E402

# Layout of the area sp points at: the window, then the dumped state, then harness slots.
STATE = WINDOW
FCSR_OUT = STATE + 512
RECORD_OUT = FCSR_OUT + 8  # bytes each case writes
IDX, XS31, JMP, SCR = RECORD_OUT + 8, RECORD_OUT + 16, RECORD_OUT + 24, RECORD_OUT + 32
AREA = SCR + 16
# Layout of a case's initial state in the guest's data.
REC_X, REC_F, REC_FCSR, REC_WIN = 0, 256, 512, 520
REC_SIZE = REC_WIN + WINDOW

DEFAULT_BATCH = 500
WORKER_BATCHES = 10  # batches a campaign worker runs before it is replaced (see campaign)


# qemu 7.2 (Debian 12's qemu-user) computes ctzw of a value whose low word is 0 and high word is not
# as a 64-bit count (ctzw 1<<63 gives 63; the specification says 32).  The guest qemu runs spells
# each ctzw as the equivalent `ctz(rs << 32) - 32`, which qemu gets right; the translated guest keeps
# the real instruction, padded to the same size so every later pc (jal links) is the same in both.
# tests/test_insn_vectors.py checks those inputs against the specification.
def _spelling(line: str, oracle: bool) -> list[str]:
    op, _, operands = line.partition(" ")
    if op != "ctzw":
        return [line]
    rd, rs = (r.strip() for r in operands.split(","))
    body = [f"slli {rd}, {rs}, 32", f"ctz {rd}, {rd}", f"addi {rd}, {rd}, -32"] if oracle else [line, "nop", "nop"]
    return [".option push", ".option norvc", *body, ".option pop"]


# The generator's labels, renamed per case: the minimiser runs copies of one case in a guest.
_LABEL = re.compile(r"\.L(\d+)\b")


def harness(cases: list[Case], oracle: bool = False) -> str:
    """The guest's assembly: harness, dump routine, one function per case, initial states.  With
    `oracle`, instructions qemu is known to get wrong are spelled with equivalents it gets right."""
    n = len(cases)
    t = [".option norelax", ".text", ".globl _start", ".type _start, @function", "_start:",
         "  lla sp, area", f"  sd zero, {IDX}(sp)", "  j next",
         ".globl next", ".type next, @function", "next:",
         f"  ld t0, {IDX}(sp)", f"  li t1, {n}", "  bgeu t0, t1, finish",
         f"  li t1, {REC_SIZE}", "  mul t1, t0, t1", "  lla t2, inits", "  add t2, t2, t1",
         "  li t3, 0", "1:", "  add t4, t2, t3", f"  ld t5, {REC_WIN}(t4)", "  add t6, sp, t3", "  sd t5, 0(t6)",
         "  addi t3, t3, 8", f"  li t4, {WINDOW}", "  bltu t3, t4, 1b",
         # No reservation survives from the previous case: SC fails and clears it.
         f"  addi t1, sp, {SCR}", "  sc.d zero, zero, (t1)",
         f"  ld t1, {REC_FCSR}(t2)", "  fscsr t1"]
    t += [f"  fld f{i}, {REC_F + 8 * i}(t2)" for i in range(32)]
    t += [f"  ld t1, {REC_X + 8 * 31}(t2)", f"  sd t1, {XS31}(sp)",
          "  lla t1, bodies", "  slli t3, t0, 3", "  add t1, t1, t3", "  ld t1, 0(t1)", f"  sd t1, {JMP}(sp)",
          "  mv x31, t2"]
    t += [f"  ld x{i}, {REC_X + 8 * i}(x31)" for i in range(1, 31) if i != 2]
    t += [f"  ld x31, {JMP}(sp)", "  jr x31",
          "finish:", "  li a0, 0", "  li a7, 93", "  ecall",
          ".globl dump", ".type dump, @function", "dump:"]
    t += [f"  sd x{i}, {STATE + 8 * i}(sp)" for i in range(1, 32) if i != 2]
    t += [f"  fsd f{i}, {STATE + 256 + 8 * i}(sp)" for i in range(32)]
    t += ["  frcsr t0", f"  sd t0, {FCSR_OUT}(sp)",
          "  li a0, 1", "  mv a1, sp", f"  li a2, {RECORD_OUT}", "  li a7, 64", "  ecall",
          f"  ld t0, {IDX}(sp)", "  addi t0, t0, 1", f"  sd t0, {IDX}(sp)", "  j next"]
    for k, case in enumerate(cases):
        t += [f".globl case{k}", f".type case{k}, @function", f"case{k}:", f"  ld x31, {XS31}(sp)"]
        lines = [_LABEL.sub(rf".Lc{k}_\1", out) for line in case.lines() for out in _spelling(line, oracle)]
        t += ["  " + line if not line.endswith(":") else line for line in lines]
        t += ["  j dump"]
    d = [".data", ".balign 8", "bodies:"] + [f"  .dword case{k}" for k in range(n)] + ["inits:"]
    for case in cases:
        words = [*case.x, *case.f, case.fcsr] + [int.from_bytes(case.memory[i:i + 8], "little")
                                                 for i in range(0, WINDOW, 8)]
        d.append("  .dword " + ", ".join(f"{w:#x}" for w in words))
    b = [".bss", ".balign 16", f"area: .zero {AREA}"]
    return "\n".join(t + d + b) + "\n"


@dataclass
class Mismatch:
    seed: int
    index: int  # within the batch
    case: Case
    expected: bytes  # qemu's record (or its whole output when the run failed)
    actual: bytes
    note: str = ""


def run_cases(cases: list[Case], workdir: Path, cache_dir: Path, name: str = "batch", opt_level: int = 2) -> tuple[
        toolchain.Outcome, toolchain.Outcome]:
    source, oracle_source = harness(cases), harness(cases, oracle=True)
    guest = toolchain.assemble(source, workdir / name)
    oracle = guest if oracle_source == source else toolchain.assemble(oracle_source, workdir / f"{name}-oracle")
    exe = toolchain.translate(guest, workdir / f"{name}.native", cache_dir, opt_level=opt_level)
    return toolchain.run_qemu(oracle), toolchain.run_native(exe)


def compare(cases: list[Case], expected: toolchain.Outcome, actual: toolchain.Outcome) -> list[int]:
    """Indices of the cases whose records differ (all of them from the first one on when a run
    stopped early)."""
    bad = []
    for k in range(len(cases)):
        a = expected.stdout[k * RECORD_OUT:(k + 1) * RECORD_OUT]
        b = actual.stdout[k * RECORD_OUT:(k + 1) * RECORD_OUT]
        if a != b or len(a) != RECORD_OUT:
            bad.append(k)
    if not bad and (expected.status, actual.status) != (0, 0):
        bad.append(len(cases) - 1)
    return bad


def check_batch(seed: int, count: int, workdir: Path, cache_dir: Path, opt_level: int = 2) -> list[Mismatch]:
    cases = generate(seed, count)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        expected, actual = run_cases(cases, Path(tmp), cache_dir, opt_level=opt_level)
    if expected.status != 0:
        raise RuntimeError(f"seed {seed}: qemu failed on a generated batch (a generator bug): "
                           f"status {expected.status}\n{expected.stderr.decode(errors='replace')}")
    out = []
    for k in compare(cases, expected, actual):
        out.append(Mismatch(seed, k, cases[k], expected.stdout[k * RECORD_OUT:(k + 1) * RECORD_OUT],
                            actual.stdout[k * RECORD_OUT:(k + 1) * RECORD_OUT],
                            "" if actual.status == 0 else f"translated run: status {actual.status}: "
                            f"{actual.stderr.decode(errors='replace').strip()}"))
        if actual.status != 0:
            break  # everything after the first failure is missing
    return out


# -- minimisation ----------------------------------------------------------------------------------

def _removable(case: Case) -> list[int]:
    return [i for i, item in enumerate(case.body) if not (len(item) == 1 and item[0].endswith(":"))]


def _without(case: Case, drop: Iterable[int]) -> Case:
    drop = set(drop)
    return Case(case.x, case.f, case.fcsr, case.memory, [it for i, it in enumerate(case.body) if i not in drop])


def minimise(case: Case, workdir: Path, cache_dir: Path, log: Callable[[str], None] = print) -> Case:
    """Delta debugging over the body's items.  All candidate removals of one granularity are cases
    of one guest, so a round costs one build; the original case runs last, so a candidate that
    crashes the translation is seen before the original's own failure."""
    chunks, rounds = 2, 0
    while True:
        items = _removable(case)
        if not items:
            return case
        chunks = min(chunks, len(items))
        size = (len(items) + chunks - 1) // chunks
        parts = [items[i:i + size] for i in range(0, len(items), size)]
        candidates = [_without(case, part) for part in parts]
        if len(parts) > 1:
            candidates += [_without(case, [i for i in items if i not in part]) for part in parts]
        rounds += 1
        batch = [*candidates, case]
        expected, actual = run_cases(batch, workdir, cache_dir, name=f"min{rounds}")
        bad = compare(batch, expected, actual)
        if expected.status != 0 or not bad:
            return case  # not reproducible in isolation, or the harness broke: keep what we have
        if bad[0] < len(candidates):
            case = candidates[bad[0]]
            chunks = 2 if bad[0] < len(parts) else max(2, chunks - 1)
            log(f"  minimising: {len(case.lines())} lines")
            continue
        if size == 1:
            return case
        chunks = min(len(items), chunks * 2)


def describe(m: Mismatch) -> str:
    regs = [f"x{i}" for i in range(32)] + [f"f{i}" for i in range(32)]
    lines = [f"seed {m.seed} case {m.index}" + (f" ({m.note})" if m.note else "")]
    lines.append("initial: " + " ".join(f"x{i}={v:#x}" for i, v in enumerate(m.case.x) if i not in (0, 2)))
    lines.append("         " + " ".join(f"f{i}={v:#x}" for i, v in enumerate(m.case.f)) + f" fcsr={m.case.fcsr:#x}")
    lines.append("         memory=" + m.case.memory.hex())
    lines.append("body:")
    lines += ["    " + ln for ln in m.case.lines()]
    if len(m.expected) == RECORD_OUT and len(m.actual) == RECORD_OUT:
        for k in range(0, WINDOW, 8):
            a, b = m.expected[k:k + 8], m.actual[k:k + 8]
            if a != b:
                lines.append(f"  mem[{k}]: qemu {a[::-1].hex()} translated {b[::-1].hex()}")
        for r in range(64):
            off = STATE + 8 * r
            a, b = m.expected[off:off + 8], m.actual[off:off + 8]
            if a != b:
                lines.append(f"  {regs[r]}: qemu {a[::-1].hex()} translated {b[::-1].hex()}")
        a, b = m.expected[FCSR_OUT:FCSR_OUT + 8], m.actual[FCSR_OUT:FCSR_OUT + 8]
        if a != b:
            lines.append(f"  fcsr: qemu {a[::-1].hex()} translated {b[::-1].hex()}")
    return "\n".join(lines)


def reproducer(case: Case) -> str:
    """The case as Python source, for tests/difftest/regressions.py."""
    return (f"Case(x={case.x!r},\n     f={case.f!r},\n     fcsr={case.fcsr:#x},\n"
            f"     memory=bytes.fromhex({case.memory.hex()!r}),\n     body={case.body!r})")


# -- campaigns -------------------------------------------------------------------------------------

@dataclass
class Campaign:
    sequences: int
    seconds: float
    mismatches: list[Mismatch]


def batch_seeds(seed: int, count: int, batch: int) -> list[tuple[int, int]]:
    """(seed, size) of each batch: derived from the campaign seed, so a batch can be re-run alone."""
    rng = random.Random(seed)
    out = []
    while count > 0:
        size = min(batch, count)
        out.append((rng.getrandbits(48), size))
        count -= size
    return out


_WORKER: tuple[Path, Path, int] | None = None


def _worker_init(workdir: Path, cache_dir: Path, opt_level: int) -> None:
    global _WORKER
    _WORKER = (workdir, cache_dir, opt_level)


def _worker(job: tuple[int, int]) -> tuple[int, list[Mismatch]]:
    assert _WORKER is not None
    seed, size = job
    return size, check_batch(seed, size, *_WORKER)


def campaign(seed: int, count: int, workdir: Path, cache_dir: Path, workers: int = 2,
             batch: int = DEFAULT_BATCH, log: Callable[[str], None] = print, stop_after: int = 1,
             opt_level: int = 2) -> Campaign:
    """Run `count` cases translated at LLVM level `opt_level`; stops early after `stop_after`
    mismatching batches."""
    start = time.monotonic()
    done, found = 0, []
    jobs = batch_seeds(seed, count, batch)
    ctx = multiprocessing.get_context("fork")
    # A worker is replaced after a few batches: llvmlite 0.50 never frees the pass instrumentation
    # callbacks of a pass builder (tens of KiB per compiled function), so a long campaign's
    # workers would otherwise grow by gigabytes an hour.
    with ctx.Pool(workers, initializer=_worker_init, initargs=(workdir, cache_dir, opt_level),
                  maxtasksperchild=WORKER_BATCHES) as pool:
        for size, mismatches in pool.imap_unordered(_worker, jobs):
            done += size
            if mismatches:
                found += mismatches
                log(f"mismatch after {done} sequences:\n" + describe(mismatches[0]))
                if len({m.seed for m in found}) >= stop_after:
                    pool.terminate()
                    break
            if done % (batch * 20) == 0:
                log(f"{done} sequences, {time.monotonic() - start:.0f} s, {len(found)} mismatches")
    return Campaign(done, time.monotonic() - start, found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=None, help="campaign seed (default: random)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("-O", dest="opt_level", type=int, default=2, choices=range(4), help="LLVM level")
    parser.add_argument("--keep-going", action="store_true", help="do not stop at the first mismatch")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    reason = toolchain.missing_tools()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    print(f"difftest: seed {seed}, {args.count} sequences, {args.workers} workers", flush=True)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="difftest-", dir=args.workdir) as tmp:
        work = Path(tmp)
        result = campaign(seed, args.count, work, work / "cache", args.workers, args.batch,
                          log=lambda s: print(s, flush=True), stop_after=10**9 if args.keep_going else 1,
                          opt_level=args.opt_level)
        for m in result.mismatches[:5]:
            small = minimise(m.case, work, work / "cache")
            print("minimised reproducer (add it to tests/difftest/regressions.py):")
            print(reproducer(small))
    print(f"difftest: {result.sequences} sequences in {result.seconds:.0f} s, "
          f"{len(result.mismatches)} mismatches (seed {seed})")
    return 1 if result.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
