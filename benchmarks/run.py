"""Runtime benchmarks (run by `nox -s bench`; not a test: it reports figures, never asserts timings).

Each benchmarks/src/<name>.c is built twice with zig cc (same compiler, same -O2, static musl): once for
riscv64 and once for x86-64. The riscv64 build is translated with `aotbuilder build` once per memory
model (--models; default both) into a private cache under the work directory: <name>.aot with
--memory-model direct (runner "aotbuilder", the default model) and <name>.aot-tlb with --memory-model
tlb (runner "aotbuilder-tlb"). The translation is not timed here; `nox -s bench_build` does that.
Then, for every repeat, native, each translation and qemu-riscv64 run one after the other, so noise
from other load on the machine spreads over all of them. Every run's stdout must equal the native
one's: each program prints a checksum, so a wrong translation shows up as MISMATCH, not as a fast time.

Reported: median wall seconds (and median user CPU seconds) per program and runner, the ratio of
each to native, the geometric mean of those ratios per runner (summary keys <runner>_geomean_wall
and _user, runner names with "-" as "_": aotbuilder_geomean_wall, aotbuilder_tlb_geomean_wall, ...),
qemu over each translation, and the start-up time of hello world (native, the first selected memory
model's translation, qemu). Written as a table on stdout, JSON (--json) and a PNG chart (--png, needs
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
MODELS = ("direct", "tlb")  # aotbuilder build --memory-model; the first is aotbuilder's default
DEFAULT_MODEL = MODELS[0]
NOISE_NOTE = ("The machine may be shared with other workloads: wall times are noisy. Medians are "
              "reported, user CPU time is recorded next to them as the steadier figure.")


def aot_runner(model: str) -> str:
    """Runner name of a memory model: plain "aotbuilder" for the default, so older JSON keys keep their meaning."""
    return "aotbuilder" if model == DEFAULT_MODEL else f"aotbuilder-{model}"


def aot_suffix(model: str) -> str:
    return ".aot" if model == DEFAULT_MODEL else f".aot-{model}"


def summary_key(runner: str) -> str:
    return runner.replace("-", "_")


def default_work_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "aotbuilder-bench"


def zig_cc(source: Path, out: Path, target: str) -> None:
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", target, *CFLAGS, "-o", str(out), str(source), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"zig cc failed for {source.name} ({target}):\n{proc.stderr.strip()}")


def translate(guest: Path, out: Path, cache: Path, jobs: int, model: str) -> dict:
    cmd = [sys.executable, "-m", "aotbuilder", "build", str(guest), "-o", str(out), "--cache-dir", str(cache),
           "-j", str(jobs), "--memory-model", model, "--json"]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"aotbuilder build ({model}) failed for {guest.name}: {proc.stderr.strip()[-2000:]}")
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


def commands(name: str, bins: Path, qemu: str | None, models: list[str]) -> dict[str, list[str]]:
    cmds = {"native": [str(bins / f"{name}.native")]}
    cmds.update({aot_runner(m): [str(bins / f"{name}{aot_suffix(m)}")] for m in models})
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


def translate_models(name: str, bins: Path, cache: Path, jobs: int, models: list[str]) -> dict[str, dict]:
    """One translation per memory model, keyed by runner; a failed one is {"error": ...}, the others still run."""
    translations: dict[str, dict] = {}
    for model in models:
        print(f"  translating {name} (--memory-model {model}) ...", flush=True)
        try:
            translations[aot_runner(model)] = translate(bins / f"{name}.rv64", bins / f"{name}{aot_suffix(model)}",
                                                        cache, jobs, model)
        except RuntimeError as err:
            print(f"  {name}: {err}", file=sys.stderr)
            translations[aot_runner(model)] = {"error": str(err)}
    return translations


def build_all(names: list[str], bins: Path, cache: Path, jobs: int,
              models_of: dict[str, list[str]]) -> dict[str, dict]:
    """Per program: {"error": ...} when zig cc fails, else {runner: translation report} per memory model."""
    builds: dict[str, dict] = {}
    for name in names:
        source = SRC / f"{name}.c"
        try:
            zig_cc(source, bins / f"{name}.native", TARGETS["native"])
            zig_cc(source, bins / f"{name}.rv64", TARGETS["riscv64"])
        except RuntimeError as err:
            print(f"  {name}: {err}", file=sys.stderr)
            builds[name] = {"error": str(err)}
            continue
        builds[name] = translate_models(name, bins, cache, jobs, models_of[name])
    return builds


def built_models(build: dict, models: list[str]) -> list[str]:
    return [m for m in models if "error" not in build.get(aot_runner(m), {"error": "not built"})]


def build_failed(error: str) -> dict:
    """The result entry of a runner whose translation failed (listed in failures like a wrong output)."""
    return {"wall": [], "user": [], "ok": False, "error": "build failed", "last_output": error[-500:]}


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


def startup(bins: Path, qemu: str | None, runs: int, models: list[str]) -> dict:
    cmds = commands(STARTUP, bins, qemu, models)
    walls: dict[str, list[float]] = {r: [] for r in cmds}
    for _ in range(runs):
        for runner, cmd in cmds.items():
            wall, _, code, _ = timed_run(cmd)
            if code == 0:
                walls[runner].append(wall)
    result = {r: round(statistics.median(w) * 1000, 2) for r, w in walls.items() if w}
    for runner in map(aot_runner, models):
        if "native" in result and runner in result:
            result[f"{summary_key(runner)}_minus_native"] = round(result[runner] - result["native"], 2)
    return result


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def short(runner: str) -> str:
    return runner.replace("aotbuilder", "aot")


def table_columns(aots: list[str]) -> list[tuple[str, str, str, str | None]]:
    """(header, runner, result key, summary key of the geomean row) per table column after the program's."""
    cols: list[tuple[str, str, str, str | None]] = [(f"{r} s", r, "median_wall", None)
                                                     for r in ("native", *aots, "qemu")]
    cols += [(f"{short(r)}/native", r, "ratio_wall", f"{summary_key(r)}_geomean_wall") for r in aots]
    cols.append(("qemu/native", "qemu", "ratio_wall", "qemu_geomean_wall"))
    if "aotbuilder" in aots:  # qemu over the default memory model's translation
        cols.append(("qemu/aot", "qemu", "over_aotbuilder", "qemu_over_aotbuilder_geomean"))
    cols += [(f"{short(r)}/native (user)", r, "ratio_user", f"{summary_key(r)}_geomean_user") for r in aots]
    return cols


