/* AOTBUILDER_PERF_MAP (`aotbuilder run --perf-map`): /tmp/perf-<pid>.map names the translated code
 * after the guest functions, so `perf report` shows them.  perf's map format for generated code:
 * one "START SIZE name" line per function, START and SIZE in hex.  Each translated function's code
 * runs up to the next one's (the linker lays them out one after another). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mmu.h"

struct native_function {
    uintptr_t start;
    uint64_t pc;
};

static int by_start(const void *a, const void *b)
{
    uintptr_t x = ((const struct native_function *)a)->start, y = ((const struct native_function *)b)->start;
    return (x > y) - (x < y);
}

void perf_map_write(void)
{
    if (!getenv("AOTBUILDER_PERF_MAP"))
        return;
    struct native_function *fns = calloc(aot_entry_count + 1, sizeof *fns);
    if (!fns)
        fatal_error("out of memory for the perf map");
    size_t n = 0;
    for (uint64_t i = 0; i < aot_entry_count; i++)
        if (aot_entries[i].resume == 0)  /* a function's entry (the others are its return sites) */
            fns[n++] = (struct native_function){ (uintptr_t)aot_entries[i].fn, aot_entries[i].pc };
    qsort(fns, n, sizeof *fns, by_start);
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    FILE *map = fopen(path, "w");
    if (!map) {
        report("aotbuilder: cannot write %s (--perf-map): continuing without it\n", path);
        free(fns);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && fns[i + 1].start == fns[i].start)
            continue;  /* one native function for several guest entries: named once */
        uintptr_t end = i + 1 < n ? fns[i + 1].start : fns[i].start + 16;
        char name[256];
        describe_guest_pc(name, sizeof name, fns[i].pc);
        fprintf(map, "%" PRIxPTR " %" PRIxPTR " %s\n", fns[i].start, end - fns[i].start, name);
    }
    fclose(map);
    free(fns);
}
