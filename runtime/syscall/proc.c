/* Process and thread identity, limits, system information, futexes, randomness. */
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "syscall.h"

/* With one guest thread, ending it ends the process, as on Linux. */
SYSCALL(exit) { stats_write(); syscall(SYS_exit_group, (int)a[0]); __builtin_unreachable(); }
SYSCALL(exit_group) { stats_write(); syscall(SYS_exit_group, (int)a[0]); __builtin_unreachable(); }

SYSCALL(getpid) { return getpid(); }
SYSCALL(getppid) { return getppid(); }
/* The guest's thread ids are its own: the initial thread's is the pid, as on Linux, although
 * the host thread running it is not the process's initial thread. */
SYSCALL(gettid) { return thread_of(cpu)->tid; }
SYSCALL(getuid) { return getuid(); }
SYSCALL(geteuid) { return geteuid(); }
SYSCALL(getgid) { return getgid(); }
SYSCALL(getegid) { return getegid(); }

SYSCALL(getresuid)
{
    uid_t id[3];
    getresuid(&id[0], &id[1], &id[2]);
    for (int i = 0; i < 3; i++)
        if (guest_write(a[i], &id[i], sizeof id[i]) != 0)
            return -EFAULT;
    return 0;
}

SYSCALL(getresgid)
{
    gid_t id[3];
    getresgid(&id[0], &id[1], &id[2]);
    for (int i = 0; i < 3; i++)
        if (guest_write(a[i], &id[i], sizeof id[i]) != 0)
            return -EFAULT;
    return 0;
}

SYSCALL(set_tid_address)
{
    thread_of(cpu)->clear_child_tid = a[0];
    return thread_of(cpu)->tid;
}

#define ROBUST_LIST_HEAD_SIZE 24

SYSCALL(set_robust_list)
{
    if (a[1] != ROBUST_LIST_HEAD_SIZE)
        return -EINVAL;
    thread_of(cpu)->robust_list = a[0];
    return 0;
}

/* Restartable sequences need the kernel to know the guest's pc; libcs fall back without them. */
SYSCALL(rseq) { return -ENOSYS; }

/* The guest names itself by its own pid or tid; the host calls want 0 for "this process". */
static pid_t host_pid(struct aot_cpu *cpu, int64_t pid)
{
    return pid == thread_of(cpu)->tid ? 0 : (pid_t)pid;
}

SYSCALL(prlimit64)
{
    struct rlimit limit, old;
    if (a[2] && guest_read(a[2], &limit, sizeof limit) != 0)
        return -EFAULT;
    int64_t r = host_result(syscall(SYS_prlimit64, host_pid(cpu, (int64_t)a[0]), (int)a[1],
                                    a[2] ? &limit : NULL, a[3] ? &old : NULL));
    return copy_out_optional(r, a[3], &old, sizeof old);
}

SYSCALL(getrlimit)
{
    struct rlimit limit;
    return copy_out(host_result(syscall(SYS_getrlimit, (int)a[0], &limit)), a[1], &limit, sizeof limit);
}

SYSCALL(setrlimit)
{
    struct rlimit limit;
    if (guest_read(a[1], &limit, sizeof limit) != 0)
        return -EFAULT;
    return host_result(syscall(SYS_setrlimit, (int)a[0], &limit));
}

SYSCALL(uname)
{
    struct utsname u;
    if (uname(&u) != 0)
        return -errno;
    strncpy(u.machine, "riscv64", sizeof u.machine);
    return copy_out(0, a[0], &u, sizeof u);
}

SYSCALL(sysinfo)
{
    struct sysinfo info;
    return copy_out(host_result(sysinfo(&info)), a[0], &info, sizeof info);
}

SYSCALL(getrusage)
{
    struct rusage usage;
    return copy_out(host_result(getrusage((int)a[0], &usage)), a[1], &usage, sizeof usage);
}

_Static_assert(sizeof(struct rlimit) == 16 && sizeof(struct sysinfo) == 112 && sizeof(struct rusage) == 144 &&
               sizeof(struct utsname) == 390, "these structures have the same layout on riscv64");

SYSCALL(sched_yield) { return host_result(sched_yield()); }

#define MAX_CPU_MASK 1024

SYSCALL(sched_getaffinity)
{
    unsigned char mask[MAX_CPU_MASK];
    uint64_t size = a[1] < MAX_CPU_MASK ? a[1] : MAX_CPU_MASK;
    int64_t n = host_result(syscall(SYS_sched_getaffinity, host_pid(cpu, (int64_t)a[0]), size, mask));
    return copy_out(n, a[2], mask, n > 0 ? (size_t)n : 0);
}

/* Futexes work on the host addresses of the guest words, so the host kernel does the waiting and
 * waking (and will between guest threads). */
SYSCALL(futex)
{
    int op = (int)a[1];
    uint32_t val = (uint32_t)a[2], val3 = (uint32_t)a[5];
    void *word = guest_host_ptr(a[0], sizeof(uint32_t), PTE_R);
    struct timespec timeout;
    if (!word)
        return -EFAULT;
    switch (op & FUTEX_CMD_MASK) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
        if (a[3] && guest_read(a[3], &timeout, sizeof timeout) != 0)
            return -EFAULT;
        return host_result(syscall(SYS_futex, word, op, val, a[3] ? &timeout : NULL, NULL, val3));
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
        return host_result(syscall(SYS_futex, word, op, val, NULL, NULL, val3));
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE:
    case FUTEX_WAKE_OP: {
        uint64_t need = (op & FUTEX_CMD_MASK) == FUTEX_WAKE_OP ? PTE_R | PTE_W : PTE_R;
        void *word2 = guest_host_ptr(a[4], sizeof(uint32_t), need);
        if (!word2)
            return -EFAULT;
        /* a[3] is a count here (val2), not a pointer. */
        return host_result(syscall(SYS_futex, word, op, val, a[3], word2, val3));
    }
    default:
        return -ENOSYS;
    }
}

SYSCALL(membarrier) { return host_result(syscall(SYS_membarrier, (int)a[0], (unsigned)a[1], (int)a[2])); }

#define RANDOM_CHUNK 4096

SYSCALL(getrandom)
{
    unsigned char chunk[RANDOM_CHUNK];
    uint64_t done = 0, len = a[1];
    while (done < len) {
        size_t want = len - done < RANDOM_CHUNK ? len - done : RANDOM_CHUNK;
        ssize_t got = getrandom(chunk, want, (unsigned)a[2]);
        if (got < 0)
            return done ? (int64_t)done : -errno;
        if (guest_write(a[0] + done, chunk, (size_t)got) != 0)
            return done ? (int64_t)done : -EFAULT;
        done += (uint64_t)got;
        if ((size_t)got < want)
            break;
    }
    return (int64_t)done;
}

/* Not needed: libcs probe it and fall back to AT_HWCAP. */
SYSCALL(riscv_hwprobe) { return -ENOSYS; }
/* Translations are made ahead of time from the image; nothing to flush. */
SYSCALL(riscv_flush_icache) { return 0; }
