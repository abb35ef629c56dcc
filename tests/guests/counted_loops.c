/* Counted loops (one block ending in `bne` back to itself, cfg/loops.py), written in asm so the
 * shapes are exact: the translation runs them without per-access window checks when a check on
 * entry proves every base stays in the direct window, and with the checks otherwise.  Each case
 * prints what it computed; faults print the faulting address and the loop's registers from the
 * signal frame.  Translated, the output must be what qemu-riscv64 prints.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf recover;
static volatile uint64_t counter_at_alarm;

/* Where the long count_gt loop below was when the timer fired: t1 is its counter. */
static void on_alarm(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info;
    if (!counter_at_alarm)
        counter_at_alarm = ((ucontext_t *)context)->uc_mcontext.__gregs[6];
}

static void on_segv(int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    /* a0 is the pointer the loops step and a2 the sum so far (page offsets: the area's address
     * may differ). */
    printf("  SIG%s at +%lx: a0=+%lx a2=%lx\n", sig == SIGSEGV ? "SEGV" : "BUS",
           (unsigned long)((uintptr_t)info->si_addr & 0xfff), (unsigned long)(uc->uc_mcontext.__gregs[10] & 0xfff),
           (unsigned long)uc->uc_mcontext.__gregs[12]);
    siglongjmp(recover, 1);
}

/* sum of the words in [p, end): p steps by 8 until it equals end. */
static uint64_t sum_up(uint64_t *p, uint64_t *end)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)end, a2 __asm__("a2") = 0;
    __asm__ volatile("1: ld t0, 0(a0)\n add a2, a2, t0\n addi a0, a0, 8\n bne a0, a1, 1b\n"
                     : "+r"(a0), "+r"(a2) : "r"(a1) : "t0", "memory");
    return a2;
}

/* walks down from p to end (exclusive), 16 bytes a step in two addis, adding the word at -8 and
 * adding 3 to the word at the invariant q. */
static uint64_t sum_down(uint64_t *p, uint64_t *end, uint64_t *q)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)end, a2 __asm__("a2") = 0;
    register uint64_t a3 __asm__("a3") = (uint64_t)q;
    __asm__ volatile("1: ld t0, -8(a0)\n add a2, a2, t0\n ld t2, 0(a3)\n addi t2, t2, 3\n sd t2, 0(a3)\n"
                     " addi a0, a0, -8\n addi a0, a0, -8\n bne a1, a0, 1b\n"
                     : "+r"(a0), "+r"(a2) : "r"(a1), "r"(a3) : "t0", "t2", "memory");
    return a2;
}

/* copies n bytes from p to p + 2000 while a down-counter in t1 reaches zero (the bound is x0). */
static uint64_t copy_bytes(unsigned char *p, uint64_t n)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a2 __asm__("a2") = 0, t1 __asm__("t1") = n;
    __asm__ volatile("1: lbu t0, 0(a0)\n sb t0, 2000(a0)\n add a2, a2, t0\n addi a0, a0, 1\n addi t1, t1, -1\n"
                     " bnez t1, 1b\n"
                     : "+r"(a0), "+r"(a2), "+r"(t1) : : "t0", "memory");
    return a2;
}

/* zeroes [p, end) a byte at a time: in a plain copy, a loop LLVM would make a memset of. */
static void zero_bytes(unsigned char *p, unsigned char *end)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)end;
    __asm__ volatile("1: sb zero, 0(a0)\n addi a0, a0, 1\n bne a0, a1, 1b\n" : "+r"(a0) : "r"(a1) : "memory");
}

/* The ordered latches: while p < end (signed, 4-byte steps: end need not be a multiple away) ... */
static uint64_t sum_lt(uint32_t *p, void *end)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)end, a2 __asm__("a2") = 0;
    __asm__ volatile("1: lw t0, 0(a0)\n add a2, a2, t0\n addi a0, a0, 4\n blt a0, a1, 1b\n"
                     : "+r"(a0), "+r"(a2) : "r"(a1) : "t0", "memory");
    return a2;
}

/* ... while p <= last (unsigned, as bgeu last, p) ... */
static uint64_t sum_le(uint16_t *p, void *last)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)last, a2 __asm__("a2") = 0;
    __asm__ volatile("1: lhu t0, 0(a0)\n add a2, a2, t0\n addi a0, a0, 2\n bgeu a1, a0, 1b\n"
                     : "+r"(a0), "+r"(a2) : "r"(a1) : "t0", "memory");
    return a2;
}

