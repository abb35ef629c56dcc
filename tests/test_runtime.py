"""The C runtime, run for real: hand-written translations (tests/runtime_harness/harness.c) linked
with libaotrt.a around a small riscv64 guest ELF.  Expectations come from the Linux ABI, the guest
ELF (pyelftools) and Python's os module, never from the runtime itself."""

from __future__ import annotations

import os
import re
import resource
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from runtime_harness.build import GuestImage, build_harness, guest_compiler

from aotbuilder import abi
from aotbuilder.backend.runtime import CFLAGS, RUNTIME_DIR, build_runtime, c_compiler
from aotbuilder.errors import BuildError

PAGE = abi.PAGE_SIZE
STACK_TOP = 0x3F_FFFF_F000
AT = {"PHDR": 3, "PHENT": 4, "PHNUM": 5, "PAGESZ": 6, "BASE": 7, "FLAGS": 8, "ENTRY": 9, "UID": 11, "EUID": 12,
      "GID": 13, "EGID": 14, "HWCAP": 16, "CLKTCK": 17, "SECURE": 23, "RANDOM": 25, "EXECFN": 31}
ENOSYS, ENOENT, EFAULT, EEXIST, ENOMEM, EINVAL, EBADF, ENOTTY, ERANGE = 38, 2, 14, 17, 12, 22, 9, 25, 34


@pytest.fixture(scope="session")
def runtime_lib(tmp_path_factory) -> Path:
    return build_runtime(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def harnesses(tmp_path_factory, runtime_lib):
    toolchain = guest_compiler()
    if toolchain is None:
        pytest.skip("no riscv64 guest toolchain (riscv64-linux-gnu-gcc or ziglang)")
    root = tmp_path_factory.mktemp("harness")
    built: dict[str, tuple[Path, GuestImage]] = {}

    def get(variant: str = "exec") -> tuple[Path, GuestImage]:
        if variant not in built:
            built[variant] = build_harness(root / variant, variant, runtime_lib, toolchain)
        return built[variant]

    return get


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(exe: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60,
                          env={} if env is None else env, cwd=cwd, preexec_fn=_no_core_dumps)


def values(stdout: str) -> dict[str, list[str]]:
    """'name v1 v2' lines as {name: [v1, v2]} (the last line of a name wins)."""
    return {line.split(" ")[0]: line.split(" ")[1:] for line in stdout.splitlines() if line}


def fault_line(sig: str, pc: str, detail: str) -> str:
    return f"aotbuilder: guest {sig} at pc {pc}: {detail}\n"


# ---- building ----

def test_runtime_build_is_cached_and_atomic(runtime_lib):
    assert runtime_lib.name == "libaotrt.a" and runtime_lib.stat().st_size > 0
    before = runtime_lib.stat().st_mtime_ns
    again = build_runtime(runtime_lib.parent.parent.parent)
    assert again == runtime_lib and again.stat().st_mtime_ns == before
    assert not list(runtime_lib.parent.parent.glob(".build-*"))
    assert (runtime_lib.parent / "aot_abi.h").read_text() == abi.c_header()


def test_runtime_build_without_compiler_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(BuildError, match=r"^no C compiler found \(/nonexistent/cc\)"):
        build_runtime(tmp_path)


def test_runtime_compile_failure_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "cc -include /nonexistent/header.h")
    with pytest.raises(BuildError) as err:
        build_runtime(tmp_path)
    assert str(err.value).startswith("compiling the runtime failed: ")
    assert "/nonexistent/header.h" in str(err.value) and "\n" not in str(err.value)
    assert not list((tmp_path / "runtime").iterdir())  # nothing half-built left behind


