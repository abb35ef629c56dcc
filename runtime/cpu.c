/* Guest threads: their CPU state, the host thread that runs them, and the counter CSRs. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "guest_linux.h"
#include "mmu.h"

struct aot_cpu *cpu_create(void)
{
    struct aot_cpu *cpu = aligned_alloc(64, sizeof *cpu);
    struct guest_thread *t = calloc(1, sizeof *t);
    if (!cpu || !t)
        fatal_error("out of memory for a guest thread");
    memset(cpu, 0, sizeof *cpu);
    cpu->rt = t;
    cpu->res_addr = ~0ULL;
    t->tid = getpid();
    t->sigmask = host_sigmask_bits();
    t->sigaltstack.flags = GUEST_SS_DISABLE;
    tlb_register(cpu);
    return cpu;
}

/* The signal mask the process started with: the guest thread's, once it runs. */
static sigset_t initial_mask;

static void *guest_thread_main(void *arg)
{
    struct aot_cpu *cpu = arg;
    pthread_sigmask(SIG_SETMASK, &initial_mask, NULL);
    thread_of(cpu)->host_tid = gettid();
    prepare_thread_for_host_faults(cpu);
    window_enter_thread();
    dispatch_loop(cpu, cpu->pc);
}

/* The guest runs on a host thread with a HOST_STACK_SIZE stack (reserved, not committed) above
 * an inaccessible guard area.  The initial host thread only waits: it blocks every signal before
 * the guest thread exists (which starts with everything blocked and then takes the initial mask),
 * so a signal sent to the process never lands on a thread without a guest CPU; it reaches the
 * guest thread, whose mask mirrors the guest's. */
void run_guest_thread(struct aot_cpu *cpu)
{
    unsigned char *mem = mmap(NULL, HOST_STACK_GUARD + HOST_STACK_SIZE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED || mprotect(mem, HOST_STACK_GUARD, PROT_NONE) != 0)
        fatal_error("cannot reserve the host stack for the guest thread");
    thread_of(cpu)->host_stack_low = (uintptr_t)(mem + HOST_STACK_GUARD);
    cpu->host_stack_limit = (uint64_t)(uintptr_t)(mem + HOST_STACK_GUARD + HOST_STACK_RESERVE);

    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, mem + HOST_STACK_GUARD, HOST_STACK_SIZE);
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &initial_mask);
    if (pthread_create(&thread, &attr, guest_thread_main, cpu) != 0)
        fatal_error("cannot start the guest thread");
    pthread_join(thread, NULL);
    fatal_error("the guest thread returned");
}

#define CSR_CYCLE 0xc00
#define CSR_TIME 0xc01
#define CSR_INSTRET 0xc02
/* rdtime ticks at 10 MHz, the timebase of QEMU's virt board and common RISC-V boards. */
#define TIMEBASE_NS 100

/* There is no instruction count: cycle and instret count nanoseconds, as a 1 GHz hart retiring
 * one instruction per cycle would.  Only these counters reach the runtime. */
uint64_t aot_csr_read(struct aot_cpu *cpu, uint32_t csr)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    switch (csr) {
    case CSR_CYCLE:
    case CSR_INSTRET:
        return ns;
    case CSR_TIME:
        return ns / TIMEBASE_NS;
    default:
        return aot_trap(cpu, AOT_CAUSE_ILLEGAL_INSTRUCTION, csr);
    }
}
