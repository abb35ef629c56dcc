/* FP counted loops, in asm so the shapes are exact.  With frm = RNE the translation runs the
 * loops whose every flag-raising operation feeds a store or the next iteration with LLVM's
 * ordinary FP operations, vectorised (lift/plain_fp.py), and the others with constrained ones.
 * Each case prints a hash of the bits it stored or returned and the exception flags it raised,
 * over special values (infinities times zeros with NaN addends, signalling NaNs, overflow,
 * underflow), lengths around the plain copy's minimum and over several runs, and each rounding
 * mode.  Translated, the output must be what qemu-riscv64 prints.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 1200

static double x[N], y[N], z[N];
static float xs[N], ys[N];

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static uint64_t hash(const void *p, size_t len)
{
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

/* y[i] = a * x[i] + y[i], fused. */
static void axpy(double a, double *xp, double *yp, long n)
{
    register double *a0 __asm__("a0") = xp, *a1 __asm__("a1") = yp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fld ft1, 0(a1)\n fmadd.d ft1, %2, ft0, ft1, dyn\n fsd ft1, 0(a1)\n"
                     " addi a0, a0, 8\n addi a1, a1, 8\n bne a0, %3, 1b\n"
                     : "+r"(a0), "+r"(a1) : "f"(a), "r"(xp + n) : "ft0", "ft1", "memory");
}

/* z[i] = -(x[i] * y[i]) + a (fnmsub), then z[i] = -z[i] by sign injection. */
static void negated(double a, double *xp, double *yp, double *zp, long n)
{
    register double *a0 __asm__("a0") = xp, *a1 __asm__("a1") = yp, *a2 __asm__("a2") = zp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fld ft1, 0(a1)\n fnmsub.d ft2, ft0, ft1, %3, dyn\n"
                     " fsgnjn.d ft2, ft2, ft2\n fsd ft2, 0(a2)\n addi a0, a0, 8\n addi a1, a1, 8\n addi a2, a2, 8\n"
                     " bne a0, %4, 1b\n"
                     : "+r"(a0), "+r"(a1), "+r"(a2) : "f"(a), "r"(xp + n) : "ft0", "ft1", "ft2", "memory");
}

/* z[i] = sqrt(x[i]) / a - y[i]. */
static void root_quotient(double a, double *xp, double *yp, double *zp, long n)
{
    register double *a0 __asm__("a0") = xp, *a1 __asm__("a1") = yp, *a2 __asm__("a2") = zp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fsqrt.d ft0, ft0, dyn\n fdiv.d ft0, ft0, %3, dyn\n fld ft1, 0(a1)\n"
                     " fsub.d ft0, ft0, ft1, dyn\n fsd ft0, 0(a2)\n addi a0, a0, 8\n addi a1, a1, 8\n"
                     " addi a2, a2, 8\n bne a0, %4, 1b\n"
                     : "+r"(a0), "+r"(a1), "+r"(a2) : "f"(a), "r"(xp + n) : "ft0", "ft1", "memory");
}

/* ys[i] = (float)x[i] * a + xs[i], in single precision; z[i] = (double)ys[i]. */
static void singles(float a, double *xp, float *xsp, float *ysp, double *zp, long n)
{
    register void *a0 __asm__("a0") = xp, *a1 __asm__("a1") = xsp, *a2 __asm__("a2") = ysp, *a3 __asm__("a3") = zp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fcvt.s.d ft0, ft0, dyn\n flw ft1, 0(a1)\n fmadd.s ft0, ft0, %4, ft1, dyn\n"
                     " fsw ft0, 0(a2)\n fcvt.d.s ft0, ft0\n fsd ft0, 0(a3)\n addi a0, a0, 8\n addi a1, a1, 4\n"
                     " addi a2, a2, 4\n addi a3, a3, 8\n bne a0, %5, 1b\n"
                     : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3) : "f"(a), "r"(xp + n) : "ft0", "ft1", "memory");
}

/* acc + the x[i] * y[i], fused: a running sum. */
static double dot(double acc, double *xp, double *yp, long n)
{
    register double *a0 __asm__("a0") = xp, *a1 __asm__("a1") = yp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fld ft1, 0(a1)\n fmadd.d %0, ft0, ft1, %0, dyn\n addi a0, a0, 8\n"
                     " addi a1, a1, 8\n bne a0, %3, 1b\n"
                     : "+f"(acc), "+r"(a0), "+r"(a1) : "r"(xp + n) : "ft0", "ft1", "memory");
    return acc;
}

/* The product of the last x[i] and a, which only code after the loop reads. */
static double last_product(double a, double *xp, long n)
{
    double r;
    register double *a0 __asm__("a0") = xp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fmul.d %0, ft0, %2, dyn\n addi a0, a0, 8\n bne a0, %3, 1b\n"
                     : "=&f"(r), "+r"(a0) : "f"(a), "r"(xp + n) : "ft0", "memory");
    return r;
}

/* *out = x[i] * a in every iteration: a store that does not move. */
static void same_place(double a, double *xp, double *out, long n)
{
    register double *a0 __asm__("a0") = xp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fmul.d ft0, ft0, %1, dyn\n fsd ft0, 0(%2)\n addi a0, a0, 8\n bne a0, %3, 1b\n"
                     : "+r"(a0) : "f"(a), "r"(out), "r"(xp + n) : "ft0", "memory");
}

