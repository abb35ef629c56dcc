/* System call handlers: one small function per guest system call, grouped by subject in this
 * directory, listed by number in table.c.  A handler gets the guest's a0..a5 and returns what
 * the guest finds in a0: a value, or a negated errno. */
#ifndef AOT_SYSCALL_H
#define AOT_SYSCALL_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>

#include "guest_linux.h"
#include "mmu.h"

typedef int64_t (*syscall_handler)(struct aot_cpu *cpu, const uint64_t *a);

#define SYSCALL(name) \
    int64_t sys_##name(struct aot_cpu *cpu __attribute__((unused)), const uint64_t *a __attribute__((unused)))

/* A host call's result as the guest sees it: -1 becomes the negated errno. */
static inline int64_t host_result(long r)
{
    return r == -1 ? -errno : r;
}

/* Copies a guest path into a host buffer of PATH_MAX bytes; 0 or a negated errno.
 * /proc/self/exe becomes the guest's file (process.c). */
static inline int64_t read_path(uint64_t addr, char *path)
{
    int64_t n = guest_read_string(addr, path, PATH_MAX);
    if (n < 0)
        return n;
    const char *real = guest_path(path);
    if (real != path)
        snprintf(path, PATH_MAX, "%s", real);
    return 0;
}

#define PATH_ARG(var, addr)                      \
    char var[PATH_MAX];                          \
    do {                                         \
        int64_t err_ = read_path((addr), var);   \
        if (err_)                                \
            return err_;                         \
    } while (0)

/* Copies a host result structure out to the guest if the call succeeded; -EFAULT if it cannot. */
static inline int64_t copy_out(int64_t result, uint64_t addr, const void *src, size_t len)
{
    if (result < 0)
        return result;
    return guest_write(addr, src, len) ? -EFAULT : result;
}

/* The same for an output the guest may leave out by passing NULL. */
static inline int64_t copy_out_optional(int64_t result, uint64_t addr, const void *src, size_t len)
{
    return addr ? copy_out(result, addr, src, len) : result;
}

/* io.c */
SYSCALL(read); SYSCALL(write); SYSCALL(readv); SYSCALL(writev); SYSCALL(pread64);
SYSCALL(pwrite64); SYSCALL(preadv); SYSCALL(pwritev); SYSCALL(close); SYSCALL(lseek);
SYSCALL(ioctl); SYSCALL(fcntl); SYSCALL(dup); SYSCALL(dup3); SYSCALL(pipe2); SYSCALL(ppoll);
/* fs.c */
SYSCALL(openat); SYSCALL(fstat); SYSCALL(newfstatat); SYSCALL(statx); SYSCALL(statfs);
SYSCALL(fstatfs); SYSCALL(readlinkat); SYSCALL(faccessat); SYSCALL(faccessat2); SYSCALL(getcwd);
SYSCALL(chdir); SYSCALL(fchdir); SYSCALL(chroot); SYSCALL(unlinkat); SYSCALL(mkdirat); SYSCALL(renameat2);
SYSCALL(symlinkat); SYSCALL(linkat); SYSCALL(fchmod); SYSCALL(fchmodat); SYSCALL(fchown);
SYSCALL(fchownat); SYSCALL(umask); SYSCALL(truncate); SYSCALL(ftruncate); SYSCALL(fsync);
SYSCALL(fdatasync); SYSCALL(utimensat); SYSCALL(getdents64);
/* mem.c */
SYSCALL(brk); SYSCALL(mmap); SYSCALL(munmap); SYSCALL(mprotect); SYSCALL(mremap);
SYSCALL(madvise); SYSCALL(msync);
/* proc.c */
SYSCALL(exit); SYSCALL(exit_group); SYSCALL(getpid); SYSCALL(getppid); SYSCALL(gettid);
SYSCALL(getuid); SYSCALL(geteuid); SYSCALL(getgid); SYSCALL(getegid); SYSCALL(getresuid);
SYSCALL(getresgid); SYSCALL(set_tid_address); SYSCALL(set_robust_list); SYSCALL(rseq);
SYSCALL(prlimit64); SYSCALL(getrlimit); SYSCALL(setrlimit); SYSCALL(uname); SYSCALL(sysinfo);
SYSCALL(getrusage); SYSCALL(sched_yield); SYSCALL(sched_getaffinity); SYSCALL(futex);
SYSCALL(membarrier); SYSCALL(getrandom); SYSCALL(riscv_hwprobe); SYSCALL(riscv_flush_icache);
/* time.c */
SYSCALL(clock_gettime); SYSCALL(clock_getres); SYSCALL(clock_nanosleep); SYSCALL(nanosleep);
SYSCALL(gettimeofday); SYSCALL(times);
/* signal.c */
SYSCALL(rt_sigaction); SYSCALL(rt_sigprocmask); SYSCALL(sigaltstack); SYSCALL(kill);
SYSCALL(tkill); SYSCALL(tgkill);

