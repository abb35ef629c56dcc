"""The real-world tier: Debian's own riscv64 busybox-static, translated once, runs shell scripts
that exercise its applets exactly as it does under qemu-riscv64 (stdout, stderr and exit status).

The package comes from the Debian archive the machine's apt configuration names (suite trixie,
architecture riscv64; see runtime_harness/debian.py) and is kept in pytest's cache directory, with
the translation cache, so later runs neither download nor compile again.  Without network access
the tier is skipped, saying why.

busybox is stripped: code that static discovery misses runs through the fallback JIT (its pcs
land in the translation's .learned file).  Any difference from qemu fails, a pc the JIT cannot
translate either ("no translation for guest pc ..., and the fallback JIT ...").

Every command a script runs is one of busybox's applets, on both sides.  busybox's shell runs an
applet that is not NOEXEC by re-executing /proc/self/exe; qemu-user (7.2) cannot, and the shell
then searches PATH, which on a plain host finds the host's programs (GNU tar, dash): the oracle
would compare busybox with other programs.  So PATH is one directory holding a command per applet:
under qemu a script that runs the applet under qemu, translated a link to the translated busybox
(whose re-execution works: the links only keep the two sides alike).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import resource
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_harness import debian

REPO = Path(__file__).resolve().parent.parent
AOTBUILDER = [sys.executable, "-m", "aotbuilder"]
QEMU = shutil.which("qemu-riscv64") or "qemu-riscv64"  # PATH is busybox's applets only
TIMEOUT = 120
BUILD_TIMEOUT = 3600

# A small tree every script starts from, with fixed times (ls -l and tar show them).
SETUP = r"""
mkdir -p d/sub
printf 'banana\napple\ncherry\napple\n' > d/fruit.txt
seq 1 200 > d/nums.txt
printf 'x,1\ny,2\nz,3\n' > d/sub/pairs.csv
chmod 640 d/sub/pairs.csv
touch -d '2020-01-02 03:04:05' d/fruit.txt d/nums.txt d/sub/pairs.csv d/sub d
"""

# busybox's xz applet only decompresses; `compress` feeds it a fixed stream (seq 1 200, made with
# Python's lzma) rather than compressing first.
SCRIPTS = {
    "echo_printf": r"""
echo hello world; echo -n no-newline; echo
printf '%s=%d %05.1f %x %o [%-4s] %c\n' a 42 3.14159 255 8 ab xyz
printf '%s\n' one two three
""",
    "text_tools": r"""
sort d/fruit.txt | uniq -c
sort -r d/fruit.txt | head -n 2
sort -n -r d/nums.txt | head -n 3
wc -l d/nums.txt; wc -c < d/fruit.txt; wc -w d/fruit.txt
cut -c1-3 d/fruit.txt | tr a-z A-Z
cut -d, -f2 d/sub/pairs.csv | paste -s -d+
tail -n 3 d/nums.txt; head -c 10 d/nums.txt | od -c
tr -d '\n' < d/fruit.txt; echo
rev d/fruit.txt 2>/dev/null || echo no-rev
""",
    "sed_grep_awk": r"""
sed -n '/an/p; s/a/A/gp' d/fruit.txt
sed -e '1d' -e 's/^/> /' d/fruit.txt
grep -n apple d/fruit.txt; grep -c '^1' d/nums.txt; grep -v an d/fruit.txt; grep -E 'ch|ba' d/fruit.txt
grep -q nothing d/fruit.txt; echo "grep status $?"
awk '{s += $1} END {print s, NR, s / NR}' d/nums.txt
awk -F, '{printf "%s:%d\n", toupper($1), $2 * 10}' d/sub/pairs.csv
awk 'BEGIN {for (i = 1; i <= 5; i++) a[i] = i * i; for (i = 5; i >= 1; i--) printf "%d ", a[i]; print ""}'
""",
    "shell": r"""
f() { echo "in f: $1 $#"; return 3; }
f one two; echo "status $?"
x=$(seq 1 5 | sort -r | head -n 2 | tr '\n' ' ')
echo "x=$x"
(cd d/sub && ls); echo "subshell left cwd alone: $(ls -d d)"
i=0; while [ $i -lt 5 ]; do i=$((i + 1)); done; echo "i=$i"
for w in a b c; do case $w in a) echo A;; b) echo B;; *) echo other $w;; esac; done
cat <<EOF | tr a-z A-Z
here $x document
EOF
echo one two | { read a b; echo "$b $a"; }
seq 1 3 | while read n; do echo "n=$n"; done
sh -c 'exit 7'; echo "child exit $?"
false || echo "or works"; true && echo "and works"
(exit 3); echo "subshell exit $?"
echo $(( 7 * 6 )) $(( 1 << 10 )) $(( -7 / 2 ))
set -- p q r; echo "$# $2 $*"
v=${UNSET:-default}; echo "$v ${#v}"
""",
    "ls_stat_find": r"""
