/* Processes: fork (clone), wait, execve, sessions and process groups, credentials.
 *
 * fork of the runtime process is a fork of the translated guest: the child gets a copy of the
 * guest's memory (host MAP_PRIVATE memory is copied on write, MAP_SHARED memory stays shared), of
 * its registers and of the runtime's tables, and of the host stack the guest thread runs on. */
#include <fcntl.h>
#include <linux/sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscall.h"

/* Threads (CLONE_VM without CLONE_VFORK) are not supported yet; vfork is a fork, which only
 * differs in that the parent does not wait for the child's execve or exit. */
SYSCALL(clone)
{
    uint64_t flags = a[0], newsp = a[1], parent_tid = a[2], tls = a[3], child_tid = a[4];
    if ((flags & CLONE_THREAD) || ((flags & CLONE_VM) && !(flags & CLONE_VFORK)))
        return -ENOSYS;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    struct guest_thread *t = thread_of(cpu);
    if (pid == 0) {
        jit_forget_worker();
        t->tid = getpid();
        t->host_tid = gettid();
        forget_pending_signals(cpu);
        if (newsp)
            cpu->x[2] = newsp;
        if (flags & CLONE_SETTLS)
            cpu->x[4] = tls;
        if (flags & CLONE_CHILD_SETTID)
            guest_write(child_tid, &t->tid, sizeof(int32_t));
        if (flags & CLONE_CHILD_CLEARTID)
            t->clear_child_tid = child_tid;
        return 0;
    }
    if (flags & CLONE_PARENT_SETTID)
        guest_write(parent_tid, &pid, sizeof pid);
    return pid;
}

/* glibc and musl fall back to clone. */
SYSCALL(clone3) { return -ENOSYS; }

_Static_assert(sizeof(siginfo_t) == 128 && sizeof(struct rusage) == 144, "waitid/wait4 structures: same layout");

SYSCALL(wait4)
{
    int status;
    struct rusage usage;
    int64_t r = host_result(wait4((pid_t)a[0], &status, (int)a[2], a[3] ? &usage : NULL));
    if (r > 0 && a[1] && guest_write(a[1], &status, sizeof status) != 0)
        return -EFAULT;
    return copy_out_optional(r, a[3], &usage, sizeof usage);
}

SYSCALL(waitid)
{
    siginfo_t info;
    struct rusage usage;
    memset(&info, 0, sizeof info);
    int64_t r = host_result(syscall(SYS_waitid, (int)a[0], (pid_t)a[1], &info, (int)a[3], a[4] ? &usage : NULL));
    r = copy_out_optional(r, a[2], &info, sizeof info);
    return copy_out_optional(r, a[4], &usage, sizeof usage);
}

SYSCALL(setpgid) { return host_result(setpgid((pid_t)a[0], (pid_t)a[1])); }
SYSCALL(getpgid) { return host_result(getpgid((pid_t)a[0])); }
SYSCALL(getsid) { return host_result(getsid((pid_t)a[0])); }
SYSCALL(setsid) { return host_result(setsid()); }

/* Credentials change for the calling host thread only (the raw system calls, not libc's, which
 * would signal every thread): the guest's is the only one that runs guest code. */
SYSCALL(setuid) { return host_result(syscall(SYS_setuid, (uid_t)a[0])); }
SYSCALL(setgid) { return host_result(syscall(SYS_setgid, (gid_t)a[0])); }
SYSCALL(setreuid) { return host_result(syscall(SYS_setreuid, (uid_t)a[0], (uid_t)a[1])); }
SYSCALL(setregid) { return host_result(syscall(SYS_setregid, (gid_t)a[0], (gid_t)a[1])); }
SYSCALL(setresuid) { return host_result(syscall(SYS_setresuid, (uid_t)a[0], (uid_t)a[1], (uid_t)a[2])); }
SYSCALL(setresgid) { return host_result(syscall(SYS_setresgid, (gid_t)a[0], (gid_t)a[1], (gid_t)a[2])); }
SYSCALL(setfsuid) { return syscall(SYS_setfsuid, (uid_t)a[0]); }
SYSCALL(setfsgid) { return syscall(SYS_setfsgid, (gid_t)a[0]); }

#define MAX_GROUPS 65536

SYSCALL(getgroups)
{
    int size = (int)a[0];
    if (size < 0)
        return -EINVAL;
    gid_t *groups = malloc(sizeof(gid_t) * (size ? (size_t)size : 1));
    if (!groups)
        return -ENOMEM;
    int64_t n = host_result(syscall(SYS_getgroups, size, groups));
    if (n > 0 && size)
        n = copy_out(n, a[1], groups, (size_t)n * sizeof(gid_t));
    free(groups);
    return n;
}

