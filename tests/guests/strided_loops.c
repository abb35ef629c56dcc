/* Strided loops (cfg/loops.py): loops that end on loaded data, whose addresses move by a few bytes
 * per iteration, written in asm so the shapes are exact.  The translation runs them without
 * per-access window checks when each walk starts in the direct window; a walk that leaves it
 * (past 2^38, below 0) or reaches a page it may not touch faults into a guard page, and the
 * checked copy takes over.  Each case prints what it computed; faults print the faulting address
 * and the loop's registers from the signal frame.  Translated, the output must be what
 * qemu-riscv64 prints.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define WINDOW_END 0x4000000000ull /* 2^38, the end of the direct window */

static sigjmp_buf recover;

/* Where two mappings meet for the walks across: 2^38 if the guest can map there (translated),
 * else an address where it can (qemu keeps 2^38 for itself): the loops' results and faults
 * relative to it are the same. */
static uint64_t boundary;

/* Addresses near the boundary print relative to it; others as page offsets (where mmap puts a
 * mapping differs); small numbers as they are. */
static void show(const char *name, uint64_t v)
{
    if (v - (boundary - 8192) < 16384)
        printf(" %s=B%+ld", name, (long)(v - boundary));
    else if (v < (1ull << 32))
        printf(" %s=%lx", name, (unsigned long)v);
    else
        printf(" %s=+%lx", name, (unsigned long)(v & 0xfff));
}

/* Whether the handler also prints fa0 (for the FP walk). */
static int show_fa0;

static void on_segv(int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    printf("  SIG%s:", sig == SIGSEGV ? "SEGV" : "BUS");
    show("at", (uint64_t)(uintptr_t)info->si_addr);
    show("a0", uc->uc_mcontext.__gregs[10]);
    show("a1", uc->uc_mcontext.__gregs[11]);
    show("a2", uc->uc_mcontext.__gregs[12]);
    if (show_fa0) {
        uint64_t fa0;
        memcpy(&fa0, &uc->uc_mcontext.__fpregs.__d.__f[10], sizeof fa0);
        printf(" fa0=%016lx", (unsigned long)fa0);
    }
    printf("\n");
    siglongjmp(recover, 1);
}

/* strlen the way zig's compiler_rt does it: the address is a0 + a1, a1 counts up. */
static uint64_t scan(const unsigned char *p)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = 0, a2 __asm__("a2") = 0;
    __asm__ volatile("1: add a2, a0, a1\n lbu a2, 0(a2)\n addi a1, a1, 1\n bnez a2, 1b\n"
                     : "+r"(a1), "+r"(a2) : "r"(a0) : "memory");
    return a1 - 1;
}

/* strncmp's shape (three blocks, two exits before the latch): the byte difference at the first
 * mismatch or zero, within n bytes. */
static int64_t compare(const unsigned char *p, const unsigned char *q, uint64_t n)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)q, a2 __asm__("a2") = 1;
    register uint64_t a3 __asm__("a3") = 0, a5 __asm__("a5") = n;
    __asm__ volatile("1: beqz a2, 2f\n beqz a5, 2f\n lbu a2, 0(a0)\n lbu a3, 0(a1)\n addi a5, a5, -1\n"
                     " addi a0, a0, 1\n addi a1, a1, 1\n beq a2, a3, 1b\n 2:\n"
                     : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3), "+r"(a5) : : "memory");
    return (int64_t)a2 - (int64_t)a3;
}

/* Writes v over each byte up to and including the first zero, reading it first; returns the
 * count. */
static uint64_t fill_to_zero(unsigned char *p, uint64_t v)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = v, a2 __asm__("a2") = 0;
    __asm__ volatile("1: lbu t0, 0(a0)\n sb a1, 0(a0)\n addi a0, a0, 1\n addi a2, a2, 1\n bnez t0, 1b\n"
                     : "+r"(a0), "+r"(a2) : "r"(a1) : "t0", "memory");
    return a2;
}

/* Walks down from p to the first zero byte, summing; gcc's shape: the test at the top and a `j`
 * back from the latch. */
static uint64_t sum_down_to_zero(const unsigned char *p)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = 0, a2 __asm__("a2") = 0;
    __asm__ volatile("1: lbu a1, 0(a0)\n beqz a1, 2f\n add a2, a2, a1\n addi a0, a0, -1\n j 1b\n 2:\n"
                     : "+r"(a0), "+r"(a1), "+r"(a2) : : "memory");
    return a2;
}

/* Indexes words by a counter scaled with slli, and reads a second word 2040 bytes on (both in
 * one family); adds pairs until a zero word. */
static uint64_t pairs(const uint64_t *w)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)w, a1 __asm__("a1") = 0, a2 __asm__("a2") = 0;
    __asm__ volatile("1: slli t0, a1, 3\n add t0, t0, a0\n ld t1, 0(t0)\n ld t2, 2040(t0)\n addi a1, a1, 1\n"
                     " add a2, a2, t2\n add a2, a2, t1\n bnez t1, 1b\n"
                     : "+r"(a1), "+r"(a2) : "r"(a0) : "t0", "t1", "t2", "memory");
    return a2;
}