ls; ls -l d; ls -la d/sub | tail -n +2; ls -R d
stat -c '%n %s %a %F %Y' d/fruit.txt d/sub d/sub/pairs.csv
find d -name '*.txt' | sort; find d -type d | sort; find d -newer d/nums.txt | sort
du -s d/nums.txt >/dev/null && echo du-ok
""",
    "file_ops": r"""
mkdir e; cp d/fruit.txt e/f; mv e/f e/g; ln -s g e/link; ln e/g e/hard
ls e; cat e/link | head -n 1; readlink e/link
stat -c '%h' e/g
rm e/g e/link e/hard; rmdir e
ls -d e 2>/dev/null; echo "ls status $?"
mkdir -p p/q/r && touch p/q/r/file && rm -r p && echo removed
cp -r d copy && diff -r d copy && echo same-tree
""",
    "checksums": r"""
md5sum d/fruit.txt d/nums.txt
sha1sum d/nums.txt; sha256sum d/fruit.txt; sha512sum d/fruit.txt
echo -n abc | md5sum; echo -n abc | sha256sum
cksum d/nums.txt 2>/dev/null || echo no-cksum
""",
    "compress": r"""
gzip -c d/nums.txt > n.gz; gunzip -c n.gz | md5sum; gzip -t n.gz && echo gzip-ok
bzip2 -c d/nums.txt > n.bz2; bunzip2 -c n.bz2 | tail -n 1
cp d/fruit.txt f.txt; gzip f.txt; ls f.txt*; gunzip f.txt.gz; cat f.txt | head -n 1
printf '%s' '/Td6WFoAAAFpIt42AgAhARYAAAB0L+Wj4AKzANVdABiCgo8iTvimVffwmaUlDZBFkVpRtJvKrNwFMuyFUp+xSG3v3OhLuWG6' \
    '4JxTf5jIqVQO/D0q0wbXZkQ9VmSmzT3Xxx9E9BjfAgs/4sbGe+Hnf3lEHHm3Qq5luBu1DoThmoIGIzlaf3KqQ/qlmh+SwL5F' \
    'cXlK1ZPGkAo5rZxlhyq2GjjH4ZMXytA+CeqwUvAQYCbAXl8QkQ25eXh9l0Jg0KY4d+Ej6LsoT4hSLXVYJj9m/eKc69OvYdk1' \
    'ev/7YrE8fJMc8mS4TRyFKrFcAAY2AUrrpRk/YAAAAACY7yg0AAHtAbQFAAAX7jTAPjANiwIAAAAAAVla' | base64 -d > n.xz
unxz -c n.xz | tail -n 1
""",
    "tar": r"""
tar cf t.tar d; tar tf t.tar | sort
mkdir x; tar xf t.tar -C x
# Files get back the times the archive holds.  A directory's time is that of the extraction that
# filled it (GNU tar restores it at the end, busybox tar does not): all of it but the time.
ls -lR x | grep -v -e '^total' -e '^d'; find x -type d | sort | xargs stat -c '%n %A %h %U %G %s'
cmp d/nums.txt x/d/nums.txt && echo same
tar czf t.tgz d && tar tzf t.tgz | sort | head -n 2
""",
    "od_hexdump": r"""
printf 'ABC\001\377' | od -An -tx1
printf 'hello, world' | hexdump -C
printf 'abc' | od -c
echo 'aGVsbG8=' | base64 -d; echo; echo -n hello | base64
""",
    "misc_applets": r"""
expr 6 \* 7; expr length hello; expr 10 / 3; expr 5 \> 3
seq -s, 1 5; seq 10 -3 1 | tr '\n' ' '; echo
date -d @0 -u; date -u -d @86400 +%Y-%m-%d
test 3 -gt 2 && echo gt; [ -f d/fruit.txt ] && echo file; [ -z "" ] && echo empty
kill -0 $$ && echo alive
sleep 0.1; echo slept
env | grep -v "^PWD=" | sort
basename /a/b.c .c; dirname /a/b.c
true; echo $?; false; echo $?
yes | head -n 3
printf '%s\n' b a c | sort | tr '\n' ' '; echo
""",
    "signals_and_jobs": r"""
