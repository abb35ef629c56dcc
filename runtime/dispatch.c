/* From guest pc to translated code: an open-addressing hash table over aot_entries and the
 * fallback JIT's entries, the dispatcher loop, and aot_call_indirect.
 *
 * Lookups take no lock.  The JIT adds and removes entries under code_cache's lock: a slot is
 * published by storing its entry pointer last (release); a removed entry leaves a tombstone;
 * a table that grows is copied, and the old one is never freed (a reader may still be in it). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmu.h"

struct entry_slot {
    uint64_t pc;
    const struct aot_entry *entry;  /* NULL: empty slot; &tombstone: removed */
    struct jit_unit *unit;          /* NULL: translated ahead of time */
    bool used;                      /* entered through the dispatcher (ahead-of-time entries) */
};

static const struct aot_entry tombstone;
static struct entry_slot *entry_slots;
static uint64_t entry_mask;
static unsigned entry_shift;
static uint64_t slots_taken;  /* live entries and tombstones */
uint64_t aot_entries_used;

/* Fibonacci hashing: the multiply spreads the (2-byte aligned, clustered) pcs over the top bits. */
static uint64_t slot_index(uint64_t pc)
{
    return (pc * 0x9e3779b97f4a7c15ULL) >> entry_shift;
}

static void put_entry(struct entry_slot *slots, const struct aot_entry *e, struct jit_unit *unit)
{
    uint64_t i = slot_index(e->pc);
    for (; slots[i].entry; i = (i + 1) & entry_mask) {
        if (slots[i].pc == e->pc) {
            if (slots[i].entry != &tombstone)
                return;  /* the first translation of a pc stays */
            break;
        }
    }
    if (!slots[i].entry)
        slots_taken++;
    slots[i].pc = e->pc;
    slots[i].unit = unit;
    slots[i].used = false;
    __atomic_store_n(&slots[i].entry, e, __ATOMIC_RELEASE);
}

static void resize_table(unsigned bits)
{
    struct entry_slot *old = entry_slots;
    uint64_t old_size = old ? entry_mask + 1 : 0;
    struct entry_slot *slots = calloc(1ULL << bits, sizeof *slots);
    if (!slots)
        fatal_error("out of memory for the dispatcher table");
    entry_mask = (1ULL << bits) - 1;
    entry_shift = 64 - bits;
    slots_taken = 0;
    for (uint64_t i = 0; i < old_size; i++)
        if (old[i].entry && old[i].entry != &tombstone)
            put_entry(slots, old[i].entry, old[i].unit);
    __atomic_store_n(&entry_slots, slots, __ATOMIC_RELEASE);
}

void dispatch_init(void)
{
    unsigned bits = 4;
    while ((1ULL << bits) < 2 * aot_entry_count)  /* load factor <= 1/2 keeps probes short */
        bits++;
    resize_table(bits);
    for (uint64_t i = 0; i < aot_entry_count; i++)
        put_entry(entry_slots, &aot_entries[i], NULL);
}

void dispatch_insert(const struct aot_entry *e, struct jit_unit *unit)
{
    if (2 * (slots_taken + 1) > entry_mask + 1) {
        unsigned bits = 64 - entry_shift;
        uint64_t live = 0;
        for (uint64_t i = 0; i <= entry_mask; i++)
            live += entry_slots[i].entry && entry_slots[i].entry != &tombstone;
        resize_table(4 * (live + 1) > entry_mask + 1 ? bits + 1 : bits);  /* tombstones alone: same size */
    }
    put_entry(entry_slots, e, unit);
}

static inline struct entry_slot *lookup_slot(uint64_t pc)
{
    struct entry_slot *slots = __atomic_load_n(&entry_slots, __ATOMIC_ACQUIRE);
    for (uint64_t i = slot_index(pc);; i = (i + 1) & entry_mask) {
        struct entry_slot *slot = &slots[i];
        const struct aot_entry *e = __atomic_load_n(&slot->entry, __ATOMIC_ACQUIRE);
        if (!e)
            return NULL;
        if (slot->pc == pc)
            return e == &tombstone ? NULL : slot;
    }
}

void dispatch_remove(uint64_t pc, const struct jit_unit *unit)
{
    struct entry_slot *slot = lookup_slot(pc);
    if (slot && slot->unit == unit)
        __atomic_store_n(&slot->entry, &tombstone, __ATOMIC_RELEASE);
}

