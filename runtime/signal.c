/* The guest's signals: dispositions, masks, and delivery to guest handlers.
 *
 * Dispositions and masks are recorded for the guest and mirrored onto the host, so that signals
 * keep their native meaning without the runtime in the way: a default action terminates, stops or
 * ignores natively (exit statuses match), SIG_IGN ignores on the host (a write to a closed pipe
 * returns EPIPE), a blocked signal stays pending on the host thread, and kill() needs no emulation.
 *
 * A signal for a guest handler arrives in a host handler that only records it (pending bit,
 * siginfo) and sets cpu->interrupt; host system calls it interrupts return EINTR.  The guest gets
 * it at the next safe point, where every guest register is in struct aot_cpu: after a system call
 * (aot_ecall), at an interrupt poll of translated code (aot_interrupt), or in the dispatcher.
 * Delivery builds Linux riscv64's struct rt_sigframe on the guest stack, points ra at a
 * `li a7, 139; ecall` trampoline (Linux's vDSO __vdso_rt_sigreturn) and continues at the handler.
 * The dispatcher recognises the trampoline's pc and performs rt_sigreturn itself. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_linux.h"
#include "mmu.h"

static struct guest_sigaction actions[GUEST_NSIG + 1];
static pthread_mutex_t actions_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t sigreturn_pc;

/* SIGSEGV and SIGBUS keep the runtime's host fault handler, which passes signals sent with
 * kill() on to guest_signal_arrived. */
static bool runtime_owns(int sig) { return sig == SIGSEGV || sig == SIGBUS; }

static void host_handler_for_guest_handler(int sig, siginfo_t *info, void *context)
{
    (void)context;
    guest_signal_arrived(sig, info);
}

static void mirror_on_host(int sig, uint64_t handler, uint64_t flags)
{
    struct sigaction sa = { 0 };
    /* The flags that change what the kernel does for children (the values are the same). */
    int child_flags = (int)(flags & (GUEST_SA_NOCLDSTOP | GUEST_SA_NOCLDWAIT));
    if (handler == GUEST_SIG_DFL || handler == GUEST_SIG_IGN) {
        sa.sa_handler = handler == GUEST_SIG_DFL ? SIG_DFL : SIG_IGN;
    } else {
        /* No SA_RESTART: a blocking host call must come back so the guest handler can run. */
        sa.sa_sigaction = host_handler_for_guest_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    }
    if (sig == SIGCHLD)
        sa.sa_flags |= child_flags;
    sigfillset(&sa.sa_mask);
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
            mirror_on_host(sig, act->handler, act->flags);
    }
    pthread_mutex_unlock(&actions_lock);
    return 0;
}

static bool is_handler(uint64_t handler) { return handler != GUEST_SIG_DFL && handler != GUEST_SIG_IGN; }

bool guest_has_handler(int sig)
{
    return sig >= 1 && sig <= GUEST_NSIG && is_handler(actions[sig].handler);
}

static void default_action(int sig);

/* Async-signal-safe: runs in the host handler.  The guest may have reset the handler to SIG_DFL
 * (or SIG_IGN) since the host handler was installed: a signal in flight then takes the default
 * action, which for SIGCHLD and the like is to be ignored, as the kernel would. */
void guest_signal_arrived(int sig, const siginfo_t *info)
{
    struct aot_cpu *cpu = current_cpu();
    /* No guest CPU: the initial host thread, which blocks every signal before the guest thread
     * exists (run_guest_thread), so only a signal it cannot block gets here. */
    if (!is_handler(actions[sig].handler) || !cpu) {
        default_action(sig);
        return;
    }
    struct guest_thread *t = thread_of(cpu);
    t->pending_info[sig] = *info;
    __atomic_or_fetch(&t->pending, sigbit(sig), __ATOMIC_SEQ_CST);
    __atomic_store_n(&cpu->interrupt, 1, __ATOMIC_SEQ_CST);
}

uint64_t guest_pending_signals(struct aot_cpu *cpu)
{
    return __atomic_load_n(&thread_of(cpu)->pending, __ATOMIC_SEQ_CST);
}

