/* The guest's floating-point environment, and exact software rounding for the cases the host
 * cannot do in hardware.
 *
 * Translated code computes with the host's SSE unit: MXCSR.RC holds the guest's dynamic rounding
 * mode (frm) whenever frm is RNE/RTZ/RDN/RUP, and MXCSR's sticky flags accrue the guest's IEEE
 * exceptions.  The guest's fflags are therefore cpu->fflags (flags set in software) OR the
 * MXCSR flags, mapped bit by bit; fcsr reads and writes go through aot_fcsr_read/aot_fcsr_write.
 * The runtime must use the same two functions wherever it saves or restores fcsr (signal frames,
 * new threads).
 *
 * x86 has no round-to-nearest-ties-to-max-magnitude (RMM), and an instruction whose static
 * rounding mode differs from frm would need MXCSR rewritten around it: both go to aot_fp_soft, a
 * small exact implementation of the rounding operations (round once from an exact or sticky
 * 128-bit significand, tininess detected after rounding as RISC-V specifies). */
#include <stdbool.h>
#include <stdint.h>

#include "aot_abi.h"

typedef unsigned __int128 u128;

#define NX 1u
#define UF 2u
#define OF 4u
#define DZ 8u
#define NV 16u

enum { RNE, RTZ, RDN, RUP, RMM };

/* ---- fcsr and MXCSR ---- */

#define MXCSR_FLAGS 0x3fu /* IE DE ZE OE UE PE */
#define MXCSR_RC_SHIFT 13
#define MXCSR_RC_MASK (3u << MXCSR_RC_SHIFT)

static inline uint32_t get_mxcsr(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static inline void set_mxcsr(uint32_t v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v));
}

/* IE->NV, ZE->DZ, OE->OF, UE->UF, PE->NX; DE (denormal operand) has no RISC-V counterpart. */
static uint32_t fflags_of_mxcsr(uint32_t m)
{
    return ((m & 0x01) ? NV : 0) | ((m & 0x04) ? DZ : 0) | ((m & 0x08) ? OF : 0) |
           ((m & 0x10) ? UF : 0) | ((m & 0x20) ? NX : 0);
}

/* x86 RC for each RISC-V mode: 00 nearest, 01 down, 10 up, 11 toward zero.  RMM and the invalid
 * modes never reach the hardware (translated code checks frm first); nearest is as good as any. */
static const uint32_t x86_rc[8] = {0, 3, 1, 2, 0, 0, 0, 0};

uint64_t aot_fcsr_read(struct aot_cpu *cpu)
{
    return ((uint64_t)(cpu->frm & 7) << 5) | ((cpu->fflags | fflags_of_mxcsr(get_mxcsr())) & 0x1f);
}

void aot_fcsr_write(struct aot_cpu *cpu, uint64_t fcsr)
{
    cpu->fflags = fcsr & 0x1f;
    cpu->frm = (fcsr >> 5) & 7;
    uint32_t m = get_mxcsr() & ~(MXCSR_FLAGS | MXCSR_RC_MASK);
    set_mxcsr(m | (x86_rc[cpu->frm] << MXCSR_RC_SHIFT));
}

/* ---- software rounding ---- */

struct format {
    int p;    /* precision, including the implicit bit */
    int bias; /* also emax */
    int bits;
};

static const struct format FMT_S = {24, 127, 32};
static const struct format FMT_D = {53, 1023, 64};

static uint64_t canonical_nan(const struct format *f)
{
    return f == &FMT_S ? 0x7fc00000u : 0x7ff8000000000000ull;
}

static uint64_t pack(const struct format *f, bool sign, uint64_t biased_exp, uint64_t mant)
{
    return ((uint64_t)sign << (f->bits - 1)) | (biased_exp << (f->p - 1)) | mant;
}

static uint64_t infinity(const struct format *f, bool sign)
{
    return pack(f, sign, 2 * (uint64_t)f->bias + 1, 0);
}

enum cls { ZERO, FINITE, INF, QNAN, SNAN };

/* value = sig * 2^exp for finite numbers (subnormals not normalised; sig < 2^p). */
struct unpacked {
    enum cls cls;
    bool sign;
    int exp;
    uint64_t sig;
};