def table_cell(runners: dict, runner: str, key: str) -> str:
    if key == "over_aotbuilder":
        aot, qemu = (runners.get(r, {}).get("median_wall") for r in ("aotbuilder", "qemu"))
        return fmt_ratio(qemu / aot if aot and qemu else None)
    entry = runners.get(runner)
    if entry is not None and not entry["ok"]:
        return entry["error"] if key == "median_wall" else "-"
    value = (entry or {}).get(key)
    return fmt(value, ".3f") if key == "median_wall" else fmt_ratio(value)


def print_table(results: dict, summary: dict, start: dict, models: list[str]) -> None:
    cols = table_columns([aot_runner(m) for m in models])
    print()
    print("| program | " + " | ".join(c[0] for c in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, res in results.items():
        if "error" in res:
            print(f"| {name} | build failed |" + " |" * (len(cols) - 1))
            continue
        print(f"| {name} | " + " | ".join(table_cell(res["runners"], runner, key) for _, runner, key, _ in cols) + " |")
    geo = ["" if key is None else fmt_ratio(summary.get(key)) for *_, key in cols]
    print("| **geomean** | " + " | ".join(geo) + " |")
    print()
    print("start-up of hello world (median wall ms): " + ", ".join(f"{k} {v}" for k, v in start.items()))
    print(NOISE_NOTE)


def chart(results: dict, summary: dict, path: Path, models: list[str]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print(f"matplotlib is not installed: no chart written ({path}). `nox -s bench` installs it.")
        return
    names = [n for n, r in results.items() if "runners" in r]
    ratios = {runner: [results[n]["runners"].get(runner, {}).get("ratio_wall") or 0 for n in names]
              for runner in [*map(aot_runner, models), "qemu"]}
    ratios = {runner: ys for runner, ys in ratios.items() if any(ys)}  # no empty qemu series with --no-qemu
    labels = {aot_runner(m): f"{aot_runner(m)} (--memory-model {m})" for m in models}
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.3 * (len(ratios) + 1)), 4.5))
    width = 0.8 / max(1, len(ratios))
    for i, (runner, ys) in enumerate(ratios.items()):
        geo = fmt_ratio(summary.get(f"{summary_key(runner)}_geomean_wall"))
        ax.bar([x + (i - (len(ratios) - 1) / 2) * width for x in range(len(names))], ys, width,
               label=f"{labels.get(runner, runner)}: geomean {geo}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(1.25, color="green", linestyle="--", linewidth=0.8, label="target 1.25x")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%gx"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%gx"))
    ax.set_ylabel("median wall time / native (log)")
    ax.set_title("aotbuilder (each memory model) and qemu-riscv64, relative to native")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"chart written to {path}")


