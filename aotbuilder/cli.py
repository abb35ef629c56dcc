"""The command line: typer commands that parse options and call the pipeline, nothing else."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aotbuilder import __version__, abi
from aotbuilder.errors import GuestError

app = typer.Typer(
    name="aotbuilder",
    help="Translate RISC-V RV64 Linux programs ahead of time into native x86-64 executables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_debug = False


def _fail(message: str, status: int = 2) -> None:
    print(f"aotbuilder: error: {message}", file=sys.stderr)
    raise typer.Exit(status)


def _guarded(action):
    """Run a command body: user errors become one line and exit 2; bugs do not dump a traceback."""
    try:
        return action()
    except GuestError as exc:
        if _debug:
            traceback.print_exc()
        _fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except OSError as exc:
        if _debug:
            traceback.print_exc()
        _fail(f"{exc.filename or ''}: {exc.strerror}" if exc.strerror else str(exc))
    except (typer.Exit, SystemExit):
        raise
    except Exception as exc:  # a bug in aotbuilder: say so briefly, details on --debug
        if _debug:
            traceback.print_exc()
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)", 70)


def _version(value: bool) -> None:
    if value:
        print(f"aotbuilder {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    global _debug
    _debug = debug


CacheDir = Annotated[Path | None, typer.Option("--cache-dir", help="Translation cache directory "
                                               "(default: $AOTBUILDER_CACHE_DIR, else $XDG_CACHE_HOME/aotbuilder).")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=0, help="Parallel translation jobs (0 = one per core).")]
OptLevel = Annotated[int, typer.Option("-O", min=0, max=3, help="LLVM optimisation level.")]


MemoryModel = StrEnum("MemoryModel", {name: name for name in abi.MEMORY_MODELS})
DEFAULT_MEMORY = MemoryModel(abi.DEFAULT_MEMORY_MODEL)


Memory = Annotated[MemoryModel, typer.Option(
    "--memory-model", help="How translated code reaches guest memory: direct (guest memory at a fixed "
    "host offset, fastest; reserves 256 GiB of address space) or tlb (a software TLB lookup per access).")]


def _options(cache_dir: Path | None, jobs: int, opt: int, memory: MemoryModel):
    from aotbuilder.backend.codegen import CodegenOptions
    from aotbuilder.pipeline import BuildOptions
    return BuildOptions(codegen=CodegenOptions(opt_level=opt, memory_model=memory.value), jobs=jobs,
                        cache_dir=cache_dir)


@app.command()
def build(
    guest: Annotated[Path, typer.Argument(help="RISC-V RV64 Linux executable to translate.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Native executable to write.")],
    cache_dir: CacheDir = None,
    jobs: Jobs = 0,
    opt: OptLevel = 2,
    memory: Memory = DEFAULT_MEMORY,
    json_report: Annotated[bool, typer.Option("--json", help="Print a JSON build report on stdout.")] = False,
) -> None:
    """Translate GUEST into a native x86-64 executable."""
    from aotbuilder import pipeline

    with _progress_bar() as progress:
        report = _guarded(lambda: pipeline.build(guest, output, _options(cache_dir, jobs, opt, memory), progress))
    if json_report:
        print(json.dumps(report.as_dict()))
    elif report.up_to_date:
        print(f"aotbuilder: {output} is up to date ({report.functions_total} functions, "
              f"{report.seconds:.1f} s)", file=sys.stderr)
    else:
        print(f"aotbuilder: wrote {output} ({report.functions_total} functions, "
              f"{report.functions_compiled} compiled, {report.functions_cached} cached, "
              f"{report.seconds:.1f} s)", file=sys.stderr)


@contextlib.contextmanager
def _progress_bar():
    """A progress callback drawing a bar on stderr when it is a terminal, else None (quiet).

    Refreshed only from the callback, never from a thread: the pipeline forks workers, and a
    forked child must not inherit a lock held by a refresh thread.
    """
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("translating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), auto_refresh=False, transient=True)
    task = bar.add_task("functions", total=None)
    with bar:
        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, refresh=True)
        yield update


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def run(
    guest: Annotated[Path, typer.Argument(help="RISC-V RV64 Linux executable to run.")],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the guest, passed unchanged.")] = None,
    cache_dir: CacheDir = None,
    jobs: Jobs = 0,
    opt: OptLevel = 2,
    memory: Memory = DEFAULT_MEMORY,
    strace: Annotated[bool, typer.Option("--strace", help="Print the guest's system calls on stderr.")] = False,
    seed: Annotated[str | None, typer.Option("--seed", help="Fix the guest's AT_RANDOM bytes (reproducible "
                                             "runs); also $AOTBUILDER_SEED.")] = None,
    perf_map: Annotated[bool, typer.Option("--perf-map", help="Write /tmp/perf-PID.map, so `perf report` names "
                                           "the translated code after the guest's functions.")] = False,
    stats_json: Annotated[Path | None, typer.Option("--stats-json", help="After the guest exits, write "
                                                    "translation statistics (ahead-of-time entries used, JIT "
                                                    "compiles, invalidations, code-cache collections) as JSON "
                                                    "to this file.")] = None,
    code_cache_size: Annotated[str | None, typer.Option("--code-cache-size", help="Budget of the fallback JIT's "
                                                        "code cache: bytes, or with K, M, G (64M, 1G) "
                                                        "(default: 64M).")] = None,
) -> None:
    """Translate GUEST if needed (reusing an earlier build) and run it with ARGS.

    Everything after GUEST goes to the guest unchanged, even arguments that look like options;
    a `--` right after GUEST is dropped. The guest's exit status is aotbuilder's; a guest killed
    by a signal kills aotbuilder with the same signal.
    """
    from aotbuilder import pipeline
    from aotbuilder.cache.config import parse_size

    budget = None
    if code_cache_size is not None:
        try:
            budget = parse_size(code_cache_size)
        except ValueError as exc:
            _fail(f"--code-cache-size: {exc}")
        if not budget:
            _fail("--code-cache-size: the budget must be more than 0 bytes")
    guest_args = list(args or [])
    if guest_args[:1] == ["--"]:
        guest_args = guest_args[1:]
    options = _options(cache_dir, jobs, opt, memory)
    with _progress_bar() as progress:
        exe = _guarded(lambda: pipeline.build_for_run(guest, options, progress))
    env = _caller_environment()
    env["AOTBUILDER_JIT_CACHE_DIR"] = str(options.cache_root.absolute())  # the JIT's objects go there too
    if strace:
        env["AOTBUILDER_STRACE"] = "1"
    if seed is not None:
        env["AOTBUILDER_SEED"] = seed
    if perf_map:
        env["AOTBUILDER_PERF_MAP"] = "1"
    if stats_json is not None:
        env["AOTBUILDER_STATS_JSON"] = str(stats_json.absolute())
    if budget is not None:
        env["AOTBUILDER_CODE_CACHE_SIZE"] = str(budget)
    # The runtime names the guest's file by AOTBUILDER_GUEST (/proc/self/exe, AT_EXECFN); the
    # runtime's execve of another guest passes that guest's argv[0] in AOTBUILDER_ARGV0.
    env["AOTBUILDER_GUEST"] = str(guest)
    argv0 = env.pop("AOTBUILDER_ARGV0", str(guest))
    for name in env.pop("AOTBUILDER_ADDED", "").split(","):  # what that execve added for Python itself
        env.pop(name, None)
    sys.stdout.flush()
    sys.stderr.flush()
    _guarded(lambda: os.execve(exe, [argv0, *guest_args], env))


def _caller_environment() -> dict[str, str]:
    """The environment aotbuilder was started with, for the guest.  os.environ is not quite it:
    in the C locale Python adds LC_CTYPE=C.UTF-8 (PEP 538), which the guest must not see; the
    kernel's copy in /proc/self/environ is the one execve passed."""
    try:
        with open("/proc/self/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return dict(os.environ)
    env = {}
    for entry in entries:
        name, eq, value = entry.partition(b"=")
        if eq and name:
            env[os.fsdecode(name)] = os.fsdecode(value)
    return env


cache_app = typer.Typer(help="Inspect and manage the translation cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("stats")
def cache_stats(
    cache_dir: CacheDir = None,
    json_report: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Hits, misses, entries and size of the cache."""
    from aotbuilder.cache import manage

    stats = _guarded(lambda: manage.cache_stats(_cache_root(cache_dir)))
    print(json.dumps(stats.as_dict()) if json_report else stats.describe())


@cache_app.command("clear")
def cache_clear(cache_dir: CacheDir = None) -> None:
    """Remove every entry and reset the counters (the settings in config.toml stay)."""
    from aotbuilder.cache import manage

    root = _cache_root(cache_dir)
    _guarded(lambda: manage.cache_clear(root))
    print(f"aotbuilder: cleared {root}", file=sys.stderr)


@cache_app.command("prune")
def cache_prune(
    max_size: Annotated[str | None, typer.Option("--max-size", help="Evict least recently used entries "
                                                 "down to this size: bytes, or with K, M, G, T (500M, 1.5G) "
                                                 "(default: the configured limit).")] = None,
    cache_dir: CacheDir = None,
) -> None:
    """Evict least recently used entries until the cache fits its size limit."""
    from aotbuilder.cache import manage

    result = _guarded(lambda: manage.cache_prune(_cache_root(cache_dir), max_size))
    print(f"aotbuilder: evicted {result.evicted_entries} entries ({result.evicted_bytes} bytes), "
          f"{result.remaining_bytes} bytes left", file=sys.stderr)


def _cache_root(cache_dir: Path | None) -> Path:
    from aotbuilder.cache.store import default_cache_dir
    return cache_dir if cache_dir is not None else default_cache_dir()
