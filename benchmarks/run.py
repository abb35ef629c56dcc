"""Runtime benchmarks (run by `nox -s bench`; not a test: it reports figures, never asserts timings).

Each benchmarks/src/<name>.c is built twice with zig cc (same compiler, same -O2, static musl): once for
riscv64 and once for x86-64. The riscv64 build is translated with `aotbuilder build` into a private
cache under the work directory (the translation is not timed here; `nox -s bench_build` does that).
Then, for every repeat, native, translated and qemu-riscv64 run one after the other, so noise from
other load on the machine spreads over all three. Every run's stdout must equal the native one's:
each program prints a checksum, so a wrong translation shows up as MISMATCH, not as a fast time.

Reported: median wall seconds (and median user CPU seconds) per program and runner, the ratio of
each to native, the geometric mean of those ratios, and the start-up time of hello world (native,
translated, qemu). Written as a table on stdout, JSON (--json) and a PNG chart (--png, needs
matplotlib; skipped with a message when it is missing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
STARTUP = "hello"  # timed for start-up only, not part of the suite's geometric mean
CFLAGS = ("-O2", "-static")
TARGETS = {"native": "x86_64-linux-musl", "riscv64": "riscv64-linux-musl"}
RUNNERS = ("native", "aotbuilder", "qemu")
NOISE_NOTE = ("The machine may be shared with other workloads: wall times are noisy. Medians are "
              "reported, user CPU time is recorded next to them as the steadier figure.")


def default_work_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "aotbuilder-bench"


def zig_cc(source: Path, out: Path, target: str) -> None:
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", target, *CFLAGS, "-o", str(out), str(source), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"zig cc failed for {source.name} ({target}):\n{proc.stderr.strip()}")


def translate(guest: Path, out: Path, cache: Path, jobs: int) -> dict:
    cmd = [sys.executable, "-m", "aotbuilder", "build", str(guest), "-o", str(out), "--cache-dir", str(cache),
           "-j", str(jobs), "--json"]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"aotbuilder build failed for {guest.name}: {proc.stderr.strip()[-2000:]}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = {}
    return {"wall_seconds": round(time.monotonic() - start, 2),
            **{k: report[k] for k in ("functions_total", "functions_compiled", "functions_cached") if k in report}}


def timed_run(cmd: list[str]) -> tuple[float, float, int, bytes]:
    """Wall seconds, user CPU seconds, exit status and stdout of one run (rusage of that child only)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return wall, usage.ru_utime, proc.returncode, out.read()


def commands(name: str, bins: Path, qemu: str | None) -> dict[str, list[str]]:
    cmds = {"native": [str(bins / f"{name}.native")], "aotbuilder": [str(bins / f"{name}.aot")]}
    if qemu:
        cmds["qemu"] = [qemu, str(bins / f"{name}.rv64")]
    return cmds


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["cpu"] = value.strip()
    except OSError:
        pass
    return info


def build_all(names: list[str], bins: Path, cache: Path, jobs: int) -> dict[str, dict]:
    builds: dict[str, dict] = {}
    for name in names:
        source = SRC / f"{name}.c"
        try:
            zig_cc(source, bins / f"{name}.native", TARGETS["native"])
            zig_cc(source, bins / f"{name}.rv64", TARGETS["riscv64"])
            print(f"  translating {name} ...", flush=True)
            builds[name] = translate(bins / f"{name}.rv64", bins / f"{name}.aot", cache, jobs)
        except RuntimeError as err:
            print(f"  {name}: {err}", file=sys.stderr)
            builds[name] = {"error": str(err)}
    return builds


