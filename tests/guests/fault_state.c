/* A SIGSEGV handler sees every register as it was at the faulting access, and what it changes
 * in its frame is what the code after the access sees.  Each access below faults with integer
 * and FP registers written just before it (values translated code holds in host registers, not
 * yet in the CPU state): the handler prints them from uc_mcontext, sets a0 and fa0, and skips
 * the 4-byte load.  The third access follows an FP result that is NaN (0/0): the frame must hold
 * its canonical bits and fcsr the invalid-operation flag.  The fourth is a function's first
 * instruction.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

static const int shown[] = {1, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                            28, 29, 30, 31};

static void on_segv(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    ucontext_t *uc = context;
    uint64_t f[32];
    memcpy(f, uc->uc_mcontext.__fpregs.__d.__f, sizeof f);
    printf("fault at %p, code %d\n", info->si_addr, info->si_code);
    for (unsigned i = 0; i < sizeof shown / sizeof shown[0]; i++)
        printf(" x%d=%llx", shown[i], (unsigned long long)uc->uc_mcontext.__gregs[shown[i]]);
    printf("\n f0=%llx f1=%llx f10=%llx f11=%llx fcsr=%x\n", (unsigned long long)f[0], (unsigned long long)f[1],
           (unsigned long long)f[10], (unsigned long long)f[11], uc->uc_mcontext.__fpregs.__d.__fcsr);
    uc->uc_mcontext.__gregs[0] += 4; /* __gregs[0] is the pc */
    uc->uc_mcontext.__gregs[10] = 0x5a5a;
    double seven = 7.0;
    memcpy(&uc->uc_mcontext.__fpregs.__d.__f[10], &seven, sizeof seven);
}

#define SET_INTEGER_REGISTERS(base)                                                                         \
    "li t0, " #base "+5\n li t1, " #base "+6\n li t2, " #base "+7\n li a0, " #base "+10\n"               \
    "li a1, " #base "+11\n li a2, " #base "+12\n li a3, " #base "+13\n li a4, " #base "+14\n"            \
    "li a5, " #base "+15\n li a6, " #base "+16\n li a7, " #base "+17\n li s2, " #base "+18\n"            \
    "li s3, " #base "+19\n li s4, " #base "+20\n li s5, " #base "+21\n li s6, " #base "+22\n"            \
    "li s7, " #base "+23\n li s8, " #base "+24\n li s9, " #base "+25\n li s10, " #base "+26\n"           \
    "li s11, " #base "+27\n li t3, " #base "+28\n li t4, " #base "+29\n li t5, " #base "+30\n"           \
    "li t6, " #base "+31\n"

#define CLOBBERS                                                                                             \
    "t0", "t1", "t2", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", \
    "s10", "s11", "t3", "t4", "t5", "t6", "ft0", "ft1", "fa1", "memory"

/* The access the handler skips: 4 bytes long whatever the compiler's -march. */
#define UNCOMPRESSED(insn) ".option push\n .option norvc\n " insn "\n .option pop\n"
/* The end of each asm: a0 and fa0 as the handler left them. */
#define READ_BACK "mv %0, a0\n fmv.d %1, fa0\n" : "=r"(a0), "=f"(fa0) : : CLOBBERS, "a0", "fa0"

/* Its first instruction faults, before it writes a register: a0, a1 and ra are what its caller
 * passed, in host registers, not written back (abi.PASSED_REGISTERS). */
__attribute__((naked, noinline, used)) static uint64_t faults_first(uint64_t a, uint64_t b)
{
    __asm__(UNCOMPRESSED("ld t0, 16(zero)") "add a0, a0, a1\n ret\n");
}

static void show(uint64_t a0, double fa0)
{
    printf("after: a0=%llx fa0=%g\n", (unsigned long long)a0, fa0);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    uint64_t a0;
    double fa0;

    /* Straight-line: every register written just before the load. */
    __asm__ volatile(SET_INTEGER_REGISTERS(0x1000)
                     "li t0, 3\n fcvt.d.l ft0, t0\n fcvt.d.l fa0, t0\n fadd.d ft1, ft0, fa0\n fmv.d fa1, ft1\n"
                     "li t0, 0x1005\n"
                     UNCOMPRESSED("ld a0, 16(zero)")
                     READ_BACK);
    show(a0, fa0);

    /* In a loop: the registers change every iteration; the load faults in the third. */
    __asm__ volatile(SET_INTEGER_REGISTERS(0x2000)
                     "li t0, 0\n fcvt.d.l ft0, t0\n fcvt.d.l fa0, t0\n"
                     "1: addi t0, t0, 1\n addi a1, a1, 0x100\n addi s2, s2, 0x100\n fcvt.d.l ft1, t0\n"
                     "fadd.d ft0, ft0, ft1\n li t1, 3\n bne t0, t1, 2f\n"
                     UNCOMPRESSED("lw a0, 16(zero)")
                     "2: li t1, 5\n blt t0, t1, 1b\n"
                     READ_BACK);
    show(a0, fa0);

    /* After an invalid operation: canonical NaN bits and NV in the frame; a store faults. */
    __asm__ volatile(SET_INTEGER_REGISTERS(0x3000)
                     "csrw fflags, zero\n fmv.d.x ft0, zero\n fmv.d fa0, ft0\n fdiv.d ft1, ft0, ft0\n fmv.d fa1, ft1\n"
                     UNCOMPRESSED("sd t1, 16(zero)")
                     READ_BACK);
    show(a0, fa0);

    /* In a callee: the handler sees the arguments; the callee returns 0x5a5a + a1. */
    __asm__ volatile(SET_INTEGER_REGISTERS(0x4000)
                     "li t0, 4\n fcvt.d.l ft0, t0\n fcvt.d.l fa0, t0\n fadd.d ft1, ft0, fa0\n fmv.d fa1, ft1\n"
                     "li t0, 0x4005\n call faults_first\n"
                     "mv %0, a0\n fmv.d %1, fa0\n" : "=r"(a0), "=f"(fa0) : : CLOBBERS, "a0", "fa0", "ra");
    show(a0, fa0);
    return 0;
}
