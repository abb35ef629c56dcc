/* The fallback JIT: code that static discovery missed (or that the guest generated) is translated
 * while the guest runs, by a worker process running the same lifter (aotbuilder/jit/), started
 * on the first miss.  The messages are described once, in aotbuilder/abi.py (JIT_*).
 *
 * Misses inside the guest program's own code are also appended to the learned-entries file next
 * to the executable (<executable>.learned, one "<guest digest> 0x<pc>" line each); the next build
 * of the same guest takes them as roots, so its next run needs no JIT for them. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mmu.h"

/* The worker's socket lives far above the descriptors guests use (shells dup2 onto low ones). */
#define JIT_FD_FLOOR 900
/* The largest region sent: executable memory around the pc, within one mapping. */
#define JIT_REGION_MAX (16ULL << 20)

static struct {
    pid_t pid;      /* 0: not started */
    int fd;         /* our end of the socket that is its stdin and stdout */
    bool failed;    /* it could not start: later misses fail at once */
} worker;

static char exe_path[PATH_MAX];  /* this executable, for the worker and the learned file */

void jit_init(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = 0;
}

void jit_forget_worker(void)
{
    if (worker.pid > 0)
        close(worker.fd);
    worker.pid = 0;
}


int jit_owned_fd(void) { return worker.pid > 0 ? worker.fd : -1; }

int jit_move_fd(void)
{
    int moved = fcntl(worker.fd, F_DUPFD_CLOEXEC, JIT_FD_FLOOR);
    if (moved < 0)
        return -1;
    close(worker.fd);
    worker.fd = moved;
    return 0;
}

/* All of len bytes to (sending) or from the worker's socket; false if it went away. */
static bool transfer(void *buf, size_t len, bool sending)
{
    unsigned char *p = buf;
    while (len) {
        /* MSG_NOSIGNAL: a dead worker is an error, not SIGPIPE */
        ssize_t n = sending ? send(worker.fd, p, len, MSG_NOSIGNAL) : recv(worker.fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n, len -= (size_t)n;
    }
    return true;
}

static bool receive(void *buf, size_t len) { return transfer(buf, len, false); }
static bool send_all(const void *buf, size_t len) { return transfer((void *)buf, len, true); }

static const char worker_launcher[] =
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from aotbuilder.jit.worker import main; main()";

/* Starts the worker.  It is a clone without an exit signal: the guest's wait4(-1) and SIGCHLD
 * handlers never see it. */
static bool start_worker(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return false;
    pid_t pid = (pid_t)syscall(SYS_clone, 0UL, 0UL, 0UL, 0UL, 0UL);
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        const char *args[] = { aot_build_python, "-c", worker_launcher, aot_build_root, exe_path, NULL };
        extern char **environ;
        execve(aot_build_python, (char *const *)args, environ);
        _exit(127);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return false;
    }
    worker.pid = pid;
    worker.fd = fcntl(sv[0], F_DUPFD_CLOEXEC, JIT_FD_FLOOR);
    close(sv[0]);
    uint64_t hello = 0;
    if (worker.fd < 0 || !receive(&hello, 8) || hello != AOT_JIT_HELLO) {
        jit_forget_worker();
        return false;
    }
    return true;
}

_Noreturn static void cannot_translate(uint64_t pc, const char *why)
{
    char where[256];
    describe_guest_pc(where, sizeof where, pc);
    report("aotbuilder: no translation for guest pc %s, and the fallback JIT %s\n", where, why);
    die_of_signal(SIGILL);
}