/* Code that is not executable guest memory faults like on Linux (the guest's SIGSEGV handler
 * sees the bad pc in its frame); executable code without a translation goes to the fallback
 * JIT, which installs one (or reports why it cannot and ends the process). */
static struct entry_slot *dispatch_miss(struct aot_cpu *cpu, uint64_t pc, uint64_t *next)
{
    cpu->pc = pc;
    if (!(pt_get(pc >> AOT_PAGE_SHIFT) & PTE_X)) {
        char where[256], line[512];
        describe_guest_pc(where, sizeof where, pc);
        snprintf(line, sizeof line, "aotbuilder: guest SIGSEGV at pc %s: invalid instruction fetch at address 0x%"
                 PRIx64 "\n", where, pc);
        *next = deliver_fault(cpu, pc, SIGSEGV, pt_get(pc >> AOT_PAGE_SHIFT) ? SEGV_ACCERR : SEGV_MAPERR, pc, line);
        return NULL;
    }
    jit_translate(cpu, pc);
    struct entry_slot *slot = lookup_slot(pc);
    if (!slot)
        fatal_error("the fallback JIT's translation of guest pc 0x%" PRIx64 " has no entry for it", pc);
    return slot;
}

/* Translated functions use LLVM's preserve_none convention (abi.TRANSLATED_CC): arguments in r12
 * and r13 (then the passed registers, abi.PASSED_REGISTERS, loaded here from the CPU state), the
 * next pc in rax (then the returned registers, stored here; ra in the pc's bit 0,
 * abi.RA_IN_STATE), every register but rsp and rbp clobbered.  This bridge from the C convention saves what C callers expect kept (rbx, rbp,
 * r12-r15), keeps cpu at (%rsp) for the stores after the call, and keeps rsp 16-byte aligned at
 * the call. */
__asm__(".text\n"
        ".globl aot_enter_translated\n"
        ".type aot_enter_translated, @function\n"
        "aot_enter_translated:\n"
        "    .cfi_startproc\n"
        "    pushq %rbx\n    pushq %rbp\n    pushq %r12\n    pushq %r13\n    pushq %r14\n    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    .cfi_adjust_cfa_offset 56\n"
        "    movq %rsi, (%rsp)\n"
        "    movq %rdi, %r10\n"
        "    movq %rsi, %r12\n"
        "    movq %rdx, %r13\n"
        AOT_LOAD_PASSED_REGISTERS
        "    callq *%r10\n"
        "    movq (%rsp), %rsi\n"
        AOT_STORE_RETURNED_REGISTERS
        AOT_TAKE_RETURNED_PC
        "    addq $8, %rsp\n"
        "    popq %r15\n    popq %r14\n    popq %r13\n    popq %r12\n    popq %rbp\n    popq %rbx\n"
        "    .cfi_adjust_cfa_offset -56\n"
        "    retq\n"
        "    .cfi_endproc\n"
        ".size aot_enter_translated, . - aot_enter_translated\n");

/* A slot of aot_call_table (abi.CALL_TABLE_SLOT) with no translated function at its pc calls
 * here, inside a translated caller's call: pop the slot's return address (its call is 5 bytes),
 * turn it into the pc, store the passed registers (the caller did not write them back), and do
 * what aot_call_indirect does, returning like a translated function (next pc in rax, flagged: the
 * CPU state holds ra; a0 and a1 from the CPU state). */
_Static_assert(AOT_CALL_TABLE_SLOT == 8, "aot_call_table_miss turns a slot offset into a pc offset with shrq $2");
__asm__(".text\n"
        ".globl aot_call_table_miss\n"
        ".type aot_call_table_miss, @function\n"
        "aot_call_table_miss:\n"
        "    .cfi_startproc\n"
        "    popq %rsi\n"
        "    leaq aot_call_table+5(%rip), %rax\n"
        "    subq %rax, %rsi\n"
        "    shrq $2, %rsi\n"
        "    movabsq $aot_call_table_base, %rax\n"
        "    addq %rax, %rsi\n"
        AOT_STORE_PASSED_REGISTERS
        "    movq %r12, %rdi\n"
        "    subq $8, %rsp\n"
        "    .cfi_adjust_cfa_offset 8\n"
        "    callq aot_call_indirect\n"
        "    addq $8, %rsp\n"
        "    .cfi_adjust_cfa_offset -8\n"
        AOT_RA_IN_STATE_PC
        AOT_LOAD_RETURNED_REGISTERS
        "    retq\n"
        "    .cfi_endproc\n"
        ".size aot_call_table_miss, . - aot_call_table_miss\n");