int take_pending_signal(struct aot_cpu *cpu, uint64_t wanted, siginfo_t *info)
{
    struct guest_thread *t = thread_of(cpu);
    for (int sig = 1; sig <= GUEST_NSIG; sig++) {
        if (!(wanted & sigbit(sig)) || !(guest_pending_signals(cpu) & sigbit(sig)))
            continue;
        /* The bit first: the same signal arriving now sets it again and is delivered too. */
        __atomic_and_fetch(&t->pending, ~sigbit(sig), __ATOMIC_SEQ_CST);
        *info = t->pending_info[sig];
        return sig;
    }
    return 0;
}

void forget_pending_signals(struct aot_cpu *cpu)
{
    thread_of(cpu)->pending = 0;
    thread_of(cpu)->fault_sig = 0;
    cpu->interrupt = 0;
}

/* cpu->interrupt says whether a safe point has anything to deliver. */
static void update_interrupt(struct aot_cpu *cpu)
{
    struct guest_thread *t = thread_of(cpu);
    if ((guest_pending_signals(cpu) & ~t->sigmask) || t->fault_sig)
        __atomic_store_n(&cpu->interrupt, 1, __ATOMIC_SEQ_CST);
}

/* The host mask for a guest mask: the runtime's fault signals are never blocked on the host. */
void host_sigset_of(uint64_t mask, sigset_t *host)
{
    sigemptyset(host);
    for (int sig = 1; sig <= GUEST_NSIG; sig++)
        if ((mask & sigbit(sig)) && !runtime_owns(sig))
            sigaddset(host, sig);
}

void guest_set_sigmask(struct aot_cpu *cpu, uint64_t mask)
{
    struct guest_thread *t = thread_of(cpu);
    sigset_t host;
    t->sigmask = mask & ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
    host_sigset_of(t->sigmask, &host);
    pthread_sigmask(SIG_SETMASK, &host, NULL);
    update_interrupt(cpu);
}

void signal_begin_temporary_mask(struct aot_cpu *cpu, uint64_t mask)
{
    struct guest_thread *t = thread_of(cpu);
    t->saved_sigmask = t->sigmask;
    t->restore_sigmask = true;
    t->sigmask = mask & ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
}

