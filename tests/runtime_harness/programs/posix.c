/* A guest program for tests/test_runtime_programs.py: files, processes and signals through libc,
 * run translated and under qemu-riscv64 (the oracle), output compared.  Output never contains
 * pids, times or addresses.  Usage: posix MODE [DIR] */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *dir)
{
    char *names[64];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    printf("dir:");
    for (int i = 0; i < n; i++) {
        struct stat st;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        lstat(path, &st);
        printf(" %s(%s%lld,%o)", names[i], S_ISDIR(st.st_mode) ? "d" : S_ISLNK(st.st_mode) ? "l" : "",
               (long long)st.st_size, (unsigned)(st.st_mode & 0777));
        free(names[i]);
    }
    printf("\n");
}

static int files(const char *dir)
{
    char a[512], b[512], sub[512], link[512], target[512];
    snprintf(a, sizeof a, "%s/a.txt", dir);
    snprintf(b, sizeof b, "%s/b.txt", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    umask(022);
    FILE *f = fopen(a, "w");
    for (int i = 0; i < 1000; i++)
        fprintf(f, "line %d\n", i);
    fclose(f);
    printf("mkdir %d\n", mkdir(sub, 0750));
    printf("rename %d\n", rename(a, b));
    printf("symlink %d\n", symlink("b.txt", link));
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    printf("readlink %zd %s\n", n, target);
    int fd = open(b, O_RDWR);
    char buf[32] = "";
    lseek(fd, 7000, SEEK_SET);
    printf("pread %zd ", pread(fd, buf, 10, 10));
    printf("[%.10s]\n", buf);
    printf("truncate %d\n", ftruncate(fd, 100));
    struct stat st;
    fstat(fd, &st);
    printf("size %lld nlink %ld\n", (long long)st.st_size, (long)st.st_nlink);
    close(fd);
    printf("chmod %d\n", chmod(b, 0600));
    printf("access %d %d\n", access(b, R_OK), access(sub, X_OK));
    printf("open_missing %d errno %d\n", open(a, O_RDONLY), errno);
    printf("rmdir_nonempty %d\n", rmdir(dir) == 0 ? 0 : errno);
    list_dir(dir);
    printf("chdir %d ", chdir(sub));
    char cwd[512];
    printf("cwd_tail %s\n", strrchr(getcwd(cwd, sizeof cwd), '/'));
    printf("unlink %d %d rmdir %d\n", unlink(b), unlink(link), rmdir(sub));
    list_dir(dir);
    return 0;
}

static int processes(const char *self)
{
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dprintf(p[1], "hello from the child\n");
        _exit(3);
    }
    close(p[1]);
    char buf[64] = "";
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    int status;
    printf("read %zd %s", n, buf);
    printf("waitpid %d exited %d status %d\n", waitpid(pid, &status, 0) == pid, WIFEXITED(status),
           WEXITSTATUS(status));
    pid = fork();
    if (pid == 0) {
        raise(SIGTERM);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));

    /* vfork + execve of this program (translated again) and of a host program */
    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        char *argv[] = { "renamed-argv0", "child", "x y", NULL };
        char *envp[] = { "ONLY=this", NULL };
        execve(self, argv, envp);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    printf("exec self status %d\n", WEXITSTATUS(status));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "echo native sh says $0 $1", "zero", "one", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    printf("exec host status %d\n", WEXITSTATUS(status));
    printf("exec missing %d errno %d\n", execl("/nonexistent/prog", "x", (char *)NULL), errno);
    printf("wait_none %d errno %d\n", wait(&status), errno);
    return 0;
}

static int child(int argc, char **argv, char **envp)
{
    printf("child argc %d argv0 %s argv2 %s env %s", argc, argv[0], argv[2], envp[0]);
    printf(" envc %d\n", envp[1] == NULL);
    return 5;
}

/* ---- signals ---- */

static volatile sig_atomic_t got[65];
static volatile int last_code;
static sigjmp_buf jump;

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    got[sig]++;
    last_code = info->si_code;
}

static void jump_out(int sig)
{
    got[sig]++;
    siglongjmp(jump, sig);
}