/* The executable guest memory around pc that one mapping holds, up to JIT_REGION_MAX. */
static void region_around(uint64_t pc, uint64_t *lo, uint64_t *hi)
{
    uint64_t first = pt_get(pc >> AOT_PAGE_SHIFT);
    uint64_t start = page_down(pc), end = start + AOT_PAGE_SIZE;
    while (end - start < JIT_REGION_MAX) {
        uint64_t pte = pt_get(end >> AOT_PAGE_SHIFT);
        if (!(pte & PTE_X) || (pte & PTE_SHARED_FILE) != (first & PTE_SHARED_FILE))
            break;
        end += AOT_PAGE_SIZE;
    }
    while (end - start < JIT_REGION_MAX && start > AOT_PAGE_SIZE) {
        uint64_t pte = pt_get((start - AOT_PAGE_SIZE) >> AOT_PAGE_SHIFT);
        if (!(pte & PTE_X))
            break;
        start -= AOT_PAGE_SIZE;
    }
    *lo = start;
    *hi = end;
}

static void remember_learned(uint64_t pc)
{
    if (!exe_path[0] || pc < guest_image_low || pc >= guest_image_high)
        return;  /* generated code: nothing a build could translate */
    char path[PATH_MAX + 16], line[128];
    snprintf(path, sizeof path, "%s.learned", exe_path);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;  /* a read-only place: the next run translates it again */
    int n = snprintf(line, sizeof line, "%s 0x%" PRIx64 "\n", aot_guest_digest, pc);
    if (write(fd, line, (size_t)n) != n)  /* O_APPEND: one short line lands whole or not at all */
        report("aotbuilder: cannot record a learned entry in %s\n", path);
    close(fd);
}

void jit_start_early(void)
{
    if (!worker.pid && !worker.failed)
        worker.failed = !start_worker();
}

void jit_translate(struct aot_cpu *cpu, uint64_t pc)
{
    (void)cpu;
    uint64_t start = monotonic_ns();  /* the worker's start-up is JIT time too */
    jit_start_early();
    if (worker.failed)
        cannot_translate(pc, "could not start (it runs the aotbuilder that built this program: "
                             "reinstall it, or rebuild the program with `aotbuilder build` on this machine)");
    uint64_t lo, hi;
    region_around(pc, &lo, &hi);
    unsigned char *bytes = malloc(hi - lo);
    if (!bytes || guest_fetch(lo, bytes, hi - lo) != 0)
        fatal_error("cannot read the guest code around pc 0x%" PRIx64 " for the JIT", pc);
    uint64_t request[3] = { pc, lo, hi - lo };
    int64_t size = 0;
    bool ok = send_all(request, sizeof request) && send_all(bytes, hi - lo) &&
              receive(&size, 8);
    free(bytes);
    if (!ok)
        cannot_translate(pc, "stopped unexpectedly");
    if (size < 0) {
        uint64_t len = 0;
        char message[1024] = "";  /* the rest of a longer one is not read: the process ends */
        if (!receive(&len, 8) || !receive(message, len < sizeof message ? len : sizeof message - 1))
            cannot_translate(pc, "stopped unexpectedly");
        char why[1100];
        snprintf(why, sizeof why, "failed: %s", message);
        cannot_translate(pc, why);
    }
    struct jit_unit *unit = code_cache_alloc((uint64_t)size);
    uint64_t base = (uint64_t)(uintptr_t)jit_unit_code(unit), n_entries = 0, n_ranges = 0;
    struct aot_entry *entries = NULL;
    uint64_t (*ranges)[2] = NULL;
    /* The worker's rows are struct aot_entry as they lie in memory (abi.ENTRY_SIZE). */
    ok = send_all(&base, 8) && receive(&n_entries, 8) &&
         (entries = calloc(n_entries ? n_entries : 1, sizeof *entries)) != NULL &&
         receive(entries, n_entries * sizeof *entries);
    ok = ok && receive(&n_ranges, 8) && (ranges = calloc(n_ranges ? n_ranges : 1, sizeof *ranges));
    ok = ok && receive(ranges, n_ranges * sizeof *ranges) &&
         receive(jit_unit_code(unit), (size_t)size);
    if (!ok) {
        code_cache_discard(unit);
        cannot_translate(pc, "stopped unexpectedly");
    }
    code_cache_install(unit, entries, n_entries, ranges, n_ranges);
    code_cache_stats.jit_compiles++;
    code_cache_stats.jit_ns += monotonic_ns() - start;
    remember_learned(pc);
}