void signal_end_temporary_mask(struct aot_cpu *cpu)
{
    struct guest_thread *t = thread_of(cpu);
    if (t->restore_sigmask) {
        t->restore_sigmask = false;
        guest_set_sigmask(cpu, t->saved_sigmask);
    }
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

/* ---- The sigreturn trampoline ---- */

/* li a7, 139 (__NR_rt_sigreturn); ecall -- the code of Linux's __vdso_rt_sigreturn. */
static const uint32_t sigreturn_code[] = { 0x08b00893, 0x00000073 };

/* A page of its own, readable and executable so that the guest can look at it; it is never
 * translated: the dispatcher knows its pc. */
void sigreturn_trampoline_init(void)
{
    uint64_t page = addrspace_private_page();
    unsigned char *host = map_guest_fixed(page, AOT_PAGE_SIZE, PTE_R | PTE_W);
    memcpy(host, sigreturn_code, sizeof sigreturn_code);
    guest_mprotect(page, AOT_PAGE_SIZE, GUEST_PROT_READ | GUEST_PROT_EXEC);
    sigreturn_pc = page;
}

/* ---- Frames ---- */

static bool on_altstack(const struct guest_thread *t, uint64_t sp)
{
    return t->sigaltstack.size && sp - t->sigaltstack.sp < t->sigaltstack.size;
}

/* uc_stack as Linux's __save_altstack records it. */
static struct guest_stack saved_altstack(const struct guest_thread *t, uint64_t sp)
{
    int32_t flags = t->sigaltstack.flags;
    if (!t->sigaltstack.size)
        flags = GUEST_SS_DISABLE;
    else if (on_altstack(t, sp))
        flags |= GUEST_SS_ONSTACK;
    return (struct guest_stack){ t->sigaltstack.sp, flags, 0, t->sigaltstack.size };
}

static _Noreturn void frame_fault(uint64_t pc, int sig, uint64_t frame)
{
    char where[256];
    describe_guest_pc(where, sizeof where, pc);
    report("aotbuilder: guest SIGSEGV at pc %s: cannot write the frame for %s at 0x%llx (stack overflow?)\n",
           where, signal_name(sig), (unsigned long long)frame);
    die_of_signal(SIGSEGV);
}

/* Builds the frame of a handler for sig interrupting the guest at pc; returns the handler's pc.
 * frame_mask is the mask the handler's rt_sigreturn restores. */
static uint64_t setup_frame(struct aot_cpu *cpu, int sig, const siginfo_t *info, uint64_t pc, uint64_t frame_mask)
{
    struct guest_thread *t = thread_of(cpu);
    struct guest_sigaction act = actions[sig];
    struct guest_rt_sigframe f;
    uint64_t sp = cpu->x[2];

    memset(&f, 0, sizeof f);
    memcpy(&f.info, info, sizeof f.info);
    f.info.si_signo = sig;
    f.uc.uc_stack = saved_altstack(t, sp);
    f.uc.uc_sigmask = frame_mask;
    f.uc.uc_mcontext.gregs[0] = pc;
    for (int i = 1; i < 32; i++)
        f.uc.uc_mcontext.gregs[i] = cpu->x[i];
    memcpy(f.uc.uc_mcontext.fpregs, cpu->f, sizeof f.uc.uc_mcontext.fpregs);
    f.uc.uc_mcontext.fcsr = (uint32_t)aot_fcsr_read(cpu);

    if ((act.flags & GUEST_SA_ONSTACK) && t->sigaltstack.size && !on_altstack(t, sp)) {
        sp = t->sigaltstack.sp + t->sigaltstack.size;
        if (t->sigaltstack.flags & GUEST_SS_AUTODISARM)
            t->sigaltstack.sp = t->sigaltstack.size = 0, t->sigaltstack.flags = GUEST_SS_DISABLE;
    }
    uint64_t frame = (sp - sizeof f) & ~15ULL;
    if (guest_write(frame, &f, sizeof f) != 0)
        frame_fault(pc, sig, frame);

    cpu->x[1] = sigreturn_pc;
    cpu->x[2] = frame;
    cpu->x[10] = (uint64_t)sig;
    cpu->x[11] = frame + offsetof(struct guest_rt_sigframe, info);
    cpu->x[12] = frame + offsetof(struct guest_rt_sigframe, uc);
    cpu->res_addr = ~0ULL;
    uint64_t mask = t->sigmask | act.mask | ((act.flags & GUEST_SA_NODEFER) ? 0 : sigbit(sig));
    if (act.flags & GUEST_SA_RESETHAND) {
        struct guest_sigaction dfl = { GUEST_SIG_DFL, 0, 0 };
        guest_sigaction(sig, &dfl, NULL);
    }
    guest_set_sigmask(cpu, mask);
    return act.handler;
}

uint64_t guest_rt_sigreturn(struct aot_cpu *cpu)
{
    struct guest_thread *t = thread_of(cpu);
    struct guest_rt_sigframe f;
    uint64_t frame = cpu->x[2];
    if (guest_read(frame, &f, sizeof f) != 0) {
        char where[256];
        describe_guest_pc(where, sizeof where, cpu->pc);
        report("aotbuilder: guest SIGSEGV at pc %s: rt_sigreturn with no signal frame at sp 0x%llx\n", where,
               (unsigned long long)frame);
        die_of_signal(SIGSEGV);
    }
    for (int i = 1; i < 32; i++)
        cpu->x[i] = f.uc.uc_mcontext.gregs[i];
    memcpy(cpu->f, f.uc.uc_mcontext.fpregs, sizeof cpu->f);
    aot_fcsr_write(cpu, f.uc.uc_mcontext.fcsr);
    cpu->res_addr = ~0ULL;
    /* restore_altstack: refused (and so skipped) while running on the alternate stack. */
    if (!on_altstack(t, frame)) {
        struct guest_stack ss = f.uc.uc_stack;
        if (ss.ss_flags & GUEST_SS_DISABLE)
            t->sigaltstack.sp = t->sigaltstack.size = 0, t->sigaltstack.flags = GUEST_SS_DISABLE;
        else if (ss.ss_size >= GUEST_MINSIGSTKSZ)
            t->sigaltstack.sp = ss.ss_sp, t->sigaltstack.size = ss.ss_size,
            t->sigaltstack.flags = ss.ss_flags & (int32_t)GUEST_SS_AUTODISARM;
    }
    guest_set_sigmask(cpu, f.uc.uc_sigmask);
    /* Linux puts the frame's pc in sepc, whose bit 0 is always zero (IALIGN=16): an odd pc
     * resumes one byte lower.  No pc the dispatcher sees is odd (bit 0 of a pc translated code
     * returns is abi.RA_IN_STATE). */
    return f.uc.uc_mcontext.gregs[0] & ~1ULL;
}

/* ---- Delivery ---- */

static bool default_is_ignore(int sig)
{
    return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

/* A signal whose handler was reset to SIG_DFL (or set to SIG_IGN) after it arrived. */
static void default_action(int sig)
{
    if (actions[sig].handler == GUEST_SIG_IGN || default_is_ignore(sig))
        return;
    if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
        raise(sig);  /* the host disposition mirrors SIG_DFL: it stops the process */
        return;
    }
    die_of_signal(sig);
}

/* The next pending signal the guest does not block, taken out of the pending set; 0 if none.
 * Synchronous signals first, then the lowest number, as Linux's next_signal does. */
static int next_deliverable(struct aot_cpu *cpu, siginfo_t *info)
{
    uint64_t ready = guest_pending_signals(cpu) & ~thread_of(cpu)->sigmask;
    if (!ready)
        return 0;
    return take_pending_signal(cpu, ready, info);
}

/* The mask a frame restores: the one before a temporary sigsuspend/ppoll mask, if any. */
static uint64_t mask_to_restore(struct guest_thread *t)
{
    if (t->restore_sigmask) {
        t->restore_sigmask = false;
        return t->saved_sigmask;
    }
    return t->sigmask;
}

uint64_t deliver_signals_at(struct aot_cpu *cpu, uint64_t pc)
{
    siginfo_t info;
    int sig;
    __atomic_store_n(&cpu->interrupt, 0, __ATOMIC_SEQ_CST);
    while ((sig = next_deliverable(cpu, &info))) {
        if (!guest_has_handler(sig)) {
            default_action(sig);
            continue;
        }
        pc = setup_frame(cpu, sig, &info, pc, mask_to_restore(thread_of(cpu)));
    }
    update_interrupt(cpu);
    return pc;
}

uint64_t deliver_signals_nested(struct aot_cpu *cpu, uint64_t pc, uint64_t restart_pc, uint64_t orig_a0)
{
    siginfo_t info;
    int sig;
    __atomic_store_n(&cpu->interrupt, 0, __ATOMIC_SEQ_CST);
    while ((sig = next_deliverable(cpu, &info))) {
        if (!guest_has_handler(sig)) {
            default_action(sig);
            continue;
        }
        uint64_t resume = pc;
        if (restart_pc && (actions[sig].flags & GUEST_SA_RESTART)) {
            resume = restart_pc;
            cpu->x[10] = orig_a0;
        }
        restart_pc = 0;  /* only the first handler sees the interrupted call */
        uint64_t handler = setup_frame(cpu, sig, &info, resume, mask_to_restore(thread_of(cpu)));
        pc = dispatch_handler(cpu, handler, cpu->x[2]);
        __atomic_store_n(&cpu->interrupt, 0, __ATOMIC_SEQ_CST);
    }
    update_interrupt(cpu);
    return pc;
}

uint64_t deliver_fault(struct aot_cpu *cpu, uint64_t pc, int sig, int code, uint64_t addr, const char *report_line)
{
    struct guest_thread *t = thread_of(cpu);
    /* Like Linux's force_sig_fault: a blocked or ignored fault signal kills. */
    if (!guest_has_handler(sig) || (t->sigmask & sigbit(sig))) {
        report("%s", report_line);
        die_of_signal(sig);
    }
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = sig;
    info.si_code = code;
    info.si_addr = (void *)(uintptr_t)addr;
    uint64_t handler = setup_frame(cpu, sig, &info, pc, mask_to_restore(t));
    return dispatch_handler(cpu, handler, cpu->x[2]);
}