def test_runtime_compiles_without_warnings(tmp_path):
    (tmp_path / "aot_abi.h").write_text(abi.c_header())
    sources = sorted(RUNTIME_DIR.rglob("*.c"))
    result = subprocess.run([*c_compiler(), *CFLAGS, "-Werror", "-fsyntax-only", "-I", str(tmp_path),
                             "-I", str(RUNTIME_DIR), *map(str, sources)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_slow_path_stubs_keep_what_preserve_all_promises(tmp_path):
    """Translated code calls aot_load_slow, aot_store_slow, aot_interrupt and aot_fp_soft with
    LLVM's preserve_all convention and keeps FP values in vector registers across them.  Linked
    against bodies that clobber every register C may, the stubs (runtime/slowpath.c) must still
    hand back all sixteen YMM registers, r8-r10 and the argument registers unchanged, and the
    body's result in rax."""
    exe = tmp_path / "slowpath_regs"
    subprocess.run([*c_compiler(), "-O2", "-o", str(exe), str(Path(__file__).parent / "runtime_harness" /
                    "slowpath_regs.c"), str(RUNTIME_DIR / "slowpath.c")], check=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    if result.stdout.strip() == "no avx":
        pytest.skip("the host has no AVX: the YMM checks cannot run")
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stdout


# ---- startup: the guest image and the initial stack ----

@pytest.mark.parametrize("variant", ["exec", "pie"])
def test_initial_stack_is_laid_out_like_linux(harnesses, variant):
    exe, guest = harnesses(variant)
    env = {"AOT_TEST": "x=y", "EMPTY": ""}
    result = run(exe, "stack", "one", "two words", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    sp = int(values(result.stdout)["sp"][0], 16)
    assert sp % 16 == 0
    argv = [(int(a, 16), s) for a, s in (line.split(" ", 2)[1:] for line in lines if line.startswith("argv "))]
    envp = [(int(a, 16), s) for a, s in (line.split(" ", 2)[1:] for line in lines if line.startswith("env "))]
    assert [s for _, s in argv] == [str(exe), "stack", "one", "two words"]
    assert [s for _, s in envp] == ["AOT_TEST=x=y", "EMPTY="]
    auxv = [tuple(int(v, 16) if i else int(v) for i, v in enumerate(line.split()[1:]))
            for line in lines if line.startswith("auxv ")]
    assert auxv[-1] == (0, 0)
    aux = dict(auxv)
    hwcap = sum(1 << (ord(c) - ord("A")) for c in "IMAFDC")
    assert aux[AT["HWCAP"]] == hwcap
    assert aux[AT["PAGESZ"]] == 4096 and aux[AT["CLKTCK"]] == 100
    assert aux[AT["PHDR"]] == guest.phdr and aux[AT["PHENT"]] == 56 and aux[AT["PHNUM"]] == guest.phnum
    assert aux[AT["ENTRY"]] == guest.entry and aux[AT["BASE"]] == 0 and aux[AT["FLAGS"]] == 0
    assert (aux[AT["UID"]], aux[AT["EUID"]], aux[AT["GID"]], aux[AT["EGID"]]) == (
        os.getuid(), os.geteuid(), os.getgid(), os.getegid())
    assert aux[AT["SECURE"]] == 0
    assert values(result.stdout)["execfn"] == [str(exe)]

    # Strings: argv, then envp, then execfn, packed upwards to a NULL word at the top.
    strings = [*argv, *envp, (aux[AT["EXECFN"]], str(exe))]
    for (addr, s), (next_addr, _) in zip(strings, strings[1:], strict=False):
        assert next_addr == addr + len(s.encode()) + 1
    assert aux[AT["EXECFN"]] + len(str(exe)) + 1 == STACK_TOP - 8
    # argc, argv[], NULL, envp[], NULL, auxv from sp upwards; AT_RANDOM's 16 bytes between the
    # tables and the strings.
    table_end = int(values(result.stdout)["auxv_end"][0], 16)
    assert table_end == sp + 8 * (1 + len(argv) + 1 + len(envp) + 1 + 2 * len(auxv))
    assert table_end <= aux[AT["RANDOM"]] and aux[AT["RANDOM"]] + 16 <= argv[0][0]


def test_at_random_is_random_or_seeded(harnesses):
    exe, _ = harnesses()

    def random_bytes(env):
        return values(run(exe, "stack", env=env).stdout)["random"][0]

    assert random_bytes({}) != random_bytes({})
    assert random_bytes({"AOTBUILDER_SEED": "1"}) == random_bytes({"AOTBUILDER_SEED": "1"})
    assert random_bytes({"AOTBUILDER_SEED": "1"}) != random_bytes({"AOTBUILDER_SEED": "2"})


def test_write_and_exit_status(harnesses):
    exe, _ = harnesses()
    result = run(exe, "exit")
    assert (result.returncode, result.stdout, result.stderr) == (7, "hello stdout\n", "hello stderr\n")


@pytest.mark.parametrize("variant", ["exec", "pie", "shared_page"])
def test_segments_loaded_and_dispatch_resumes(harnesses, variant):
    exe, guest = harnesses(variant)
    result = run(exe, "image")
    assert result.returncode == 0, result.stderr
    start = guest.symbols["_start"]
    assert result.stdout.splitlines() == [
        "rodata hello from rodata",
        "data 1122334455667788",
        "data_written 55",
        "bss 0 0",
        f"callee 42 next {start + 8:x}",  # aot_call_indirect ran callee, which returned to ra
        f"resumed at {start + 8:x}",      # the dispatcher entered entry (pc _start+8, resume 1)
    ]


@pytest.mark.parametrize("variant", ["exec", "pie"])
def test_write_to_text_is_a_guest_segfault(harnesses, variant):
    exe, guest = harnesses(variant)
    start = guest.symbols["_start"]
    result = run(exe, "write_text")
    assert result.returncode == -11
    assert result.stderr == fault_line("SIGSEGV", f"0x{start + 4:x} (_start+0x4)",
                                       f"invalid write of 4 bytes at address 0x{start:x}")


def test_segments_sharing_a_page_merge_permissions(harnesses):
    exe, guest = harnesses("shared_page")
    code, data = guest.segments
    assert code.vaddr // PAGE == data.vaddr // PAGE  # the layout this variant exists for
    result = run(exe, "write_text")  # the shared page is writable (data) ...
    assert (result.returncode, result.stdout) == (0, "wrote text\n")
    result = run(exe, "miss")  # ... and still executable (code)
    assert "no translation for guest pc" in result.stderr


# ---- memory ----

def test_brk_grows_and_shrinks(harnesses):
    exe, guest = harnesses()
    result = run(exe, "brk")
    v = {k: int(x[0], 16) for k, x in values(result.stdout).items()}
    b0 = guest.brk_start
    assert v["brk0"] == b0
    assert v["brk1"] == b0 + 10000 and v["value"] == 0xDEADBEEF
    assert v["brk2"] == b0 + 100
    assert v["brk_huge"] == v["brk_low"] == b0 + 100  # failures return the current break
    assert v["brk3"] == b0 + 3 * PAGE and v["regrown"] == 0  # pages given back come back zeroed
    assert result.returncode == -11
    assert result.stderr.endswith(f"invalid write of 8 bytes at address 0x{b0 + 2 * PAGE:x}\n")


@pytest.mark.parametrize("ending, fault", [
    ("ro", "invalid write of 8 bytes at address 0x{ro:x}"),
    ("unmapped", "invalid read of 4 bytes at address 0x{unmapped:x}"),
    ("none", None),
])
def test_mmap_munmap_mprotect_mremap(harnesses, ending, fault):
    exe, guest = harnesses()
    result = run(exe, "mmap", ending)
    v = values(result.stdout)
    p = int(v["map"][0], 16)
    assert p % PAGE == 0 and p + 3 * PAGE <= STACK_TOP - 8 * 2**20  # below the stack
    assert v["cross"] == ["8877665544332211", "halves", "44332211", "88776655"]
    assert v["misaligned"] == ["11"]
    assert v["mprotect"] == ["0"] and v["ro_read"] == ["88776655"] and v["munmap"] == ["0"]
    assert v["noreplace"] == [str(-EEXIST)]
    assert v["fixed"] == [f"{p + 2 * PAGE:x}", "0"]  # MAP_FIXED replaced the page with a zero one
    remapped = int(v["mremap"][0], 16)
    assert v["mremap"][1:] == ["7", "8"]  # contents moved along, the new part is usable
    assert v["madvise"] == ["0", "0"] and remapped % PAGE == 0
    assert v["mprotect_unmapped"] == [str(-ENOMEM)] and v["munmap_unaligned"] == [str(-EINVAL)]
    if fault is None:
        assert (result.returncode, result.stderr) == (0, "")
    else:
        assert result.returncode == -11
        start = guest.symbols["_start"]
        assert result.stderr == fault_line("SIGSEGV", f"0x{start + 4:x} (_start+0x4)",
                                           fault.format(ro=p + PAGE, unmapped=p))


def test_mmap_private_file(harnesses, tmp_path):
    exe, _ = harnesses()
    data = bytes(i * 7 % 251 for i in range(2 * PAGE + 100))
    (tmp_path / "data.bin").write_bytes(data)
    result = run(exe, "mapfile", str(tmp_path / "data.bin"))
    v = values(result.stdout)
    assert int(v["mapfile"][0]) >= 3
    word = lambda off: f"{struct.unpack_from('<Q', data, off)[0]:x}"  # noqa: E731
    assert v["bytes"] == [word(PAGE), word(2 * PAGE), "0"]  # offset PAGE; zero past end of file
    assert result.returncode == -11 and "invalid write of 1 byte at address" in result.stderr


def test_mremap_moves_what_cannot_grow_in_place(harnesses):
    exe, _ = harnesses()
    result = run(exe, "mremap_move")
    # allocation is top-down; without MREMAP_MAYMOVE growth fails, with it the mapping moves with
    # its contents and its old place is unmapped
    assert (result.returncode, result.stdout) == (0, f"move {PAGE} {-ENOMEM} 1 77 {-ENOMEM}\n")


def test_mmap_shared_file_writes_through(harnesses, tmp_path):
    exe, _ = harnesses()
    path = tmp_path / "shared.bin"
    path.write_bytes(b"." * PAGE)
    result = run(exe, "shared", str(path))
    assert values(result.stdout) == {"shared": ["1", "1"], "mprotect": ["0"], "read_back": ["4853"]}
    assert result.returncode == -11 and "invalid write of 1 byte" in result.stderr
    assert path.read_bytes() == b"SHARED" + b"." * (PAGE - 6)


def test_misaligned_atomic_is_sigbus(harnesses):
    exe, guest = harnesses()
    result = run(exe, "amo")
    assert result.stdout == "amo abcdef\n"
    scratch = guest.symbols["scratch"]
    assert result.returncode == -7
    assert result.stderr == fault_line("SIGBUS", f"0x{guest.symbols['_start'] + 4:x} (_start+0x4)",
                                       f"misaligned atomic access at address 0x{scratch + PAGE + 4:x}")


def test_atomic_on_readonly_memory_is_sigsegv(harnesses):
    exe, guest = harnesses()
    result = run(exe, "amo_readonly")
    assert result.returncode == -11
    assert result.stderr.endswith(f"invalid atomic access of 4 bytes at address 0x{guest.symbols['greeting']:x}\n")


# ---- system calls ----

@pytest.mark.parametrize("path_of", [lambda tmp: tmp / "file.txt", lambda tmp: Path("/dev/null")])
def test_newfstatat_and_fstat_convert_struct_stat(harnesses, tmp_path, path_of):
    exe, _ = harnesses()
    (tmp_path / "file.txt").write_bytes(b"x" * 12345)
    path = path_of(tmp_path)
    result = run(exe, "stat", str(path))
    st = os.stat(path)
    expected = (f"0 dev={st.st_dev} ino={st.st_ino} mode={st.st_mode:o} nlink={st.st_nlink} uid={st.st_uid} "
                f"gid={st.st_gid} rdev={st.st_rdev} size={st.st_size} blksize={st.st_blksize} "
                f"blocks={st.st_blocks} atime={st.st_atime_ns // 10**9}.{st.st_atime_ns % 10**9:09d} "
                f"mtime={st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d} "
                f"ctime={st.st_ctime_ns // 10**9}.{st.st_ctime_ns % 10**9:09d}")
    lines = result.stdout.splitlines()
    assert lines[0] == f"newfstatat {expected}"
    assert lines[1] == f"fstat {expected}"
    assert lines[2:] == [f"missing {-ENOENT}", f"efault {-EFAULT}"]


def test_file_and_pipe_io(harnesses, tmp_path):
    exe, _ = harnesses()
    (tmp_path / "text").write_text("0123456789abcdefghijklmnopqrstuvwxyz")
    result = run(exe, "io", str(tmp_path / "text"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    v = values(result.stdout)
    assert v["getcwd"] == [str(len(str(tmp_path)) + 1), str(tmp_path)]
    assert v["getcwd_small"] == [str(-ERANGE)]
    assert v["read"] == ["20", "0123456789abcdefghij"]  # into a buffer spanning two mappings
    assert v["lseek"] == ["2"] and v["readv"] == ["7", "234", "5678"]
    assert v["read_efault"] == [str(-EFAULT)] and v["read_readonly"] == [str(-EFAULT)]
    assert v["fcntl_getfd"] == ["0"] and v["ioctl_notty"] == [str(-ENOTTY)]
    assert v["close_again"] == [str(-EBADF)]
    assert v["pipe"] == ["0", "4", "4", "ping"] and v["ppoll"] == ["1", "1"]
    assert v["machine"] == ["riscv64"]
    assert v["clock_null"] == [str(-EFAULT)] and v["gettimeofday_null"] == ["0"]  # NULL is optional there


def test_unknown_syscalls_return_enosys(harnesses):
    exe, _ = harnesses()
    result = run(exe, "enosys")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"enosys {-ENOSYS} {-ENOSYS} {-ENOSYS}\n", "")


def test_strace_output(harnesses, tmp_path):
    exe, guest = harnesses()
    data_buf = guest.symbols["scratch"] + PAGE
    result = run(exe, "exit", env={"AOTBUILDER_STRACE": "1"})
    assert result.returncode == 7
    assert result.stderr.splitlines() == [
        f"write(1,0x{data_buf:x},13) = 13",
        "hello stderr",
        f"write(2,0x{data_buf:x},13) = 13",
        "exit_group(7)",
    ]
    result = run(exe, "enosys", env={"AOTBUILDER_STRACE": "1"})
    err = result.stderr.splitlines()
    assert err.count("aotbuilder: unimplemented system call lookup_dcookie (18) returns -ENOSYS") == 1
    assert "aotbuilder: unimplemented system call unknown (1000) returns -ENOSYS" in err
    assert "syscall_1000(0x1,0x2,0x3,0x0,0x0,0x0) = -1 errno=38 (Function not implemented)" in err
    assert err.count("lookup_dcookie(0x0,0x0,0x0,0x0,0x0,0x0) = -1 errno=38 (Function not implemented)") == 2
    result = run(exe, "stat", "/nonexistent/x", env={"AOTBUILDER_STRACE": "1"})
    err = result.stderr.splitlines()
    assert 'openat(AT_FDCWD,"/nonexistent/x",O_RDONLY,00) = -1 errno=2 (No such file or directory)' in err
    assert (f'newfstatat(AT_FDCWD,"/nonexistent/x",0x{data_buf:x},0x0) = -1 errno=2 (No such file or directory)'
            in err)


def test_no_trace_without_strace(harnesses):
    exe, _ = harnesses()
    assert run(exe, "enosys", env={"AOTBUILDER_STRACE": ""}).stderr == ""


# ---- traps, faults, signals ----

@pytest.mark.parametrize("scenario, symbol, sig, rc, detail", [
    ("illegal32", "illegal32", "SIGILL", -4, "illegal instruction 0xc0001073"),
    ("illegal16", "illegal16", "SIGILL", -4, "illegal instruction 0x0000"),
    ("ebreak", "breakpoint", "SIGTRAP", -5, "breakpoint (ebreak)"),
])
def test_traps_report_and_die_of_the_signal(harnesses, scenario, symbol, sig, rc, detail):
    exe, guest = harnesses()
    result = run(exe, scenario)
    pc = guest.symbols[symbol]
    assert result.returncode == rc
    assert result.stderr == fault_line(sig, f"0x{pc:x} ({symbol})", detail)


def test_unknown_csr_is_an_illegal_instruction(harnesses):
    exe, _ = harnesses()
    result = run(exe, "csr")
    assert result.stdout == "csr 1\n" and result.returncode == -4
    assert "illegal instruction" in result.stderr


def test_dispatcher_miss_in_code_without_a_jit_names_the_pc_and_the_fix(harnesses):
    """The harness's build tools do not exist (runtime_harness/build.py): the JIT cannot start."""
    exe, guest = harnesses()
    pc = guest.symbols["_start"] + 2
    result = run(exe, "miss")
    assert result.returncode == -4
    assert result.stderr == (f"aotbuilder: no translation for guest pc 0x{pc:x} (_start+0x2), and the fallback JIT "
                             "could not start (it runs the aotbuilder that built this program: reinstall it, or "
                             "rebuild the program with `aotbuilder build` on this machine)\n")


@pytest.mark.parametrize("scenario", ["jump_null", "jump_data"])
def test_jump_outside_code_is_a_guest_segfault(harnesses, scenario):
    exe, guest = harnesses()
    target = 0 if scenario == "jump_null" else guest.symbols["counter"]
    result = run(exe, scenario)
    assert result.returncode == -11
    assert result.stderr == fault_line("SIGSEGV", f"0x{target:x}",
                                       f"invalid instruction fetch at address 0x{target:x}")


def test_host_fault_is_an_internal_error(harnesses):
    exe, _ = harnesses()
    result = run(exe, "host_fault")
    assert result.returncode == -11
    assert result.stderr.startswith("aotbuilder: internal error: host fault (SIGSEGV) at host pc 0x")
    assert "accessing 0x10 (last dispatched guest pc" in result.stderr


def test_host_stack_overflow_is_reported(harnesses):
    exe, _ = harnesses()
    result = run(exe, "host_stack_overflow")
    assert result.returncode == -11
    assert result.stderr.startswith("aotbuilder: internal error: host stack overflow at host pc 0x")
    assert "guest recursion went deeper than the host stack allows" in result.stderr


SIGNAL_PREFIX = ["ignore 0 old 0", "kill_ignored 0", "query 0 old 1", f"sigkill {-EINVAL}",
                 f"badsize {-EINVAL}", "gettid 1", "block 0", "kill_blocked 0", f"mask 0 {1 << 11:x}"]


@pytest.mark.parametrize("ending, rc, stderr", [
    ("none", 0, ""),
    ("abort", -6, ""),    # tgkill(SIGABRT) with the default action: dies natively, silently
    ("unblock", -12, ""),  # the blocked SIGUSR2 was pending
    ("segv", -11, ""),    # sent, not a fault: no report
    # the handler (0x12345, in the bss) is delivered to, and fetching it faults
    ("handler", -11, "aotbuilder: guest SIGSEGV at pc 0x12345: invalid instruction fetch at address 0x12345\n"),
])
def test_signal_dispositions_and_masks(harnesses, ending, rc, stderr):
    exe, _ = harnesses()
    result = run(exe, "signals", ending)
    assert result.stdout.splitlines() == SIGNAL_PREFIX + (["survived"] if ending == "none" else [])
    assert (result.returncode, result.stderr) == (rc, stderr)


# ---- delivery to guest handlers (t_handler in harness.c reports its frame and edits it) ----

UC_SIGMASK_SIGUSR2 = 1 << (12 - 1)


def test_handler_gets_a_riscv64_frame_and_sigreturn_restores_it(harnesses):
    exe, guest = harnesses()
    result = run(exe, "sigframe", "kill")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # a0 = signal, a1 = &frame.info = sp, a2 = &frame.uc = sp + 128, ra = li a7,139; ecall
    assert lines[0] == "handler sig 10 info 1 uc 1 align 1 ra_is_trampoline 1"
    assert lines[1] == "siginfo signo 10 code 0 addr " + lines[1].split()[6] + " pid_is_self 1"  # SI_USER
    # uc_mcontext: pc after the ecall, the registers and f3 as they were; handler mask = the
    # old one | sa_mask (SIGUSR2) | the signal itself (SIGUSR1)
    mask_in_handler = (1 << 9) | UC_SIGMASK_SIGUSR2
    assert lines[2] == (f"ucontext pc {guest.symbols['_start'] + 8:x} s1 5151 sp_above 1 f3 4008000000000000 "
                        f"mask 0 now {mask_in_handler:x}")
    assert lines[3] == "stack on_alt 0 ss_flags 2"  # uc_stack: SS_DISABLE
    # rt_sigreturn: s1 as the handler left it in the frame, the stack and the mask back
    assert lines[4:] == ["after kill 0 s1 7777 sp 1 mask 0", "resethand 0"]  # SA_RESETHAND: SIG_DFL again


@pytest.mark.parametrize("how", ["skip", "skip_odd"])
def test_breakpoint_handler_moves_the_pc(harnesses, how):
    """The handler sets its frame's pc past the ebreak (skip_odd: one byte further, an odd pc,
    which rt_sigreturn makes even, as sepc's bit 0 is always zero with the C extension)."""
    exe, guest = harnesses()
    result = run(exe, "sigframe", how)
    assert result.returncode == 0, result.stderr
    bp = guest.symbols["breakpoint"]
    lines = result.stdout.splitlines()
    assert lines[1] == f"siginfo signo 5 code 1 addr {bp:x} pid_is_self 0"  # TRAP_BRKPT, si_addr = pc
    assert lines[2].startswith(f"ucontext pc {bp:x} ")
    assert lines[-1] == f"after trap next {bp + 4:x}"  # aot_trap returns the pc the handler chose


def test_sa_onstack_runs_on_the_alternate_stack(harnesses):
    exe, _ = harnesses()
    result = run(exe, "sigframe", "altstack")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "sigaltstack 0"
    assert "stack on_alt 1 ss_flags 0" in result.stdout.splitlines()


@pytest.mark.parametrize("how, read", [("restart", 1), ("eintr", -4)])
def test_interrupted_read_restarts_only_with_sa_restart(harnesses, how, read):
    """SIGALRM interrupts a read of an empty pipe; the handler writes a byte into the pipe."""
    exe, _ = harnesses()
    result = run(exe, "sigframe", how)
    assert (result.returncode, result.stdout) == (0, f"read {read} handler_runs 1\n"), result.stderr


@pytest.mark.parametrize("how, sig, addr, value", [
    ("load_fault", 11, "100000000", "0"),  # SIGSEGV, SEGV_MAPERR, si_addr the address; the load reads 0
    ("atomic_fault", 7, None, "1"),        # SIGBUS, BUS_ADRALN for a misaligned AMO
])
def test_slow_path_fault_is_delivered_at_the_next_poll(harnesses, how, sig, addr, value):
    """The slow paths cannot run a handler: they return, and aot_interrupt (called by the poll
    after them) runs it with the pc of the access.  The handler changed s1 in its frame, so
    aot_interrupt sends control through the dispatcher at the access's pc (flagged with
    RA_IN_STATE: the CPU state holds every register)."""
    exe, guest = harnesses()
    result = run(exe, "sigframe", how)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    addr = addr or f"{guest.symbols['scratch'] + PAGE + 2:x}"
    pc = guest.symbols["_start"] + 4
    assert lines[1] == f"siginfo signo {sig} code 1 addr {addr} pid_is_self 0"
    assert lines[2].startswith(f"ucontext pc {pc:x} ")
    assert lines[-1] == f"after fault value {value} polled 1 next {pc | abi.RA_IN_STATE:x} cpu_pc {pc:x}"


def test_asynchronous_signal_waits_for_a_poll(harnesses):
    """The handler runs at the poll; it changed s1 in its frame, so the poll may not go on with the
    registers it holds: aot_interrupt returns the poll's pc (cpu->pc) flagged with RA_IN_STATE."""
    exe, guest = harnesses()
    result = run(exe, "sigframe", "async")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    pc = guest.symbols["_start"] + 8
    assert lines[0] == "handler sig 10 info 1 uc 1 align 1 ra_is_trampoline 1"
    assert lines[2].startswith(f"ucontext pc {pc:x} ")
    assert lines[-1] == (f"poll interrupt 1 runs before 0 after 1 next {pc | abi.RA_IN_STATE:x} cpu_pc {pc:x} "
                         "interrupt now 0")


def test_asynchronous_signal_whose_handler_changes_nothing_lets_the_poll_go_on(harnesses):
    """A handler that leaves its frame alone: aot_interrupt returns the poll's own pc, the promise
    that lets the poll keep the register values it holds."""
    exe, guest = harnesses()
    result = run(exe, "sigframe", "async_quiet")
    assert result.returncode == 0, result.stderr
    pc = guest.symbols["_start"] + 8
    assert re.fullmatch(f"poll interrupt 1 runs before 0 after 1 next {pc:x} cpu_pc [0-9a-f]+ interrupt now 0\n",
                        result.stdout), result.stdout


def test_sigsuspend_runs_the_pending_handler(harnesses):
    exe, _ = harnesses()
    result = run(exe, "sigframe", "sigsuspend")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["pending_not_run 0", f"sigsuspend -4 handler_runs 1 mask {1 << 9:x}"]


# ---- the system call table ----

def _table_rows() -> dict[int, tuple[str, bool]]:
    """number -> (name, implemented) from runtime/syscall/table.c."""
    text = (RUNTIME_DIR / "syscall" / "table.c").read_text()
    rows = re.findall(r'\[(\d+)\] = \{ "(\w+)"(?:, sys_(\w+))?', text)
    assert all(not handler or handler == name for _, name, handler in rows)
    return {int(nr): (name, bool(handler)) for nr, name, handler in rows}


def test_syscall_numbers_match_linux_riscv64():
    if shutil.which("riscv64-linux-gnu-gcc") is None:
        pytest.skip("riscv64-linux-gnu-gcc (its kernel headers are the reference)")
    macros = subprocess.run(["riscv64-linux-gnu-gcc", "-dM", "-E", "-"], input="#include <asm/unistd.h>\n",
                            capture_output=True, text=True, check=True).stdout
    linux = {}
    for name, nr in re.findall(r"#define __NR(?:3264)?_(\w+) (\d+)\n", macros):
        linux.setdefault(int(nr), name)
    linux[79] = "newfstatat"  # __NR3264_fstatat: the 64-bit name
    linux[258] = "riscv_hwprobe"  # newer than these headers
    linux[259] = "riscv_flush_icache"  # defined as __NR_arch_specific_syscall + 15
    for nr, (name, _) in _table_rows().items():
        assert linux.get(nr) == name, f"syscall {nr}: table says {name}, Linux says {linux.get(nr)}"


def test_docs_list_the_implemented_syscalls():
    documented = set()
    for line in (Path(__file__).parent.parent / "docs" / "runtime.md").read_text().splitlines():
        if re.match(r"\| \w+\.c \|", line):
            documented |= {re.sub(r"\(.*\)", "", item).strip() for item in line.split("|")[2].split(",")}
    implemented = {name for name, done in _table_rows().values() if done}
    assert documented == implemented