trap 'echo got USR1' USR1
kill -USR1 $$; echo after
sh -c 'kill -TERM $$'; echo "killed status $?"
sleep 5 & pid=$!; kill $pid; wait $pid; echo "wait status $?"
""",
}


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@pytest.fixture(scope="module")
def cache_root(request, tmp_path_factory) -> Path:
    """pytest's cache directory (shared by the test workers and kept between runs)."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("realworld-riscv64")) if cache is not None else tmp_path_factory.mktemp("realworld")


def _translator_digest() -> str:
    """Of the sources that make a translation (aotbuilder's and the runtime's): a translation that
    an older aotbuilder made is not the one to test."""
    h = hashlib.sha256()
    for path in sorted([*(REPO / "aotbuilder").rglob("*.py"), *(REPO / "runtime").rglob("*.[ch]")]):
        h.update(path.relative_to(REPO).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _unpacked(cache_root: Path, package: str) -> tuple[Path, Path]:
    """(.deb, directory it is unpacked in) of one of Debian's riscv64 packages; the caller holds
    build.lock (apt's private state is shared)."""
    try:
        deb = debian.fetch([package], cache_root / "debs")[package]
    except debian.Unavailable as e:
        pytest.skip(f"Debian's riscv64 packages are not available here: {e}")
    return deb, debian.extract(deb, cache_root / package)


def _translated_package(cache_root: Path, package: str, program: str, name: str) -> tuple[Path, Path]:
    """(program from Debian's riscv64 `package`, its translation), fetched and built once, whichever
    test worker gets here first; built at -O0 because this tier tests behaviour and the build is
    most of its time."""
    with open(cache_root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deb, root = _unpacked(cache_root, package)
        guest = root / program
        exe = cache_root / f"{name}-{deb.stem}-{_translator_digest()}.x86"
        if not exe.exists():
            # Older translations, and the entries their fallback JIT learned: a build would take
            # those as roots, and each translation here starts from what static discovery finds.
            for older in [*cache_root.glob(f"{name}-*.x86"), *cache_root.glob(f"{name}-*.x86.learned")]:
                older.unlink()
            proc = subprocess.run([*AOTBUILDER, "build", "-O", "0", str(guest), "-o", str(exe), "--cache-dir",
                                   str(cache_root / "aot")], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            assert proc.returncode == 0, proc.stderr
    return guest, exe


@pytest.fixture(scope="module")
def busybox(cache_root, qemu_run) -> tuple[Path, Path]:
    return _translated_package(cache_root, "busybox-static", "usr/bin/busybox", "busybox")


@pytest.fixture(scope="module")
def applets(busybox) -> list[str]:
    """The names of the applets this busybox has."""
    guest, _ = busybox
    proc = subprocess.run([QEMU, str(guest), "--list"], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def _qemu_applets(where: Path, guest: Path, names: list[str]) -> Path:
    """A directory of commands that run busybox's applets under qemu-riscv64 (-0: argv[0], by
    which busybox picks the applet)."""
    where.mkdir()
    for name in names:
        command = where / name
        command.write_text(f'#!/bin/sh\nexec {shlex.join([QEMU, "-0", name, str(guest)])} "$@"\n')
        command.chmod(0o755)
    return where


def _translated_applets(where: Path, exe: Path, names: list[str]) -> Path:
    """A directory of links, named like the applets, to the translated busybox."""
    where.mkdir()
    for name in names:
        os.symlink(exe, where / name)
    return where


def _use_applets(path_dir: Path, applets_dir: Path) -> None:
    """Point PATH's directory at one side's applets: both sides see the same PATH (`env` prints it)."""
    path_dir.unlink(missing_ok=True)
    path_dir.symlink_to(applets_dir)


def _env(path_dir: Path) -> dict[str, str]:
    return {"PATH": str(path_dir), "HOME": "/nonexistent", "LC_ALL": "C", "TZ": "UTC"}


def _run(cmd: list[str], cwd: Path, path_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=_env(path_dir), capture_output=True, timeout=TIMEOUT,
                          preexec_fn=_no_core_dumps)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_busybox_script_matches_qemu(busybox, applets, tmp_path, name):
    guest, exe = busybox
    script = SCRIPTS[name]
    path_dir = tmp_path / "bin"
    # Each side works on its own copy of the tree, made by its own busybox; paths stay relative.
    _use_applets(path_dir, _qemu_applets(tmp_path / "qemu-applets", guest, applets))
    (tmp_path / "qemu").mkdir()
    setup = _run([QEMU, str(guest), "sh", "-c", SETUP], tmp_path / "qemu", path_dir)
    assert setup.returncode == 0, setup.stderr
    expected = _run([QEMU, str(guest), "sh", "-c", script], tmp_path / "qemu", path_dir)
    _use_applets(path_dir, _translated_applets(tmp_path / "native-applets", exe, applets))
    (tmp_path / "native").mkdir()
    setup = _run([str(exe), "sh", "-c", SETUP], tmp_path / "native", path_dir)
    assert setup.returncode == 0, setup.stderr
    got = _run([str(exe), "sh", "-c", script], tmp_path / "native", path_dir)
    assert got.stdout.decode() == expected.stdout.decode()
    assert got.stderr.decode() == expected.stderr.decode()
    assert got.returncode == expected.returncode


@pytest.mark.parametrize("argv", [["echo", "-e", r"a\tb"], ["true"], ["false"], ["uname", "-m"],
                                  ["nonexistent-applet"]], ids=lambda a: a[0])
def test_busybox_applet_invocation_matches_qemu(busybox, tmp_path, argv):
    """Applets by argv[0] (a link named like the applet), as Debian installs them."""
    guest, exe = busybox
    link_guest, link_exe = tmp_path / "g" / argv[0], tmp_path / "n" / argv[0]
    link_guest.parent.mkdir()
    link_exe.parent.mkdir()
    os.symlink(guest, link_guest)
    os.symlink(exe, link_exe)
    expected = _run([QEMU, str(link_guest), *argv[1:]], tmp_path, tmp_path / "g")
    got = _run([str(link_exe), *argv[1:]], tmp_path, tmp_path / "n")
    assert (got.stdout, got.returncode) == (expected.stdout, expected.returncode)


@pytest.fixture(scope="module")
def ldconfig(cache_root, qemu_run) -> tuple[Path, Path]:
    """glibc's ldconfig, which Debian builds with GCC as a static-PIE executable."""
    return _translated_package(cache_root, "libc-bin", "usr/sbin/ldconfig", "ldconfig")


@pytest.fixture(scope="module")
def riscv64_libs(cache_root) -> Path:
    """The directory holding glibc's riscv64 shared libraries (for ldconfig to index)."""
    with open(cache_root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _, root = _unpacked(cache_root, "libc6")
    return root / "usr" / "lib" / "riscv64-linux-gnu"


def _library_tree(where: Path, libs: Path) -> Path:
    """A root for `ldconfig -r`: a configured directory (with a library under a name that needs its
    soname link) and the built-in one."""
    (where / "etc").mkdir(parents=True)
    (where / "etc" / "ld.so.conf").write_text("/opt/lib\n")
    for directory, files in (("opt/lib", {"libm.so.6": "libm.so.6", "libdl.so.2": "libdl.so.2",
                                          "libc.so.6": "libc-renamed.so"}),
                             ("usr/lib/riscv64-linux-gnu", {"libanl.so.1": "libanl.so.1"})):
        (where / directory).mkdir(parents=True)
        for name, copy in files.items():
            shutil.copyfile(libs / name, where / directory / copy)
    return where


@pytest.mark.parametrize("argv", [["-v", "-r", "{root}"], ["-r", "{root}", "-p"], ["--version"],
                                  ["-r", "{root}/missing"]], ids=["index", "print", "version", "bad-root"])
def test_ldconfig_static_pie_matches_qemu(ldconfig, riscv64_libs, tmp_path, argv):
    """GCC-built glibc static-PIE: ldconfig indexes a library tree (reading ELF headers, making the
    soname link, writing the cache) exactly as it does under qemu, then prints that cache."""
    guest, exe = ldconfig
    results, trees = [], []
    for side, cmd in (("qemu", [QEMU, "-0", "ldconfig", str(guest)]), ("native", ["ldconfig"])):
        root = _library_tree(tmp_path / side, riscv64_libs)
        if argv[-1] == "-p":  # print the cache of an indexed tree
            built = subprocess.run([*cmd, "-r", str(root)], executable=None if side == "qemu" else exe,
                                   capture_output=True, timeout=TIMEOUT)
            assert built.returncode == 0, built.stderr
        args = [a.replace("{root}", str(root)) for a in argv]
        proc = subprocess.run([*cmd, *args], executable=None if side == "qemu" else exe, capture_output=True,
                              timeout=TIMEOUT, env={"LC_ALL": "C"}, preexec_fn=_no_core_dumps)
        results.append((proc.returncode, proc.stdout.decode().replace(str(root), "ROOT"),
                        proc.stderr.decode().replace(str(root), "ROOT")))
        trees.append({str(f.relative_to(root)): os.readlink(f) if f.is_symlink() else f.read_bytes()
                      for f in sorted(root.rglob("*")) if not f.is_dir()})
    assert results[1] == results[0]
    assert trees[1] == trees[0]