static void handle(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static int signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("raise: handled %d code %d\n", got[SIGUSR1], last_code);

    sigset_t set, pending, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    kill(getpid(), SIGUSR1);
    sigpending(&pending);
    printf("blocked: handled %d pending %d\n", got[SIGUSR1], sigismember(&pending, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: handled %d\n", got[SIGUSR1]);

    /* SIGALRM with the timer; pause returns after the handler */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { 0, 20000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    int r = pause();
    printf("pause %d errno %d alarms %d\n", r, errno, got[SIGALRM]);

    /* a handler that leaves with siglongjmp, from a system call */
    handle(SIGUSR2, jump_out, 0);
    int where = sigsetjmp(jump, 1);
    if (where == 0) {
        raise(SIGUSR2);
        printf("not reached\n");
    }
    sigprocmask(SIG_BLOCK, NULL, &old);
    printf("longjmp from %d, usr2 blocked after %d\n", where, sigismember(&old, SIGUSR2));

    /* SIGCHLD */
    sigaction(SIGCHLD, &sa, NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    printf("sigchld %d code %d\n", got[SIGCHLD], last_code);

    /* SIG_IGN'd SIGPIPE: write gets EPIPE */
    handle(SIGPIPE, SIG_IGN, 0);
    int p[2];
    pipe(p);
    close(p[0]);
    printf("epipe %zd errno %d\n", write(p[1], "x", 1), errno);

    /* sigaltstack */
    static char altstack[1 << 16];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    handle(SIGUSR2, jump_out, SA_ONSTACK);
    if (sigsetjmp(jump, 1) == 0)
        raise(SIGUSR2);
    printf("altstack usr2 %d\n", got[SIGUSR2]);
    fflush(stdout);
    handle(SIGUSR1, SIG_DFL, 0);
    abort();
}

static int segv(void)
{
    handle(SIGSEGV, jump_out, 0);
    for (int i = 0; i < 3; i++) {
        if (sigsetjmp(jump, 1) == 0) {
            *(volatile int *)(uintptr_t)(16 + i) = 1;
            printf("not reached\n");
        }
        printf("segv %d caught %d\n", i, got[SIGSEGV]);
    }
    return 0;
}

/* Faults a handler repairs (the pattern of garbage collectors' barriers and guard pages): the
 * handler makes the page accessible and returns, so the faulting access runs again.  That only
 * works if the guest state at the fault is exact: pc, registers, and si_addr. */
static char *guard_page;
static volatile int repairs, repair_prot;
static volatile uintptr_t fault_addr, fault_pc;
static volatile int fault_code;

static void repair(int sig, siginfo_t *si, void *context)
{
    (void)sig;
    ucontext_t *uc = context;
    repairs++;
    fault_addr = (uintptr_t)si->si_addr;
    fault_code = si->si_code;
    fault_pc = uc->uc_mcontext.__gregs[REG_PC];
    mprotect(guard_page, 4096, repair_prot);
}

__attribute__((noinline)) static long poke_loop(char *p, long n)
{
    long acc = 7, other = 3;
    for (long i = 0; i < n; i++) {
        acc = acc * 31 + i;
        other ^= acc >> 3;
        if (i == n / 2)
            p[i & 63] = (char)acc;
    }
    return acc + other;
}

__attribute__((noinline)) static long peek_loop(const char *p, long n)
{
    long acc = 5;
    for (long i = 0; i < n; i++)
        acc = acc * 17 + (i == n / 3 ? p[9] : i);
    return acc;
}

static int in_function(uintptr_t pc, void *fn)
{
    return pc >= (uintptr_t)fn && pc < (uintptr_t)fn + 512;
}

static int guard(void)
{
    guard_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = repair;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    repair_prot = PROT_READ | PROT_WRITE;
    long r = poke_loop(guard_page, 1000);
    printf("store to none: result %ld stored %d repairs %d addr+%ld code %d pc-in-poke %d\n", r, guard_page[(1000 / 2) & 63],
           repairs, (long)(fault_addr - (uintptr_t)guard_page), fault_code, in_function(fault_pc, (void *)poke_loop));

    guard_page[9] = 42;
    mprotect(guard_page, 4096, PROT_NONE);
    repair_prot = PROT_READ;
    r = peek_loop(guard_page, 1000);
    printf("load from none: result %ld repairs %d addr+%ld code %d pc-in-peek %d\n", r, repairs,
           (long)(fault_addr - (uintptr_t)guard_page), fault_code, in_function(fault_pc, (void *)peek_loop));

    repair_prot = PROT_READ | PROT_WRITE;
    r = poke_loop(guard_page, 2000);
    printf("store to read-only: result %ld stored %d repairs %d addr+%ld code %d\n", r, guard_page[(2000 / 2) & 63],
           repairs, (long)(fault_addr - (uintptr_t)guard_page), fault_code);

    return 0;
}

/* Memory moved out of the direct window (above 2^38) and back, with its protection changed on
 * the way: the host memory must follow the guest's permissions wherever it goes. */
static int remap(void)
{
    char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(a, "hello");
    strcpy(a + 4096, "world");
    mprotect(a, 8192, PROT_READ);
    void *high = (void *)(uintptr_t)0x5000000000ULL;
    char *b = mremap(a, 8192, 8192, MREMAP_MAYMOVE | MREMAP_FIXED, high);
    if (b == MAP_FAILED)
        return printf("mremap high errno %d\n", errno), 1;
    printf("moved %d %s %s\n", b == high, b, b + 4096);
    printf("mprotect %d\n", mprotect(b, 8192, PROT_READ | PROT_WRITE));
    b[1] = 'E';
    b[4097] = 'O';
    printf("%s %s\n", b, b + 4096);
    char *c = mremap(b, 8192, 4096, MREMAP_MAYMOVE);
    printf("shrunk %s\n", c);
    char *d = mremap(c, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x20000000);
    printf("back %d %s\n", d == (void *)0x20000000, d);
    d[0] = 'J';
    printf("%s\n", d);
    return 0;
}

/* Loads and stores whose base register is on one side of an edge of aotbuilder's direct window
 * (guest addresses 0 and 2^38) and whose address, base + offset, is on the other: each reaches the
 * guest's memory or faults exactly as its address says.  The offsets are in the instructions. */
static uintptr_t segv_addr;

static void note_segv(int sig, siginfo_t *si, void *context)
{
    (void)context;
    got[sig]++;
    segv_addr = (uintptr_t)si->si_addr;
    siglongjmp(jump, sig);
}

static long load_minus16(uintptr_t base)
{
    long v;
    __asm__ volatile("ld %0, -16(%1)" : "=r"(v) : "r"(base) : "memory");
    return v;
}

static long load_plus16(uintptr_t base)
{
    long v;
    __asm__ volatile("ld %0, 16(%1)" : "=r"(v) : "r"(base) : "memory");
    return v;
}

static void store_minus16(uintptr_t base, long v)
{
    __asm__ volatile("sd %0, -16(%1)" : : "r"(v), "r"(base) : "memory");
}

static void store_plus16(uintptr_t base, long v)
{
    __asm__ volatile("sw %0, 16(%1)" : : "r"(v), "r"(base) : "memory");
}

static void expect_segv(const char *what, void (*access)(uintptr_t), uintptr_t base)
{
    if (sigsetjmp(jump, 1) == 0) {
        access(base);
        printf("%s: no fault\n", what);
        return;
    }
    printf("%s: SIGSEGV at %#lx\n", what, (unsigned long)segv_addr);
}

static void read_below(uintptr_t base) { load_minus16(base); }
static void write_below(uintptr_t base) { store_minus16(base, 1); }
static void read_above(uintptr_t base) { load_plus16(base); }
static void write_above(uintptr_t base) { store_plus16(base, 1); }

static int edges(void)
{
    const uintptr_t limit = (uintptr_t)1 << 38;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = note_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    expect_segv("load 8-16", read_below, 8);
    expect_segv("store 8-16", write_below, 8);
    expect_segv("load limit-8+16", read_above, limit - 8);
    expect_segv("store limit-8+16", write_above, limit - 8);
    long *low = mmap((void *)(limit - 4096), 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    long *high = mmap((void *)limit, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (low != (long *)(limit - 4096) || high != (long *)limit)
        return printf("mmap at the window's top failed\n"), 1;
    store_plus16(limit - 8, 0x1234);      /* high[1] */
    store_minus16(limit + 8, 0x5678);     /* low[511] */
    low[510] = 77;
    high[2] = 99;
    printf("stored across: high %ld low %ld\n", high[1], low[511]);
    printf("loaded across: %ld %ld\n", load_minus16(limit), load_plus16(limit - 16 + 8));
    expect_segv("load 8-16 again", read_below, 8);
    return 0;
}

/* A loop that makes no system call: the signal arrives at a poll of translated code. */
static int spin(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { 0, 20000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    unsigned long spins = 0;
    while (!got[SIGALRM])
        spins++;
    printf("spun until SIGALRM: %d code %d\n", got[SIGALRM], last_code);
    return spins == 0;
}

static int proc_files(char **argv)
{
    char exe[512], real[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    printf("exe_is_argv0 %d\n", realpath(argv[0], real) && !strcmp(exe, real));
    printf("execfn_is_argv0 %d\n", !strcmp((const char *)getauxval(AT_EXECFN), argv[0]));
    printf("pagesz %lu hwcap %lx\n", getauxval(AT_PAGESZ), getauxval(AT_HWCAP));
    FILE *f = fopen("/proc/self/auxv", "rb");
    unsigned long pair[2], pagesz = 0;
    while (f && fread(pair, sizeof pair, 1, f) == 1 && pair[0])
        if (pair[0] == AT_PAGESZ)
            pagesz = pair[1];
    printf("proc auxv pagesz %lu\n", pagesz);
    return 0;
}

int main(int argc, char **argv, char **envp)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "files")) return files(argv[2]);
    if (!strcmp(mode, "processes")) return processes(argv[0]);
    if (!strcmp(mode, "child")) return child(argc, argv, envp);
    if (!strcmp(mode, "signals")) return signals();
    if (!strcmp(mode, "segv")) return segv();
    if (!strcmp(mode, "guard")) return guard();
    if (!strcmp(mode, "remap")) return remap();
    if (!strcmp(mode, "edges")) return edges();
    if (!strcmp(mode, "spin")) return spin();
    if (!strcmp(mode, "proc")) return proc_files(argv);
    if (!strcmp(mode, "random")) {
        const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
        for (int i = 0; i < 16; i++)
            printf("%02x", r[i]);
        printf("\n");
        return 0;
    }
    if (!strcmp(mode, "exec") && argc > 2) {
        execv(argv[2], argv + 2);
        printf("execv %s errno %d\n", argv[2], errno);
        return 127;
    }
    return 99;
}
