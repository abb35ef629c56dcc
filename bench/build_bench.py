"""Benchmarks of the build itself (run by `nox -s bench_build`; not a test: it reports, never asserts).

Scenarios, each an `aotbuilder build --json` run timed from outside:

  fixtures (glibc, riscv64-linux-gnu-gcc):
    cold             hello-gcc-O2 into an empty cache
    no-op            the same again
    second program   sort-gcc-O2: shares glibc with hello
    one-function     bench/one_function_change.c built without, then with -DV2 (only the second is reported)
  busybox (Debian trixie riscv64 busybox-static, from the mirror in this machine's apt sources):
    cold, no-op      into an empty cache of its own
    shared libc      into the fixtures' cache (glibc functions already there)

Figures: wall seconds, CPU seconds of the build's processes, functions lifted/compiled/cached, guest
code bytes and guest code bytes per second.  Printed as a table and written as JSON (--json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "bin"
DEBIAN_SUITE = "trixie"
DEBIAN_ARCH = "riscv64"


def aotbuilder() -> list[str]:
    return [sys.executable, "-c", "from aotbuilder.cli import app; app(prog_name='aotbuilder')"]


def timed_build(guest: Path, out: Path, cache: Path, opt: int, jobs: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([*aotbuilder(), "build", str(guest), "-o", str(out), "-O", str(opt), "-j", str(jobs),
                           "--cache-dir", str(cache), "--json"], capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"build of {guest} failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    report["wall_seconds"] = round(wall, 2)
    report["cpu_seconds"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
    report["guest_bytes_per_second"] = round(report["guest_code_bytes"] / wall)
    return report


# -- Debian's busybox-static ---------------------------------------------------------------------

def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (first non-security source), never a fixed host."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
             *sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        uris = re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE)
        uris += re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s", text, re.MULTILINE)
        for uri in uris:
            if "security" not in uri and uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    raise SystemExit("no Debian mirror in /etc/apt/sources.list*: cannot fetch busybox-static")


def fetch_busybox(work: Path) -> Path:
    """busybox-static for riscv64 from Debian's suite, with apt (a private state directory) and dpkg-deb."""
    apt = work / "apt"
    for d in ("lists/partial", "cache/archives/partial", "etc"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    (apt / "status").touch()
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    (apt / "etc" / "sources.list").write_text(
        f"deb [arch={DEBIAN_ARCH} signed-by={keyring}] {debian_mirror()} {DEBIAN_SUITE} main\n")
    options = [f"-oDir::Etc::SourceList={apt}/etc/sources.list", "-oDir::Etc::SourceParts=/dev/null",
               f"-oDir::State::Lists={apt}/lists", f"-oDir::State::status={apt}/status", f"-oDir::Cache={apt}/cache",
               f"-oAPT::Architecture={DEBIAN_ARCH}", f"-oAPT::Architectures={DEBIAN_ARCH}",
               "-oDebug::NoLocking=1", "-q"]
    subprocess.run(["apt-get", *options, "update"], check=True, capture_output=True)
    subprocess.run(["apt-get", *options, "download", "busybox-static"], check=True, capture_output=True, cwd=work)
    deb = next(work.glob("busybox-static_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "busybox-root")], check=True)
    return work / "busybox-root" / "usr" / "bin" / "busybox"


# -- scenarios -------------------------------------------------------------------------------------

def gcc_guest(source: Path, out: Path, *flags: str) -> Path:
    subprocess.run(["riscv64-linux-gnu-gcc", "-static", "-O2", *flags, "-o", str(out), str(source)], check=True)
    return out


def run(args: argparse.Namespace) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="aotbuilder-bench-"))
    rows: list[dict] = []

    def scenario(suite: str, name: str, guest: Path, cache: Path) -> None:
        report = timed_build(guest, work / "out" / f"{suite}-{name}", cache, args.opt, args.jobs)
        report.update(suite=suite, scenario=name, guest=guest.name)
        rows.append(report)
        print(f"  {suite:9} {name:16} {report['wall_seconds']:8.1f} s", file=sys.stderr)

    try:
        (work / "out").mkdir()
        fixtures_cache = work / "cache-fixtures"
        scenario("fixtures", "cold", FIXTURES / "hello-gcc-O2", fixtures_cache)
        scenario("fixtures", "no-op", FIXTURES / "hello-gcc-O2", fixtures_cache)
        scenario("fixtures", "second program", FIXTURES / "sort-gcc-O2", fixtures_cache)
        if shutil.which("riscv64-linux-gnu-gcc"):
            source = REPO / "bench" / "one_function_change.c"
            v1 = gcc_guest(source, work / "onechange-v1")
            v2 = gcc_guest(source, work / "onechange-v2", "-DV2")
            timed_build(v1, work / "out" / "onechange-v1", fixtures_cache, args.opt, args.jobs)
            scenario("fixtures", "one-function", v2, fixtures_cache)
        if not args.skip_busybox:
            busybox = fetch_busybox(work)
            scenario("busybox", "cold", busybox, work / "cache-busybox")
            scenario("busybox", "no-op", busybox, work / "cache-busybox")
            scenario("busybox", "shared libc", busybox, fixtures_cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(), "system": platform.platform()}


def table(rows: list[dict]) -> str:
    head = ("suite", "scenario", "functions", "lifted", "compiled", "cached", "wall s", "cpu s", "guest KiB",
            "guest KiB/s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(str(v) for v in (
            r["suite"], r["scenario"], r["functions_total"], r["functions_lifted"], r["functions_compiled"],
            r["functions_cached"], f"{r['wall_seconds']:.1f}", f"{r['cpu_seconds']:.1f}",
            f"{r['guest_code_bytes'] / 1024:.0f}", f"{r['guest_bytes_per_second'] / 1024:.1f}")) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=Path("bench-build.json"), help="where to write the figures")
    parser.add_argument("-O", dest="opt", type=int, default=2, help="LLVM optimisation level (as aotbuilder build)")
    parser.add_argument("-j", dest="jobs", type=int, default=0, help="parallel jobs (0: one per core)")
    parser.add_argument("--skip-busybox", action="store_true", help="only the fixtures")
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info}", file=sys.stderr)
    rows = run(args)
    args.json.write_text(json.dumps({"machine": info, "opt_level": args.opt, "results": rows}, indent=1) + "\n")
    print(table(rows))
    print(f"\n(figures in {args.json})")


if __name__ == "__main__":
    main()
