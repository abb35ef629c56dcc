"""Wires the stages: load -> discover -> (lift cache) -> lift -> (object cache) -> compile -> link.

Translation of a function, cheapest path first (docs/cache.md):

1. its lift key (cache/key.py, computed from the discovered function without lifting) finds a
   stored lift result whose object is cached: neither lifted nor compiled;
2. otherwise it is lifted; the IR's object key finds a cached object: not compiled;
3. otherwise it is compiled.

Functions that need work go to a pool of forked workers, largest first, one at a time: compile
time grows faster than function size, so a big function handed out last (or queued behind others
in a chunk) would leave the other workers idle at the end.
"""

from __future__ import annotations

import ctypes
import functools
import json
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import xxhash

from aotbuilder import __version__
from aotbuilder.backend.codegen import CodegenOptions, compile_object
from aotbuilder.backend.link import LinkUnit, file_digest, guest_digest, link_executable
from aotbuilder.backend.runtime import RUNTIME_LINK_FLAGS, build_runtime, runtime_sources
from aotbuilder.cache import config
from aotbuilder.cache.key import LiftKey, ir_digest, lift_key, object_key, source_digest
from aotbuilder.cache.lift_record import LiftRecord, observed_lift, storable
from aotbuilder.cache.stats import CacheCounters, add_counters
from aotbuilder.cache.store import CacheStore, default_cache_dir
from aotbuilder.cfg.discover import discover
from aotbuilder.cfg.program import Function, Program
from aotbuilder.elf import load_guest
from aotbuilder.errors import BuildError
from aotbuilder.lift.lower import garbage_collected_at_end

PR_SET_PDEATHSIG = 1  # prctl(2)

# Everything in the package: discovery, lifting, code generation, linking.
TRANSLATOR_SOURCES = (".",)

Progress = Callable[[int, int], None]  # (functions done, functions total)


def default_jobs() -> int:
    """The cores this process may run on (not the machine's: containers and taskset limit them)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class BuildOptions:
    codegen: CodegenOptions = field(default_factory=CodegenOptions)
    jobs: int = 0  # 0: one per core
    cache_dir: Path | None = None

    @property
    def cache_root(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()

    @property
    def worker_count(self) -> int:
        return self.jobs or default_jobs()


@dataclass
class BuildReport:
    """What a build did; `aotbuilder build --json` prints it."""

    output: str = ""
    functions_total: int = 0
    functions_lifted: int = 0  # lifted to IR (no stored lift result)
    functions_compiled: int = 0  # compiled by LLVM (no cached object)
    functions_cached: int = 0  # object from the cache (functions_total - functions_compiled)
    guest_code_bytes: int = 0  # guest instruction bytes in all functions
    guest_code_bytes_compiled: int = 0
    jobs: int = 0
    seconds: float = 0.0
    seconds_discover: float = 0.0
    seconds_translate: float = 0.0
    seconds_link: float = 0.0
    learned_entries: int = 0  # entries the fallback JIT reported for this guest (OUTPUT.learned)
    cache_bytes: int = 0  # cache size after the build (and after eviction)
    cache_evicted_bytes: int = 0
    up_to_date: bool = False  # OUTPUT was the build of these inputs already: nothing was redone

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Translation:
    """One translated function, and what producing it took."""

    unit: LinkUnit
    lifted: bool
    compiled: bool
    record: LiftRecord | None = None  # the lift result, when it may be reused at another entry


@dataclass
class TranslationResult:
    units: list[LinkUnit]
    lifted: int
    compiled: int
    compiled_bytes: int


def code_bytes(func: Function) -> int:
    return sum(i.size for b in func.blocks.values() for i in b.instructions)


# Worker state, inherited through fork: the program being translated and its lift keys.
_WORK: tuple[Program, CacheStore, CodegenOptions, dict[int, LiftKey]] | None = None


def cached_translation(program: Program, store: CacheStore, opts: CodegenOptions, entry: int,
                       key: LiftKey) -> Translation | None:
    """The function at `entry` from a stored lift result and its cached object, or None."""
    data = store.get("lifts", key.digest)
    record = LiftRecord.decode(data) if data is not None else None
    if record is None:
        return None
    refs = record.refs(entry, key.sites)
    if refs is None:
        return None
    obj = store.get("objects", object_key(record.ir_digest, opts))
    if obj is None:
        return None
    unit = LinkUnit(entry, program.functions[entry].name, obj, *refs)
    return Translation(unit, False, False, record)


def translate_function(program: Program, store: CacheStore, opts: CodegenOptions, entry: int,
                       key: LiftKey) -> Translation:
    """Lift one function and get its object from the cache or the compiler; store both results."""
    func = program.functions[entry]
    lifted, seen = observed_lift(program, func, opts.memory_model, opts.avx)
    digest = ir_digest(lifted.ir)
    okey = object_key(digest, opts)
    obj = store.get("objects", okey)
    compiled = obj is None
    if obj is None:
        obj = compile_object(lifted.ir, opts)
        store.put("objects", okey, obj)
    record = None
    if storable(lifted, seen, key):
        record = LiftRecord.of(lifted, digest)
        # After the object: a stored lift result always names an object that was stored.
        store.put("lifts", key.digest, record.encode())
    unit = LinkUnit(entry, func.name, obj, lifted.addr_refs, lifted.fn_refs, lifted.resume_pcs)
    return Translation(unit, True, compiled, record)


def _die_with_parent(parent: int) -> None:
    """A worker's initializer: end when the build process ends, however it ends.  A build killed
    with SIGKILL (a timeout, the OOM killer) otherwise leaves its workers waiting forever on a
    queue nobody writes (Linux's PR_SET_PDEATHSIG; the workers are forked by the build's main
    thread, whose exit is what it watches)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the build ended before the prctl took effect
        os._exit(0)


