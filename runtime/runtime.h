/* Internal declarations shared by the runtime's modules.  The ABI with translated code lives in
 * aot_abi.h (generated from aotbuilder/abi.py); everything here is private to the runtime. */
#ifndef AOT_RUNTIME_H
#define AOT_RUNTIME_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aot_abi.h"

#define GUEST_PAGE_MASK (~(AOT_PAGE_SIZE - 1))

static inline uint64_t page_down(uint64_t addr) { return addr & GUEST_PAGE_MASK; }
static inline uint64_t page_up(uint64_t addr) { return (addr + AOT_PAGE_SIZE - 1) & GUEST_PAGE_MASK; }

/* Guest signals are 1..64, numbered as on x86-64 Linux. */
#define GUEST_NSIG 64

/* Per-thread runtime state, reached through cpu->rt. */
struct guest_thread {
    int64_t tid;               /* the thread id the guest sees (the pid for the initial thread) */
    pid_t host_tid;            /* the host thread running it, for tgkill */
    uint64_t clear_child_tid;  /* set_tid_address */
    uint64_t robust_list;      /* set_robust_list head */
    uint64_t sigmask;          /* blocked guest signals, bit (sig - 1) */
    struct { uint64_t sp; int32_t flags; uint64_t size; } sigaltstack;
    uintptr_t host_stack_low;  /* lowest usable byte of the host stack; a guard area is below */
};

/* Translated guest calls are native calls, so guest recursion is host recursion: the guest
 * thread runs on a large host stack.  Translated code compares its stack pointer against
 * cpu->host_stack_limit, HOST_STACK_RESERVE above the bottom, to stop before the guard. */
#define HOST_STACK_SIZE (1ULL << 30)
#define HOST_STACK_GUARD (1ULL << 16)
#define HOST_STACK_RESERVE (256ULL << 10)

static inline struct guest_thread *thread_of(struct aot_cpu *cpu) { return cpu->rt; }

/* The loaded guest program, as the initial stack and the address space need it. */
struct guest_program {
    uint64_t entry;      /* runtime address (bias applied) */
    uint64_t phdr;       /* runtime address of the program headers */
    uint64_t phent, phnum;
    uint64_t end;        /* end of the highest PT_LOAD segment */
    uint64_t stack_perms; /* PTE bits of the stack: executable if PT_GNU_STACK asks for it */
};

/* loader.c */
extern uint64_t guest_image_low, guest_image_high;  /* the loaded segments' address range */
void load_guest_program(struct guest_program *prog);
uint64_t guest_stack_size(void);
uint64_t build_initial_stack(const struct guest_program *prog, int argc, char **argv, char **envp);

/* dispatch.c */
void dispatch_init(void);
_Noreturn void dispatch_loop(struct aot_cpu *cpu, uint64_t pc);

/* cpu.c */
struct aot_cpu *cpu_create(void);
_Noreturn void run_guest_thread(struct aot_cpu *cpu);

/* trap.c: reports and deaths.  Report lines start with "aotbuilder: ". */
const char *signal_name(int sig);
void describe_guest_pc(char *buf, size_t size, uint64_t pc);
_Noreturn void die_of_signal(int sig);
_Noreturn void fatal_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void guest_fault(struct aot_cpu *cpu, uint64_t pc, int sig, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
_Noreturn void guest_memory_fault(struct aot_cpu *cpu, uint64_t pc, uint64_t addr, unsigned size,
                                  int access);
void install_host_fault_handlers(void);
void prepare_thread_for_host_faults(struct aot_cpu *cpu);
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* signal.c: the guest's signal dispositions, mirrored onto the host where that is faithful. */
struct guest_sigaction { uint64_t handler, flags, mask; };  /* the riscv64 kernel layout */
#define GUEST_SIG_DFL 0
#define GUEST_SIG_IGN 1
int guest_sigaction(int sig, const struct guest_sigaction *act, struct guest_sigaction *old);
bool guest_has_handler(int sig);
void guest_set_sigmask(struct guest_thread *t, uint64_t mask);
void host_sigset_of(uint64_t mask, sigset_t *host);
void guest_signal_arrived(int sig);
void guest_signals_init(void);
uint64_t host_sigmask_bits(void);  /* the calling thread's blocked signals, as a guest mask */

/* syscall/table.c */
void syscalls_init(void);

#endif
