/* Code that static discovery cannot find: the h_* functions are reached only through pointers
 * computed at run time.  No plain pointer to them is stored in data (each table entry is the
 * function's address plus a large addend, far outside the image, subtracted again at run time
 * with a key computed by a loop over a volatile value), and no code outside them loads their
 * address with auipc/lui + addi.  Built stripped (-s) and without unwind tables
 * (-fno-asynchronous-unwind-tables -fno-unwind-tables), neither .symtab nor .eh_frame names them,
 * so a translator needs a fallback JIT to run them.  Inside the hidden group, functions call each
 * other directly, recursively, through a switch, and back into known code (qsort, printf, a
 * callback from main).  argv[1]: n (default 20). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define HIDDEN static __attribute__((noinline))
#define KSTEP 0x10000000000ll /* 2^40: addend unit; entry i holds fn + (i + 1) * KSTEP */

typedef void (*report_fn)(const char *what, long value);

HIDDEN long h_fib(long n) { return n < 2 ? n : h_fib(n - 1) + h_fib(n - 2); }

/* Mutual recursion: neither is called from outside the hidden group. */
HIDDEN int h_odd(unsigned n);
HIDDEN int h_even(unsigned n) { return n == 0 ? 1 : h_odd(n - 1); }
HIDDEN int h_odd(unsigned n) { return n == 0 ? 0 : h_even(n - 1); }

/* Count the primes below n: nested loops and conditional branches. */
HIDDEN long h_primes(long n)
{
    long count = 0;
    for (long i = 2; i < n; i++) {
        int prime = 1;
        for (long d = 2; d * d <= i; d++)
            if (i % d == 0) { prime = 0; break; }
        count += prime;
    }
    return count;
}

/* A dense switch whose cases do different work (a jump table at -O2). */
HIDDEN long h_op(int op, long a, long b)
{
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return b ? a / b : -1;
    case 4: return a << (b & 15);
    case 5: return h_fib(a & 15) + b;
    case 6: return h_primes(a + b);
    case 7: printf("    op 7 prints a=%ld b=%ld\n", a, b); return a ^ b;
    case 8: return h_even((unsigned)(a + b)) ? 100 : 200;
    default: return 0;
    }
}

/* qsort comparator, called from libc's (known) code. */
HIDDEN int h_cmp(const void *x, const void *y)
{
    long a = *(const long *)x, b = *(const long *)y;
    long ka = a % 10, kb = b % 10;   /* by last digit, then by value */
    if (ka != kb) return ka < kb ? -1 : 1;
    return (a > b) - (a < b);
}

/* The hidden group's entry: calls the others directly and main's callback indirectly. */
HIDDEN long h_driver(long n, report_fn report)
{
    long total = 0;
    for (long i = 0; i <= n; i += 5) {
        long f = h_fib(i);
        report("fib", f);
        total += f;
    }
    for (int op = 0; op <= 9; op++) {
        long r = h_op(op, n + op, 3);
        printf("  op %d (%ld, 3) = %ld\n", op, n + op, r);
        total = total * 31 + r;
    }
    report("primes below 1000", h_primes(1000));
    report("even(n)", h_even((unsigned)n));
    return total;
}

/* Entries of the encoded table: address + (index + 1) * KSTEP; `volatile` keeps the compiler from
 * folding "load entry, subtract key" back into the plain address (an auipc + addi). */
enum { DRIVER, FIB, CMP, OP, NHIDDEN };
static const volatile uintptr_t encoded[NHIDDEN] = {
    [DRIVER] = (uintptr_t)((char *)h_driver + 1 * KSTEP),
    [FIB] = (uintptr_t)((char *)h_fib + 2 * KSTEP),
    [CMP] = (uintptr_t)((char *)h_cmp + 3 * KSTEP),
    [OP] = (uintptr_t)((char *)h_op + 4 * KSTEP),
};
static volatile long step = KSTEP;

/* Decoded addresses live only in .bss, masked, and are unmasked at each use. */
static uintptr_t masked[NHIDDEN], mask;

static void decode_all(void)
{
    mask = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < NHIDDEN; i++) {
        long key = 0;
        for (int j = 0; j <= i; j++)
            key += step;
        masked[i] = (encoded[i] - (uintptr_t)key) ^ mask;
    }
}
static void *hidden(int i) { return (void *)(masked[i] ^ mask); }

static void report(const char *what, long value) { printf("  report %s: %ld\n", what, value); }

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20;
    decode_all();

    /* Hidden code runs before anything is printed, so the first miss is a hidden function. */
    long (*fib)(long) = (long (*)(long))hidden(FIB);
    long fibs[4];
    for (int i = 0; i < 4; i++)
        fibs[i] = fib(10 + 5 * i);

    long (*driver)(long, report_fn) = (long (*)(long, report_fn))hidden(DRIVER);
    printf("driver(%ld):\n", n);
    printf("driver total = %ld\n", driver(n, report));

    for (int i = 0; i < 4; i++)
        printf("fib(%d) = %ld\n", 10 + 5 * i, fibs[i]);

    long (*op)(int, long, long) = (long (*)(int, long, long))hidden(OP);
    long acc = 0;
    for (int k = 0; k < 9; k++)
        acc += op(k, 7 + k, 2);
    printf("op sum = %ld\n", acc);

    long v[12];
    for (int i = 0; i < 12; i++)
        v[i] = (i * 7919 + n * 13) % 1000;
    qsort(v, 12, sizeof v[0], (int (*)(const void *, const void *))hidden(CMP));
    printf("sorted:");
    for (int i = 0; i < 12; i++)
        printf(" %ld", v[i]);
    printf("\n");
    return 0;
}