def bench(name: str, cmds: dict[str, list[str]], repeat: int) -> dict:
    runs: dict[str, dict] = {r: {"wall": [], "user": [], "ok": True, "error": None} for r in cmds}
    expected: bytes | None = None
    for _ in range(repeat):
        for runner, cmd in cmds.items():
            if not runs[runner]["ok"]:
                continue
            wall, user, code, out = timed_run(cmd)
            if runner == "native" and expected is None:
                expected = out
            if code != 0 or out != expected:
                runs[runner]["ok"] = False
                runs[runner]["error"] = f"exit {code}" if code != 0 else "MISMATCH: output differs from native"
                runs[runner]["output"] = out.decode(errors="replace")[-500:]
                continue
            runs[runner]["wall"].append(round(wall, 4))
            runs[runner]["user"].append(round(user, 4))
    result = {"output": (expected or b"").decode(errors="replace").strip(), "runners": {}}
    native = statistics.median(runs["native"]["wall"]) if runs["native"]["wall"] else None
    native_user = statistics.median(runs["native"]["user"]) if runs["native"]["user"] else None
    for runner, r in runs.items():
        entry = {"wall": r["wall"], "user": r["user"], "ok": r["ok"]}
        if r["ok"] and r["wall"]:
            entry["median_wall"] = round(statistics.median(r["wall"]), 4)
            entry["median_user"] = round(statistics.median(r["user"]), 4)
            if native:
                entry["ratio_wall"] = round(entry["median_wall"] / native, 3)
            if native_user:
                entry["ratio_user"] = round(entry["median_user"] / native_user, 3)
        else:
            entry["error"] = r["error"]
            entry["last_output"] = r.get("output")
        result["runners"][runner] = entry
    return result