static struct unpacked unpack(const struct format *f, uint64_t bits)
{
    struct unpacked u;
    uint64_t mant_mask = (1ull << (f->p - 1)) - 1;
    uint64_t e = (bits >> (f->p - 1)) & (2 * (uint64_t)f->bias + 1);
    uint64_t m = bits & mant_mask;
    u.sign = (bits >> (f->bits - 1)) & 1;
    u.exp = 0;
    u.sig = 0;
    if (e == 2 * (uint64_t)f->bias + 1) {
        u.cls = m == 0 ? INF : (m >> (f->p - 2)) & 1 ? QNAN : SNAN;
    } else if (e == 0) {
        u.cls = m == 0 ? ZERO : FINITE;
        u.sig = m;
        u.exp = 1 - f->bias - (f->p - 1);
    } else {
        u.cls = FINITE;
        u.sig = m | (1ull << (f->p - 1));
        u.exp = (int)e - f->bias - (f->p - 1);
    }
    return u;
}

static int msb128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? 127 - __builtin_clzll(hi) : 63 - __builtin_clzll((uint64_t)x);
}

/* x >> s, with every bit shifted out ORed into bit 0 ("jamming"). */
static u128 shift_right_jam(u128 x, int s)
{
    if (s <= 0)
        return x;
    if (s >= 128)
        return x != 0;
    return (x >> s) | ((x & (((u128)1 << s) - 1)) != 0);
}

/* Whether to add one to the kept part, given the discarded part compared with one half. */
static bool round_up(int rm, bool sign, bool odd, int half_cmp, bool inexact)
{
    switch (rm) {
    case RNE: return half_cmp > 0 || (half_cmp == 0 && odd);
    case RTZ: return false;
    case RDN: return inexact && sign;
    case RUP: return inexact && !sign;
    default: return half_cmp >= 0 && inexact; /* RMM */
    }
}

/* Keep sig >> s (s >= 1), rounded; reports inexactness. */
static u128 round_shift(u128 sig, int s, int rm, bool sign, bool *inexact)
{
    u128 kept;
    int half_cmp;
    if (s > 128) {
        kept = 0;
        half_cmp = -1;
        *inexact = sig != 0;
    } else {
        u128 rest = s == 128 ? sig : sig & (((u128)1 << s) - 1);
        u128 half = (u128)1 << (s - 1);
        kept = s == 128 ? 0 : sig >> s;
        half_cmp = rest > half ? 1 : rest == half ? 0 : -1;
        *inexact = rest != 0;
    }
    if (round_up(rm, sign, kept & 1, half_cmp, *inexact))
        kept++;
    return kept;
}

/* Round sign * sig * 2^exp (sig != 0; bit 0 may be a sticky bit standing for lower nonzero bits,
 * provided sig has at least p + 2 significant bits then) to the format. */
static uint64_t round_pack(const struct format *f, bool sign, int exp, u128 sig, int rm, uint32_t *flags)
{
    int top = msb128(sig);
    int e = exp + top; /* value = 1.xxx * 2^e */
    int emin = 1 - f->bias;
    bool inexact;
    if (e >= emin) {
        int s = top - (f->p - 1);
        u128 kept;
        if (s <= 0) {
            kept = sig << -s;
            inexact = false;
        } else {
            kept = round_shift(sig, s, rm, sign, &inexact);
        }
        if (kept >> f->p) { /* rounding carried into a new bit */
            kept >>= 1;
            e++;
        }
        if (e > f->bias) {
            *flags |= OF | NX;
            bool to_inf = rm == RNE || rm == RMM || (rm == RDN && sign) || (rm == RUP && !sign);
            return to_inf ? infinity(f, sign) : pack(f, sign, 2 * (uint64_t)f->bias, (1ull << (f->p - 1)) - 1);
        }
        if (inexact)
            *flags |= NX;
        return pack(f, sign, (uint64_t)(e + f->bias), (uint64_t)kept & ((1ull << (f->p - 1)) - 1));
    }
    /* Below the normal range: tiny unless rounding to p bits with an unbounded exponent reaches
     * 2^emin (tininess after rounding). */
    bool tiny = true;
    if (e == emin - 1 && top >= f->p) {
        bool ignored;
        u128 kept = round_shift(sig, top - (f->p - 1), rm, sign, &ignored);
        tiny = !(kept >> f->p);
    }
    int s = top - (f->p - 1) + (emin - e); /* keep the bits at or above 2^(emin - p + 1) */
    u128 kept;
    if (s <= 0) {
        kept = sig << -s;
        inexact = false;
    } else {
        kept = round_shift(sig, s, rm, sign, &inexact);
    }
    if (inexact)
        *flags |= NX | (tiny ? UF : 0);
    /* A carry into bit p-1 makes the smallest normal number, which packs the same way. */
    return pack(f, sign, 0, (uint64_t)kept);
}