SYSCALL(rt_sigsuspend); SYSCALL(rt_sigpending); SYSCALL(rt_sigtimedwait);
/* io.c */
SYSCALL(pselect6); SYSCALL(epoll_create1); SYSCALL(epoll_ctl); SYSCALL(epoll_pwait); SYSCALL(epoll_pwait2);
SYSCALL(eventfd2); SYSCALL(sendfile); SYSCALL(splice); SYSCALL(tee); SYSCALL(copy_file_range); SYSCALL(flock);
SYSCALL(fallocate); SYSCALL(fadvise64); SYSCALL(sync); SYSCALL(syncfs); SYSCALL(close_range); SYSCALL(memfd_create);
/* fs.c */
SYSCALL(mknodat);
/* process.c */
SYSCALL(clone); SYSCALL(clone3); SYSCALL(wait4); SYSCALL(waitid); SYSCALL(execve); SYSCALL(setpgid);
SYSCALL(getpgid); SYSCALL(getsid); SYSCALL(setsid); SYSCALL(setuid); SYSCALL(setgid); SYSCALL(setreuid);
SYSCALL(setregid); SYSCALL(setresuid); SYSCALL(setresgid); SYSCALL(setfsuid); SYSCALL(setfsgid);
SYSCALL(getgroups); SYSCALL(setgroups); SYSCALL(getpriority); SYSCALL(setpriority); SYSCALL(prctl);
SYSCALL(personality); SYSCALL(setitimer); SYSCALL(getitimer);
/* net.c */
SYSCALL(socket); SYSCALL(socketpair); SYSCALL(bind); SYSCALL(connect); SYSCALL(listen); SYSCALL(shutdown);
SYSCALL(accept); SYSCALL(accept4); SYSCALL(getsockname); SYSCALL(getpeername); SYSCALL(setsockopt);
SYSCALL(getsockopt); SYSCALL(sendto); SYSCALL(recvfrom); SYSCALL(sendmsg); SYSCALL(recvmsg);

/* trace.c: AOTBUILDER_STRACE output, one line per call like qemu -strace. */
struct syscall_desc {
    const char *name;
    syscall_handler handler;  /* NULL: not implemented, -ENOSYS */
    const char *args;         /* one letter per argument, see trace.c */
    unsigned flags;
};
#define SC_NORETURN 1  /* trace before the call: it does not come back */
#define SC_HEX_RESULT 2 /* the result is an address */
#define SC_TRACE_BEFORE 8 /* trace the call before it runs: it does not come back when it succeeds */
#define SC_RESTART 4    /* interrupted by a signal, restarted under SA_RESTART (Linux: -ERESTARTSYS) */

struct trace_line { char text[1024]; size_t len; };
void trace_call(struct trace_line *line, const struct syscall_desc *d, uint64_t nr, const uint64_t *a);
void trace_result(struct trace_line *line, const struct syscall_desc *d, int64_t result);

#endif