/* Offsets -2048 and 2040 off one base: 4088 bytes apart, more than a family may move, so those
 * accesses stay checked. */
static uint64_t far_apart(const uint64_t *w)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)w, a2 __asm__("a2") = 0;
    __asm__ volatile("1: ld t1, -2048(a0)\n ld t2, 2040(a0)\n addi a0, a0, 8\n add a2, a2, t2\n bnez t1, 1b\n"
                     : "+r"(a0), "+r"(a2) : : "t1", "t2", "memory");
    return a2;
}

/* A histogram of the bytes up to the first zero, in the words of `table` indexed by each byte
 * masked with `mask` (an unchanged register) and then with 63: the addresses are not linear,
 * but each lies in a range the entry check can test whole. */
static uint64_t histogram(const unsigned char *p, uint64_t *table, uint64_t mask)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)table, a2 __asm__("a2") = mask;
    __asm__ volatile("1: lbu t0, 0(a0)\n and t1, t0, a2\n andi t1, t1, 63\n slli t1, t1, 3\n add t1, t1, a1\n"
                     " ld t2, 0(t1)\n addi t2, t2, 1\n sd t2, 0(t1)\n addi a0, a0, 1\n bnez t0, 1b\n"
                     : "+r"(a0) : "r"(a1), "r"(a2) : "t0", "t1", "t2", "memory");
    return a0 - (uint64_t)p;
}

/* Counts the bytes from p to the first zero into a cleared table; prints the count and a digest
 * of the table. */
static void print_histogram(const char *name, const unsigned char *p, uint64_t *table)
{
    memset(table, 0, 64 * 8);
    uint64_t count = histogram(p, table, 0xff), digest = 0;
    for (int i = 0; i < 64; i++)
        digest = digest * 3 + table[i];
    printf("%s %lu %lx\n", name, (unsigned long)count, (unsigned long)digest);
}

/* Sums doubles in frm's mode until a +0.0. */
static double fsum_to_zero(const double *d, double acc)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)d;
    __asm__ volatile("1: fld ft0, 0(a0)\n fadd.d %0, %0, ft0, dyn\n addi a0, a0, 8\n fmv.x.d t0, ft0\n bnez t0, 1b\n"
                     : "+f"(acc), "+r"(a0) : : "ft0", "t0", "memory");
    return acc;
}

/* Sums doubles until a +0.0, adding each before loading the next: at the load, the sum is an
 * FP result the translation holds in a host register.  Where +inf then -inf end the data before
 * a hole, the sum is a NaN when the walk faults: the frame shows RISC-V's canonical NaN, not
 * the host's. */
static double fsum_ahead(const double *d)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)(d + 1);
    register double fa0 __asm__("fa0") = 0.0, ft0 __asm__("ft0") = d[0];
    __asm__ volatile("1: fadd.d fa0, fa0, ft0\n fld ft0, 0(a0)\n addi a0, a0, 8\n fmv.x.d t0, ft0\n bnez t0, 1b\n"
                     : "+f"(fa0), "+f"(ft0), "+r"(a0) : : "t0", "memory");
    return fa0;
}

/* A mapping at `at` (a hint: qemu's mmap does not know MAP_FIXED_NOREPLACE), or NULL. */
static unsigned char *map(uint64_t at, size_t len, int prot)
{
    void *p = mmap((void *)at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED && at && (uint64_t)p != at) {
        munmap(p, len);
        return NULL;
    }
    return p == MAP_FAILED ? NULL : p;
}

static void bytes(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(1 + (i * 2654435761u + seed) % 255);
}

