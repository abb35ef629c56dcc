"""Wires the stages: load -> discover -> lift -> (cache) -> compile -> link."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from aotbuilder import __version__
from aotbuilder.backend.codegen import TRIPLE, CodegenOptions, compile_object
from aotbuilder.backend.link import LinkUnit, link_executable
from aotbuilder.backend.runtime import RUNTIME_LINK_FLAGS, build_runtime
from aotbuilder.cache.key import function_key
from aotbuilder.cache.store import ObjectStore, default_cache_dir
from aotbuilder.cfg.discover import discover
from aotbuilder.cfg.program import Program
from aotbuilder.elf import load_guest
from aotbuilder.lift.lower import lower_function


@dataclass(frozen=True)
class BuildOptions:
    codegen: CodegenOptions = field(default_factory=CodegenOptions)
    jobs: int = 0  # 0: one per core
    cache_dir: Path | None = None

    @property
    def cache_root(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()


@dataclass
class BuildReport:
    functions_total: int = 0
    functions_compiled: int = 0
    functions_cached: int = 0
    seconds: float = 0.0
    output: str = ""


# Worker state, inherited through fork: the program being translated.
_WORK: tuple[Program, ObjectStore, CodegenOptions] | None = None


def _translate(entry: int) -> tuple[LinkUnit, bool]:
    """Lift one function and get its object from the cache or the compiler (in a worker)."""
    assert _WORK is not None
    program, store, opts = _WORK
    lifted = lower_function(program, program.functions[entry], TRIPLE)
    key = function_key(lifted.ir, opts)
    obj = store.get(key)
    cached = obj is not None
    if obj is None:
        obj = compile_object(lifted.ir, opts)
        store.put(key, obj)
    unit = LinkUnit(lifted.entry, lifted.name, obj, lifted.addr_refs, lifted.fn_refs, lifted.resume_pcs)
    return unit, cached


def translate_functions(program: Program, store: ObjectStore, opts: CodegenOptions, jobs: int,
                        progress: Callable[[int, int], None] | None = None) -> tuple[list[LinkUnit], int]:
    """Translate every function; returns the link units (by entry) and how many came from cache."""
    global _WORK
    _WORK = (program, store, opts)
    entries = sorted(program.functions)
    results: list[tuple[LinkUnit, bool]] = []
    try:
        if jobs == 1 or len(entries) < 8:
            for e in entries:
                results.append(_translate(e))
                if progress:
                    progress(len(results), len(entries))
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs) as pool:
                for r in pool.imap(_translate, entries, chunksize=8):
                    results.append(r)
                    if progress:
                        progress(len(results), len(entries))
    finally:
        _WORK = None
    return [u for u, _ in results], sum(1 for _, c in results if c)


def build(guest: Path, out: Path, options: BuildOptions,
          progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Translate `guest` into the native executable `out`."""
    start = time.monotonic()
    image = load_guest(guest)
    program = discover(image)
    store = ObjectStore(options.cache_root)
    jobs = options.jobs or os.cpu_count() or 1
    units, cached = translate_functions(program, store, options.codegen, jobs, progress)
    runtime = build_runtime(options.cache_root)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aotbuilder-link-") as tmp:
        link_executable(units, guest, guest.name, image.load_bias, runtime, RUNTIME_LINK_FLAGS, out, Path(tmp))
    return BuildReport(len(units), len(units) - cached, cached, round(time.monotonic() - start, 3), str(out))


def run_target(guest: Path, options: BuildOptions) -> Path:
    """Where `run` keeps the build of this guest: keyed by its bytes and every build input."""
    image_hash = xxhash.xxh3_128(guest.read_bytes()).hexdigest()
    key = xxhash.xxh3_128(f"{image_hash};{__version__};{options.codegen.describe()}".encode()).hexdigest()
    return options.cache_root / "programs" / key[:2] / key / "program"


def build_for_run(guest: Path, options: BuildOptions) -> Path:
    """The executable for `run`, reusing an earlier build of the same input and options."""
    try:
        exe = run_target(guest, options)
    except OSError:
        load_guest(guest)  # names what is wrong with the input
        raise
    if not exe.exists():
        build(guest, exe, options)
    return exe