def _translate_in_worker(entry: int) -> Translation:
    assert _WORK is not None
    program, store, opts, keys = _WORK
    with garbage_collected_at_end():
        return translate_function(program, store, opts, entry, keys[entry])


def translate_functions(program: Program, store: CacheStore, opts: CodegenOptions, jobs: int,
                        progress: Progress | None = None) -> TranslationResult:
    """Translate every function of `program` (see the module docstring for the order of paths)."""
    global _WORK
    funcs = program.functions
    total = len(funcs)
    keys = {entry: lift_key(program, func, opts.memory_model, opts.avx) for entry, func in funcs.items()}
    units: dict[int, LinkUnit] = {}
    # Functions with the same lift key (the same code, anywhere) are translated once.
    groups: dict[str, list[int]] = {}
    for entry in sorted(funcs):
        groups.setdefault(keys[entry].digest, []).append(entry)
    todo: list[int] = []
    for members in groups.values():
        hit = cached_translation(program, store, opts, members[0], keys[members[0]])
        if hit is None:
            todo.append(members[0])
            continue
        assert hit.record is not None
        units[members[0]] = hit.unit
        for entry in members[1:]:
            placed = _placed(hit.unit, funcs[entry], hit.record, keys[entry])
            if placed is None:
                todo.append(entry)
            else:
                units[entry] = placed
    if progress:
        progress(len(units), total)
    lifted = compiled = compiled_bytes = 0

    def finished(t: Translation) -> None:
        nonlocal lifted, compiled, compiled_bytes
        units[t.unit.entry] = t.unit
        lifted += t.lifted
        if t.compiled:
            compiled += 1
            compiled_bytes += code_bytes(funcs[t.unit.entry])
        for entry in groups[keys[t.unit.entry].digest][1:]:
            placed = None if t.record is None else _placed(t.unit, funcs[entry], t.record, keys[entry])
            if placed is None:  # not reusable at this entry: lifted on its own below
                again.append(entry)
            else:
                units[entry] = placed
        if progress:
            progress(len(units), total)

    again: list[int] = []
    _WORK = (program, store, opts, keys)
    try:
        for batch in (todo, again):
            # Largest first (see the module docstring); equal keys are the same code, so no work is
            # lost when a duplicate of a failed-to-store function is translated in the second batch.
            order = sorted(batch, key=lambda e: -code_bytes(funcs[e]))
            workers = min(jobs, len(order))
            if workers <= 1:
                for entry in order:
                    finished(_translate_in_worker(entry))
            else:
                _translate_in_pool(order, workers, finished, funcs)
            if batch is todo:
                again = [e for e in again if e not in units]
    finally:
        _WORK = None
    return TranslationResult([units[e] for e in sorted(units)], lifted, compiled, compiled_bytes)


