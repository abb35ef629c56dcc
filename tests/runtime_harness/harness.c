/* Hand-written stand-ins for translated code, linked with libaotrt.a like a real translation.
 *
 * t_start is the "translation" of the guest's _start: it reads argv[1] from the guest stack and
 * runs the scenario of that name.  Scenarios touch the guest only through the runtime ABI
 * (aot_load_slow, aot_store_slow, aot_host_addr, aot_ecall, aot_trap, aot_call_indirect) and
 * print what they observe with the guest's write system call, for tests/test_runtime.py to check.
 * guest_symbols.h (generated) gives the guest's symbols as G_<name>: runtime addresses. */
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "aot_abi.h"
#include "guest_symbols.h"

enum {
    NR_getcwd = 17, NR_fcntl = 25, NR_ioctl = 29, NR_openat = 56, NR_close = 57, NR_pipe2 = 59,
    NR_lseek = 62, NR_read = 63, NR_write = 64, NR_readv = 65, NR_newfstatat = 79, NR_fstat = 80,
    NR_exit_group = 94, NR_kill = 129, NR_tgkill = 131, NR_rt_sigaction = 134,
    NR_rt_sigprocmask = 135, NR_uname = 160, NR_getpid = 172, NR_gettid = 178, NR_brk = 214,
    NR_munmap = 215, NR_mremap = 216, NR_mmap = 222, NR_mprotect = 226, NR_madvise = 233,
    NR_lookup_dcookie = 18, NR_clock_gettime = 113, NR_gettimeofday = 169,
    NR_ppoll = 73, NR_sigaltstack = 132, NR_setitimer = 103, NR_rt_sigsuspend = 133,
};

#define AT_FDCWD (-100)
#define PROT_READ 1
#define PROT_WRITE 2
#define O_RDWR 2
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000
#define MREMAP_MAYMOVE 1
#define MADV_DONTNEED 4
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define AT_NULL 0
#define AT_RANDOM 25
#define AT_EXECFN 31
#define PAGE 4096

/* Guest memory the scenarios use: text they print, and buffers for system calls. */
#define OUT_BUF G_scratch
#define DATA_BUF (G_scratch + PAGE)
#define PATH_BUF (G_scratch + 2 * PAGE)

/* The guest pc every access and system call of a scenario claims to be at. */
#define SCENARIO_PC (G__start + 4)

static struct aot_cpu *cpu;

static uint64_t load(uint64_t addr, unsigned size) { return aot_load_slow(cpu, addr, size, SCENARIO_PC); }
static void store(uint64_t addr, uint64_t value, unsigned size) { aot_store_slow(cpu, addr, value, size, SCENARIO_PC); }

static int64_t syscall_args(uint64_t nr, const uint64_t *args)
{
    cpu->x[17] = nr;
    for (int i = 0; i < 6; i++)
        cpu->x[10 + i] = args[i];
    cpu->pc = SCENARIO_PC;
    uint64_t next = aot_ecall(cpu);
    if (next != SCENARIO_PC + 4)
        return -1000;  /* shows up in the output as a wrong result */
    return (int64_t)cpu->x[10];
}
#define SYS(nr, ...) syscall_args((nr), (const uint64_t[6]){ __VA_ARGS__ })

static void put_bytes(uint64_t addr, const void *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        store(addr + i, ((const unsigned char *)data)[i], 1);
}

static void get_string(uint64_t addr, char *out, size_t cap)
{
    size_t i = 0;
    for (; i + 1 < cap && (out[i] = (char)load(addr + i, 1)); i++)
        ;
    out[i] = 0;
}

static void put_string(uint64_t addr, const char *s) { put_bytes(addr, s, strlen(s) + 1); }

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    char text[PAGE];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    put_bytes(OUT_BUF, text, (size_t)n);
    SYS(NR_write, 1, OUT_BUF, (uint64_t)n);
}

static void exit_group(int status) { SYS(NR_exit_group, (uint64_t)status); }

static uint64_t guest_argv(int i) { return load(cpu->x[2] + 8 + 8 * (uint64_t)i, 8); }

