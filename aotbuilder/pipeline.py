"""Wires the stages of a build: load -> discover -> translate (translate.py: the caches, lifting,
compiling) -> link; and decides when there is nothing to do: an output already built from the same
inputs (Stamp), a program `run` built before (run_target).

Only that decision is imported at start-up: `aotbuilder run` of a built program and an up-to-date
`aotbuilder build` load neither the decoder, networkx nor the lifter (build() imports the stages
when it has work for them).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import xxhash

from aotbuilder import __version__
from aotbuilder.backend.codegen import CodegenOptions
from aotbuilder.backend.runtime import RUNTIME_LINK_FLAGS, build_runtime, runtime_sources
from aotbuilder.cache import config
from aotbuilder.cache.digest import digest_of, file_digest, guest_digest, source_digest
from aotbuilder.cache.stats import CacheCounters, add_counters
from aotbuilder.cache.store import CacheStore, default_cache_dir

if TYPE_CHECKING:
    from aotbuilder.translate import Progress

# Everything in the package: discovery, lifting, code generation, linking.
TRANSLATOR_SOURCES = (".",)


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


def build(guest: Path, out: Path, options: BuildOptions, progress: Progress | None = None) -> BuildReport:
    """Translate `guest` into the native executable `out` (or find `out` already is that)."""
    start = time.monotonic()
    root = options.cache_root
    max_size = config.max_size(root)  # a bad setting fails the build before any work
    store = CacheStore(root)
    try:
        raw = guest.read_bytes()
    except OSError:
        raw = None  # load_guest below says what is wrong with it
    if raw is not None:
        learned, inputs = _build_inputs(raw, guest, out, options)
        stamp = _read_stamp(store, out, inputs)
        if stamp is not None:
            return _finish(store, max_size, out, BuildReport(
                output=str(out), functions_total=stamp.functions, functions_cached=stamp.functions,
                guest_code_bytes=stamp.code_bytes, jobs=options.worker_count, learned_entries=len(learned),
                up_to_date=True), start)
    from aotbuilder.backend.link import link_executable
    from aotbuilder.cfg.discover import discover
    from aotbuilder.elf import load_guest
    from aotbuilder.translate import code_bytes, translate_functions

    image = load_guest(guest)
    if image.raw != raw:  # not what was hashed (replaced meanwhile): hash what is translated
        learned, inputs = _build_inputs(image.raw, guest, out, options)
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


def _build_inputs(raw: bytes, guest: Path, out: Path, options: BuildOptions) -> tuple[list[int], str]:
    """The entries the JIT learned for this guest, and the digest of everything the build reads:
    the guest's bytes and file name (the executable holds both), those entries, the translator."""
    learned = read_learned(out, guest_digest(raw))
    return learned, digest_of([raw, os.fsencode(guest.name), repr(learned).encode(), *translator_inputs(options)])


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
    return digest_of([os.fsencode(out.resolve())])


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
    key = digest_of([guest.read_bytes(), *translator_inputs(options)])
    return options.cache_root / "programs" / key[:2] / key / "program"


def translator_inputs(options: BuildOptions) -> list[bytes]:
    """What turns a guest's bytes into a program: the translator's and the runtime's sources stand
    for everything the code does, the options for what it was asked."""
    return [__version__.encode(), options.codegen.describe().encode(), source_digest(TRANSLATOR_SOURCES).encode(),
            runtime_digest().encode()]


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
        from aotbuilder.elf import load_guest

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
