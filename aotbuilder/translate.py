"""Translating a discovered program's functions: from the cache where possible, else lifted and
compiled in a pool of forked workers (pipeline.build runs it; docs/cache.md).

Translation of a function, cheapest path first:

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
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from aotbuilder.backend.codegen import CodegenOptions, compile_object
from aotbuilder.backend.link import LinkUnit
from aotbuilder.cache.key import LiftKey, ir_digest, lift_key, object_key
from aotbuilder.cache.lift_record import LiftRecord, observed_lift, storable
from aotbuilder.cache.store import CacheStore
from aotbuilder.cfg.program import Function, Program
from aotbuilder.errors import BuildError
from aotbuilder.lift.lower import garbage_collected_at_end

PR_SET_PDEATHSIG = 1  # prctl(2)

Progress = Callable[[int, int], None]  # (functions done, functions total)


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
