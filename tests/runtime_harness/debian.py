"""Fetch Debian riscv64 packages by name, for the real-world test tier.

    python tests/runtime_harness/debian.py DEST_DIR PACKAGE...

apt itself does the work, with a private configuration (its own lists, cache and status, one
source: the suite below for riscv64), so the archive signature is checked as usual and the
machine's apt state is left alone.  The mirror is the one the machine's own apt configuration
uses for Debian (/etc/apt/sources.list and sources.list.d): the repository names no host.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

SUITE = "trixie"
ARCH = "riscv64"
APT_ETC = Path("/etc/apt")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class Unavailable(Exception):
    """The packages cannot be had here (no apt, no Debian mirror configured, offline)."""


def _source_entries(etc: Path) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every enabled deb source, in both of apt's formats."""
    entries: list[tuple[str, list[str]]] = []
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for path in files:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m:
                    entries.append((m.group(1), [m.group(2)]))
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        if path.is_file():
            for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                    for uri in fields.get("URIs", "").split():
                        entries.append((uri, fields.get("Suites", "").split()))
    return entries


def debian_mirror(etc: Path = APT_ETC) -> str:
    """The Debian archive the machine's apt uses (not its security or ports archives)."""
    for uri, suites in _source_entries(etc):
        if uri.startswith(("http://", "https://")) and uri.rstrip("/").endswith("/debian") and not any(
                s.endswith("-security") for s in suites):
            return uri.rstrip("/")
    raise Unavailable(f"no Debian archive in the apt configuration under {etc}")


def _apt_options(root: Path) -> list[str]:
    return ["-o", f"Dir::Etc::SourceList={root / 'sources.list'}", "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State={root / 'state'}", "-o", f"Dir::State::status={root / 'state' / 'status'}",
            "-o", f"Dir::Cache={root / 'cache'}", "-o", f"APT::Architecture={ARCH}",
            "-o", f"APT::Architectures::={ARCH}", "-o", "Debug::NoLocking=1", "-o", "Acquire::Languages=none",
            "-o", "Acquire::Retries=2", "-o", "APT::Sandbox::User=root"]


def fetch(packages: list[str], dest: Path, etc: Path = APT_ETC) -> dict[str, Path]:
    """The .deb of each package, downloaded into dest unless it is there already."""
    dest.mkdir(parents=True, exist_ok=True)
    found = {p: next(iter(sorted(dest.glob(f"{p}_*_{ARCH}.deb"))), None) for p in packages}
    missing = [p for p, deb in found.items() if deb is None]
    if not missing:
        return found  # type: ignore[return-value]
    if shutil.which("apt-get") is None:
        raise Unavailable("apt-get is not installed")
    root = dest / "apt"
    for d in (root / "state" / "lists" / "partial", root / "cache" / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    (root / "state" / "status").touch()
    signed = f" signed-by={KEYRING}" if KEYRING.is_file() else ""
    (root / "sources.list").write_text(f"deb [arch={ARCH}{signed}] {debian_mirror(etc)} {SUITE} main\n")
    update = subprocess.run(["apt-get", *_apt_options(root), "update"], capture_output=True, text=True,
                            timeout=600)
    if update.returncode != 0 or "Failed to fetch" in update.stdout + update.stderr:
        raise Unavailable(f"apt-get update for {SUITE}/{ARCH} failed (offline?): "
                          f"{(update.stderr or update.stdout).strip().splitlines()[-1:]}")
    got = subprocess.run(["apt-get", *_apt_options(root), "download", *missing], capture_output=True, text=True,
                         cwd=dest, timeout=600)
    if got.returncode != 0:
        raise Unavailable(f"apt-get download {' '.join(missing)} failed: {got.stderr.strip()}")
    for p in missing:
        debs = sorted(dest.glob(f"{p}_*_{ARCH}.deb"))
        if not debs:
            raise Unavailable(f"apt-get download did not produce {p}")
        found[p] = debs[-1]
    return found  # type: ignore[return-value]


def extract(deb: Path, dest: Path) -> Path:
    """Unpack a .deb (dpkg-deb) into dest; returns dest."""
    if not dest.is_dir():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True, capture_output=True)
        tmp.rename(dest)
    return dest


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for name, path in fetch(sys.argv[2:], Path(sys.argv[1])).items():
        print(f"{name} {path}")