def startup(bins: Path, qemu: str | None, runs: int) -> dict:
    cmds = commands(STARTUP, bins, qemu)
    walls: dict[str, list[float]] = {r: [] for r in cmds}
    for _ in range(runs):
        for runner, cmd in cmds.items():
            wall, _, code, _ = timed_run(cmd)
            if code == 0:
                walls[runner].append(wall)
    result = {r: round(statistics.median(w) * 1000, 2) for r, w in walls.items() if w}
    if "native" in result and "aotbuilder" in result:
        result["aotbuilder_minus_native"] = round(result["aotbuilder"] - result["native"], 2)
    return result


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: dict, summary: dict, start: dict) -> None:
    print()
    print("| program | native s | aotbuilder s | qemu s | aot/native | qemu/native | qemu/aot | aot/native (user) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        r = res.get("runners", {})

        def get(runner: str, key: str, r: dict = r) -> float | None:
            return r.get(runner, {}).get(key)

        if "error" in res:
            print(f"| {name} | build failed | | | | | | |")
            continue
        cells = []
        for runner in RUNNERS:
            entry = r.get(runner)
            cells.append(fmt(get(runner, "median_wall"), ".3f") if entry is None or entry["ok"] else entry["error"])
        aot, qemu = get("aotbuilder", "median_wall"), get("qemu", "median_wall")
        speedup = qemu / aot if aot and qemu else None
        print(f"| {name} | {' | '.join(cells)} | {fmt(get('aotbuilder', 'ratio_wall'), '.2f')}x | "
              f"{fmt(get('qemu', 'ratio_wall'), '.2f')}x | {fmt(speedup, '.2f')}x | "
              f"{fmt(get('aotbuilder', 'ratio_user'), '.2f')}x |")
    cells = [fmt(summary.get(k), ".2f") + "x" for k in ("aotbuilder_geomean_wall", "qemu_geomean_wall",
                                                           "qemu_over_aotbuilder_geomean", "aotbuilder_geomean_user")]
    print(f"| **geomean** | | | | {' | '.join(cells)} |")
    print()
    print("start-up of hello world (median wall ms): " + ", ".join(f"{k} {v}" for k, v in start.items()))
    print(NOISE_NOTE)


def chart(results: dict, summary: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no chart written ({path}). `nox -s bench` installs it.")
        return
    names = [n for n, r in results.items() if "runners" in r]
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.9), 4.5))
    width = 0.4
    for i, runner in enumerate(("aotbuilder", "qemu")):
        ys = [results[n]["runners"].get(runner, {}).get("ratio_wall") or 0 for n in names]
        ax.bar([x + (i - 0.5) * width for x in range(len(names))], ys, width, label=runner)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(1.25, color="green", linestyle="--", linewidth=0.8, label="target 1.25x")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("median wall time / native (log)")
    aot, qemu = fmt(summary.get("aotbuilder_geomean_wall"), ".2f"), fmt(summary.get("qemu_geomean_wall"), ".2f")
    ax.set_title(f"aotbuilder vs qemu-riscv64, relative to native (geomean aot {aot}x, qemu {qemu}x)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"chart written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per program and runner (default 5)")
    parser.add_argument("--work-dir", type=Path, default=default_work_dir(),
                        help="binaries and the private translation cache (default: %(default)s)")
    parser.add_argument("--only", nargs="*", help="program names (default: every benchmarks/src/*.c)")
    parser.add_argument("--json", type=Path, help="JSON output (default: WORK_DIR/results.json)")
    parser.add_argument("--png", type=Path, help="chart (default: WORK_DIR/results.png)")
    parser.add_argument("-j", "--jobs", type=int, default=0, help="aotbuilder build jobs (0 = one per core)")
    parser.add_argument("--startup-runs", type=int, default=20)
    parser.add_argument("--no-qemu", action="store_true", help="skip qemu-riscv64")
    args = parser.parse_args(argv)

    names = args.only or sorted(p.stem for p in SRC.glob("*.c") if p.stem != STARTUP)
    bins = args.work_dir / "bin"
    cache = args.work_dir / "cache"
    bins.mkdir(parents=True, exist_ok=True)
    qemu = None if args.no_qemu else shutil.which("qemu-riscv64")
    if not qemu and not args.no_qemu:
        print("qemu-riscv64 not found: its column stays empty", file=sys.stderr)

    print(f"building {len(names) + 1} programs in {args.work_dir} (translation cache {cache}) ...", flush=True)
    builds = build_all([STARTUP, *names], bins, cache, args.jobs)

    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for name in names:
        if "error" in builds[name]:
            results[name] = {"error": builds[name]["error"]}
            continue
        print(f"  running {name} x{args.repeat} ...", flush=True)
        results[name] = bench(name, commands(name, bins, qemu), args.repeat)
    start = startup(bins, qemu, args.startup_runs) if "error" not in builds[STARTUP] else {}
    load_after = os.getloadavg()

    summary: dict[str, float | None] = {}
    for runner in ("aotbuilder", "qemu"):
        for kind in ("wall", "user"):
            ratios = [r["runners"][runner].get(f"ratio_{kind}") for r in results.values()
                      if "runners" in r and runner in r["runners"]]
            summary[f"{runner}_geomean_{kind}"] = g = geomean([x for x in ratios if x])
            if g is not None:
                summary[f"{runner}_geomean_{kind}"] = round(g, 3)
    if summary.get("aotbuilder_geomean_wall") and summary.get("qemu_geomean_wall"):
        speedup = summary["qemu_geomean_wall"] / summary["aotbuilder_geomean_wall"]
        summary["qemu_over_aotbuilder_geomean"] = round(speedup, 3)
    failures = [f"{n}: {rn}" for n, r in results.items() for rn, e in r.get("runners", {}).items() if not e["ok"]]
    failures += [f"{n}: build" for n, r in results.items() if "error" in r]

    print_table(results, summary, start)
    print(f"load average: {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(), "load_average_before": load_before, "load_average_after": load_after,
        "note": NOISE_NOTE, "repeat": args.repeat, "cflags": list(CFLAGS), "targets": TARGETS,
        "builds": builds, "results": results, "summary": summary, "startup_ms": start, "failures": failures,
    }
    json_path = args.json or args.work_dir / "results.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON written to {json_path}")
    chart(results, summary, args.png or args.work_dir / "results.png")
    if failures:
        print("FAILURES (wrong output, crash or build error): " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