/* ---- scenarios ----
 * (Results go into variables before they are printed: the order in which C evaluates the
 * arguments of one call is unspecified.) */

static void scenario_stack(void)
{
    uint64_t sp = cpu->x[2], argc = load(sp, 8), p = sp + 8;
    char s[PAGE];
    out("sp %lx\nargc %lu\n", sp, argc);
    for (uint64_t i = 0; i < argc; i++, p += 8) {
        get_string(load(p, 8), s, sizeof s);
        out("argv %lx %s\n", load(p, 8), s);
    }
    out("argv_end %lx\n", load(p, 8));
    for (p += 8; load(p, 8); p += 8) {
        get_string(load(p, 8), s, sizeof s);
        out("env %lx %s\n", load(p, 8), s);
    }
    for (p += 8;; p += 16) {
        uint64_t type = load(p, 8), value = load(p + 8, 8);
        out("auxv %lu %lx\n", type, value);
        if (type == AT_RANDOM) {
            char hex[40] = "";
            for (int i = 0; i < 16; i++)
                sprintf(hex + 2 * i, "%02lx", load(value + (uint64_t)i, 1));
            out("random %s\n", hex);
        }
        if (type == AT_EXECFN) {
            get_string(value, s, sizeof s);
            out("execfn %s\n", s);
        }
        if (type == AT_NULL)
            break;
    }
    out("auxv_end %lx\n", p + 16);
    exit_group(0);
}

static void scenario_exit(void)
{
    put_string(DATA_BUF, "hello stdout\n");
    SYS(NR_write, 1, DATA_BUF, 13);
    put_string(DATA_BUF, "hello stderr\n");
    SYS(NR_write, 2, DATA_BUF, 13);
    exit_group(7);
}

/* Returns to the dispatcher at _start+8, the second entry of this translation. */
static uint64_t scenario_image(void)
{
    char s[64];
    get_string(G_greeting, s, sizeof s);
    out("rodata %s\n", s);
    out("data %lx\n", load(G_counter, 8));
    store(G_counter, 0x55, 8);
    out("data_written %lx\n", load(G_counter, 8));
    out("bss %lx %lx\n", load(G_scratch + 3 * PAGE, 8), load(G_scratch + 4 * PAGE - 8, 8));
    cpu->x[1] = G__start + 8;  /* ra */
    uint64_t next = aot_call_indirect(cpu, G_callee);
    out("callee %lu next %lx\n", cpu->x[10], next);
    return next;
}

static void scenario_brk(void)
{
    uint64_t b0 = (uint64_t)SYS(NR_brk, 0);
    out("brk0 %lx\n", b0);
    out("brk1 %lx\n", (uint64_t)SYS(NR_brk, b0 + 10000));
    store(b0 + 9992, 0xdeadbeef, 8);
    out("value %lx\n", load(b0 + 9992, 8));
    out("brk2 %lx\n", (uint64_t)SYS(NR_brk, b0 + 100));
    out("brk_huge %lx\n", (uint64_t)SYS(NR_brk, 1ULL << 46));
    out("brk_low %lx\n", (uint64_t)SYS(NR_brk, b0 - PAGE));
    out("brk3 %lx\n", (uint64_t)SYS(NR_brk, b0 + 3 * PAGE));
    out("regrown %lx\n", load(b0 + 9992, 8));
    SYS(NR_brk, b0 + 100);
    store(b0 + 2 * PAGE, 1, 8);  /* no longer mapped: SIGSEGV */
}