int main(void)
{
    unsigned char *below = NULL, *above = NULL;
    static const uint64_t boundaries[] = {WINDOW_END, 0x3000000000ull};
    for (int i = 0; i < 2 && !above; i++) {
        boundary = boundaries[i];
        below = map(boundary - 4096, 4096, PROT_READ | PROT_WRITE);
        above = map(boundary, 4096, PROT_READ | PROT_WRITE);
        if (!above && below)
            munmap(below, 4096);
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    unsigned char *area = map(0, 8 * 4096, PROT_READ | PROT_WRITE);
    bytes(area, 8 * 4096, 7);
    area[3000] = 0;
    printf("scan:          %lu %lu\n", (unsigned long)scan(area), (unsigned long)scan(area + 3000));
    memcpy(area + 4096, area, 2000);
    area[4096 + 1500] ^= 0x40;
    printf("compare:       %ld %ld %ld %ld\n", (long)compare(area, area + 4096, 4000),
           (long)compare(area, area + 4096, 1500), (long)compare(area + 2999, area + 2999, 10),
           (long)compare(area, area + 4096, 0));
    area[6000] = 0;
    area[6100] = 0;
    uint64_t filled = fill_to_zero(area + 5000, 0x5a);
    printf("fill_to_zero:  %lu %lu\n", (unsigned long)filled, (unsigned long)scan(area + 4990));
    area[100] = 0;
    printf("sum_down:      %lx\n", (unsigned long)sum_down_to_zero(area + 2900));
    uint64_t *w = (uint64_t *)(area + 8192);
    for (int i = 0; i < 1024; i++)
        w[i] = (i + 1) * 0x9e3779b97f4a7c15ull >> 9;
    w[200] = 0;
    w[300] = 0;
    printf("pairs:         %lx\n", (unsigned long)pairs(w));
    printf("far_apart:     %lx\n", (unsigned long)far_apart(w + 290));

    print_histogram("histogram:    ", area + 1000, (uint64_t *)(area + 3 * 4096));

    /* Into a hole: the fault comes at the hole's first byte, from the loop without checks. */
    bytes(area + 4 * 4096, 4096, 3);
    munmap(area + 5 * 4096, 4096);
    if (!sigsetjmp(recover, 1))
        printf("scan hole:     %lu\n", (unsigned long)scan(area + 4 * 4096 + 10));
    if (!sigsetjmp(recover, 1))
        printf("compare hole:  %ld\n", (long)compare(area + 4 * 4096 + 7, area + 4 * 4096 + 7, 99999));
    /* A read-only page: the store at its first byte faults. */
    bytes(area + 6 * 4096, 2 * 4096, 5);
    mprotect(area + 7 * 4096, 4096, PROT_READ);
    if (!sigsetjmp(recover, 1))
        printf("fill read-only: %lu\n", (unsigned long)fill_to_zero(area + 7 * 4096 - 64, 0x11));
    /* A table whose last words are in the hole: the first byte that indexes one faults. */
    if (!sigsetjmp(recover, 1))
        printf("histogram hole: %lu\n", (unsigned long)histogram(area + 4 * 4096 + 100,
                                                                  (uint64_t *)(area + 5 * 4096 - 256), 0x3f));
    /* Down off the start of the mapping, into what is below it. */
    munmap(area + 3 * 4096, 4096);
    area[4 * 4096 + 50] = 0xff;
    if (!sigsetjmp(recover, 1))
        printf("down hole:     %lx\n", (unsigned long)sum_down_to_zero(area + 4 * 4096 + 40));
    /* Doubles up to the hole above, none +0.0, the last two +inf and -inf: the sum is a NaN
     * computed just before the walk faults. */
    double *walk = (double *)(area + 4 * 4096);
    for (int i = 0; i < 512; i++)
        walk[i] = i == 510 ? 1.0 / 0.0 : i == 511 ? -1.0 / 0.0 : 1.0;
    show_fa0 = 1;
    if (!sigsetjmp(recover, 1))
        printf("fsum hole:     %g\n", fsum_ahead(walk));
    show_fa0 = 0;

    /* Across the end of the direct window: two mappings meet at 2^38.  The walk leaves the
     * window into its guard page, and the checked copy goes on above it (`boundary`). */
    if (below && above) {
        bytes(below, 4096, 11);
        bytes(above, 4096, 13);
        above[300] = 0;
        printf("scan across:   %lu\n", (unsigned long)scan(below + 4000));
        printf("compare across: %ld\n", (long)compare(below + 3000, below + 3000, 2000));
        printf("fill across:   %lu\n", (unsigned long)fill_to_zero(below + 4090, 0x33));
        below[10] = 0;
        printf("down across:   %lx\n", (unsigned long)sum_down_to_zero(above + 200));
        /* A table across the boundary: its range is not all in the window, the checked copy
         * runs. */
        print_histogram("histogram across:", below + 3000, (uint64_t *)(above - 200));
        bytes(below, 4096, 17);
        munmap(above, 4096);
        /* Nothing above the boundary now: the fault is at the boundary itself. */
        if (!sigsetjmp(recover, 1))
            printf("scan off end:  %lu\n", (unsigned long)scan(below + 4000));
        if (!sigsetjmp(recover, 1))
            printf("fill off end:  %lu\n", (unsigned long)fill_to_zero(below + 4000, 0x44));
    } else {
        printf("across:        no mapping\n");
    }

    /* Rounding in frm's mode, for each mode (RMM in software); ties first (1 + 2^-53). */
    double *d = (double *)(area + 6 * 4096);
    for (int i = 0; i < 400; i++)
        d[i] = i < 100 ? 0x1p-53 : 1.0 / (3 + i) - (i & 1) * 1e-17;
    d[399] = 0.0;
    static const char *names[] = {"rne", "rtz", "rdn", "rup", "rmm"};
    for (unsigned rm = 0; rm < 5; rm++) {
        uint64_t bits, flags;
        __asm__ volatile("fsrm %0" : : "r"((uint64_t)rm));
        __asm__ volatile("fsflags zero");
        double r = fsum_to_zero(d, 1.0);
        __asm__ volatile("frflags %0" : "=r"(flags));
        __asm__ volatile("fsrm zero");
        memcpy(&bits, &r, sizeof bits);
        printf("fsum %s:      %016lx flags %lx\n", names[rm], (unsigned long)bits, (unsigned long)flags);
    }
    return 0;
}