/* y[i] = x[i] * a, then overwritten by x[i] in the same iteration. */
static void overwritten(double a, double *xp, double *yp, long n)
{
    register double *a0 __asm__("a0") = xp, *a1 __asm__("a1") = yp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fmul.d ft1, ft0, %2, dyn\n fsd ft1, 0(a1)\n fsd ft0, 0(a1)\n"
                     " addi a0, a0, 8\n addi a1, a1, 8\n bne a0, %3, 1b\n"
                     : "+r"(a0), "+r"(a1) : "f"(a), "r"(xp + n) : "ft0", "ft1", "memory");
}

/* z[i] = min(x[i], y[i]) * a: min raises invalid for signalling NaNs only. */
static void minimum(double a, double *xp, double *yp, double *zp, long n)
{
    register double *a0 __asm__("a0") = xp, *a1 __asm__("a1") = yp, *a2 __asm__("a2") = zp;
    __asm__ volatile("1: fld ft0, 0(a0)\n fld ft1, 0(a1)\n fmin.d ft0, ft0, ft1\n fmul.d ft0, ft0, %3, dyn\n"
                     " fsd ft0, 0(a2)\n addi a0, a0, 8\n addi a1, a1, 8\n addi a2, a2, 8\n bne a0, %4, 1b\n"
                     : "+r"(a0), "+r"(a1), "+r"(a2) : "f"(a), "r"(xp + n) : "ft0", "ft1", "memory");
}

static const uint64_t SNAN = 0x7ff0000000000001ull, QNAN = 0x7ff8000000000002ull;

/* Ordinary values, with `special` put at index `at` of x and `addend` at `at` of y. */
static void fill(double special, long at, double addend)
{
    for (long i = 0; i < N; i++) {
        x[i] = (i % 7 - 3) * 0.3125 + 1.0 / (i + 3);
        y[i] = (i % 5) * 0.1 - 0.2;
        z[i] = 0;
        xs[i] = (float)(i % 9) * 0.7f - 2.0f;
        ys[i] = 0;
    }
    if (at >= 0) {
        x[at] = special;
        y[at] = addend;
    }
}

static void report(const char *name, long n, uint64_t h)
{
    unsigned long flags;
    __asm__ volatile("frflags %0" : "=r"(flags));
    __asm__ volatile("fsflags zero");
    printf("%-14s n=%-4ld %016llx flags %lx\n", name, n, (unsigned long long)h, flags);
}

int main(void)
{
    static const char *modes[] = {"rne", "rtz", "rdn", "rup", "rmm"};
    static const long lengths[] = {7, 8, 9, 64, 513, 1100};
    /* (x[at], y[at]) for axpy with a = factor: ∞×0 with a quiet NaN addend (invalid on RISC-V,
     * not on x86), a signalling NaN, overflow, underflow, 0×∞. */
    struct { const char *name; double factor, special, addend; } cases[] = {
        {"plain", 1.5, 0, 0},
        {"inf*0+qnan", INFINITY, 0.0, from_bits(QNAN)},
        {"0*inf+qnan", 0.0, INFINITY, from_bits(QNAN)},
        {"inf*0+1", INFINITY, 0.0, 1.0},
        {"snan", 2.0, from_bits(SNAN), 1.0},
        {"overflow", 1e300, 1e300, 0},
        {"underflow", 1e-300, 1e-300, 0},
    };
    __asm__ volatile("fsflags zero");
    for (unsigned rm = 0; rm < 5; rm++) {
        __asm__ volatile("fsrm %0" : : "r"((unsigned long)rm));
        printf("frm %s\n", modes[rm]);
        for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (unsigned k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
                long n = lengths[k], at = c == 0 ? -1 : n / 2;
                fill(cases[c].special, at, cases[c].addend);
                axpy(cases[c].factor, x, y, n);
                report(cases[c].name, n, hash(y, sizeof y));
            }
        for (unsigned k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            long n = lengths[k];
            fill(1e-310, n - 1, from_bits(SNAN));
            negated(3.0, x, y, z, n);
            report("negated", n, hash(z, sizeof z));
            fill(-4.0, n / 3, 0.0);
            root_quotient(7.0, x, y, z, n);
            report("root/quotient", n, hash(z, sizeof z));
            fill(1e300, n / 2, 0.0);
            singles(3.0f, x, xs, ys, z, n);
            report("singles", n, hash(ys, sizeof ys) ^ hash(z, sizeof z));
            fill(1e300, n / 2, 1e300);
            report("dot", n, bits(dot(0.25, x, y, n)));
            fill(1e300, 0, 0.0);
            report("last product", n, bits(last_product(1e10, x, n)));
            double out = 0;
            fill(1e300, 0, 0.0);
            same_place(1e10, x, &out, n);
            report("same place", n, bits(out));
            fill(1e300, 0, 0.0);
            overwritten(1e10, x, y, n);
            report("overwritten", n, hash(y, sizeof y));
            fill(from_bits(QNAN), n / 2, 1.0);
            minimum(2.0, x, y, z, n);
            report("minimum", n, hash(z, sizeof z));
        }
        /* Runs that start 1 to 7 elements into the arrays: the plain copy first runs single
         * iterations until its store is 32-byte aligned, with an ∞×0 + qNaN in that part. */
        for (long s = 1; s < 8; s++) {
            fill(INFINITY, s + 1, from_bits(QNAN));
            axpy(0.0, x + s, y + s, 513 - s);
            report("axpy offset", s, hash(y, sizeof y));
            fill(1e300, s + 2, 0.0);
            singles(3.0f, x + s, xs + s, ys + s, z + s, 513 - s);
            report("singles offset", s, hash(ys, sizeof ys) ^ hash(z, sizeof z));
        }
    }
    __asm__ volatile("fsrm zero");
    return 0;
}