static void scenario_mmap(const char *ending)
{
    int64_t p = SYS(NR_mmap, 0, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
    out("map %lx\n", p);
    store(p, 0x1111, 8);
    store(p + PAGE - 4, 0x8877665544332211, 8);
    out("cross %lx halves %lx %lx\n", load(p + PAGE - 4, 8), load(p + PAGE - 4, 4), load(p + PAGE, 4));
    out("misaligned %lx\n", load(p + 1, 8));
    out("mprotect %ld\n", SYS(NR_mprotect, p + PAGE, PAGE, PROT_READ));
    out("ro_read %lx\n", load(p + PAGE, 4));
    out("munmap %ld\n", SYS(NR_munmap, p, PAGE));
    out("noreplace %ld\n", SYS(NR_mmap, p + PAGE, PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0));
    store(p + 2 * PAGE, 5, 8);
    int64_t q = SYS(NR_mmap, p + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                    (uint64_t)-1, 0);
    out("fixed %lx %lx\n", q, load(p + 2 * PAGE, 8));
    store(q, 7, 8);
    int64_t r = SYS(NR_mremap, q, PAGE, 5 * PAGE, MREMAP_MAYMOVE);
    store(r + 4 * PAGE, 8, 8);
    out("mremap %lx %lx %lx\n", r, load(r, 8), load(r + 4 * PAGE, 8));
    store(r, 9, 8);
    int64_t advised = SYS(NR_madvise, r, PAGE, MADV_DONTNEED);
    out("madvise %ld %lx\n", advised, load(r, 8));
    out("mprotect_unmapped %ld\n", SYS(NR_mprotect, 1ULL << 32, PAGE, PROT_READ));  /* nothing is mapped there */
    out("munmap_unaligned %ld\n", SYS(NR_munmap, p + 1, PAGE));
    if (!strcmp(ending, "ro"))
        store(p + PAGE, 1, 8);
    else if (!strcmp(ending, "unmapped"))
        load(p, 4);
    exit_group(0);
}

static void scenario_mapfile(const char *path)
{
    put_string(PATH_BUF, path);
    int64_t fd = SYS(NR_openat, (uint64_t)AT_FDCWD, PATH_BUF, 0);
    int64_t p = SYS(NR_mmap, 0, 3 * PAGE, PROT_READ, MAP_PRIVATE, (uint64_t)fd, PAGE);
    out("mapfile %ld %lx\n", fd, p);
    out("bytes %lx %lx %lx\n", load(p, 8), load(p + PAGE, 8), load(p + PAGE + 100, 8));  /* the last is past EOF */
    SYS(NR_close, (uint64_t)fd);
    store(p, 1, 1);  /* PROT_READ: SIGSEGV */
}

/* mmap allocates top-down, so the lower mapping cannot grow in place: mremap moves it. */
static void scenario_mremap_move(void)
{
    int64_t upper = SYS(NR_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
    int64_t lower = SYS(NR_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
    store(lower, 0x77, 8);
    int64_t stuck = SYS(NR_mremap, lower, PAGE, 2 * PAGE, 0);
    int64_t moved = SYS(NR_mremap, lower, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
    int64_t old_gone = SYS(NR_mprotect, lower, PAGE, PROT_READ);
    out("move %ld %ld %d %lx %ld\n", upper - lower, stuck, moved != lower, load(moved, 8), old_gone);
    exit_group(0);
}

/* A shared file mapping writes through to the file; grown in place with mremap; made read-only. */
static void scenario_shared(const char *path)
{
    put_string(PATH_BUF, path);
    int64_t fd = SYS(NR_openat, (uint64_t)AT_FDCWD, PATH_BUF, O_RDWR);
    int64_t p = SYS(NR_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, (uint64_t)fd, 0);
    put_bytes(p, "SHARED", 6);
    int64_t grown = SYS(NR_mremap, p, PAGE, 2 * PAGE, 0);
    out("shared %d %d\n", fd >= 0, grown == p);
    out("mprotect %ld\n", SYS(NR_mprotect, p, 2 * PAGE, PROT_READ));
    out("read_back %lx\n", load(p, 2));
    store(p, 'X', 1);  /* read-only now: SIGSEGV */
}

/* The riscv64 struct stat, field by field. */
static void print_stat(const char *label, int64_t r, uint64_t st)
{
    out("%s %ld dev=%lu ino=%lu mode=%lo nlink=%lu uid=%lu gid=%lu rdev=%lu size=%ld blksize=%ld blocks=%ld "
        "atime=%ld.%09lu mtime=%ld.%09lu ctime=%ld.%09lu\n", label, r,
        load(st + 0, 8), load(st + 8, 8), load(st + 16, 4), load(st + 20, 4), load(st + 24, 4),
        load(st + 28, 4), load(st + 32, 8), load(st + 48, 8), (int64_t)(int32_t)load(st + 56, 4),
        load(st + 64, 8), load(st + 72, 8), load(st + 80, 8), load(st + 88, 8), load(st + 96, 8),
        load(st + 104, 8), load(st + 112, 8));
}

static void scenario_stat(const char *path)
{
    put_string(PATH_BUF, path);
    print_stat("newfstatat", SYS(NR_newfstatat, (uint64_t)AT_FDCWD, PATH_BUF, DATA_BUF, 0), DATA_BUF);
    int64_t fd = SYS(NR_openat, (uint64_t)AT_FDCWD, PATH_BUF, 0);
    print_stat("fstat", SYS(NR_fstat, (uint64_t)fd, DATA_BUF), DATA_BUF);
    put_string(PATH_BUF, "/nonexistent/file");
    out("missing %ld\n", SYS(NR_newfstatat, (uint64_t)AT_FDCWD, PATH_BUF, DATA_BUF, 0));
    out("efault %ld\n", SYS(NR_newfstatat, (uint64_t)AT_FDCWD, 0, DATA_BUF, 0));
    exit_group(0);
}

static void scenario_enosys(void)
{
    out("enosys %ld %ld %ld\n", SYS(1000, 1, 2, 3), SYS(NR_lookup_dcookie, 0), SYS(NR_lookup_dcookie, 0));
    exit_group(0);
}

/* read() into a buffer that spans two guest mappings (not contiguous on the host), readv,
 * lseek, a pipe, getcwd, uname, ioctl and fcntl. */
static void scenario_io(const char *path)
{
    char s[PAGE];
    int64_t r = SYS(NR_getcwd, PATH_BUF, PAGE);
    get_string(PATH_BUF, s, sizeof s);
    out("getcwd %ld %s\n", r, s);
    out("getcwd_small %ld\n", SYS(NR_getcwd, PATH_BUF, 2));

    int64_t p = SYS(NR_mmap, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
    SYS(NR_mmap, p + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0);
    put_string(PATH_BUF, path);
    int64_t fd = SYS(NR_openat, (uint64_t)AT_FDCWD, PATH_BUF, 0);
    r = SYS(NR_read, (uint64_t)fd, p + PAGE - 10, 20);
    get_string(p + PAGE - 10, s, 21);
    out("read %ld %s\n", r, s);
    out("lseek %ld\n", SYS(NR_lseek, (uint64_t)fd, 2, 0));
    uint64_t iov = DATA_BUF;
    store(iov, p, 8), store(iov + 8, 3, 8), store(iov + 16, p + 100, 8), store(iov + 24, 4, 8);
    r = SYS(NR_readv, (uint64_t)fd, iov, 2);
    store(p + 3, 0, 1), store(p + 104, 0, 1);
    char a[8], b[8];
    get_string(p, a, sizeof a), get_string(p + 100, b, sizeof b);
    out("readv %ld %s %s\n", r, a, b);
    out("read_efault %ld\n", SYS(NR_read, (uint64_t)fd, 16, 10));
    out("read_readonly %ld\n", SYS(NR_read, (uint64_t)fd, G_greeting, 10));
    out("fcntl_getfd %ld\n", SYS(NR_fcntl, (uint64_t)fd, 1));
    out("ioctl_notty %ld\n", SYS(NR_ioctl, (uint64_t)fd, 0x5401, DATA_BUF));
    SYS(NR_close, (uint64_t)fd);
    out("close_again %ld\n", SYS(NR_close, (uint64_t)fd));

    r = SYS(NR_pipe2, DATA_BUF, 0);
    uint64_t rd = load(DATA_BUF, 4), wr = load(DATA_BUF + 4, 4);
    put_string(PATH_BUF, "ping");
    int64_t w = SYS(NR_write, wr, PATH_BUF, 4);
    uint64_t pollfd = DATA_BUF + 512, timeout = DATA_BUF + 520;
    store(pollfd, rd | (1ULL /* POLLIN */ << 32), 8);
    store(timeout, 0, 8), store(timeout + 8, 0, 8);
    int64_t ready = SYS(NR_ppoll, pollfd, 1, timeout, 0, 8);
    out("ppoll %ld %lx\n", ready, load(pollfd + 6, 2));
    int64_t n = SYS(NR_read, rd, DATA_BUF, 100);
    store(DATA_BUF + 4, 0, 1);
    get_string(DATA_BUF, s, sizeof s);
    out("pipe %ld %ld %ld %s\n", r, w, n, s);

    out("clock_null %ld\n", SYS(NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, 0));
    out("gettimeofday_null %ld\n", SYS(NR_gettimeofday, 0, 0));
    SYS(NR_uname, DATA_BUF);
    get_string(DATA_BUF + 4 * 65, s, sizeof s);
    out("machine %s\n", s);
    exit_group(0);
}

static void scenario_signals(const char *ending)
{
    uint64_t act = DATA_BUF, old = DATA_BUF + 64, set = DATA_BUF + 128;
    store(act, 1 /* SIG_IGN */, 8), store(act + 8, 0, 8), store(act + 16, 0, 8);
    int64_t r = SYS(NR_rt_sigaction, 10 /* SIGUSR1 */, act, old, 8);
    out("ignore %ld old %lu\n", r, load(old, 8));
    int64_t pid = SYS(NR_getpid, 0);
    out("kill_ignored %ld\n", SYS(NR_kill, (uint64_t)pid, 10));
    r = SYS(NR_rt_sigaction, 10, 0, old, 8);
    out("query %ld old %lu\n", r, load(old, 8));
    out("sigkill %ld\n", SYS(NR_rt_sigaction, 9, act, 0, 8));
    out("badsize %ld\n", SYS(NR_rt_sigaction, 10, act, 0, 4));
    out("gettid %d\n", SYS(NR_gettid, 0) == pid);
    store(set, 1ULL << (12 - 1) /* SIGUSR2 */, 8);
    out("block %ld\n", SYS(NR_rt_sigprocmask, SIG_BLOCK, set, 0, 8));
    out("kill_blocked %ld\n", SYS(NR_kill, (uint64_t)pid, 12));
    r = SYS(NR_rt_sigprocmask, SIG_BLOCK, 0, old, 8);
    out("mask %ld %lx\n", r, load(old, 8));
    if (!strcmp(ending, "abort")) {
        SYS(NR_tgkill, (uint64_t)pid, (uint64_t)SYS(NR_gettid, 0), 6);
    } else if (!strcmp(ending, "unblock")) {
        SYS(NR_rt_sigprocmask, SIG_UNBLOCK, set, 0, 8);
    } else if (!strcmp(ending, "handler")) {
        store(act, 0x12345, 8);
        SYS(NR_rt_sigaction, 15 /* SIGTERM */, act, 0, 8);
        SYS(NR_kill, (uint64_t)pid, 15);
    } else if (!strcmp(ending, "segv")) {
        SYS(NR_kill, (uint64_t)pid, 11);
    }
    out("survived\n");
    exit_group(0);
}

static void scenario_amo(void)
{
    uint64_t *host = (uint64_t *)aot_host_addr(cpu, DATA_BUF, 8, 3, SCENARIO_PC);
    *host = 0xabcdef;
    out("amo %lx\n", load(DATA_BUF, 8));
    aot_host_addr(cpu, DATA_BUF + 4, 8, 3, SCENARIO_PC);  /* misaligned: SIGBUS */
}

static void scenario_trap(uint64_t pc, uint32_t cause)
{
    cpu->pc = pc;
    aot_trap(cpu, cause, 0);
}

/* Native recursion standing in for deep guest recursion, with frames smaller than the guard. */
static uint64_t recurse(uint64_t depth)
{
    volatile char frame[60 << 10];
    frame[0] = (char)depth;
    return depth < (1ULL << 40) ? recurse(depth + 1) + frame[0] : 0;  /* overflows long before */
}

/* ---- signal delivery: t_handler is the translation of the guest function `handler` ---- */

#define SIGTRAP_ 5
#define SIGUSR1_ 10
#define SIGUSR2_ 12
#define SIGALRM_ 14
#define SA_SIGINFO_ 4
#define SA_ONSTACK_ 0x08000000
#define SA_RESTART_ 0x10000000
#define SA_RESETHAND_ 0x80000000ULL
#define UC_MCONTEXT 176  /* offsetof(ucontext_t, uc_mcontext) on riscv64 */
#define UC_FPREGS (UC_MCONTEXT + 256)
#define ALTSTACK (G_scratch + 3 * PAGE)

static const char *handler_mode = "";
static int handler_runs;
static int64_t scenario_pid;

static void sigaction_of(int sig, uint64_t handler, uint64_t flags, uint64_t mask)
{
    uint64_t act = DATA_BUF + 512;
    store(act, handler, 8), store(act + 8, flags, 8), store(act + 16, mask, 8);
    SYS(NR_rt_sigaction, (uint64_t)sig, act, 0, 8);
}

static uint64_t current_mask(void)
{
    SYS(NR_rt_sigprocmask, SIG_BLOCK, 0, DATA_BUF + 600, 8);
    return load(DATA_BUF + 600, 8);
}

/* The handler reports what Linux's setup_rt_frame gives it, then edits its frame: rt_sigreturn
 * must restore the edited registers.  In the "async_quiet" scenario it changes nothing. */
uint64_t t_handler(struct aot_cpu *c, uint64_t resume)
{
    (void)resume;
    uint64_t sig = c->x[10], info = c->x[11], uc = c->x[12], sp = c->x[2], ra = c->x[1];
    handler_runs++;
    if (!strcmp(handler_mode, "async_quiet"))
        return ra;
    if (!strcmp(handler_mode, "write_pipe")) {  /* interrupts a read of an empty pipe */
        put_bytes(DATA_BUF + 700, "x", 1);
        uint64_t saved[32];
        memcpy(saved, c->x, sizeof saved);
        SYS(NR_write, c->x[9] /* the pipe's write end, kept in s1 */, DATA_BUF + 700, 1);
        memcpy(c->x, saved, sizeof saved);
        return ra;
    }
    out("handler sig %lu info %d uc %d align %d ra_is_trampoline %d\n", sig, info == sp, uc == sp + 128, sp % 16 == 0,
        load(ra, 4) == 0x08b00893 && load(ra + 4, 4) == 0x00000073);
    out("siginfo signo %lu code %ld addr %lx pid_is_self %d\n", load(info, 4), (int64_t)(int32_t)load(info + 8, 4),
        load(info + 16, 8), (int64_t)load(info + 16, 4) == scenario_pid);
    out("ucontext pc %lx s1 %lx sp_above %d f3 %lx mask %lx now %lx\n", load(uc + UC_MCONTEXT, 8),
        load(uc + UC_MCONTEXT + 9 * 8, 8), load(uc + UC_MCONTEXT + 2 * 8, 8) > sp, load(uc + UC_FPREGS + 3 * 8, 8),
        load(uc + 40, 8), current_mask());
    out("stack on_alt %d ss_flags %ld\n", sp >= ALTSTACK && sp < ALTSTACK + PAGE, (int64_t)(int32_t)load(uc + 24, 4));
    store(uc + UC_MCONTEXT + 9 * 8, 0x7777, 8);  /* s1 */
    if (!strcmp(handler_mode, "skip") || !strcmp(handler_mode, "skip_odd"))  /* past the ebreak; odd: +5 */
        store(uc + UC_MCONTEXT, load(uc + UC_MCONTEXT, 8) + (strcmp(handler_mode, "skip") ? 5 : 4), 8);
    c->x[9] = 0xdead;  /* clobbered: the frame's value must come back */
    return ra;
}

static void scenario_sigframe(const char *how)
{
    int64_t pid = SYS(NR_getpid, 0);
    scenario_pid = pid;
    handler_mode = how;
    if (!strcmp(how, "kill")) {
        sigaction_of(SIGUSR1_, G_handler, SA_SIGINFO_ | SA_RESETHAND_, 1ULL << (SIGUSR2_ - 1));
        cpu->x[9] = 0x5151;
        cpu->f[3] = 0x4008000000000000ULL;
        uint64_t sp = cpu->x[2];
        int64_t r = SYS(NR_kill, (uint64_t)pid, SIGUSR1_);
        out("after kill %ld s1 %lx sp %d mask %lx\n", r, cpu->x[9], cpu->x[2] == sp, current_mask());
        SYS(NR_rt_sigaction, SIGUSR1_, 0, DATA_BUF + 640, 8);
        out("resethand %lu\n", load(DATA_BUF + 640, 8));
    } else if (!strcmp(how, "skip") || !strcmp(how, "skip_odd")) {
        /* a breakpoint whose handler moves the pc past it */
        sigaction_of(SIGTRAP_, G_handler, SA_SIGINFO_, 0);
        cpu->pc = G_breakpoint;
        uint64_t next = aot_trap(cpu, AOT_CAUSE_BREAKPOINT, 0);
        out("after trap next %lx\n", next);
    } else if (!strcmp(how, "altstack")) {
        store(DATA_BUF + 800, ALTSTACK, 8), store(DATA_BUF + 808, 0, 8), store(DATA_BUF + 816, PAGE, 8);
        out("sigaltstack %ld\n", SYS(NR_sigaltstack, DATA_BUF + 800, 0, 0));
        sigaction_of(SIGUSR1_, G_handler, SA_SIGINFO_ | SA_ONSTACK_, 0);
        SYS(NR_kill, (uint64_t)pid, SIGUSR1_);
    } else if (!strcmp(how, "restart") || !strcmp(how, "eintr")) {
        /* SIGALRM interrupts a read of an empty pipe; its handler writes one byte into the pipe. */
        handler_mode = "write_pipe";
        sigaction_of(SIGALRM_, G_handler, !strcmp(how, "restart") ? SA_RESTART_ : 0, 0);
        SYS(NR_pipe2, DATA_BUF, 0);
        uint64_t rd = load(DATA_BUF, 4), wr = load(DATA_BUF + 4, 4);
        cpu->x[9] = wr;
        uint64_t timer = DATA_BUF + 900;  /* it_interval 0, it_value 20 ms */
        store(timer, 0, 8), store(timer + 8, 0, 8), store(timer + 16, 0, 8), store(timer + 24, 20000, 8);
        SYS(NR_setitimer, 0 /* ITIMER_REAL */, timer, 0);
        int64_t n = SYS(NR_read, rd, DATA_BUF + 1000, 16);
        out("read %ld handler_runs %d\n", n, handler_runs);
    } else if (!strcmp(how, "load_fault") || !strcmp(how, "atomic_fault")) {
        /* A slow path meets a fault the guest handles: it returns, and the poll after it (what
         * translated code does) delivers the fault at the access's pc. */
        bool is_load = !strcmp(how, "load_fault");
        sigaction_of(is_load ? 11 : 7, G_handler, SA_SIGINFO_, 0);
        uint64_t value = is_load ? aot_load_slow(cpu, 1ULL << 32, 4, SCENARIO_PC)  /* unmapped */
                                 : aot_host_addr(cpu, DATA_BUF + 2, 4, 3, SCENARIO_PC) != 0;  /* misaligned */
        int pending = cpu->interrupt != 0;
        cpu->pc = SCENARIO_PC;
        uint64_t next = pending ? aot_interrupt(cpu) : 0;
        out("after fault value %lx polled %d next %lx cpu_pc %lx\n", value, pending, next, cpu->pc);
    } else if (!strcmp(how, "async") || !strcmp(how, "async_quiet")) {
        /* A signal that arrives while guest code runs waits for the next poll.  aot_interrupt
         * returns the poll's pc only if the handler changed no register. */
        sigaction_of(SIGUSR1_, G_handler, SA_SIGINFO_, 0);
        kill((int)pid, SIGUSR1_);
        int pending = cpu->interrupt != 0, runs_before = handler_runs;
        cpu->pc = G__start + 8;
        uint64_t next = aot_interrupt(cpu);
        out("poll interrupt %d runs before %d after %d next %lx cpu_pc %lx interrupt now %d\n", pending,
            runs_before, handler_runs, next, cpu->pc, cpu->interrupt);
    } else if (!strcmp(how, "sigsuspend")) {
        /* SIGUSR1 blocked and pending; sigsuspend with an empty mask runs the handler and returns
         * -EINTR with the old mask back. */
        handler_mode = "write_pipe";
        SYS(NR_pipe2, DATA_BUF, 0);
        cpu->x[9] = load(DATA_BUF + 4, 4);
        sigaction_of(SIGUSR1_, G_handler, 0, 0);
        store(DATA_BUF + 960, 1ULL << (SIGUSR1_ - 1), 8);
        SYS(NR_rt_sigprocmask, SIG_BLOCK, DATA_BUF + 960, 0, 8);
        SYS(NR_kill, (uint64_t)pid, SIGUSR1_);
        out("pending_not_run %d\n", handler_runs);
        store(DATA_BUF + 968, 0, 8);
        int64_t r = SYS(NR_rt_sigsuspend, DATA_BUF + 968, 8);
        out("sigsuspend %ld handler_runs %d mask %lx\n", r, handler_runs, current_mask());
    }
    exit_group(0);
}

static uint64_t run_scenario(const char *name, const char *arg)
{
    if (!strcmp(name, "stack")) scenario_stack();
    if (!strcmp(name, "exit")) scenario_exit();
    if (!strcmp(name, "image")) return scenario_image();
    if (!strcmp(name, "write_text")) store(G__start, 0x00010001 /* c.nop c.nop */, 4), out("wrote text\n"), exit_group(0);
    if (!strcmp(name, "brk")) scenario_brk();
    if (!strcmp(name, "mmap")) scenario_mmap(arg);
    if (!strcmp(name, "mapfile")) scenario_mapfile(arg);
    if (!strcmp(name, "shared")) scenario_shared(arg);
    if (!strcmp(name, "mremap_move")) scenario_mremap_move();
    if (!strcmp(name, "stat")) scenario_stat(arg);
    if (!strcmp(name, "enosys")) scenario_enosys();
    if (!strcmp(name, "io")) scenario_io(arg);
    if (!strcmp(name, "signals")) scenario_signals(arg);
    if (!strcmp(name, "sigframe")) scenario_sigframe(arg);
    if (!strcmp(name, "amo")) scenario_amo();
    if (!strcmp(name, "amo_readonly")) aot_host_addr(cpu, G_greeting, 4, 3, SCENARIO_PC);
    if (!strcmp(name, "illegal32")) scenario_trap(G_illegal32, AOT_CAUSE_ILLEGAL_INSTRUCTION);
    if (!strcmp(name, "illegal16")) scenario_trap(G_illegal16, AOT_CAUSE_ILLEGAL_INSTRUCTION);
    if (!strcmp(name, "ebreak")) scenario_trap(G_breakpoint, AOT_CAUSE_BREAKPOINT);
    if (!strcmp(name, "csr")) out("csr %d\n", aot_csr_read(cpu, 0xc01) > 0), aot_csr_read(cpu, 0x7c0);
    if (!strcmp(name, "miss")) return G__start + 2;
    if (!strcmp(name, "jump_null")) return 0;
    if (!strcmp(name, "jump_data")) return G_counter;
    if (!strcmp(name, "host_fault")) *(volatile int *)16 = 1;
    if (!strcmp(name, "host_stack_overflow")) recurse(0);
    out("unknown scenario %s\n", name);
    exit_group(99);
    return 0;
}

uint64_t t_start(struct aot_cpu *c, uint64_t resume)
{
    cpu = c;
    if (resume == 1) {
        out("resumed at %lx\n", cpu->pc);
        exit_group(0);
    }
    char name[64] = "", arg[PAGE] = "";
    if (load(cpu->x[2], 8) > 1)
        get_string(guest_argv(1), name, sizeof name);
    if (load(cpu->x[2], 8) > 2)
        get_string(guest_argv(2), arg, sizeof arg);
    return run_scenario(name, arg);
}

/* callee: li a0, 42; ret */
uint64_t t_callee(struct aot_cpu *c, uint64_t resume)
{
    (void)resume;
    c->x[10] = 42;
    return c->x[1];
}
