/* Signal system calls.  Dispositions, masks and delivery live in runtime/signal.c, which mirrors
 * dispositions and masks onto the host; sending a signal is then the host's kill. */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syscall.h"

SYSCALL(rt_sigaction)
{
    struct guest_sigaction act, old;
    if (a[3] != GUEST_SIGSET_SIZE)
        return -EINVAL;
    if (a[1] && guest_read(a[1], &act, sizeof act) != 0)
        return -EFAULT;
    int64_t r = guest_sigaction((int)a[0], a[1] ? &act : NULL, a[2] ? &old : NULL);
    return copy_out_optional(r, a[2], &old, sizeof old);
}

SYSCALL(rt_sigprocmask)
{
    uint64_t old = thread_of(cpu)->sigmask, set, mask;
    if (a[3] != GUEST_SIGSET_SIZE)
        return -EINVAL;
    if (a[1]) {
        if (guest_read(a[1], &set, sizeof set) != 0)
            return -EFAULT;
        switch (a[0]) {
        case GUEST_SIG_BLOCK: mask = old | set; break;
        case GUEST_SIG_UNBLOCK: mask = old & ~set; break;
        case GUEST_SIG_SETMASK: mask = set; break;
        default: return -EINVAL;
        }
        guest_set_sigmask(cpu, mask);
    }
    return copy_out_optional(0, a[2], &old, sizeof old);
}

/* Handlers with SA_ONSTACK run on it (signal.c). */
SYSCALL(sigaltstack)
{
    struct guest_thread *t = thread_of(cpu);
    struct guest_stack old = { t->sigaltstack.sp, t->sigaltstack.flags, 0, t->sigaltstack.size };
    if (a[0]) {
        struct guest_stack ss;
        if (guest_read(a[0], &ss, sizeof ss) != 0)
            return -EFAULT;
        int32_t mode = ss.ss_flags & ~(int32_t)GUEST_SS_AUTODISARM;
        if (mode != 0 && mode != GUEST_SS_DISABLE && mode != GUEST_SS_ONSTACK)
            return -EINVAL;
        if (mode == GUEST_SS_DISABLE) {
            t->sigaltstack.sp = t->sigaltstack.size = 0;
            t->sigaltstack.flags = GUEST_SS_DISABLE;
        } else {
            if (ss.ss_size < GUEST_MINSIGSTKSZ)
                return -ENOMEM;
            t->sigaltstack.sp = ss.ss_sp;
            t->sigaltstack.size = ss.ss_size;
            t->sigaltstack.flags = ss.ss_flags & (int32_t)GUEST_SS_AUTODISARM;
        }
    }
    return copy_out_optional(0, a[1], &old, sizeof old);
}

/* A guest thread id names the host thread running it. */
static pid_t host_tid(struct aot_cpu *cpu, int64_t tid)
{
    return tid == thread_of(cpu)->tid ? thread_of(cpu)->host_tid : (pid_t)tid;
}

SYSCALL(kill) { return host_result(kill((pid_t)a[0], (int)a[1])); }
SYSCALL(tkill) { return host_result(syscall(SYS_tkill, host_tid(cpu, (int64_t)a[0]), (int)a[1])); }
SYSCALL(tgkill) { return host_result(syscall(SYS_tgkill, (pid_t)a[0], host_tid(cpu, (int64_t)a[1]), (int)a[2])); }

/* The host suspends with the guest's temporary mask; the handler that ends it runs with that
 * mask and its frame restores the one before (aot_ecall delivers). */
SYSCALL(rt_sigsuspend)
{
    uint64_t mask;
    sigset_t host;
    if (a[1] != GUEST_SIGSET_SIZE)
        return -EINVAL;
    if (guest_read(a[0], &mask, sizeof mask) != 0)
        return -EFAULT;
    signal_begin_temporary_mask(cpu, mask);
    host_sigset_of(thread_of(cpu)->sigmask, &host);
    if (!(guest_pending_signals(cpu) & ~thread_of(cpu)->sigmask))
        sigsuspend(&host);
    return -EINTR;
}

SYSCALL(rt_sigpending)
{
    sigset_t host;
    uint64_t pending = guest_pending_signals(cpu);
    if (a[1] != GUEST_SIGSET_SIZE)
        return -EINVAL;
    sigpending(&host);
    for (int sig = 1; sig <= GUEST_NSIG; sig++)
        if (sigismember(&host, sig) == 1)
            pending |= sigbit(sig);
    pending &= thread_of(cpu)->sigmask;
    return copy_out(0, a[0], &pending, sizeof pending);
}

/* Signals the runtime already received count first; then the host waits for the blocked ones. */
SYSCALL(rt_sigtimedwait)
{
    uint64_t wanted;
    struct timespec timeout;
    siginfo_t info;
    sigset_t host;
    if (a[3] != GUEST_SIGSET_SIZE)
        return -EINVAL;
    if (guest_read(a[0], &wanted, sizeof wanted) != 0 || (a[2] && guest_read(a[2], &timeout, sizeof timeout) != 0))
        return -EFAULT;
    int sig = take_pending_signal(cpu, wanted, &info);
    if (!sig) {
        host_sigset_of(wanted, &host);
        sig = (int)host_result(syscall(SYS_rt_sigtimedwait, &host, &info, a[2] ? &timeout : NULL, 8));
    }
    return sig > 0 ? copy_out_optional(sig, a[1], &info, sizeof info) : sig;
}
