/* Calls through function pointers: a table of small operations picked by data, and qsort-style callbacks. */
#include <stdint.h>
#include <stdio.h>

typedef uint64_t (*op_fn)(uint64_t, uint64_t);

static uint64_t op_add(uint64_t a, uint64_t b) { return a + b; }
static uint64_t op_xor(uint64_t a, uint64_t b) { return a ^ (b << 1); }
static uint64_t op_mul(uint64_t a, uint64_t b) { return a * (b | 1); }
static uint64_t op_rot(uint64_t a, uint64_t b) { return (a << (b & 31)) | (a >> (64 - (b & 31) - 1)); }
static uint64_t op_sub(uint64_t a, uint64_t b) { return a - (b >> 2); }
static uint64_t op_mix(uint64_t a, uint64_t b) { return (a ^ b) * 0x100000001b3u; }
static uint64_t op_min(uint64_t a, uint64_t b) { return a < b ? a + 1 : b + 7; }
static uint64_t op_avg(uint64_t a, uint64_t b) { return (a >> 1) + (b >> 1) + 3; }

static op_fn volatile table[8] = {op_add, op_xor, op_mul, op_rot, op_sub, op_mix, op_min, op_avg};

static uint64_t apply(op_fn f, uint64_t a, uint64_t b) { return f(a, b); }

int main(void) {
    uint64_t acc = 1, s = 88172645463325252u;
    for (int i = 0; i < 30000000; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        acc = apply(table[s & 7], acc, s);
    }
    printf("fnptr %016llx\n", (unsigned long long)acc);
    return 0;
}
