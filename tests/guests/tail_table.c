/* Tail calls through a table of function pointers picked by data: each handler ends with
 * `return table[s & 7](...)`, a `jr` through a register whose index (an xorshift of s) discovery
 * cannot follow.  The table holds the handler's own entry, so discovery takes the jump for a
 * computed goto with that one target; every other target is another handler's entry, reached by
 * a tail call (a chain of 1,000,000 jumps per run: a host frame per jump would overflow). */
#include <stdint.h>
#include <stdio.h>

typedef uint64_t (*op_fn)(uint64_t, uint64_t, long);
extern op_fn volatile table[8];

#if defined(__has_attribute) && __has_attribute(musttail)
#define TAIL __attribute__((musttail))
#else
#define TAIL /* gcc before 15: -O2 makes the sibling call anyway */
#endif
#define STEP s ^= s << 13; s ^= s >> 7; s ^= s << 17
#define OP(name, expr)                                                     \
    __attribute__((noinline)) uint64_t name(uint64_t a, uint64_t s, long n) \
    {                                                                      \
        if (n == 0)                                                        \
            return a;                                                      \
        STEP;                                                              \
        a = (expr);                                                        \
        TAIL return table[s & 7](a, s, n - 1);                             \
    }

OP(op0, a + s)
OP(op1, a ^ (s << 1))
OP(op2, a * (s | 1))
OP(op3, (a << 7) | (a >> 57))
OP(op4, a - (s >> 2))
OP(op5, (a ^ s) * 0x100000001b3u)
OP(op6, a < s ? a + 1 : s + 7)
OP(op7, (a >> 1) + (s >> 1) + 3)

op_fn volatile table[8] = {op0, op1, op2, op3, op4, op5, op6, op7};

int main(void)
{
    uint64_t acc = 0;
    for (int i = 0; i < 8; i++)
        acc += table[i](acc, 88172645463325252u + (uint64_t)i, 1000000);
    printf("tail table %016llx\n", (unsigned long long)acc);
    return 0;
}
