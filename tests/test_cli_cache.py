"""`aotbuilder cache ...` and `aotbuilder build --json`: typer's CliRunner, plus real subprocess runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aotbuilder.cache.stats import CacheCounters, add_counters
from aotbuilder.cache.store import CacheStore
from aotbuilder.cli import app

runner = CliRunner()


def _cli(*args: str) -> list[str]:
    exe = shutil.which("aotbuilder")
    assert exe, "aotbuilder is not installed (pip install -e .)"
    return [exe, *args]


def _filled_cache(root: Path) -> CacheStore:
    store = CacheStore(root)
    for i in range(5):
        store.put("objects", f"{i:02x}" * 16, bytes(4000))
        store.put("lifts", f"{i:02x}" * 16, b"{}")
    add_counters(root, CacheCounters(object_hits=7, object_misses=3, lift_hits=6, lift_misses=4, builds=2))
    return store


def test_stats_json(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    result = runner.invoke(app, ["cache", "stats", "--json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["hits"], stats["misses"], stats["lift_hits"], stats["builds"]) == (7, 3, 6, 2)
    assert (stats["entries"], stats["objects"], stats["lifts"]) == (10, 5, 5)
    assert stats["size_bytes"] > 5 * 4000


def test_stats_text_and_empty_cache(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cache", "stats", "--cache-dir", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "hits" in result.stdout and "entries          0" in result.stdout


def test_stats_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _filled_cache(tmp_path)
    monkeypatch.setenv("AOTBUILDER_CACHE_DIR", str(tmp_path))
    result = runner.invoke(app, ["cache", "stats", "--json"])
    assert json.loads(result.stdout)["root"] == str(tmp_path)


def test_prune_to_size(tmp_path: Path) -> None:
    store = _filled_cache(tmp_path)
    result = runner.invoke(app, ["cache", "prune", "--max-size", "10K", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "evicted" in result.stderr
    assert store.size() <= 10 << 10


def test_prune_uses_configured_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _filled_cache(tmp_path)
    monkeypatch.setenv("AOTBUILDER_CACHE_MAX_SIZE", "0")
    assert runner.invoke(app, ["cache", "prune", "--cache-dir", str(tmp_path)]).exit_code == 0
    assert store.size() == 0


@pytest.mark.parametrize("size", ["12Q", "", "lots", "-5M"])
def test_prune_bad_size_is_one_line_error(tmp_path: Path, size: str) -> None:
    result = runner.invoke(app, ["cache", "prune", "--max-size", size, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aotbuilder: error: --max-size: invalid size"), lines


def test_clear(tmp_path: Path) -> None:
    store = _filled_cache(tmp_path)
    (tmp_path / "config.toml").write_text('max_size = "1G"\n')
    result = runner.invoke(app, ["cache", "clear", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert store.size() == 0
    assert (tmp_path / "config.toml").exists()
    stats = json.loads(runner.invoke(app, ["cache", "stats", "--json", "--cache-dir", str(tmp_path)]).stdout)
    assert (stats["hits"], stats["entries"], stats["max_size_bytes"]) == (0, 0, 1 << 30)


def test_subprocess_cache_commands(tmp_path: Path) -> None:
    _filled_cache(tmp_path)
    stats = subprocess.run(_cli("cache", "stats", "--json", "--cache-dir", str(tmp_path)), capture_output=True,
                           text=True, timeout=120)
    assert stats.returncode == 0 and json.loads(stats.stdout)["objects"] == 5
    bad = subprocess.run(_cli("cache", "prune", "--max-size", "12Q", "--cache-dir", str(tmp_path)),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("aotbuilder: error: ")
    assert "Traceback" not in bad.stderr
    env_bad = subprocess.run(_cli("cache", "stats", "--cache-dir", str(tmp_path)), capture_output=True, text=True,
                             timeout=120, env={**os.environ, "AOTBUILDER_CACHE_MAX_SIZE": "big"})
    assert env_bad.returncode == 2 and "AOTBUILDER_CACHE_MAX_SIZE" in env_bad.stderr
    cleared = subprocess.run(_cli("cache", "clear", "--cache-dir", str(tmp_path)), capture_output=True, text=True,
                             timeout=120)
    assert cleared.returncode == 0 and not (tmp_path / "objects").exists()


def test_build_json_report_and_quiet_stderr(tmp_path: Path, fixture_bin_dir: Path) -> None:
    """Not a terminal: no progress bar; --json: one object on stdout and nothing on stderr."""
    guest = fixture_bin_dir / "hello-zig-O2"
    cmd = _cli("build", str(guest), "-o", str(tmp_path / "hello"), "-O", "0", "-j", "2",
               "--cache-dir", str(tmp_path / "cache"), "--json")
    cold = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr == ""
    report = json.loads(cold.stdout)
    for field in ("functions_total", "functions_compiled", "functions_cached", "functions_lifted", "seconds",
                  "cache_bytes", "guest_code_bytes", "jobs"):
        assert field in report
    assert report["functions_compiled"] + report["functions_cached"] == report["functions_total"] > 0
    assert report["jobs"] == 2 and report["cache_bytes"] > 0
    warm = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True).stdout)
    assert (warm["functions_compiled"], warm["functions_lifted"]) == (0, 0)
    assert warm["up_to_date"] and not report["up_to_date"]
    told = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=900)
    assert (told.returncode, told.stdout) == (0, "")
    assert told.stderr.startswith(f"aotbuilder: {tmp_path / 'hello'} is up to date (")
    assert subprocess.run([str(tmp_path / "hello")], capture_output=True, timeout=60).stdout.startswith(b"hello")


def test_build_size_limit_applied_after_build(tmp_path: Path, fixture_bin_dir: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "config.toml").write_text('max_size = "100K"\n')
    store = CacheStore(tmp_path / "cache")
    store.put("objects", "aa" * 16, bytes(200 << 10))  # an old entry that no longer fits
    cmd = _cli("build", str(fixture_bin_dir / "hello-zig-O2"), "-o", str(tmp_path / "hello"), "-O", "0",
               "--cache-dir", str(tmp_path / "cache"), "--json")
    report = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True).stdout)
    assert report["cache_evicted_bytes"] >= 200 << 10
    assert store.get("objects", "aa" * 16) is None
    assert subprocess.run([str(tmp_path / "hello")], capture_output=True, timeout=60).returncode == 0
