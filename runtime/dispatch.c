/* From guest pc to translated code: an open-addressing hash table over aot_entries, the
 * dispatcher loop, and aot_call_indirect.
 *
 * The table is built once at startup and only read afterwards, so lookups take no lock; when the
 * fallback JIT adds entries it will publish a slot by storing its entry pointer last (release). */
#include <inttypes.h>
#include <signal.h>
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

/* Code that is not executable guest memory faults like on Linux; executable code without a
 * translation is what the fallback JIT will handle. */
static _Noreturn void dispatch_miss(struct aot_cpu *cpu, uint64_t pc)
{
    if (!(pt_get(pc >> AOT_PAGE_SHIFT) & PTE_X))
        guest_fault(cpu, pc, SIGSEGV, "invalid instruction fetch at address 0x%" PRIx64, pc);
    char where[256];
    cpu->pc = pc;
    describe_guest_pc(where, sizeof where, pc);
    report("aotbuilder: no translation for guest pc %s: code that static discovery missed needs the "
           "fallback JIT, which is not implemented yet\n", where);
    die_of_signal(SIGILL);
}

void dispatch_loop(struct aot_cpu *cpu, uint64_t pc)
{
    for (;;) {
        const struct aot_entry *e = lookup_entry(pc);
        if (!e)
            dispatch_miss(cpu, pc);
        cpu->pc = pc;
        pc = e->fn(cpu, e->resume);
    }
}

uint64_t aot_call_indirect(struct aot_cpu *cpu, uint64_t target)
{
    const struct aot_entry *e = lookup_entry(target);
    if (!e)
        dispatch_miss(cpu, target);
    return e->fn(cpu, e->resume);
}
