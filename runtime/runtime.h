/* Internal declarations shared by the runtime's modules.  The ABI with translated code lives in
 * aot_abi.h (generated from aotbuilder/abi.py); everything here is private to the runtime. */
#ifndef AOT_RUNTIME_H
#define AOT_RUNTIME_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "aot_abi.h"

#define GUEST_PAGE_MASK (~(AOT_PAGE_SIZE - 1))

/* In integers: the guest's fflags include MXCSR's sticky flags (fpu.c), so runtime code that runs
 * between guest instructions must not compute with floating point (ns / 1e9 raised inexact). */
static inline uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
    /* sigsuspend, ppoll and pselect6 block with a temporary mask; the handler's frame records the
     * mask to return to (saved_sigmask), as Linux's set_restore_sigmask does. */
    uint64_t saved_sigmask;
    bool restore_sigmask;
    struct { uint64_t sp; int32_t flags; uint64_t size; } sigaltstack;
    uintptr_t host_stack_low;  /* lowest usable byte of the host stack; a guard area is below */
    /* Signals that arrived for a guest handler and wait for the next safe point (the host
     * handler sets them; bit sig - 1), with their siginfo. */
    uint64_t pending;
    siginfo_t pending_info[GUEST_NSIG + 1];
    /* A synchronous fault raised where translated code cannot take a new pc (a slow-path memory
     * access); delivered by aot_interrupt at the faulting instruction.  fault_sig 0: none. */
    int fault_sig, fault_code;
    uint64_t fault_addr;
    char fault_report[512];
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
struct jit_unit;
void dispatch_init(void);
/* The JIT's entries (under the code cache's lock); a pc keeps its first live translation. */
void dispatch_insert(const struct aot_entry *e, struct jit_unit *unit);
void dispatch_remove(uint64_t pc, const struct jit_unit *unit);
extern uint64_t aot_entries_used;  /* ahead-of-time entries the dispatcher has entered */
_Noreturn void dispatch_loop(struct aot_cpu *cpu, uint64_t pc);
/* Runs guest code from pc until the handler whose frame is at `frame` returns through the
 * sigreturn trampoline; returns the pc its rt_sigreturn restored. */
uint64_t dispatch_handler(struct aot_cpu *cpu, uint64_t pc, uint64_t frame);

/* codecache.c: the fallback JIT's translations (units), their invalidation and collection. */
struct jit_unit *code_cache_alloc(uint64_t size);  /* writable memory for a new unit */
unsigned char *jit_unit_code(struct jit_unit *unit);
/* Makes the unit's code executable and enters its rows in the dispatcher; ranges are the guest
 * bytes it was translated from, [lo, hi) pairs. */
void code_cache_install(struct jit_unit *unit, struct aot_entry *entries, uint64_t n_entries,
                        uint64_t (*ranges)[2], uint64_t n_ranges);
void code_cache_discard(struct jit_unit *unit);  /* a unit that was never installed */
/* Runs a unit's entry with the unit pinned (it is not freed while a thread is inside it). */
uint64_t jit_unit_enter(struct aot_cpu *cpu, struct jit_unit *unit, const struct aot_entry *e);
/* Guest bytes [lo, hi) changed, or their mapping did: drop the translations made from them. */
void code_cache_invalidate(uint64_t lo, uint64_t hi);
/* A store to [addr, addr + len) on pages marked PTE_CODE. */
void code_cache_written(uint64_t addr, uint64_t len);
void code_cache_init(void);
struct code_cache_stats {
    uint64_t jit_compiles, invalidations, evictions, promotions, gc_collections, bytes, peak_bytes, budget;
    uint64_t jit_ns, gc_pause_max_ns;
};
extern struct code_cache_stats code_cache_stats;
void stats_write(void);  /* AOTBUILDER_STATS_JSON: the figures above, once the guest exits */

/* jit.c: the worker process that translates missed code, and the learned-entries file. */
void jit_init(void);
void jit_translate(struct aot_cpu *cpu, uint64_t pc);  /* installs a translation of pc, or dies */
void jit_forget_worker(void);  /* in a forked child: the parent's worker is not ours */
void jit_start_early(void);    /* starts the worker now, while the host's files are in reach */
int jit_owned_fd(void);        /* the worker's socket, or -1: a descriptor the guest must not touch */
static inline bool jit_owns_fd(int fd) { return fd >= 0 && fd == jit_owned_fd(); }
int jit_move_fd(void);         /* moves it to another descriptor (the guest dup3s onto it); 0 or -1 */

/* cpu.c */
struct aot_cpu *cpu_create(void);
_Noreturn void run_guest_thread(struct aot_cpu *cpu);

