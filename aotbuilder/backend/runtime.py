"""Building the C runtime (runtime/**) into the static archive every translated executable links.

The archive is cached under ``cache_dir/runtime/<key>/libaotrt.a``; the key covers everything the
archive is made from (see ``runtime_key``).  It is built in a temporary directory next to its
final place and renamed there, so concurrent builds race safely and a killed build leaves no
half-written archive behind.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import xxhash

import aotbuilder
from aotbuilder import abi
from aotbuilder.errors import BuildError

RUNTIME_DIR = Path(aotbuilder.__file__).parent.parent / "runtime"
ARCHIVE_NAME = "libaotrt.a"
CFLAGS = ("-O2", "-std=gnu11", "-fno-strict-aliasing", "-Wall", "-Wextra", "-D_GNU_SOURCE")
# What the final link of a translated executable needs for the runtime: a static executable at a
# fixed address (nothing of the host's loader in the way), and threads (the guest runs on its own).
RUNTIME_LINK_FLAGS: tuple[str, ...] = ("-static", "-no-pie", "-pthread")


def c_compiler() -> list[str]:
    """The host C compiler command: $CC (which may carry arguments, e.g. "ccache gcc") or cc."""
    cc = shlex.split(os.environ.get("CC", "cc")) or ["cc"]
    path = shutil.which(cc[0])
    if path is None:
        raise BuildError(f"no C compiler found ({cc[0]}): install gcc, or set CC")
    # By absolute path: gcc finds its own parts (collect2, the LTO plugin) from where it was run,
    # which fails under an environment without PATH (a guest's, when it runs `aotbuilder run`).
    return [path, *cc[1:]]


def tool_env() -> dict[str, str]:
    """The environment for the C tool chain: the caller's, with a default PATH when it has none
    (gcc looks for `ld` and its helpers on PATH), e.g. under a guest that cleared its environment."""
    env = dict(os.environ)
    if not env.get("PATH"):
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return env


def archiver() -> str:
    ar = os.environ.get("AR", "ar")
    if shutil.which(ar) is None:
        raise BuildError(f"no archiver found ({ar}): install binutils, or set AR")
    return ar


def _compiler_identity(cc: list[str]) -> str:
    try:
        result = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=60, env=tool_env())
    except OSError as e:
        raise BuildError(f"cannot run the C compiler {cc[0]}: {e.strerror}") from None
    if result.returncode != 0:
        raise BuildError(f"the C compiler {shlex.join(cc)} does not work (--version failed)")
    return shlex.join(cc) + "\n" + result.stdout


def runtime_sources() -> list[Path]:
    """Every file the archive is built from, in a stable order."""
    return sorted(p for p in RUNTIME_DIR.rglob("*") if p.suffix in (".c", ".h") and p.is_file())


def runtime_key(header: str, sources: list[Path], compiler_identity: str) -> str:
    """The cache key of the archive: the generated ABI header, the path and contents of every
    runtime source, the compiler (its command and --version text) and the flags."""
    h = xxhash.xxh3_128()
    for part in (header.encode(), compiler_identity.encode(), "\0".join(CFLAGS).encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    for path in sources:
        name = path.relative_to(RUNTIME_DIR).as_posix().encode()
        data = path.read_bytes()
        for part in (name, data):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
    return h.hexdigest()


def _first_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line]
    return (errors or lines or ["(no output)"])[0].strip()


def _compile_all(cc: list[str], sources: list[Path], include_dir: Path, out_dir: Path) -> list[Path]:
    """Compiles the .c files in parallel, one compiler process per core."""
    objects: list[Path] = []
    running: list[tuple[Path, subprocess.Popen[str]]] = []
    jobs = os.cpu_count() or 1
    try:
        for src in (s for s in sources if s.suffix == ".c"):
            # runtime/signal.c and runtime/syscall/signal.c must not share an object name
            obj = out_dir / (src.relative_to(RUNTIME_DIR).with_suffix(".o").as_posix().replace("/", "__"))
            cmd = [*cc, *CFLAGS, "-I", str(include_dir), "-I", str(RUNTIME_DIR), "-c", str(src), "-o", str(obj)]
            if len(running) >= jobs:
                _wait(*running.pop(0))
            running.append((src, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                                    env=tool_env())))
            objects.append(obj)
        while running:
            _wait(*running.pop(0))
    finally:
        for _, proc in running:
            proc.kill()
            proc.wait()
    return objects


def _wait(src: Path, proc: subprocess.Popen[str]) -> None:
    output, _ = proc.communicate()
    if proc.returncode != 0:
        raise BuildError(f"compiling the runtime failed: {src.relative_to(RUNTIME_DIR)}: {_first_error(output)}")


def build_runtime(cache_dir: Path) -> Path:
    """The path of libaotrt.a for the current runtime sources and compiler, built if needed."""
    cc = c_compiler()
    header = abi.c_header()
    sources = runtime_sources()
    final_dir = cache_dir / "runtime" / runtime_key(header, sources, _compiler_identity(cc))
    archive = final_dir / ARCHIVE_NAME
    if archive.is_file():
        return archive
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=".build-"))
    try:
        (work / "aot_abi.h").write_text(header)  # kept next to the archive: what it was built against
        objects = _compile_all(cc, sources, work, work)
        result = subprocess.run([archiver(), "rcs", str(work / ARCHIVE_NAME), *map(str, objects)], env=tool_env(),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"archiving the runtime failed: {_first_error(result.stderr)}")
        for obj in objects:
            obj.unlink()
        try:
            os.rename(work, final_dir)
        except OSError as e:
            if not archive.is_file():  # anything but another build having won the race
                raise BuildError(f"cannot store the runtime in {final_dir}: {e.strerror}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return archive
