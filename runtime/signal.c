/* The guest's signal dispositions and masks.
 *
 * They are recorded for the guest (rt_sigaction and rt_sigprocmask return them) and mirrored onto
 * the host, so that signals keep their native meaning without the runtime in the way: a default
 * action terminates, stops or ignores natively (exit statuses match), SIG_IGN ignores on the host
 * (a write to a closed pipe returns EPIPE), a blocked signal stays pending on the host thread, and
 * kill() needs no emulation.  Signals that arrive for a guest handler are reported and are fatal
 * until delivery to guest handlers exists. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "runtime.h"

static struct guest_sigaction actions[GUEST_NSIG + 1];
static pthread_mutex_t actions_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t sigbit(int sig) { return 1ULL << (sig - 1); }

/* SIGSEGV and SIGBUS keep the runtime's host fault handler, which passes signals sent with
 * kill() on to guest_signal_arrived. */
static bool runtime_owns(int sig) { return sig == SIGSEGV || sig == SIGBUS; }

static void host_handler_for_guest_handler(int sig)
{
    guest_signal_arrived(sig);
}

static void mirror_on_host(int sig, uint64_t handler)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = handler == GUEST_SIG_DFL ? SIG_DFL
                  : handler == GUEST_SIG_IGN ? SIG_IGN : host_handler_for_guest_handler;
    sigemptyset(&sa.sa_mask);
    /* This fails for the real-time signals glibc reserves; the guest's use of them stays
     * guest-side, which is all a single-threaded guest can notice. */
    sigaction(sig, &sa, NULL);
}

int guest_sigaction(int sig, const struct guest_sigaction *act, struct guest_sigaction *old)
{
    if (sig < 1 || sig > GUEST_NSIG || (act && (sig == SIGKILL || sig == SIGSTOP)))
        return -EINVAL;
    pthread_mutex_lock(&actions_lock);
    if (old)
        *old = actions[sig];
    if (act) {
        actions[sig] = *act;
        if (!runtime_owns(sig))
            mirror_on_host(sig, act->handler);
    }
    pthread_mutex_unlock(&actions_lock);
    return 0;
}

bool guest_has_handler(int sig)
{
    return sig >= 1 && sig <= GUEST_NSIG && actions[sig].handler != GUEST_SIG_DFL &&
           actions[sig].handler != GUEST_SIG_IGN;
}

void guest_signal_arrived(int sig)
{
    uint64_t handler = actions[sig].handler;
    if (handler == GUEST_SIG_IGN)
        return;
    if (handler != GUEST_SIG_DFL)
        report("aotbuilder: guest received %s: delivering signals to guest handlers is not implemented yet\n",
               signal_name(sig));
    die_of_signal(sig);
}

/* The host mask for a guest mask: the runtime's fault signals are never blocked on the host. */
void host_sigset_of(uint64_t mask, sigset_t *host)
{
    sigemptyset(host);
    for (int sig = 1; sig <= GUEST_NSIG; sig++)
        if ((mask & sigbit(sig)) && !runtime_owns(sig))
            sigaddset(host, sig);
}

void guest_set_sigmask(struct guest_thread *t, uint64_t mask)
{
    sigset_t host;
    t->sigmask = mask & ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
    host_sigset_of(t->sigmask, &host);
    pthread_sigmask(SIG_SETMASK, &host, NULL);
}

/* Like execve, the guest inherits the ignored signals and the signal mask of whoever started it
 * (nohup, for one, relies on that). */
void guest_signals_init(void)
{
    for (int sig = 1; sig <= GUEST_NSIG; sig++) {
        struct sigaction old;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            actions[sig].handler = GUEST_SIG_IGN;
    }
}

uint64_t host_sigmask_bits(void)
{
    sigset_t host;
    uint64_t mask = 0;
    pthread_sigmask(SIG_BLOCK, NULL, &host);
    for (int sig = 1; sig <= GUEST_NSIG; sig++)
        if (sigismember(&host, sig) == 1)
            mask |= sigbit(sig);
    return mask;
}
