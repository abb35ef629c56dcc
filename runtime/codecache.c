/* The fallback JIT's code cache: units of translated code, their invalidation when the guest
 * changes the code they came from, and a generational collector that keeps them in a budget.
 *
 * A unit is one answer of the JIT worker: the translation of the region reachable from one
 * missed pc, in one host mapping, with its rows of the dispatcher's table.  It dies when a store,
 * munmap, mprotect or mremap touches the guest bytes it was made from (invalidation) or when the
 * collector evicts it; a dead unit leaves the dispatcher at once and its memory is freed once no
 * thread is inside it.  Units are entered only through the dispatcher (the worker resolves direct
 * calls to the executable's own functions or to the unit itself), which pins them for the call,
 * so "no thread is inside" is exactly "not pinned".
 *
 * Collection (when a new unit would exceed the budget, AOTBUILDER_CODE_CACHE_SIZE): dead units
 * are freed; nursery units that survived an earlier collection and were entered at least
 * PROMOTE_USES times since are promoted to the old generation (a unit's first uses, right after
 * it was made, do not count: every new unit has them); then nursery units are evicted oldest
 * first, and old ones least used first, until the cache is at most 3/4 of the budget. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mmu.h"

#define DEFAULT_BUDGET (64ULL << 20)
#define PROMOTE_USES 2

struct jit_unit {
    struct jit_unit *prev, *next;  /* every unit not yet freed, oldest first */
    unsigned char *code;
    uint64_t size;                 /* of the mapping */
    struct aot_entry *entries;
    uint64_t n_entries;
    uint64_t (*ranges)[2];
    uint64_t n_ranges;
    uint32_t pins;                 /* threads inside (atomic) */
    uint64_t uses;                 /* entries since the last collection (atomic) */
    bool old;                      /* promoted out of the nursery */
    bool survived;                 /* a collection has seen it */
    bool dead;                     /* out of the dispatcher; freed when unpinned */
    bool installed;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jit_unit *first_unit, *last_unit;
struct code_cache_stats code_cache_stats;

void code_cache_init(void)
{
    code_cache_stats.budget = DEFAULT_BUDGET;
    const char *size = getenv("AOTBUILDER_CODE_CACHE_SIZE");
    if (size && *size) {
        char *end;
        unsigned long long v = strtoull(size, &end, 10);
        if (*end || !v)
            fatal_error("AOTBUILDER_CODE_CACHE_SIZE=%s is not a size in bytes", size);
        code_cache_stats.budget = v;
    }
}

static void unlink_unit(struct jit_unit *u)
{
    *(u->prev ? &u->prev->next : &first_unit) = u->next;
    *(u->next ? &u->next->prev : &last_unit) = u->prev;
}

static void free_unit(struct jit_unit *u)
{
    unlink_unit(u);
    munmap(u->code, u->size);
    code_cache_stats.bytes -= u->size;
    free(u->entries);
    free(u->ranges);
    free(u);
}

/* Out of the dispatcher; freed now if no thread is inside (else by the last one out). */
static void kill_unit(struct jit_unit *u)
{
    u->dead = true;
    for (uint64_t i = 0; i < u->n_entries; i++)
        dispatch_remove(u->entries[i].pc, u);
    if (!__atomic_load_n(&u->pins, __ATOMIC_ACQUIRE))
        free_unit(u);
}

static bool overlaps(const struct jit_unit *u, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = 0; i < u->n_ranges; i++)
        if (u->ranges[i][0] < hi && lo < u->ranges[i][1])
            return true;
    return false;
}

static void collect(uint64_t incoming)
{
    uint64_t start = monotonic_ns();
    struct code_cache_stats *st = &code_cache_stats;
    st->gc_collections++;
    for (struct jit_unit *u = first_unit, *next; u; u = next) {
        next = u->next;
        if (u->dead && !u->pins)
            free_unit(u);
        else if (!u->old && u->survived && __atomic_load_n(&u->uses, __ATOMIC_RELAXED) >= PROMOTE_USES) {
            u->old = true;
            st->promotions++;
        }
    }
    uint64_t target = st->budget / 4 * 3;
    for (int old = 0; old <= 1 && st->bytes + incoming > target; old++) {
        /* Nursery: oldest first (the list's order).  Old generation: least used first. */
        for (;;) {
            struct jit_unit *victim = NULL;
            for (struct jit_unit *u = first_unit; u; u = u->next) {
                if (u->dead || u->pins || u->old != old || !u->installed)
                    continue;
                if (!old) {
                    victim = u;
                    break;
                }
                if (!victim || u->uses < victim->uses)
                    victim = u;
            }
            if (!victim || st->bytes + incoming <= target)
                break;
            st->evictions++;
            kill_unit(victim);
        }
    }
    for (struct jit_unit *u = first_unit; u; u = u->next) {
        __atomic_store_n(&u->uses, 0, __ATOMIC_RELAXED);
        u->survived = true;
    }
    uint64_t pause = monotonic_ns() - start;
    if (pause > st->gc_pause_max_ns)
        st->gc_pause_max_ns = pause;
}