static uint64_t nan_result(const struct format *f, uint32_t *flags, bool signalling)
{
    if (signalling)
        *flags |= NV;
    return canonical_nan(f);
}

static bool is_nan(const struct unpacked *u) { return u->cls == QNAN || u->cls == SNAN; }

static uint64_t zero(const struct format *f, bool sign) { return pack(f, sign, 0, 0); }

/* The sign of an exact zero sum of operands of opposite signs (or of two zeros). */
static bool zero_sum_sign(bool sa, bool sb, int rm)
{
    return sa == sb ? sa : rm == RDN;
}

/* Round sa*siga*2^ea + sb*sigb*2^eb exactly once (both finite and nonzero). */
static uint64_t add_finite(const struct format *f, bool sa, int ea, u128 siga, bool sb, int eb, u128 sigb,
                           int rm, uint32_t *flags)
{
    /* Normalise both to bit 125: two bits of headroom for the carry. */
    int sha = 125 - msb128(siga), shb = 125 - msb128(sigb);
    siga <<= sha, ea -= sha;
    sigb <<= shb, eb -= shb;
    if (ea < eb) {
        bool ts = sa; sa = sb; sb = ts;
        int te = ea; ea = eb; eb = te;
        u128 tg = siga; siga = sigb; sigb = tg;
    }
    sigb = shift_right_jam(sigb, ea - eb);
    bool sign = sa;
    u128 sum;
    if (sa == sb) {
        sum = siga + sigb;
    } else if (siga >= sigb) {
        sum = siga - sigb;
    } else {
        sum = sigb - siga;
        sign = sb;
    }
    if (sum == 0)
        return zero(f, zero_sum_sign(sa, sb, rm));
    return round_pack(f, sign, ea, sum, rm, flags);
}

static uint64_t op_add(const struct format *f, uint64_t a, uint64_t b, bool negate_b, int rm, uint32_t *flags)
{
    struct unpacked x = unpack(f, a), y = unpack(f, b);
    if (negate_b)
        y.sign = !y.sign;
    if (is_nan(&x) || is_nan(&y))
        return nan_result(f, flags, x.cls == SNAN || y.cls == SNAN);
    if (x.cls == INF || y.cls == INF) {
        if (x.cls == INF && y.cls == INF && x.sign != y.sign)
            return nan_result(f, flags, true);
        return infinity(f, x.cls == INF ? x.sign : y.sign);
    }
    if (x.cls == ZERO && y.cls == ZERO)
        return zero(f, zero_sum_sign(x.sign, y.sign, rm));
    if (x.cls == ZERO)
        return round_pack(f, y.sign, y.exp, y.sig, rm, flags);
    if (y.cls == ZERO)
        return round_pack(f, x.sign, x.exp, x.sig, rm, flags);
    return add_finite(f, x.sign, x.exp, x.sig, y.sign, y.exp, y.sig, rm, flags);
}

static uint64_t op_mul(const struct format *f, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    struct unpacked x = unpack(f, a), y = unpack(f, b);
    bool sign = x.sign != y.sign;
    if (is_nan(&x) || is_nan(&y))
        return nan_result(f, flags, x.cls == SNAN || y.cls == SNAN);
    if (x.cls == INF || y.cls == INF) {
        if (x.cls == ZERO || y.cls == ZERO)
            return nan_result(f, flags, true);
        return infinity(f, sign);
    }
    if (x.cls == ZERO || y.cls == ZERO)
        return zero(f, sign);
    return round_pack(f, sign, x.exp + y.exp, (u128)x.sig * y.sig, rm, flags);
}

static uint64_t op_div(const struct format *f, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    struct unpacked x = unpack(f, a), y = unpack(f, b);
    bool sign = x.sign != y.sign;
    if (is_nan(&x) || is_nan(&y))
        return nan_result(f, flags, x.cls == SNAN || y.cls == SNAN);
    if (x.cls == INF)
        return y.cls == INF ? nan_result(f, flags, true) : infinity(f, sign);
    if (y.cls == INF)
        return zero(f, sign);
    if (y.cls == ZERO) {
        if (x.cls == ZERO)
            return nan_result(f, flags, true);
        *flags |= DZ;
        return infinity(f, sign);
    }
    if (x.cls == ZERO)
        return zero(f, sign);
    /* Dividend at bit 126, divisor at bit 63: a quotient of 63 or 64 bits, remainder as sticky. */
    int sx = 62 - (63 - __builtin_clzll(x.sig)), sy = 63 - (63 - __builtin_clzll(y.sig));
    u128 num = (u128)(x.sig << sx) << 64;
    uint64_t den = y.sig << sy;
    u128 q = num / den;
    q = (q << 1) | (num % den != 0);
    int exp = (x.exp - sx - 64) - (y.exp - sy) - 1;
    return round_pack(f, sign, exp, q, rm, flags);
}