SYSCALL(setgroups)
{
    uint64_t n = a[0];
    if (n > MAX_GROUPS)
        return -EINVAL;
    gid_t *groups = malloc(sizeof(gid_t) * (n ? n : 1));
    if (!groups)
        return -ENOMEM;
    int64_t r = guest_read(a[1], groups, n * sizeof(gid_t)) ? -EFAULT
                                                             : host_result(syscall(SYS_setgroups, n, groups));
    free(groups);
    return r;
}

SYSCALL(getpriority) { return host_result(syscall(SYS_getpriority, (int)a[0], (id_t)a[1])); }
SYSCALL(setpriority) { return host_result(syscall(SYS_setpriority, (int)a[0], (id_t)a[1], (int)a[2])); }

/* The process-wide prctl options programs use; the rest would act on the runtime. */
SYSCALL(prctl)
{
    char name[16];
    switch ((int)a[0]) {
    case PR_SET_NAME:
        if (guest_read_string(a[1], name, sizeof name) == -EFAULT)
            return -EFAULT;
        name[sizeof name - 1] = 0;
        return host_result(prctl(PR_SET_NAME, name));
    case PR_GET_NAME:
        return copy_out(host_result(prctl(PR_GET_NAME, name)), a[1], name, sizeof name);
    case PR_SET_PDEATHSIG:
    case PR_SET_DUMPABLE:
    case PR_SET_NO_NEW_PRIVS:
    case PR_SET_CHILD_SUBREAPER:
        return host_result(prctl((int)a[0], a[1], 0, 0, 0));
    case PR_GET_DUMPABLE:
    case PR_GET_NO_NEW_PRIVS:
        return host_result(prctl((int)a[0], 0, 0, 0, 0));
    case PR_GET_PDEATHSIG: {
        int sig;
        return copy_out(host_result(prctl(PR_GET_PDEATHSIG, &sig)), a[1], &sig, sizeof sig);
    }
    default:
        return -EINVAL;
    }
}

SYSCALL(personality) { return host_result(syscall(SYS_personality, (unsigned long)(uint32_t)a[0])); }

_Static_assert(sizeof(struct itimerval) == 32, "struct itimerval: same layout");

/* ITIMER_REAL's SIGALRM goes to the process, which is the guest thread (the runtime's initial
 * thread blocks every signal). */
SYSCALL(setitimer)
{
    struct itimerval value, old;
    if (guest_read(a[1], &value, sizeof value) != 0)
        return -EFAULT;
    int64_t r = host_result(syscall(SYS_setitimer, (int)a[0], &value, &old));
    return copy_out_optional(r, a[2], &old, sizeof old);
}

SYSCALL(getitimer)
{
    struct itimerval value;
    return copy_out(host_result(syscall(SYS_getitimer, (int)a[0], &value)), a[1], &value, sizeof value);
}

/* ---- execve ---- */

#define MAX_EXEC_STRINGS 65536

static void free_strings(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* A guest argv/envp as a host NULL-terminated array; NULL with *err set on failure. */
static char **read_string_vector(uint64_t addr, int64_t *err)
{
    size_t n = 0, cap = 16;
    char **v = calloc(cap, sizeof *v);
    char buf[128 << 10];
    *err = -ENOMEM;
    if (!v)
        return NULL;
    for (uint64_t p = addr; addr; p += 8) {
        uint64_t s;
        if (guest_read(p, &s, sizeof s) != 0) {
            *err = -EFAULT;
            goto fail;
        }
        if (!s)
            break;
        int64_t len = guest_read_string(s, buf, sizeof buf);
        if (len < 0 || n + 2 > MAX_EXEC_STRINGS) {
            *err = len == -EFAULT ? -EFAULT : -E2BIG;
            goto fail;
        }
        if (n + 2 > cap) {
            char **bigger = realloc(v, 2 * cap * sizeof *v);
            if (!bigger)
                goto fail;
            v = bigger, cap *= 2;
        }
        if (!(v[n++] = strdup(buf)))
            goto fail;
        v[n] = NULL;
    }
    return v;
fail:
    free_strings(v);
    return NULL;
}

SYSCALL(execve)
{
    int64_t err;
    PATH_ARG(path, a[0]);
    char **argv = read_string_vector(a[1], &err);
    if (!argv)
        return err;
    char **envp = read_string_vector(a[2], &err);
    if (!envp) {
        free_strings(argv);
        return err;
    }
    err = exec_program(path, argv, envp);
    free_strings(argv);
    free_strings(envp);
    return err;
}
