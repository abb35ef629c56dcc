/* Traps, guest faults and dying of them.
 *
 * A guest fault the guest does not handle prints one report to stderr, then the process dies of
 * the signal with the host's default action, so the exit status is what a native program would
 * give.  A fault the guest handles runs its handler instead (signal.c). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>
#include <unistd.h>

#include "mmu.h"

#define HOST_SIGNAL_STACK_SIZE (64 << 10)

static __thread struct aot_cpu *thread_cpu;

static void write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n, len -= (size_t)n;
    }
}

/* One write per report, so that reports from several threads do not interleave. */
static void vreport(const char *fmt, va_list ap)
{
    char buf[2048];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n > 0)
        write_all(STDERR_FILENO, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
}

void fatal_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report("aotbuilder: error: %s\n", msg);
    _exit(2);
}

static const char *const signal_names[] = {
    [SIGHUP] = "SIGHUP", [SIGINT] = "SIGINT", [SIGQUIT] = "SIGQUIT", [SIGILL] = "SIGILL",
    [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT", [SIGBUS] = "SIGBUS", [SIGFPE] = "SIGFPE",
    [SIGKILL] = "SIGKILL", [SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
    [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM", [SIGSTKFLT] = "SIGSTKFLT",
    [SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT", [SIGSTOP] = "SIGSTOP", [SIGTSTP] = "SIGTSTP",
    [SIGTTIN] = "SIGTTIN", [SIGTTOU] = "SIGTTOU", [SIGURG] = "SIGURG", [SIGXCPU] = "SIGXCPU",
    [SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF", [SIGWINCH] = "SIGWINCH",
    [SIGIO] = "SIGIO", [SIGPWR] = "SIGPWR", [SIGSYS] = "SIGSYS",
};

const char *signal_name(int sig)
{
    static __thread char other[16];
    if (sig > 0 && sig < (int)(sizeof signal_names / sizeof signal_names[0]) && signal_names[sig])
        return signal_names[sig];
    snprintf(other, sizeof other, "signal %d", sig);
    return other;
}

/* The function containing pc: the symbol with the largest pc <= pc, for executable pcs of the
 * loaded image (symbols have no sizes, so a data address would name the last function). */
static const struct aot_symbol *symbol_at(uint64_t pc)
{
    if (pc < guest_image_low || pc >= guest_image_high || !(pt_get(pc >> AOT_PAGE_SHIFT) & PTE_X) ||
        !aot_symbol_count || pc < aot_symbols[0].pc)
        return NULL;
    uint64_t lo = 0, hi = aot_symbol_count;  /* aot_symbols[lo].pc <= pc < aot_symbols[hi].pc */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (aot_symbols[mid].pc <= pc)
            lo = mid;
        else
            hi = mid;
    }
    return &aot_symbols[lo];
}

void describe_guest_pc(char *buf, size_t size, uint64_t pc)
{
    const struct aot_symbol *sym = symbol_at(pc);
    if (!sym)
        snprintf(buf, size, "0x%" PRIx64, pc);
    else if (sym->pc == pc)
        snprintf(buf, size, "0x%" PRIx64 " (%s)", pc, sym->name);
    else
        snprintf(buf, size, "0x%" PRIx64 " (%s+0x%" PRIx64 ")", pc, sym->name, pc - sym->pc);
}

void die_of_signal(int sig)
{
    stats_write();
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    /* Only signals whose default action is not fatal get here. */
    _exit(128 + sig);
}

uint64_t guest_fault(struct aot_cpu *cpu, uint64_t pc, int sig, int code, uint64_t addr, const char *fmt, ...)
{
    char where[256], detail[512], line[1024];
    cpu->pc = pc;
    describe_guest_pc(where, sizeof where, pc);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "aotbuilder: guest %s at pc %s: %s\n", signal_name(sig), where, detail);
    return deliver_fault(cpu, pc, sig, code, addr, line);
}

static const char *access_name(int access)
{
    switch (access) {
    case PTE_R: return "read";
    case PTE_W: return "write";
    default: return "atomic access";
    }
}

/* Set by backend/link.py when translated code checks cpu->interrupt after every slow-path memory
 * access (and calls aot_interrupt with the registers written back): only then can a fault in a
 * slow path be delivered to a guest handler. */
extern const char aot_slow_path_polls[] __attribute__((weak));

/* The slow paths are called without the registers written back and must return to translated
 * code: a fault the guest handles is recorded here and delivered by aot_interrupt. */
static bool defer_fault(struct aot_cpu *cpu, int sig, int code, uint64_t addr, const char *line)
{
    struct guest_thread *t = thread_of(cpu);
    if (!aot_slow_path_polls || !guest_has_handler(sig) || (t->sigmask & sigbit(sig)))
        return false;
    t->fault_sig = sig;
    t->fault_code = code;
    t->fault_addr = addr;
    snprintf(t->fault_report, sizeof t->fault_report, "%s", line);
    __atomic_store_n(&cpu->interrupt, 1, __ATOMIC_SEQ_CST);
    return true;
}

void guest_memory_fault(struct aot_cpu *cpu, uint64_t pc, uint64_t addr, unsigned size, int access)
{
    char where[256], line[1024];
    describe_guest_pc(where, sizeof where, pc);
    snprintf(line, sizeof line, "aotbuilder: guest SIGSEGV at pc %s: invalid %s of %u byte%s at address 0x%" PRIx64
             "\n", where, access_name(access), size, size == 1 ? "" : "s", addr);
    /* The fault is at the first page the access needs and lacks: for an access that crosses
     * from a page granting it into one that does not, the start of the second page (the portion
     * that faulted, as the specification's stval and qemu's si_addr say).  That page decides
     * between "not mapped" and "not allowed". */
    uint64_t last_page = (addr + size - 1) & GUEST_PAGE_MASK;
    bool crosses = last_page > addr;
    uint64_t bad = crosses && (pt_get(addr >> AOT_PAGE_SHIFT) & (uint64_t)access) == (uint64_t)access ? last_page : addr;
    int code = pt_get(bad >> AOT_PAGE_SHIFT) ? SEGV_ACCERR : SEGV_MAPERR;
    if (defer_fault(cpu, SIGSEGV, code, bad, line))
        return;
    cpu->pc = pc;
    report("%s", line);
    die_of_signal(SIGSEGV);
}

void guest_misaligned_atomic(struct aot_cpu *cpu, uint64_t pc, uint64_t addr)
{
    char where[256], line[1024];
    describe_guest_pc(where, sizeof where, pc);
    snprintf(line, sizeof line, "aotbuilder: guest SIGBUS at pc %s: misaligned atomic access at address 0x%" PRIx64
             "\n", where, addr);
    if (defer_fault(cpu, SIGBUS, BUS_ADRALN, addr, line))
        return;
    cpu->pc = pc;
    report("%s", line);
    die_of_signal(SIGBUS);
}

/* The instruction word at pc, 16 or 32 bits as its low bits say. */
static uint64_t illegal_instruction(struct aot_cpu *cpu, uint64_t tval)
{
    uint16_t half;
    uint32_t word;
    uint64_t pc = cpu->pc;
    if (guest_fetch(pc, &half, sizeof half) != 0)
        return guest_fault(cpu, pc, SIGILL, ILL_ILLOPC, pc, "illegal instruction (not readable, tval 0x%" PRIx64 ")",
                           tval);
    if ((half & 3) != 3)
        return guest_fault(cpu, pc, SIGILL, ILL_ILLOPC, pc, "illegal instruction 0x%04x", half);
    if (guest_fetch(pc, &word, sizeof word) != 0)
        return guest_fault(cpu, pc, SIGILL, ILL_ILLOPC, pc, "illegal instruction (not readable, tval 0x%" PRIx64 ")",
                           tval);
    return guest_fault(cpu, pc, SIGILL, ILL_ILLOPC, pc, "illegal instruction 0x%08x", word);
}

/* Registers are written back and cpu->pc is the trapping instruction: a guest handler runs
 * before this returns where to continue. */
uint64_t aot_trap(struct aot_cpu *cpu, uint32_t cause, uint64_t tval)
{
    uint64_t pc = cpu->pc;
    switch (cause) {
    case AOT_CAUSE_ILLEGAL_INSTRUCTION:
        return illegal_instruction(cpu, tval);
    case AOT_CAUSE_BREAKPOINT:
        return guest_fault(cpu, pc, SIGTRAP, TRAP_BRKPT, pc, "breakpoint (ebreak)");
    case AOT_CAUSE_MISALIGNED_AMO:
        return guest_fault(cpu, pc, SIGBUS, BUS_ADRALN, tval, "misaligned atomic access at address 0x%" PRIx64, tval);
    default:
        return guest_fault(cpu, pc, SIGILL, ILL_ILLOPC, pc, "unexpected trap cause %u (tval 0x%" PRIx64 ")", cause,
                           tval);
    }
}

/* ---- Host faults ---- */

/* The fault hit the guard below the host stack, or happened with the stack pointer already in
 * the reserve that translated code's depth guard should have kept it out of. */
static bool host_stack_exhausted(struct aot_cpu *cpu, uint64_t addr, uint64_t sp)
{
    uint64_t guard = thread_of(cpu)->host_stack_low - HOST_STACK_GUARD;
    return (addr >= guard && addr < cpu->host_stack_limit) || (sp >= guard && sp < cpu->host_stack_limit);
}

/* The direct memory model's fault table (abi.FAULT_TABLE_SECTION): for each guest memory access
 * that translated code makes directly in the window, where its slow path is.  Each object's rows
 * are in address order and the linker keeps the objects' order in both sections, so the table is
 * sorted; that is checked once, and an unsorted table is searched linearly. */
struct fault_row { int32_t fault, resume; };
#define FAULT_ROWS_START(s) FAULT_ROWS_START_(s)
#define FAULT_ROWS_START_(s) __start_##s
#define FAULT_ROWS_STOP(s) FAULT_ROWS_STOP_(s)
#define FAULT_ROWS_STOP_(s) __stop_##s
extern const struct fault_row FAULT_ROWS_START(AOT_FAULT_TABLE)[] __attribute__((weak));
extern const struct fault_row FAULT_ROWS_STOP(AOT_FAULT_TABLE)[] __attribute__((weak));

static uint64_t row_fault(const struct fault_row *r) { return (uint64_t)(uintptr_t)&r->fault + (uint64_t)(int64_t)r->fault; }
static uint64_t row_resume(const struct fault_row *r) { return (uint64_t)(uintptr_t)&r->resume + (uint64_t)(int64_t)r->resume; }

static int fault_rows_sorted;  /* 0 not checked yet, 1 sorted, -1 not */

/* Where translated code continues after a host fault at host_pc, or 0 if it is not a direct access. */
static uint64_t fault_resume_pc(uint64_t host_pc)
{
    const struct fault_row *lo = FAULT_ROWS_START(AOT_FAULT_TABLE), *hi = FAULT_ROWS_STOP(AOT_FAULT_TABLE);
    if (!lo || lo >= hi)
        return 0;
    int sorted = __atomic_load_n(&fault_rows_sorted, __ATOMIC_RELAXED);
    if (!sorted) {
        sorted = 1;
        for (const struct fault_row *r = lo + 1; r < hi && sorted == 1; r++)
            sorted = row_fault(r - 1) < row_fault(r) ? 1 : -1;
        __atomic_store_n(&fault_rows_sorted, sorted, __ATOMIC_RELAXED);
    }
    if (sorted < 0) {
        for (const struct fault_row *r = lo; r < hi; r++)
            if (row_fault(r) == host_pc)
                return row_resume(r);
        return 0;
    }
    while (lo < hi) {
        const struct fault_row *mid = lo + (hi - lo) / 2;
        if (row_fault(mid) < host_pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < FAULT_ROWS_STOP(AOT_FAULT_TABLE) && row_fault(lo) == host_pc ? row_resume(lo) : 0;
}

/* A direct access that faults continues at its slow path, with every register as it was: the slow
 * path does the access through the page table, which gives the guest its SIGSEGV or SIGBUS with
 * the exact state (or, for a page of JIT-translated code, drops the code and stores).  Any other
 * host fault is a bug in the runtime or in translated code, or the host stack running out under
 * deep guest recursion.  SIGSEGV and SIGBUS sent with kill() are guest signals and are handled as
 * such. */
static void host_fault(int sig, siginfo_t *si, void *context)
{
    if (si->si_code <= 0) {
        guest_signal_arrived(sig, si);
        return;
    }
    ucontext_t *uc = context;
    uint64_t host_pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    uint64_t resume = fault_resume_pc(host_pc);
    if (resume) {
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)resume;
        return;
    }
    uint64_t host_sp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
    uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;
    struct aot_cpu *cpu = thread_cpu;
    char where[256] = "unknown";
    if (cpu)
        describe_guest_pc(where, sizeof where, cpu->pc);
    if (cpu && host_stack_exhausted(cpu, addr, host_sp))
        report("aotbuilder: internal error: host stack overflow at host pc 0x%" PRIx64
               ": guest recursion went deeper than the host stack allows (last dispatched guest pc %s)\n",
               host_pc, where);
    else
        report("aotbuilder: internal error: host fault (%s) at host pc 0x%" PRIx64 " accessing 0x%" PRIx64
               " (last dispatched guest pc %s)\n", signal_name(sig), host_pc, addr, where);
    die_of_signal(sig);
}

void install_host_fault_handlers(void)
{
    struct sigaction sa = { .sa_sigaction = host_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

/* The handler needs its own stack to report an overflow of the thread's stack. */
void prepare_thread_for_host_faults(struct aot_cpu *cpu)
{
    stack_t ss = { .ss_sp = malloc(HOST_SIGNAL_STACK_SIZE), .ss_size = HOST_SIGNAL_STACK_SIZE };
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0)
        fatal_error("cannot set up a signal stack");
    thread_cpu = cpu;
}

struct aot_cpu *current_cpu(void)
{
    return thread_cpu;
}