static uint64_t op_sqrt(const struct format *f, uint64_t a, int rm, uint32_t *flags)
{
    struct unpacked x = unpack(f, a);
    if (is_nan(&x))
        return nan_result(f, flags, x.cls == SNAN);
    if (x.cls == ZERO)
        return a;
    if (x.sign)
        return nan_result(f, flags, true);
    if (x.cls == INF)
        return a;
    /* sig * 2^exp with exp even and sig near 2^124: the root has about 62 bits. */
    int s = 124 - (63 - __builtin_clzll(x.sig));
    if ((x.exp - s) & 1)
        s++;
    u128 v = (u128)x.sig << s;
    int exp = (x.exp - s) / 2;
    u128 root = 0, rem = 0;
    for (int i = 126; i >= 0; i -= 2) { /* digit-by-digit square root, two bits per step */
        rem = (rem << 2) | ((v >> i) & 3);
        u128 trial = (root << 2) | 1;
        root <<= 1;
        if (rem >= trial) {
            rem -= trial;
            root |= 1;
        }
    }
    return round_pack(f, false, exp - 1, (root << 1) | (rem != 0), rm, flags);
}

/* (-1)^neg_product * a * b + (-1)^neg_addend * c, rounded once. */
static uint64_t op_fma(const struct format *f, uint64_t a, uint64_t b, uint64_t c, bool neg_product,
                       bool neg_addend, int rm, uint32_t *flags)
{
    struct unpacked x = unpack(f, a), y = unpack(f, b), z = unpack(f, c);
    bool ps = (x.sign != y.sign) != neg_product;
    z.sign = z.sign != neg_addend;
    bool snan = x.cls == SNAN || y.cls == SNAN || z.cls == SNAN;
    if (is_nan(&x) || is_nan(&y))
        return nan_result(f, flags, snan);
    /* infinity * 0 is invalid even when the addend is a quiet NaN. */
    if ((x.cls == INF && y.cls == ZERO) || (x.cls == ZERO && y.cls == INF))
        return nan_result(f, flags, true);
    if (is_nan(&z))
        return nan_result(f, flags, snan);
    if (x.cls == INF || y.cls == INF) {
        if (z.cls == INF && z.sign != ps)
            return nan_result(f, flags, true);
        return infinity(f, ps);
    }
    if (z.cls == INF)
        return infinity(f, z.sign);
    bool product_zero = x.cls == ZERO || y.cls == ZERO;
    if (product_zero && z.cls == ZERO)
        return zero(f, zero_sum_sign(ps, z.sign, rm));
    if (product_zero)
        return round_pack(f, z.sign, z.exp, z.sig, rm, flags);
    u128 prod = (u128)x.sig * y.sig;
    if (z.cls == ZERO)
        return round_pack(f, ps, x.exp + y.exp, prod, rm, flags);
    return add_finite(f, ps, x.exp + y.exp, prod, z.sign, z.exp, z.sig, rm, flags);
}

static uint64_t op_narrow(uint64_t a, int rm, uint32_t *flags)
{
    struct unpacked x = unpack(&FMT_D, a);
    switch (x.cls) {
    case QNAN:
    case SNAN: return nan_result(&FMT_S, flags, x.cls == SNAN);
    case INF: return infinity(&FMT_S, x.sign);
    case ZERO: return zero(&FMT_S, x.sign);
    default: return round_pack(&FMT_S, x.sign, x.exp, x.sig, rm, flags);
    }
}

static uint64_t op_from_int(const struct format *f, uint64_t v, int bits, bool is_signed, int rm, uint32_t *flags)
{
    if (bits == 32)
        v = is_signed ? (uint64_t)(int64_t)(int32_t)v : (uint32_t)v;
    bool sign = is_signed && (int64_t)v < 0;
    uint64_t mag = sign ? -v : v;
    if (mag == 0)
        return zero(f, false);
    return round_pack(f, sign, 0, mag, rm, flags);
}

