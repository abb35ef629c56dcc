/* Branchy control flow: a small bytecode interpreter driven by a switch, plus data-dependent ifs. */
#include <stdint.h>
#include <stdio.h>

enum { ADD, SUB, XOR, SHL, JNZ, DEC, MUL, HALT };

static uint64_t interp(const uint8_t *code, uint64_t seed) {
    uint64_t r[4] = {seed, 1, 3, 20000};
    int pc = 0;
    for (;;) {
        uint8_t op = code[pc], a = code[pc + 1] & 3, b = code[pc + 2] & 3;
        pc += 3;
        switch (op) {
        case ADD: r[a] += r[b]; break;
        case SUB: r[a] -= r[b] ^ 5; break;
        case XOR: r[a] ^= r[b] >> 3; break;
        case SHL: r[a] = (r[a] << 1) | (r[a] >> 63); break;
        case MUL: r[a] = r[a] * (r[b] | 1); break;
        case DEC: r[a]--; break;
        case JNZ: if (r[a]) pc = code[pc - 1] * 3; break;
        case HALT: return r[0] ^ r[1] ^ r[2];
        default: return 0;
        }
    }
}

int main(void) {
    /* r0 += r1; r1 ^= r0>>3; r2 = r2*r0; shl r0; if (r0&1) sub; dec r3; jnz r3 -> 0 */
    const uint8_t code[] = {ADD, 0, 1, XOR, 1, 0, MUL, 2, 0, SHL, 0, 0, SUB, 1, 2,
                            DEC, 3, 0, JNZ, 3, 0, HALT, 0, 0};
    uint64_t acc = 0;
    for (int i = 0; i < 400; i++) acc += interp(code, (uint64_t)i * 7919);
    uint32_t x = 1, odd = 0, big = 0;
    for (int i = 0; i < 20000000; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        if (x & 1) odd++;
        else if ((x & 6) == 2) big += x >> 28;
        else if (x > 0x80000000u) big ^= x;
        else odd += 3;
    }
    printf("branchy %016llx %u %u\n", (unsigned long long)acc, odd, big);
    return 0;
}
