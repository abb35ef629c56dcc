/* The dynamic rounding mode (frm) changing while a function runs: translated code keeps a copy of
 * frm (docs/fp.md), so every way frm can change under a function must refresh it.  Each case sets
 * frm one way, then does rounding-sensitive operations in the *caller* with no call in between:
 *   - calls: a direct call, a call through a pointer, a libc call (fesetround) one level down, and
 *     callees that write all of fcsr or set/clear frm bits, inside a loop over every pair of modes;
 *   - CSR writes in the function itself: every csrrw/csrrs/csrrc[i] form on frm and fcsr, and
 *     fsflags (which must leave frm alone);
 *   - a signal handler that changes the frm its sigreturn restores, taken in a spin loop and
 *     on the return from a system call the function makes itself (ecall, not a libc call);
 *   - longjmp out of a callee that changed frm (resumes the caller in the middle).
 * RMM is in every case: it takes the software path in translated code, so a stale copy shows.
 * Each measurement is checked against the mode it should see, and all of it is printed; the
 * output is compared with qemu-riscv64's. */
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

enum { RNE, RTZ, RDN, RUP, RMM, MODES };
static const char *const rm_names[] = {"rne", "rtz", "rdn", "rup", "rmm"};

static volatile double one = 1.0, ten = 10.0, half_ulp = 0x1p-53, tie = 2.5, f_tie = 1.0 + 0x1p-24;
static volatile float fone = 1.0f, fthree = 3.0f;

struct measurement {
    const char *what;
    unsigned expect;                 /* the mode the operations should round in */
    unsigned frrm;                   /* frm as read back */
    double tenth, up, down;          /* 1/10, 1 + 2^-53, -1 - 2^-53 in the dynamic mode */
    float narrow, third;             /* (float)(1 + 2^-24), 1f/3f */
    long cvt, ncvt;                  /* fcvt.l.d dyn of 2.5 and -2.5 */
    double st_up[MODES], st_down[MODES];  /* fadd.d with each static mode */
    long st_cvt[MODES];              /* fcvt.l.d 2.5 with each static mode */
};

static volatile struct measurement results[128];
static volatile unsigned count;

#define FADD_RM(rm, a, b) ({ double r_; __asm__ volatile("fadd.d %0, %1, %2, " #rm : "=f"(r_) : "f"(a), "f"(b)); r_; })
#define FCVT_RM(rm, a) ({ long r_; __asm__ volatile("fcvt.l.d %0, %1, " #rm : "=r"(r_) : "f"(a)); r_; })

/* Everything here is inline code of the caller: no calls between the frm change and the uses.
 * The results go to volatile memory at once, so the compiler keeps them between the CSR accesses. */
#define MEASURE(label, mode)                                                                     \
    do {                                                                                         \
        volatile struct measurement *m_ = &results[count++];                                     \
        unsigned frrm_;                                                                          \
        long c_;                                                                                 \
        m_->what = (label);                                                                      \
        m_->expect = (mode);                                                                     \
        m_->tenth = one / ten;                                                                   \
        m_->up = one + half_ulp;                                                                 \
        m_->down = -one - half_ulp;                                                              \
        m_->narrow = (float)f_tie;                                                               \
        m_->third = fone / fthree;                                                               \
        __asm__ volatile("fcvt.l.d %0, %1" : "=r"(c_) : "f"(tie));                               \
        m_->cvt = c_;                                                                            \
        __asm__ volatile("fcvt.l.d %0, %1" : "=r"(c_) : "f"(-tie));                              \
        m_->ncvt = c_;                                                                           \
        m_->st_up[RNE] = FADD_RM(rne, one, half_ulp);                                            \
        m_->st_up[RTZ] = FADD_RM(rtz, one, half_ulp);                                            \
        m_->st_up[RDN] = FADD_RM(rdn, one, half_ulp);                                            \
        m_->st_up[RUP] = FADD_RM(rup, one, half_ulp);                                            \
        m_->st_up[RMM] = FADD_RM(rmm, one, half_ulp);                                            \
        m_->st_down[RNE] = FADD_RM(rne, -one, -half_ulp);                                        \
        m_->st_down[RTZ] = FADD_RM(rtz, -one, -half_ulp);                                        \
        m_->st_down[RDN] = FADD_RM(rdn, -one, -half_ulp);                                        \
        m_->st_down[RUP] = FADD_RM(rup, -one, -half_ulp);                                        \
        m_->st_down[RMM] = FADD_RM(rmm, -one, -half_ulp);                                        \
        m_->st_cvt[RNE] = FCVT_RM(rne, tie);                                                     \
        m_->st_cvt[RTZ] = FCVT_RM(rtz, tie);                                                     \
        m_->st_cvt[RDN] = FCVT_RM(rdn, tie);                                                     \
        m_->st_cvt[RUP] = FCVT_RM(rup, tie);                                                     \
        m_->st_cvt[RMM] = FCVT_RM(rmm, tie);                                                     \
        __asm__ volatile("frrm %0" : "=r"(frrm_) : : "memory");                                  \
        m_->frrm = frrm_;                                                                        \
    } while (0)

