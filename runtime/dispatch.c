/* From guest pc to translated code: an open-addressing hash table over aot_entries, the
 * dispatcher loop, and aot_call_indirect.
 *
 * The table is built once at startup and only read afterwards, so lookups take no lock; when the
 * fallback JIT adds entries it will publish a slot by storing its entry pointer last (release). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "mmu.h"

struct entry_slot {
    uint64_t pc;
    const struct aot_entry *entry;  /* NULL: empty slot */
};

static struct entry_slot *entry_slots;
static uint64_t entry_mask;
static unsigned entry_shift;

/* Fibonacci hashing: the multiply spreads the (2-byte aligned, clustered) pcs over the top bits. */
static uint64_t slot_index(uint64_t pc)
{
    return (pc * 0x9e3779b97f4a7c15ULL) >> entry_shift;
}

static void insert_entry(const struct aot_entry *e)
{
    uint64_t i = slot_index(e->pc);
    for (; entry_slots[i].entry; i = (i + 1) & entry_mask)
        if (entry_slots[i].pc == e->pc)
            return;
    entry_slots[i] = (struct entry_slot){ e->pc, e };
}

void dispatch_init(void)
{
    unsigned bits = 4;
    while ((1ULL << bits) < 2 * aot_entry_count)  /* load factor <= 1/2 keeps probes short */
        bits++;
    entry_slots = calloc(1ULL << bits, sizeof *entry_slots);
    if (!entry_slots)
        fatal_error("out of memory for the dispatcher table");
    entry_mask = (1ULL << bits) - 1;
    entry_shift = 64 - bits;
    for (uint64_t i = 0; i < aot_entry_count; i++)
        insert_entry(&aot_entries[i]);
}

static inline const struct aot_entry *lookup_entry(uint64_t pc)
{
    for (uint64_t i = slot_index(pc);; i = (i + 1) & entry_mask) {
        const struct entry_slot *slot = &entry_slots[i];
        if (!slot->entry || slot->pc == pc)
            return slot->entry;
    }
}

/* Code that is not executable guest memory faults like on Linux (the guest's SIGSEGV handler
 * sees the bad pc in its frame); executable code without a translation is what the fallback JIT
 * will handle. */
static uint64_t dispatch_miss(struct aot_cpu *cpu, uint64_t pc)
{
    char where[256];
    cpu->pc = pc;
    describe_guest_pc(where, sizeof where, pc);
    if (!(pt_get(pc >> AOT_PAGE_SHIFT) & PTE_X)) {
        char line[512];
        snprintf(line, sizeof line, "aotbuilder: guest SIGSEGV at pc %s: invalid instruction fetch at address 0x%"
                 PRIx64 "\n", where, pc);
        return deliver_fault(cpu, pc, SIGSEGV, pt_get(pc >> AOT_PAGE_SHIFT) ? SEGV_ACCERR : SEGV_MAPERR, pc, line);
    }
    report("aotbuilder: no translation for guest pc %s: code that static discovery missed needs the "
           "fallback JIT, which is not implemented yet\n", where);
    die_of_signal(SIGILL);
}

/* One step of the dispatcher: pending signals first (every register is in *cpu here), then the
 * translated code at pc; returns the next pc. */
static inline uint64_t dispatch_step(struct aot_cpu *cpu, uint64_t pc)
{
    if (__builtin_expect(__atomic_load_n(&cpu->interrupt, __ATOMIC_RELAXED), 0))
        pc = deliver_signals_at(cpu, pc);
    const struct aot_entry *e = lookup_entry(pc);
    if (!e)
        return dispatch_miss(cpu, pc);
    cpu->pc = pc;
    return e->fn(cpu, e->resume);
}

/* A handler returned through the trampoline (its frame is at sp): stop if it is the handler this
 * loop runs (frame), else restore its context and go on. */
uint64_t dispatch_handler(struct aot_cpu *cpu, uint64_t pc, uint64_t frame)
{
    for (;;) {
        while (pc != sigreturn_pc)
            pc = dispatch_step(cpu, pc);
        bool mine = cpu->x[2] == frame;
        cpu->pc = sigreturn_pc + 4;  /* the trampoline's ecall, for reports */
        pc = guest_rt_sigreturn(cpu);
        if (mine)
            return pc;
    }
}

void dispatch_loop(struct aot_cpu *cpu, uint64_t pc)
{
    dispatch_handler(cpu, pc, 0);  /* no frame is at 0: it never returns */
    fatal_error("the dispatcher returned");
}

uint64_t aot_call_indirect(struct aot_cpu *cpu, uint64_t target)
{
    const struct aot_entry *e = lookup_entry(target);
    if (!e)
        return target == sigreturn_pc ? target : dispatch_miss(cpu, target);
    return e->fn(cpu, e->resume);
}

/* A safe point of translated code: cpu->pc is the poll's pc and every register is in *cpu. */
uint64_t aot_interrupt(struct aot_cpu *cpu)
{
    struct guest_thread *t = thread_of(cpu);
    uint64_t pc = cpu->pc;
    if (t->fault_sig) {
        int sig = t->fault_sig;
        t->fault_sig = 0;
        pc = deliver_fault(cpu, pc, sig, t->fault_code, t->fault_addr, t->fault_report);
    }
    return deliver_signals_nested(cpu, pc, 0, 0);
}