def summarise(results: dict, aots: list[str]) -> dict[str, float | None]:
    """Geomean ratios to native per runner and kind, and qemu over each translation (geomean of wall ratios)."""
    summary: dict[str, float | None] = {}
    for runner in (*aots, "qemu"):
        for kind in ("wall", "user"):
            ratios = [r["runners"][runner].get(f"ratio_{kind}") for r in results.values()
                      if "runners" in r and runner in r["runners"]]
            g = geomean([x for x in ratios if x])
            summary[f"{summary_key(runner)}_geomean_{kind}"] = None if g is None else round(g, 3)
    for runner in aots:
        aot, qemu = summary.get(f"{summary_key(runner)}_geomean_wall"), summary.get("qemu_geomean_wall")
        if aot and qemu:
            summary[f"qemu_over_{summary_key(runner)}_geomean"] = round(qemu / aot, 3)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per program and runner (default 5)")
    parser.add_argument("--work-dir", type=Path, default=default_work_dir(),
                        help="binaries and the private translation cache (default: %(default)s)")
    parser.add_argument("--only", nargs="*", help="program names (default: every benchmarks/src/*.c)")
    parser.add_argument("--json", type=Path, help="JSON output (default: WORK_DIR/results.json)")
    parser.add_argument("--png", type=Path, help="chart (default: WORK_DIR/results.png)")
    parser.add_argument("-j", "--jobs", type=int, default=0, help="aotbuilder build jobs (0 = one per core)")
    parser.add_argument("--startup-runs", type=int, default=20)
    parser.add_argument("--no-qemu", action="store_true", help="skip qemu-riscv64")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="aotbuilder memory models to translate and run, each its own runner: direct -> "
                             "<name>.aot, runner aotbuilder; tlb -> <name>.aot-tlb, runner aotbuilder-tlb "
                             "(default: both)")
    args = parser.parse_args(argv)
    models = [m for m in MODELS if m in args.models]

    suite = sorted(p.stem for p in SRC.glob("*.c") if p.stem != STARTUP)
    unknown = sorted(set(args.only or ()) - set(suite))
    if unknown:
        parser.error(f"unknown program {', '.join(unknown)} (choose from {' '.join(suite)}; names are space-separated)")
    names = args.only or suite
    bins = args.work_dir / "bin"
    cache = args.work_dir / "cache"
    bins.mkdir(parents=True, exist_ok=True)
    qemu = None if args.no_qemu else shutil.which("qemu-riscv64")
    if not qemu and not args.no_qemu:
        print("qemu-riscv64 not found: its column stays empty", file=sys.stderr)

    print(f"building {len(names) + 1} programs in {args.work_dir} (translation cache {cache}) ...", flush=True)
    startup_models = models[:1]  # start-up is timed for one translation: the default model when selected
    models_of = {STARTUP: startup_models} | dict.fromkeys(names, models)
    builds = build_all([STARTUP, *names], bins, cache, args.jobs, models_of)

    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for name in names:
        if "error" in builds[name]:
            results[name] = {"error": builds[name]["error"]}
            continue
        print(f"  running {name} x{args.repeat} ...", flush=True)
        results[name] = bench(name, commands(name, bins, qemu, built_models(builds[name], models)), args.repeat)
        for model in models:
            translation = builds[name][aot_runner(model)]
            if "error" in translation:
                results[name]["runners"][aot_runner(model)] = build_failed(translation["error"])
    start = {}
    if "error" not in builds[STARTUP]:
        start = startup(bins, qemu, args.startup_runs, built_models(builds[STARTUP], startup_models))
    load_after = os.getloadavg()

    summary = summarise(results, [aot_runner(m) for m in models])
    failures = [f"{n}: {rn}" for n, r in results.items() for rn, e in r.get("runners", {}).items() if not e["ok"]]
    failures += [f"{n}: build" for n, r in results.items() if "error" in r]

    print_table(results, summary, start, models)
    print(f"load average: {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(), "load_average_before": load_before, "load_average_after": load_after,
        "note": NOISE_NOTE, "repeat": args.repeat, "cflags": list(CFLAGS), "targets": TARGETS,
        "memory_models": {aot_runner(m): m for m in models},
        "builds": builds, "results": results, "summary": summary, "startup_ms": start, "failures": failures,
    }
    json_path = args.json or args.work_dir / "results.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON written to {json_path}")
    chart(results, summary, args.png or args.work_dir / "results.png", models)
    if failures:
        print("FAILURES (wrong output, crash or build error): " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
