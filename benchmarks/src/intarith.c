/* Integer arithmetic: multiply, divide, modulo, shifts and rotates over 64-bit values. */
#include <stdint.h>
#include <stdio.h>

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

int main(void) {
    uint64_t a = 0x9e3779b97f4a7c15u, b = 12345, acc = 0;
    for (uint32_t i = 1; i < 60000000u; i++) {
        a = a * 6364136223846793005u + 1442695040888963407u;
        b ^= rotl(a, (int)(i & 31) + 1);
        acc += (a >> 33) / (i | 1) + (b % 1000003u);
        acc ^= (uint64_t)((int64_t)acc >> 7);
    }
    printf("intarith %016llx\n", (unsigned long long)(acc ^ b));
    return 0;
}