/* What each mode gives: 1/10 rounds up in RNE/RUP/RMM; 1 + 2^-53 and -1 - 2^-53 are ties. */
static int check(const volatile struct measurement *m)
{
    static const double ulp = 0x1p-52;
    unsigned rm = m->expect;
    int tenth_up = rm == RNE || rm == RUP || rm == RMM;
    int away_pos = rm == RUP || rm == RMM, away_neg = rm == RDN || rm == RMM;
    int bad = 0;
    bad |= m->frrm != rm;
    bad |= m->tenth != (tenth_up ? 0x1.999999999999ap-4 : 0x1.9999999999999p-4);
    bad |= m->up != (away_pos ? 1.0 + ulp : 1.0);
    bad |= m->down != (away_neg ? -1.0 - ulp : -1.0);
    bad |= m->narrow != (away_pos ? 0x1.000002p+0f : 1.0f);
    bad |= m->cvt != (away_pos ? 3 : 2);
    bad |= m->ncvt != (away_neg ? -3 : -2);
    for (unsigned s = 0; s < MODES; s++) {
        bad |= m->st_up[s] != ((s == RUP || s == RMM) ? 1.0 + ulp : 1.0);
        bad |= m->st_down[s] != ((s == RDN || s == RMM) ? -1.0 - ulp : -1.0);
        bad |= m->st_cvt[s] != ((s == RUP || s == RMM) ? 3 : 2);
    }
    return bad;
}

/* -- the callees that change frm ------------------------------------------------------------- */

__attribute__((noinline)) void set_frm(unsigned rm)
{
    __asm__ volatile("fsrm %0" : : "r"(rm) : "memory");
}

/* Through libc one call further down (fesetround has no RMM). */
__attribute__((noinline)) void set_frm_libc(unsigned rm)
{
    static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
    if (rm < RMM)
        fesetround(modes[rm]);
    else
        set_frm(rm);
}

/* All of fcsr at once (fscsr), keeping the flags. */
__attribute__((noinline)) void set_fcsr(unsigned rm)
{
    unsigned fcsr;
    __asm__ volatile("frcsr %0" : "=r"(fcsr));
    fcsr = (fcsr & 0x1f) | rm << 5;
    __asm__ volatile("fscsr %0" : : "r"(fcsr) : "memory");
}

/* Clear, then set bits (csrc / csrs on frm). */
__attribute__((noinline)) void set_frm_bits(unsigned rm)
{
    __asm__ volatile("csrc frm, %0" : : "r"(7u) : "memory");
    __asm__ volatile("csrs frm, %0" : : "r"(rm) : "memory");
}

static void (*volatile set_indirect)(unsigned) = set_frm;

/* Every ordered pair of modes: frm set by a call, used in the caller, set by another kind of call,
 * used again.  The loop makes the calls the only thing between uses. */
__attribute__((noinline)) void through_calls(void)
{
    for (unsigned a = 0; a < MODES; a++)
        for (unsigned b = 0; b < MODES; b++) {
            if (a == b)
                continue;
            set_frm(a);
            MEASURE("call", a);
            switch ((a + b) % 4) {
            case 0: set_frm_libc(b); break;
            case 1: set_indirect(b); break;
            case 2: set_fcsr(b); break;
            default: set_frm_bits(b); break;
            }
            MEASURE((a + b) % 4 == 0 ? "libc" : (a + b) % 4 == 1 ? "indirect" : (a + b) % 4 == 2 ? "fscsr" : "csrc+csrs",
                    b);
        }
}

