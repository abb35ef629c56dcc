/* Byte scans (aotbuilder/cfg/loops.py): one-block loops that load the next byte and go round
 * while it differs from a value (strlen, a memchr without a bound) or equals it (skipping
 * blanks), which the translation runs 16 bytes at a time within a page.  Each loop is asm, so
 * its shape does not depend on the compiler.  Strings of many lengths and alignments, across a
 * page boundary, ending on a page's last byte; a value above 255, which no byte equals; two
 * loops that are not scans (a stride of 2, a sum carried between iterations).  Then scans that
 * run into a page that cannot be read: the SIGSEGV handler prints the faulting offset and the
 * loop's registers, and ends the loop.  Offsets are from the mapping, which qemu and the
 * translation may place differently. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define PAGE 4096
static char *base;
static uint64_t ender; /* what the handler puts in the loaded byte's register to end the loop */
static int byte_reg;

static void on_segv(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    ucontext_t *uc = context;
    uint64_t *x = (uint64_t *)uc->uc_mcontext.__gregs;
    uint64_t loaded = x[byte_reg] - (byte_reg == 12 ? (uint64_t)base : 0); /* strlen's: an address */
    printf("fault at +%ld: a0=+%ld a1=%ld x%d=%ld\n", (long)((char *)info->si_addr - base),
           (long)((char *)x[10] - base), (long)x[11], byte_reg, (long)loaded);
    x[0] += 4; /* past the load (uncompressed) */
    x[byte_reg] = ender;
}

#define LOAD(insn) ".option push\n .option norvc\n " insn "\n .option pop\n"

/* zig's compiler_rt strlen: an index over a base. */
static long length(const char *s)
{
    register const char *a0 __asm__("a0") = s;
    register long a1 __asm__("a1");
    __asm__ volatile("li a1, 0\n1: add a2, a0, a1\n" LOAD("lbu a2, 0(a2)") "addi a1, a1, 1\n bnez a2, 1b\n"
                     "addi a1, a1, -1"
                     : "=r"(a1), "+r"(a0) : : "a2", "memory");
    return a1;
}

/* Past the first byte equal to c (a memchr without a bound). */
static const char *after(const char *s, long c)
{
    register const char *a0 __asm__("a0") = s;
    register long a1 __asm__("a1") = c;
    /* t0 = 7 first: a scan that faults at once shows that, not what the code before left. */
    __asm__ volatile("li t0, 7\n1:" LOAD("lbu t0, 0(a0)") "addi a0, a0, 1\n bne t0, a1, 1b"
                     : "+r"(a0) : "r"(a1) : "t0", "memory");
    return a0;
}

/* Past the first byte unequal to c. */
static const char *skip(const char *s, long c)
{
    register const char *a0 __asm__("a0") = s;
    register long a1 __asm__("a1") = c;
    __asm__ volatile("1:" LOAD("lbu t0, 0(a0)") "addi a0, a0, 1\n beq t0, a1, 1b" : "+r"(a0) : "r"(a1) : "t0", "memory");
    return a0;
}

/* Not scans: every other byte up to a NUL, and the sum of the bytes up to one. */
static const char *every_other(const char *s)
{
    register const char *a0 __asm__("a0") = s;
    __asm__ volatile("1:" LOAD("lbu t0, 0(a0)") "addi a0, a0, 2\n bnez t0, 1b" : "+r"(a0) : : "t0", "memory");
    return a0;
}

static long sum(const char *s)
{
    register const char *a0 __asm__("a0") = s;
    register long t1 __asm__("t1") = 0;
    __asm__ volatile("li t0, 0\n1: add t1, t1, t0\n" LOAD("lbu t0, 0(a0)") "addi a0, a0, 1\n bnez t0, 1b"
                     : "+r"(a0), "+r"(t1) : : "t0", "memory");
    return t1;
}

static char *fill(long at, long n, char c)
{
    memset(base, 'x', 2 * PAGE);
    memset(base + at, c, n);
    base[at + n] = base[at + n + 1] = 0; /* two: every_other may step over one */
    return base + at;
}

int main(void)
{
    base = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || mprotect(base + 2 * PAGE, PAGE, PROT_NONE))
        return 1;
    static const long lengths[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 100, 1000};
    static const long starts[] = {0, 1, 7, 8, 15, 16, 100, PAGE - 40};
    for (unsigned i = 0; i < sizeof starts / sizeof *starts; i++)
        for (unsigned j = 0; j < sizeof lengths / sizeof *lengths; j++) {
            char *s = fill(starts[i], lengths[j], 'a' + j);
            s[lengths[j] / 2] = lengths[j] ? 'Q' : 0;
            printf("%ld/%ld: %ld +%ld +%ld +%ld +%ld %ld\n", starts[i], lengths[j], length(s),
                   (long)(after(s, lengths[j] ? 'Q' : 0) - s), (long)(skip(s, 'a' + j) - s), (long)(after(s, 0) - s),
                   (long)(every_other(s) - s), sum(s));
        }
    char *last = fill(PAGE - 20, 19, 'z'); /* the NUL on the page's last byte */
    printf("last: %ld +%ld\n", length(last), (long)(after(last, 0) - last));
    char *across = fill(PAGE - 100, 3000, 'y');
    printf("across: %ld +%ld\n", length(across), (long)(skip(across, 'y') - across));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    memset(base, 'w', 2 * PAGE); /* no NUL before the unreadable page */
    byte_reg = 12, ender = 0;
    printf("length: %ld\n", length(base + 3));
    byte_reg = 5, ender = 'Q';
    printf("after: +%ld\n", (long)(after(base + PAGE + 9, 'Q') - base));
    byte_reg = 5, ender = 0x141;
    printf("after 0x141: +%ld\n", (long)(after(base + 5, 0x141) - base)); /* no byte is 0x141 */
    byte_reg = 5, ender = 0;
    printf("skip: +%ld\n", (long)(skip(base + 2 * PAGE - 1, 'w') - base));
    printf("unreadable: +%ld\n", (long)(after(base + 2 * PAGE + 100, 0) - base));
    return 0;
}