def _translate_in_pool(order: list[int], workers: int, finished: Callable[[Translation], None],
                       funcs: dict[int, Function]) -> None:
    """Translate `order` in forked workers, one function per task, in that order.  A worker that
    dies (LLVM aborting on some IR) is a build error naming what was in flight, not a hang: a
    multiprocessing.Pool would quietly replace the worker and wait for the lost task forever."""
    pending = iter(order)
    running: dict = {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        def submit() -> None:
            entry = next(pending, None)
            if entry is not None:
                running[pool.submit(_translate_in_worker, entry)] = entry

        # The pool can break between a result and the next submit as well as in a result.
        try:
            for _ in range(workers):
                submit()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    del running[future]
                    finished(result)
                    submit()
        except BrokenProcessPool:
            names = ", ".join(funcs[e].name for e in sorted(running.values()))
            raise BuildError(f"a translation worker died (the compiler crashed?) while translating "
                             f"{names}; `--jobs 1` shows the crash itself") from None


def _placed(unit: LinkUnit, func: Function, record: LiftRecord, key: LiftKey) -> LinkUnit | None:
    """The same translated code as `unit`, linked for `func` (None if it is not the same there)."""
    refs = record.refs(func.entry, key.sites)
    return None if refs is None else LinkUnit(func.entry, func.name, unit.obj, *refs)


def build(guest: Path, out: Path, options: BuildOptions, progress: Progress | None = None) -> BuildReport:
    """Translate `guest` into the native executable `out` (or find `out` already is that)."""
    start = time.monotonic()
    root = options.cache_root
    max_size = config.max_size(root)  # a bad setting fails the build before any work
    image = load_guest(guest)
    learned = read_learned(out, guest_digest(image.raw))
    store = CacheStore(root)
    inputs = _digest([image.raw, os.fsencode(guest.name), repr(learned).encode(), *translator_inputs(options)])
    stamp = _read_stamp(store, out, inputs)
    if stamp is not None:
        return _finish(store, max_size, out, BuildReport(
            output=str(out), functions_total=stamp.functions, functions_cached=stamp.functions,
            guest_code_bytes=stamp.code_bytes, jobs=options.worker_count, learned_entries=len(learned),
            up_to_date=True), start)
    program = discover(image, learned)
    discovered = time.monotonic()
    jobs = options.worker_count
    result = translate_functions(program, store, options.codegen, jobs, progress)
    translated = time.monotonic()
    runtime = build_runtime(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aotbuilder-link-") as tmp:
        written = link_executable(result.units, guest, guest.name, image.load_bias, runtime, RUNTIME_LINK_FLAGS,
                                  out, Path(tmp), memory_direct=options.codegen.memory_model == "direct")
    linked = time.monotonic()
    total = len(result.units)
    code_bytes_total = sum(code_bytes(f) for f in program.functions.values())
    _write_stamp(store, out, Stamp(inputs, written, total, code_bytes_total))
    return _finish(store, max_size, out, BuildReport(
        output=str(out), functions_total=total, functions_lifted=result.lifted,
        functions_compiled=result.compiled, functions_cached=total - result.compiled,
        guest_code_bytes=code_bytes_total, guest_code_bytes_compiled=result.compiled_bytes, jobs=jobs,
        learned_entries=len(learned), seconds_discover=round(discovered - start, 3),
        seconds_translate=round(translated - discovered, 3), seconds_link=round(linked - translated, 3)), start)


def _finish(store: CacheStore, max_size: int, out: Path, report: BuildReport, start: float) -> BuildReport:
    """Count the build, prune the cache, and time the whole."""
    total = report.functions_total
    add_counters(store.root, CacheCounters(
        object_hits=total - report.functions_compiled, object_misses=report.functions_compiled,
        lift_hits=total - report.functions_lifted, lift_misses=report.functions_lifted, builds=1))
    pruned = store.prune(max_size, keep=[out.parent])
    report.cache_bytes, report.cache_evicted_bytes = pruned.remaining_bytes, pruned.evicted_bytes
    report.seconds = round(time.monotonic() - start, 3)
    return report


# -- up-to-date outputs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Stamp:
    """What the last build to an output path made there (docs/cache.md, "Up-to-date outputs")."""

    inputs: str  # digest of everything the build read: build()'s `inputs`
    output: str  # file_digest of the executable it wrote
    functions: int
    code_bytes: int


def _stamp_key(out: Path) -> str:
    return _digest([os.fsencode(out.resolve())])


def _read_stamp(store: CacheStore, out: Path, inputs: str) -> Stamp | None:
    """The stamp of `out` if it was built from `inputs` and still holds the bytes that build wrote."""
    data = store.get("builds", _stamp_key(out))
    try:
        stamp = Stamp(**json.loads(data)) if data is not None else None
    except (ValueError, TypeError):  # not one of ours: rebuild
        return None
    if stamp is None or stamp.inputs != inputs:
        return None
    try:
        return stamp if file_digest(out) == stamp.output and os.access(out, os.X_OK) else None
    except OSError:  # gone, or not readable: rebuild it
        return None


def _write_stamp(store: CacheStore, out: Path, stamp: Stamp) -> None:
    store.put("builds", _stamp_key(out), json.dumps(asdict(stamp)).encode())


def learned_path(exe: Path) -> Path:
    """Where the runtime of `exe` records the guest pcs its fallback JIT had to translate."""
    return exe.with_name(exe.name + ".learned")


def read_learned(exe: Path, digest: str) -> list[int]:
    """The learned entries of `exe` for the guest with this digest (lines "<digest> 0x<pc>";
    lines for another guest, once built to the same place, and damaged lines are ignored)."""
    try:
        text = learned_path(exe).read_text(errors="replace")
    except OSError:
        return []
    found: set[int] = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == digest:
            try:
                found.add(int(parts[1], 16))
            except ValueError:
                continue
    return sorted(found)


def run_target(guest: Path, options: BuildOptions) -> Path:
    """Where `run` keeps the build of this guest: keyed by its bytes and every build input."""
    key = _digest([guest.read_bytes(), *translator_inputs(options)])
    return options.cache_root / "programs" / key[:2] / key / "program"


def translator_inputs(options: BuildOptions) -> list[bytes]:
    """What turns a guest's bytes into a program: the translator's and the runtime's sources stand
    for everything the code does, the options for what it was asked."""
    return [__version__.encode(), options.codegen.describe().encode(), source_digest(TRANSLATOR_SOURCES).encode(),
            runtime_digest().encode()]


def _digest(parts: list[bytes]) -> str:
    h = xxhash.xxh3_128()
    for part in parts:  # length-prefixed: no two lists hash the same byte stream
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


@functools.cache
def runtime_digest() -> str:
    h = xxhash.xxh3_128()
    for path in runtime_sources():
        h.update(path.as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def build_for_run(guest: Path, options: BuildOptions, progress: Progress | None = None) -> Path:
    """The executable for `run`, reusing an earlier build of the same input and options."""
    try:
        exe = run_target(guest, options)
    except OSError:
        load_guest(guest)  # names what is wrong with the input
        raise
    try:
        built = exe.stat().st_mtime_ns
    except FileNotFoundError:
        build(guest, exe, options, progress)
        return exe
    try:
        learned = learned_path(exe).stat().st_mtime_ns
    except FileNotFoundError:
        learned = 0
    if learned >= built:  # the JIT found code since the build: translate it ahead of time now
        build(guest, exe, options, progress)
        return exe
    try:
        os.utime(exe)  # its last use, for eviction
    except FileNotFoundError:  # evicted by another build's prune since the stat above
        build(guest, exe, options, progress)
    return exe