/* CSR writes in the function itself, each followed directly by the operations. */
__attribute__((noinline)) void through_csr_writes(void)
{
    unsigned old, fcsr;
    __asm__ volatile("fsrm %0" : : "r"(RUP) : "memory");               /* csrrw x0, frm */
    MEASURE("fsrm", RUP);
    __asm__ volatile("fsrmi %0, 4" : "=r"(old) : : "memory");          /* csrrwi rd, frm */
    MEASURE("fsrmi", RMM);
    __asm__ volatile("fsrm %0, %1" : "=r"(old) : "r"(RTZ) : "memory"); /* csrrw rd, frm */
    MEASURE(old == RMM ? "fsrm (old rmm)" : "fsrm (old wrong)", RTZ);
    __asm__ volatile("csrsi frm, 2" : : : "memory");                   /* csrrsi: 1 | 2 = RUP */
    MEASURE("csrsi frm", RUP);
    __asm__ volatile("csrci frm, 1" : : : "memory");                   /* csrrci: 3 & ~1 = RDN */
    MEASURE("csrci frm", RDN);
    __asm__ volatile("csrs frm, %0" : : "r"(4u) : "memory");           /* csrrs: 2 | 4 = 6, reserved */
    __asm__ volatile("csrc frm, %0" : : "r"(2u) : "memory");           /* csrrc: 6 & ~2 = RMM */
    MEASURE("csrs+csrc frm", RMM);
    __asm__ volatile("csrrc %0, frm, %1" : "=r"(old) : "r"(4u) : "memory"); /* 4 & ~4 = RNE */
    MEASURE(old == RMM ? "csrrc frm (old rmm)" : "csrrc frm (old wrong)", RNE);
    __asm__ volatile("frcsr %0" : "=r"(fcsr));
    __asm__ volatile("fscsr %0" : : "r"((fcsr & 0x1f) | RDN << 5) : "memory"); /* csrrw x0, fcsr */
    MEASURE("fscsr", RDN);
    __asm__ volatile("csrs fcsr, %0" : : "r"(RMM << 5) : "memory");   /* 2 | 4 = 6, reserved */
    __asm__ volatile("csrc fcsr, %0" : : "r"(2u << 5) : "memory");     /* RMM */
    MEASURE("csrs+csrc fcsr", RMM);
    __asm__ volatile("csrrwi %0, fcsr, 0" : "=r"(fcsr) : : "memory");  /* RNE, flags cleared */
    MEASURE((fcsr >> 5) == RMM ? "csrrwi fcsr (old rmm)" : "csrrwi fcsr (old wrong)", RNE);
    __asm__ volatile("fsrm %0" : : "r"(RMM) : "memory");
    __asm__ volatile("fsflags %0" : : "r"(0u) : "memory");             /* frm stays RMM */
    MEASURE("fsflags", RMM);
    __asm__ volatile("fsflagsi 1" : : : "memory");
    MEASURE("fsflagsi", RMM);
    __asm__ volatile("fsrmi 0" : : : "memory");
    MEASURE("fsrmi", RNE);
}

/* A signal handler that changes the frm its sigreturn restores: the loop it interrupts, with frm
 * already used before the loop, must see the new mode after it. */
static volatile sig_atomic_t alarmed;
static volatile unsigned handler_rm;

static void on_alarm(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info;
    ucontext_t *uc = context;
    unsigned *fcsr = &uc->uc_mcontext.__fpregs.__d.__fcsr;
    *fcsr = (*fcsr & ~0xe0u) | handler_rm << 5;
    __asm__ volatile("fsrmi 3" : : : "memory");  /* the handler's own frm does not leak out */
    alarmed = 1;
}

__attribute__((noinline)) void through_signal(unsigned before, unsigned after)
{
    struct itimerval t = {{0, 0}, {0, 2000}};
    handler_rm = after;
    alarmed = 0;
    __asm__ volatile("fsrm %0" : : "r"(before) : "memory");
    MEASURE("before signal", before);
    setitimer(ITIMER_REAL, &t, NULL);
    while (!alarmed)
        ;
    MEASURE("after signal", after);
}

/* The same handler, for a signal the function sends itself with an ecall of its own. */
__attribute__((noinline)) void through_syscall(unsigned before, unsigned after)
{
    long pid = getpid();
    handler_rm = after;
    __asm__ volatile("fsrm %0" : : "r"(before) : "memory");
    MEASURE("before kill", before);
    register long a0 __asm__("a0") = pid, a1 __asm__("a1") = SIGUSR1, a7 __asm__("a7") = 129; /* kill */
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a7) : "memory");
    MEASURE("after kill", after);
}

/* longjmp out of a callee that changed frm: the caller continues in its middle. */
static jmp_buf jump;

__attribute__((noinline)) void set_frm_and_jump(unsigned rm)
{
    __asm__ volatile("fsrm %0" : : "r"(rm) : "memory");
    longjmp(jump, 1);
}

__attribute__((noinline)) void through_longjmp(unsigned before, unsigned after)
{
    __asm__ volatile("fsrm %0" : : "r"(before) : "memory");
    MEASURE("before longjmp", before);
    if (setjmp(jump) == 0)
        set_frm_and_jump(after);
    MEASURE("after longjmp", after);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    through_calls();
    through_csr_writes();
    through_signal(RNE, RMM);
    through_signal(RMM, RUP);
    through_signal(RDN, RTZ);
    through_syscall(RUP, RMM);
    through_syscall(RMM, RNE);
    through_longjmp(RNE, RMM);
    through_longjmp(RMM, RDN);
    set_frm(RNE);

    unsigned bad = 0;
    for (unsigned i = 0; i < count; i++) {
        const volatile struct measurement *m = &results[i];
        int wrong = check(m);
        bad += wrong;
        printf("%3u %-22s %s frrm=%u%s: 1/10 %a, 1+2^-53 %a, -1-2^-53 %a, (float) %a, 1f/3f %a, fcvt %ld %ld, static",
               i, m->what, rm_names[m->expect], m->frrm, wrong ? " MISMATCH" : "", m->tenth, m->up, m->down,
               (double)m->narrow, (double)m->third, m->cvt, m->ncvt);
        for (unsigned s = 0; s < MODES; s++)
            printf(" %s:%a/%a/%ld", rm_names[s], m->st_up[s], m->st_down[s], m->st_cvt[s]);
        printf("\n");
    }
    printf("%u measurements, %u mismatches\n", count, bad);
    return bad != 0;
}