/* ... down while p >= end (signed) ... */
static uint64_t sum_ge_down(uint64_t *p, void *end)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)end, a2 __asm__("a2") = 0;
    __asm__ volatile("1: ld t0, 0(a0)\n add a2, a2, t0\n addi a0, a0, -8\n bge a0, a1, 1b\n"
                     : "+r"(a0), "+r"(a2) : "r"(a1) : "t0", "memory");
    return a2;
}

/* ... and a counter going down by 2 while it is above 5 (unsigned, as bltu 5, t1): three times
 * the sum so far, plus the byte at the invariant q and the counter (a recurrence LLVM cannot
 * compute in closed form, so the loop really runs its iterations). */
static uint64_t count_gt(signed char *q, uint64_t n)
{
    register uint64_t a1 __asm__("a1") = 5, a2 __asm__("a2") = 0, a3 __asm__("a3") = (uint64_t)q;
    register uint64_t t1 __asm__("t1") = n;
    __asm__ volatile("1: lb t0, 0(a3)\n slli t2, a2, 1\n add a2, a2, t2\n add a2, a2, t0\n add a2, a2, t1\n"
                     " addi t1, t1, -2\n bltu a1, t1, 1b\n"
                     : "+r"(a2), "+r"(t1) : "r"(a1), "r"(a3) : "t0", "t2", "memory");
    return a2 * 1000 + t1;
}

/* acc + the doubles in [p, end), each fadd rounding in frm's mode. */
static double fsum(double *p, double *end, double acc)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)end;
    __asm__ volatile("1: fld ft0, 0(a0)\n fadd.d %0, %0, ft0, dyn\n addi a0, a0, 8\n bne a0, a1, 1b\n"
                     : "+f"(acc), "+r"(a0) : "r"(a1) : "ft0", "memory");
    return acc;
}

/* acc + the products of the doubles in [p, end) and those 2048 bytes on, fused, in frm's mode. */
static double fdot(double *p, double *end, double acc)
{
    register uint64_t a0 __asm__("a0") = (uint64_t)p, a1 __asm__("a1") = (uint64_t)end;
    __asm__ volatile("1: fld ft0, 0(a0)\n fld ft1, 2040(a0)\n fmadd.d %0, ft0, ft1, %0, dyn\n addi a0, a0, 8\n"
                     " bne a0, a1, 1b\n"
                     : "+f"(acc), "+r"(a0) : "r"(a1) : "ft0", "ft1", "memory");
    return acc;
}