/* trap.c: reports and deaths.  Report lines start with "aotbuilder: ". */
const char *signal_name(int sig);
void describe_guest_pc(char *buf, size_t size, uint64_t pc);
void perf_map_write(void);
_Noreturn void die_of_signal(int sig);
_Noreturn void fatal_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A synchronous fault at pc: runs the guest's handler and returns where to continue, or reports
 * and dies. */
uint64_t guest_fault(struct aot_cpu *cpu, uint64_t pc, int sig, int code, uint64_t addr, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Faults of the slow-path intrinsics: deferred to aot_interrupt when the guest handles them and
 * translated code polls after slow paths, else reported and fatal. */
void guest_memory_fault(struct aot_cpu *cpu, uint64_t pc, uint64_t addr, unsigned size, int access);
void guest_misaligned_atomic(struct aot_cpu *cpu, uint64_t pc, uint64_t addr);
void install_host_fault_handlers(void);
void prepare_thread_for_host_faults(struct aot_cpu *cpu);
struct aot_cpu *current_cpu(void);  /* the guest thread's cpu, for host signal handlers */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* signal.c: the guest's signal dispositions, mirrored onto the host where that is faithful,
 * and delivery to guest handlers (see docs/runtime.md, "Signals"). */
struct guest_sigaction { uint64_t handler, flags, mask; };  /* the riscv64 kernel layout */
#define GUEST_SIG_DFL 0
#define GUEST_SIG_IGN 1
static inline uint64_t sigbit(int sig) { return 1ULL << (sig - 1); }
int guest_sigaction(int sig, const struct guest_sigaction *act, struct guest_sigaction *old);
bool guest_has_handler(int sig);
void guest_set_sigmask(struct aot_cpu *cpu, uint64_t mask);
/* Blocks with a temporary mask (sigsuspend and friends): the next delivered handler's frame
 * records the current mask, and signal_end_temporary_mask restores it if none was delivered. */
void signal_begin_temporary_mask(struct aot_cpu *cpu, uint64_t mask);
void signal_end_temporary_mask(struct aot_cpu *cpu);
void host_sigset_of(uint64_t mask, sigset_t *host);
void guest_signal_arrived(int sig, const siginfo_t *info);
void guest_signals_init(void);
void sigreturn_trampoline_init(void);
uint64_t host_sigmask_bits(void);  /* the calling thread's blocked signals, as a guest mask */
uint64_t guest_pending_signals(struct aot_cpu *cpu);  /* received, not yet delivered */
/* Takes a received signal out of the set `wanted` (sigtimedwait); 0 if there is none. */
int take_pending_signal(struct aot_cpu *cpu, uint64_t wanted, siginfo_t *info);
void forget_pending_signals(struct aot_cpu *cpu);  /* the child of a fork starts with none */
extern uint64_t sigreturn_pc;  /* the guest address of the rt_sigreturn trampoline */
/* Delivery at a point where the guest is about to run `pc` with every register in *cpu: builds
 * the frames of the deliverable signals and returns the pc to run (a handler, or pc). */
uint64_t deliver_signals_at(struct aot_cpu *cpu, uint64_t pc);
/* Delivery from inside an intrinsic: each handler runs to its rt_sigreturn before this returns
 * the pc to continue at.  restart_pc: non-zero for a system call interrupted with -EINTR that
 * SA_RESTART handlers restart (its a0 is orig_a0). */
uint64_t deliver_signals_nested(struct aot_cpu *cpu, uint64_t pc, uint64_t restart_pc, uint64_t orig_a0);
/* A synchronous fault: runs the guest's handler (nested) and returns where to continue, or
 * reports and dies when the guest does not handle it. */
uint64_t deliver_fault(struct aot_cpu *cpu, uint64_t pc, int sig, int code, uint64_t addr, const char *report_line);
uint64_t guest_rt_sigreturn(struct aot_cpu *cpu);

/* process.c: the guest's file, the runtime's environment variables, execve, /proc files. */
char **runtime_environment_init(char **envp);  /* returns the guest's environment */
const char *guest_execfn(void);    /* the guest file name as execve (or run) gave it, or NULL */
const char *guest_exe_path(void);  /* its absolute path, or NULL if unknown */
const char *guest_path(const char *path);  /* /proc/self/exe names the guest's file */
void remember_guest_auxv(const uint64_t (*auxv)[2], size_t n);
int open_guest_proc_file(const char *path, int flags);  /* -1: not one of them */
int64_t exec_program(const char *path, char *const *argv, char *const *envp);
int64_t exec_program_depth(const char *path, char *const *argv, char *const *envp, int depth);

/* syscall/table.c */
void syscalls_init(void);

#endif