/* FCVT to integer: round to an integral value, then saturate (NaN converts to the maximum). */
static uint64_t op_to_int(const struct format *f, uint64_t a, int bits, bool is_signed, int rm, uint32_t *flags)
{
    struct unpacked x = unpack(f, a);
    uint64_t max = is_signed ? (1ull << (bits - 1)) - 1 : bits == 64 ? ~0ull : (1ull << bits) - 1;
    uint64_t min_mag = is_signed ? 1ull << (bits - 1) : 0; /* magnitude of the minimum */
    uint64_t result;
    if (is_nan(&x) || (x.cls == INF && !x.sign)) {
        *flags |= NV;
        result = max;
    } else if (x.cls == INF) {
        *flags |= NV;
        result = -min_mag;
    } else {
        bool inexact = false;
        u128 mag; /* the rounded magnitude, or something too large when exp is large */
        if (x.cls == ZERO)
            mag = 0;
        else if (x.exp >= 0)
            mag = x.exp > 64 ? (u128)1 << 65 : (u128)x.sig << x.exp;
        else
            mag = round_shift(x.sig, -x.exp, rm, x.sign, &inexact);
        bool fits = x.sign ? mag <= min_mag : mag <= max;
        if (!fits) {
            *flags |= NV;
            result = x.sign ? -min_mag : max;
        } else {
            if (inexact)
                *flags |= NX;
            result = x.sign ? -(uint64_t)mag : (uint64_t)mag;
        }
    }
    /* 32-bit results are sign-extended into the register, unsigned ones too. */
    return bits == 32 ? (uint64_t)(int64_t)(int32_t)result : result;
}

static uint64_t box(const struct format *f, uint64_t bits)
{
    return f == &FMT_S ? bits | 0xffffffff00000000ull : bits;
}

uint64_t fp_soft(struct aot_cpu *cpu, uint32_t op, uint32_t rm, uint64_t a, uint64_t b, uint64_t c);

/* Entered through the preserve_all stub aot_fp_soft (slowpath.c): a loop whose FP instruction
 * meets a rounding mode the host cannot do keeps its values in registers across the call. */
uint64_t fp_soft(struct aot_cpu *cpu, uint32_t op, uint32_t rm, uint64_t a, uint64_t b, uint64_t c)
{
    const struct format *f = (op & AOT_FP_DOUBLE) ? &FMT_D : &FMT_S;
    uint32_t flags = 0;
    uint64_t r;
    switch (op & AOT_FP_OP_MASK) {
    case AOT_FP_ADD: r = box(f, op_add(f, a, b, false, rm, &flags)); break;
    case AOT_FP_SUB: r = box(f, op_add(f, a, b, true, rm, &flags)); break;
    case AOT_FP_MUL: r = box(f, op_mul(f, a, b, rm, &flags)); break;
    case AOT_FP_DIV: r = box(f, op_div(f, a, b, rm, &flags)); break;
    case AOT_FP_SQRT: r = box(f, op_sqrt(f, a, rm, &flags)); break;
    case AOT_FP_FMADD: r = box(f, op_fma(f, a, b, c, false, false, rm, &flags)); break;
    case AOT_FP_FMSUB: r = box(f, op_fma(f, a, b, c, false, true, rm, &flags)); break;
    case AOT_FP_FNMSUB: r = box(f, op_fma(f, a, b, c, true, false, rm, &flags)); break;
    case AOT_FP_FNMADD: r = box(f, op_fma(f, a, b, c, true, true, rm, &flags)); break;
    case AOT_FP_CVT_S_D: r = box(&FMT_S, op_narrow(a, rm, &flags)); break;
    case AOT_FP_CVT_F_W: r = box(f, op_from_int(f, a, 32, true, rm, &flags)); break;
    case AOT_FP_CVT_F_WU: r = box(f, op_from_int(f, a, 32, false, rm, &flags)); break;
    case AOT_FP_CVT_F_L: r = box(f, op_from_int(f, a, 64, true, rm, &flags)); break;
    case AOT_FP_CVT_F_LU: r = box(f, op_from_int(f, a, 64, false, rm, &flags)); break;
    case AOT_FP_CVT_W_F: r = op_to_int(f, a, 32, true, rm, &flags); break;
    case AOT_FP_CVT_WU_F: r = op_to_int(f, a, 32, false, rm, &flags); break;
    case AOT_FP_CVT_L_F: r = op_to_int(f, a, 64, true, rm, &flags); break;
    case AOT_FP_CVT_LU_F: r = op_to_int(f, a, 64, false, rm, &flags); break;
    default: r = 0; break;
    }
    cpu->fflags |= flags;
    return r;
}