static unsigned char *map(void *at, size_t len)
{
    void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED_NOREPLACE : 0), -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void fill(uint64_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (i + 1) * 0x9e3779b97f4a7c15ull >> 7;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    unsigned char *area = map(NULL, 8 * 4096);
    uint64_t *w = (uint64_t *)area;
    fill(w, 8 * 512);
    printf("sum_up 1:    %lx\n", (unsigned long)sum_up(w, w + 1));
    printf("sum_up 2048: %lx\n", (unsigned long)sum_up(w, w + 2048));
    uint64_t q = 3;
    printf("sum_down:    %lx q=%lx\n", (unsigned long)sum_down(w + 1024, w + 2, &q), (unsigned long)q);
    printf("copy_bytes:  %lx\n", (unsigned long)copy_bytes(area + 100, 3000));
    printf("copied:      %lx\n", (unsigned long)sum_up(w, w + 1024));
    zero_bytes(area + 4001, area + 4096 + 77);
    printf("zeroed:      %lx\n", (unsigned long)sum_up(w, w + 1024));

    printf("sum_lt:      %lx %lx %lx\n", (unsigned long)sum_lt((uint32_t *)w, (char *)(w + 100) + 2),
           (unsigned long)sum_lt((uint32_t *)w, w), (unsigned long)sum_lt((uint32_t *)w, w + 1000));
    printf("sum_le:      %lx %lx\n", (unsigned long)sum_le((uint16_t *)w, (char *)(w + 300) + 1),
           (unsigned long)sum_le((uint16_t *)w, w));
    printf("sum_ge_down: %lx %lx\n", (unsigned long)sum_ge_down(w + 700, w + 3), (unsigned long)sum_ge_down(w + 9, w + 9));
    printf("count_gt:    %lx %lx %lx\n", (unsigned long)count_gt((signed char *)area + 77, 1000),
           (unsigned long)count_gt((signed char *)area + 78, 6), (unsigned long)count_gt((signed char *)area + 79, 2));

    /* 40 million iterations: a timer's signal arrives in the middle (the fast copy polls between
     * runs of 65536 iterations), with the counter somewhere between its first and last value. */
    struct sigaction alarm_action;
    memset(&alarm_action, 0, sizeof alarm_action);
    alarm_action.sa_sigaction = on_alarm;
    alarm_action.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &alarm_action, NULL);
    struct itimerval once = {.it_value = {.tv_usec = 5000}};
    setitimer(ITIMER_REAL, &once, NULL);
    printf("count_gt long: %lx\n", (unsigned long)count_gt((signed char *)area + 80, 80000001));
    printf("signal in the loop: %s\n", counter_at_alarm > 5 && counter_at_alarm < 80000001 ? "yes" : "no");

    /* A hole in the middle: the fault comes from the loop without checks, at the exact word. */
    munmap(area + 5 * 4096, 4096);
    if (!sigsetjmp(recover, 1))
        printf("hole:        %lx\n", (unsigned long)sum_up((uint64_t *)(area + 4 * 4096), (uint64_t *)(area + 7 * 4096)));
    /* A read-only page: the ninth store faults. */
    mprotect(area + 7 * 4096, 4096, PROT_READ);
    if (!sigsetjmp(recover, 1))
        printf("read-only:   %lx\n", (unsigned long)copy_bytes(area + 7 * 4096 - 2000 - 8, 64));
    /* The bound is never met (the distance is not a multiple of the step): checked all the way,
     * until the pointer runs into the hole. */
    if (!sigsetjmp(recover, 1))
        printf("overrun:     %lx\n", (unsigned long)sum_up((uint64_t *)(area + 4 * 4096 + 4), (uint64_t *)(area + 4 * 4096 + 64)));

    /* A run of the plain copy (whose pages the window's access map grants) that reaches the hole
     * halfway: the fast copy runs it and faults at the hole's first word. */
    if (!sigsetjmp(recover, 1))
        printf("hole halfway: %lx\n", (unsigned long)sum_up((uint64_t *)(area + 4 * 4096 + 2048), (uint64_t *)(area + 7 * 4096)));
    /* Plain runs, then the pages change under them: page 1 read-only, then page 0 unmapped.  The
     * same loops fault at their first store and first load. */
    printf("plain:       %lx\n", (unsigned long)copy_bytes(area + 4096 - 2000, 1000));
    printf("plain sum:   %lx\n", (unsigned long)sum_up(w, w + 512));
    mprotect(area + 4096, 4096, PROT_READ);
    if (!sigsetjmp(recover, 1))
        printf("now read-only: %lx\n", (unsigned long)copy_bytes(area + 4096 - 2000, 1000));
    munmap(area, 4096);
    if (!sigsetjmp(recover, 1))
        printf("now unmapped: %lx\n", (unsigned long)sum_up(w, w + 512));

    /* Above the direct window (2^38): every access takes the slow path. */
    unsigned char *high = map((void *)0x4000000000ull, 2 * 4096);
    if (high) {
        fill((uint64_t *)high, 1024);
        printf("high:        %lx\n", (unsigned long)sum_up((uint64_t *)high, (uint64_t *)(high + 8192)));
        printf("high bytes:  %lx\n", (unsigned long)copy_bytes(high + 8, 4000));
    } else {
        printf("high:        no mapping\n");
    }

    /* Rounding in frm's mode, for each mode: RMM is done in software.  The first additions are
     * ties (1 + 2^-53), which only RMM and RUP round up. */
    double *d = (double *)(area + 2 * 4096);
    for (int i = 0; i < 600; i++)
        d[i] = i < 100 ? 0x1p-53 : 1.0 / (3 + i) - (i & 1) * 1e-17;
    static const char *names[] = {"rne", "rtz", "rdn", "rup", "rmm"};
    for (unsigned rm = 0; rm < 5; rm++) {
        double r;
        uint64_t bits, flags;
        __asm__ volatile("fsrm %0" : : "r"((uint64_t)rm));
        __asm__ volatile("fsflags zero");
        r = fsum(d, d + 300, 1.0);
        __asm__ volatile("frflags %0" : "=r"(flags));
        memcpy(&bits, &r, sizeof bits);
        printf("fsum %s:    %016lx flags %lx\n", names[rm], (unsigned long)bits, (unsigned long)flags);
        __asm__ volatile("fsflags zero");
        r = fdot(d + 100, d + 300, -0.5);
        __asm__ volatile("frflags %0" : "=r"(flags));
        __asm__ volatile("fsrm zero");
        memcpy(&bits, &r, sizeof bits);
        printf("fdot %s:    %016lx flags %lx\n", names[rm], (unsigned long)bits, (unsigned long)flags);
    }
    return 0;
}
