/* Indirect calls through aotbuilder's entry cache (abi.ENTRY_CACHE_BITS): the f_* functions are
 * 8 KiB aligned, so their pcs share one cache slot, and a pointer table calls them in turn (every
 * call evicts the previous target).  Some of them call each other indirectly (a nested miss fills
 * the slot while the outer call runs), and one of them returns into the middle of the loop by
 * longjmp.  The checksum depends on which function each call reached. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>

#define SLOT_SHARER __attribute__((noinline, aligned(8192)))

typedef uint64_t (*op_fn)(uint64_t);
static jmp_buf escape;
static volatile op_fn table[4];

SLOT_SHARER static uint64_t f_mul(uint64_t x) { return x * 6364136223846793005ull + 1; }
SLOT_SHARER static uint64_t f_xor(uint64_t x) { return x ^ (x >> 17) ^ 0x9e3779b97f4a7c15ull; }
SLOT_SHARER static uint64_t f_nest(uint64_t x) { return table[0](x) + table[1](x + 1); }
SLOT_SHARER static uint64_t f_jump(uint64_t x)
{
    if ((x & 0xff) == 0x5a)
        longjmp(escape, 1);
    return x + 3;
}

int main(void)
{
    table[0] = f_mul, table[1] = f_xor, table[2] = f_nest, table[3] = f_jump;
    printf("one slot: %d\n", (((uintptr_t)f_mul ^ (uintptr_t)f_jump) & 0x1fff) == 0);
    uint64_t x = 1, escapes = 0;
    volatile int i = 0;
    if (setjmp(escape)) {
        escapes++;
        x += 7;
        i++;
    }
    for (; i < 200000; i++)
        x = table[(x >> 7) & 3](x) + (uint64_t)i;
    printf("%llu escapes, x %016llx\n", (unsigned long long)escapes, (unsigned long long)x);
    return 0;
}
