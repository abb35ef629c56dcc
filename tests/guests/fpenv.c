/* Floating point as C programs use it: rounding modes (fesetround), exception flags (fenv),
 * libm, float/double conversions, subnormals printed exactly with %a.  The output is compared
 * with qemu-riscv64's, so it only has to be deterministic. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double vd[] = {1.0, 3.0, -2.5, 0.1, 1e308, 4.9e-324, 2.2250738585072014e-308, 0.0, -0.0,
                               1e-310, 123456789.123456789, -7.75, 0.5, 1.5, 2.5, 9007199254740993.0};
static volatile float vf[] = {1.0f, 3.0f, -2.5f, 0.1f, 3e38f, 1.4e-45f, 1.17549435e-38f, 0.0f, -0.0f,
                              16777217.0f, -7.75f, 0.5f, 1.5f, 2.5f};
static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
static const char *mode_names[] = {"nearest", "towardzero", "downward", "upward"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void flags(const char *what)
{
    int f = fetestexcept(FE_ALL_EXCEPT);
    printf("%s:%s%s%s%s%s\n", what, f & FE_INVALID ? " NV" : "", f & FE_DIVBYZERO ? " DZ" : "",
           f & FE_OVERFLOW ? " OF" : "", f & FE_UNDERFLOW ? " UF" : "", f & FE_INEXACT ? " NX" : "");
    feclearexcept(FE_ALL_EXCEPT);
}

static uint64_t bits(double x) { uint64_t b; memcpy(&b, &x, 8); return b; }
static uint32_t fbits(float x) { uint32_t b; memcpy(&b, &x, 4); return b; }

int main(void)
{
    feclearexcept(FE_ALL_EXCEPT);
    flags("start");
    for (unsigned m = 0; m < N(modes); m++) {
        fesetround(modes[m]);
        printf("mode %s (fegetround ok: %d)\n", mode_names[m], fegetround() == modes[m]);
        for (unsigned i = 0; i < N(vd); i++) {
            double a = vd[i], b = vd[(i * 7 + 3) % N(vd)];
            printf("%a %a: + %a - %a * %a / %a sqrt %a fma %a\n", a, b, a + b, a - b, a * b, a / b,
                   sqrt(fabs(a)), fma(a, b, vd[(i + 5) % N(vd)]));
            printf("  (float) %a rint %a nearbyint %a lrint %ld llround %lld trunc->int %d\n", (float)a,
                   rint(a), nearbyint(a), (long)lrint(fmod(a, 1e15)), (long long)llround(fmod(a, 1e15)),
                   (int)fmod(a, 1e9));
            flags("  flags");
        }
        for (unsigned i = 0; i < N(vf); i++) {
            float a = vf[i], b = vf[(i * 5 + 1) % N(vf)];
            printf("%a %a: + %a * %a / %a sqrtf %a fmaf %a (double) %a (long) %ld (unsigned) %u\n", a, b,
                   a + b, a * b, a / b, sqrtf(fabsf(a)), fmaf(a, b, vf[(i + 3) % N(vf)]), (double)a,
                   (long)fmodf(a, 1e9f), (unsigned)fabsf(fmodf(a, 1e9f)));
            flags("  flags");
        }
        for (long k = -3; k <= 3; k++) {
            long long big = (1LL << 53) + k, huge = (long long)(((unsigned long long)1 << 63) - 1 - k);
            printf("int->fp %lld: %a %a %a %a\n", big, (double)big, (float)big, (double)huge, (float)huge);
        }
        flags("conversions");
    }
    fesetround(FE_TONEAREST);
    /* Exceptions one at a time. */
    volatile double zero = 0.0, one = 1.0, tiny = DBL_MIN, big = DBL_MAX, inf = INFINITY;
    volatile double r;
    r = one / zero; flags("1/0");
    r = zero / zero; flags("0/0");
    r = big * 2.0; flags("max*2");
    r = tiny / 3.0; flags("min/3");
    r = tiny * 0.5; flags("min*0.5 (exact subnormal)");
    r = one / 3.0; flags("1/3");
    r = sqrt(-one); flags("sqrt(-1)");
    r = inf - inf; flags("inf-inf");
    volatile long l = (long)(inf); flags("(long)inf");
    volatile int i = (int)(-3e9); flags("(int)-3e9");
    volatile unsigned u = (unsigned)(-1.5); flags("(unsigned)-1.5");
    (void)r; (void)l; (void)i; (void)u;
    volatile double qnan = NAN;
    printf("nan compare: %d %d %d\n", qnan == qnan, qnan < one, isless(qnan, one));
    flags("nan compare");
    printf("fmin/fmax: %a %a %a %a\n", fmin(qnan, one), fmax(-0.0, 0.0), fmin(-0.0, 0.0), fmaxf(NAN, -1.0f));
    flags("fmin");
    /* libm: results in every mode where the library honours it. */
    for (unsigned m = 0; m < N(modes); m++) {
        fesetround(modes[m]);
        for (double x = -2.75; x <= 3.0; x += 0.625)
            printf("%s x=%a exp %a log %a sin %a cos %a atan2 %a pow %a cbrt %a hypot %a floor %a ceil %a round %a "
                   "expf %a logf %a\n", mode_names[m], x, exp(x), log(fabs(x) + 0.5), sin(x), cos(x), atan2(x, 0.75),
                   pow(fabs(x), 1.5), cbrt(x), hypot(x, 2.0), floor(x), ceil(x), round(x), expf((float)x),
                   logf((float)fabs(x) + 0.25f));
    }
    fesetround(FE_TONEAREST);
    /* Subnormals, printed exactly. */
    double s = 4.9e-324;
    for (int k = 0; k < 6; k++, s *= 3.0)
        printf("subnormal %a %.17g %016llx\n", s, s, (unsigned long long)bits(s));
    float sf = 1.4e-45f;
    for (int k = 0; k < 6; k++, sf *= 5.0f)
        printf("subnormal float %a %.9g %08x\n", sf, sf, fbits(sf));
    printf("strtod: %a %a %a\n", strtod("0x1.fffffffffffffp-1023", NULL), strtod("2.4703282292062328e-324", NULL),
           strtod("1e-400", NULL));
    flags("end");
    return 0;
}