/* The entry cache translated code looks in before calling here (abi.ENTRY_CACHE_BITS).  No pc
 * matches the empty slot's: jump targets are even. */
struct aot_cached_entry aot_entry_cache[AOT_ENTRY_CACHE_SIZE] = {
    [0 ... AOT_ENTRY_CACHE_SIZE - 1] = {.entry = {.pc = 1}}};

/* Only ahead-of-time entries go in: they stay valid for good, the JIT's do not.  The copy is not
 * atomic: translated code reads a slot between two polls, and only its own thread writes it. */
static inline void cache_entry(const struct aot_entry *e)
{
    aot_entry_cache[(e->pc >> 1) % AOT_ENTRY_CACHE_SIZE].entry = *e;
}

/* Runs the translation in slot from its entry; returns the next guest pc. */
static inline uint64_t enter(struct aot_cpu *cpu, struct entry_slot *slot)
{
    const struct aot_entry *e = slot->entry;
    struct jit_unit *unit = slot->unit;
    if (unit)
        return jit_unit_enter(cpu, unit, e);
    if (__builtin_expect(!slot->used, 0)) {
        slot->used = true;
        __atomic_add_fetch(&aot_entries_used, 1, __ATOMIC_RELAXED);
    }
    if (e->resume == 0)  /* a function entry: translated code's indirect tail jumps look for it */
        cache_entry(e);
    return aot_enter_translated(e->fn, cpu, e->resume);
}

static inline uint64_t run_slot(struct aot_cpu *cpu, uint64_t pc, struct entry_slot *slot)
{
    if (__builtin_expect(!slot, 0)) {
        uint64_t next;
        slot = dispatch_miss(cpu, pc, &next);
        if (!slot)
            return next;
    }
    cpu->pc = pc;
    return enter(cpu, slot);
}

static inline uint64_t run_at(struct aot_cpu *cpu, uint64_t pc)
{
    return run_slot(cpu, pc, lookup_slot(pc));
}

/* One step of the dispatcher: pending signals first (every register is in *cpu here), then the
 * translated code at pc; returns the next pc. */
static inline uint64_t dispatch_step(struct aot_cpu *cpu, uint64_t pc)
{
    if (__builtin_expect(__atomic_load_n(&cpu->interrupt, __ATOMIC_RELAXED), 0))
        pc = deliver_signals_at(cpu, pc);
    return run_at(cpu, pc);
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
    if (target == sigreturn_pc)
        return target;
    struct entry_slot *slot = lookup_slot(target);
    if (slot && !slot->unit)
        cache_entry(slot->entry);
    return run_slot(cpu, target, slot);
}

/* The registers translated code may hold in host registers across a poll. */
struct register_file {
    uint64_t x[32], f[32], fcsr;
};

static void save_registers(struct aot_cpu *cpu, struct register_file *r)
{
    memcpy(r->x, cpu->x, sizeof r->x);
    memcpy(r->f, cpu->f, sizeof r->f);
    r->fcsr = aot_fcsr_read(cpu);
}

/* A safe point of translated code: cpu->pc is the poll's pc and every register is in *cpu.
 * Returning that pc tells the poll that no register changed, so it goes on with the values it
 * holds (lift/lower.py poll_interrupt); a handler that changed one in its frame but returned to
 * the same pc sends control through the dispatcher: the pc comes back flagged (AOT_RA_IN_STATE, the
 * CPU state holds every register), which the poll does not take for its own.  Translated code calls
 * it through the preserve_all stub aot_interrupt, so the poll of a loop spills nothing. */
uint64_t interrupt_at_poll(struct aot_cpu *cpu);  /* entered through aot_interrupt (slowpath.c) */

uint64_t interrupt_at_poll(struct aot_cpu *cpu)
{
    struct guest_thread *t = thread_of(cpu);
    uint64_t pc = cpu->pc, poll_pc = pc;
    struct register_file before, after;
    save_registers(cpu, &before);
    if (t->fault_sig) {
        int sig = t->fault_sig;
        t->fault_sig = 0;
        pc = deliver_fault(cpu, pc, sig, t->fault_code, t->fault_addr, t->fault_report);
    }
    pc = deliver_signals_nested(cpu, pc, 0, 0);
    if (pc != poll_pc)
        return pc;
    save_registers(cpu, &after);
    if (memcmp(&before, &after, sizeof before) == 0)
        return pc;
    cpu->pc = pc;
    return pc | AOT_RA_IN_STATE;
}