struct jit_unit *code_cache_alloc(uint64_t size)
{
    size = page_up(size);
    pthread_mutex_lock(&cache_lock);
    if (code_cache_stats.bytes + size > code_cache_stats.budget)
        collect(size);
    struct jit_unit *u = calloc(1, sizeof *u);
    void *code = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!u || code == MAP_FAILED)
        fatal_error("out of memory for the JIT's code cache (%" PRIu64 " bytes)", size);
    u->code = code;
    u->size = size;
    u->prev = last_unit;
    *(last_unit ? &last_unit->next : &first_unit) = u;
    last_unit = u;
    code_cache_stats.bytes += size;
    if (code_cache_stats.bytes > code_cache_stats.peak_bytes)
        code_cache_stats.peak_bytes = code_cache_stats.bytes;
    pthread_mutex_unlock(&cache_lock);
    return u;
}

unsigned char *jit_unit_code(struct jit_unit *unit) { return unit->code; }

void code_cache_install(struct jit_unit *u, struct aot_entry *entries, uint64_t n_entries,
                        uint64_t (*ranges)[2], uint64_t n_ranges)
{
    if (mprotect(u->code, u->size, PROT_READ | PROT_EXEC) != 0)
        fatal_error("cannot make the JIT's code executable");
    pthread_mutex_lock(&cache_lock);
    u->entries = entries;
    u->n_entries = n_entries;
    u->ranges = ranges;
    u->n_ranges = n_ranges;
    u->installed = true;
    for (uint64_t i = 0; i < n_ranges; i++)
        pt_mark_code(ranges[i][0], ranges[i][1], true);
    for (uint64_t i = 0; i < n_entries; i++)
        dispatch_insert(&entries[i], u);
    pthread_mutex_unlock(&cache_lock);
}

void code_cache_discard(struct jit_unit *u)
{
    pthread_mutex_lock(&cache_lock);
    free_unit(u);
    pthread_mutex_unlock(&cache_lock);
}

uint64_t jit_unit_enter(struct aot_cpu *cpu, struct jit_unit *u, const struct aot_entry *e)
{
    __atomic_add_fetch(&u->pins, 1, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&u->uses, 1, __ATOMIC_RELAXED);
    uint64_t next = aot_enter_translated(e->fn, cpu, e->resume);
    if (!__atomic_sub_fetch(&u->pins, 1, __ATOMIC_ACQ_REL) && __atomic_load_n(&u->dead, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&cache_lock);
        if (!u->pins)
            free_unit(u);
        pthread_mutex_unlock(&cache_lock);
    }
    return next;
}

static void invalidate_locked(uint64_t lo, uint64_t hi)
{
    for (struct jit_unit *u = first_unit, *next; u; u = next) {
        next = u->next;
        if (!u->dead && u->installed && overlaps(u, lo, hi)) {
            code_cache_stats.invalidations++;
            kill_unit(u);
        }
    }
}

void code_cache_invalidate(uint64_t lo, uint64_t hi)
{
    if (!first_unit)
        return;
    pthread_mutex_lock(&cache_lock);
    invalidate_locked(lo, hi);
    pthread_mutex_unlock(&cache_lock);
}

void code_cache_written(uint64_t addr, uint64_t len)
{
    pthread_mutex_lock(&cache_lock);
    invalidate_locked(addr, addr + len);
    /* Pages that hold no translated code any more go back to fast stores. */
    for (uint64_t page = page_down(addr); page < addr + len; page += AOT_PAGE_SIZE) {
        bool held = false;
        for (struct jit_unit *u = first_unit; u && !held; u = u->next)
            held = !u->dead && overlaps(u, page, page + AOT_PAGE_SIZE);
        if (!held)
            pt_mark_code(page, page + AOT_PAGE_SIZE, false);
    }
    pthread_mutex_unlock(&cache_lock);
}

/* ---- Statistics ---- */

static pid_t stats_pid;

void stats_write(void)
{
    const char *path = getenv("AOTBUILDER_STATS_JSON");
    if (!path || !*path || getpid() != stats_pid)
        return;  /* a forked child's figures are not the program's */
    FILE *f = fopen(path, "w");
    if (!f) {
        report("aotbuilder: cannot write the statistics to %s\n", path);
        return;
    }
    const struct code_cache_stats *st = &code_cache_stats;
    fprintf(f, "{\"aot_entries\": %" PRIu64 ", \"jit_compiles\": %" PRIu64 ", \"jit_seconds\": %.6f, "
            "\"invalidations\": %" PRIu64 ", \"evictions\": %" PRIu64 ", \"promotions\": %" PRIu64 ", "
            "\"gc_collections\": %" PRIu64 ", "
            "\"gc_pause_max_ms\": %.3f, \"code_cache_peak_bytes\": %" PRIu64 ", \"code_cache_budget_bytes\": %"
            PRIu64 "}\n", aot_entries_used, st->jit_compiles, st->jit_ns / 1e9, st->invalidations, st->evictions,
            st->promotions, st->gc_collections, st->gc_pause_max_ns / 1e6, st->peak_bytes, st->budget);
    fclose(f);
}

__attribute__((constructor)) static void remember_stats_pid(void) { stats_pid = getpid(); }
