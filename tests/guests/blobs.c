/* Many distinct code blobs: argv[1] (default 2000) small functions generated into one RWX arena,
 * 64 bytes apart, each called a few times, then earlier blobs called again (a code cache with a
 * budget has to translate some of them again), then a quarter of them rewritten in place with a
 * different shape and called again.  Every result is also computed in C, so the program checks
 * itself ("mismatches: 0"), and a checksum over all results shows any difference from qemu. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { ZERO = 0, T0 = 5, T1 = 6, T2 = 7, A0 = 10, A1 = 11, RA = 1 };
enum { STRIDE = 64 };

static uint32_t enc_r(uint32_t f7, int rs2, int rs1, uint32_t f3, int rd, uint32_t op)
{ return f7 << 25 | (uint32_t)rs2 << 20 | (uint32_t)rs1 << 15 | f3 << 12 | (uint32_t)rd << 7 | op; }
static uint32_t enc_i(int32_t imm, int rs1, uint32_t f3, int rd, uint32_t op)
{ return ((uint32_t)imm & 0xfff) << 20 | (uint32_t)rs1 << 15 | f3 << 12 | (uint32_t)rd << 7 | op; }
static uint32_t enc_b(int32_t off, int rs2, int rs1, uint32_t f3)
{
    uint32_t u = (uint32_t)off;
    return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | (uint32_t)rs2 << 20 | (uint32_t)rs1 << 15 |
           f3 << 12 | (u >> 1 & 0xf) << 8 | (u >> 11 & 1) << 7 | 0x63;
}
static uint32_t enc_addi(int rd, int rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, 0x13); }
static uint32_t enc_xori(int rd, int rs1, int32_t imm) { return enc_i(imm, rs1, 4, rd, 0x13); }
static uint32_t enc_slli(int rd, int rs1, int sh) { return enc_i(sh, rs1, 1, rd, 0x13); }
static uint32_t enc_add(int rd, int rs1, int rs2) { return enc_r(0, rs2, rs1, 0, rd, 0x33); }
static uint32_t enc_sub(int rd, int rs1, int rs2) { return enc_r(0x20, rs2, rs1, 0, rd, 0x33); }
static uint32_t enc_mul(int rd, int rs1, int rs2) { return enc_r(1, rs2, rs1, 0, rd, 0x33); }
static uint32_t enc_xor(int rd, int rs1, int rs2) { return enc_r(0, rs2, rs1, 4, rd, 0x33); }
static uint32_t enc_ret(void) { return enc_i(0, RA, 0, ZERO, 0x67); }

/* Per-blob constants, all within a 12-bit signed immediate. */
static int32_t c1(long i) { return (int32_t)(i * 37 % 2000) - 1000; }
static int32_t c2(long i) { return (int32_t)(i * 11 & 0x7ff); }
static int shift(long i) { return (int)(i % 13); }
static int trips(long i) { return (int)(i % 5) + 2; }

/* Four shapes of blob; `shape` picks one, the constants come from the blob's index. */
static void write_blob(uint8_t *at, int shape, long i)
{
    uint32_t w[12];
    int n = 0;
    switch (shape) {
    case 0: /* a0 = a0 * c1 + (a0 ^ c2) */
        w[n++] = enc_addi(T0, ZERO, c1(i));
        w[n++] = enc_mul(T1, A0, T0);
        w[n++] = enc_xori(T2, A0, c2(i));
        w[n++] = enc_add(A0, T1, T2);
        break;
    case 1: /* a0 = (a0 + c1) ^ (a1 << shift) */
        w[n++] = enc_addi(A0, A0, c1(i));
        w[n++] = enc_slli(T0, A1, shift(i));
        w[n++] = enc_xor(A0, A0, T0);
        break;
    case 2: /* a0 = a0 - a1 * c2 + c1 */
        w[n++] = enc_addi(T0, ZERO, c2(i));
        w[n++] = enc_mul(T0, A1, T0);
        w[n++] = enc_sub(A0, A0, T0);
        w[n++] = enc_addi(A0, A0, c1(i));
        break;
    default: /* trips times: a0 = a0 * 3 + c1 (a counted loop) */
        w[n++] = enc_addi(T0, ZERO, trips(i));
        w[n++] = enc_addi(T1, ZERO, 3);
        w[n++] = enc_mul(A0, A0, T1);          /* loop: */
        w[n++] = enc_addi(A0, A0, c1(i));
        w[n++] = enc_addi(T0, T0, -1);
        w[n] = enc_b(-12, ZERO, T0, 1), n++;   /* bne t0, zero, loop */
        break;
    }
    w[n++] = enc_ret();
    memcpy(at, w, (size_t)n * 4);
    __builtin___clear_cache((char *)at, (char *)at + n * 4);
}

/* The same functions in C, with wrapping arithmetic. */
static uint64_t reference(int shape, long i, uint64_t a, uint64_t b)
{
    switch (shape) {
    case 0: return a * (uint64_t)(int64_t)c1(i) + (a ^ (uint64_t)c2(i));
    case 1: return (a + (uint64_t)(int64_t)c1(i)) ^ (b << shift(i));
    case 2: return a - b * (uint64_t)c2(i) + (uint64_t)(int64_t)c1(i);
    default:
        for (int t = trips(i); t > 0; t--)
            a = a * 3 + (uint64_t)(int64_t)c1(i);
        return a;
    }
}

typedef long (*blob_fn)(long, long);
static uint8_t *arena;
static int *shapes;
static uint64_t checksum = 14695981039346656037ull;
static long calls, mismatches;

static long call(long i, long a, long b)
{
    long r = ((blob_fn)(void *)(arena + i * STRIDE))(a, b);
    uint64_t want = reference(shapes[i], i, (uint64_t)a, (uint64_t)b);
    if ((uint64_t)r != want && mismatches++ < 5)
        printf("MISMATCH blob %ld shape %d (%ld, %ld): got %ld want %ld\n", i, shapes[i], a, b, r,
               (long)want);
    checksum = (checksum ^ (uint64_t)r) * 1099511628211ull;
    calls++;
    return r;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 2000;
    if (count < 1) count = 1;
    arena = mmap(NULL, (size_t)count * STRIDE, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    shapes = calloc((size_t)count, sizeof *shapes);
    if (arena == MAP_FAILED || !shapes) { perror("alloc"); return 1; }

    uint32_t lcg = 12345;
    for (long i = 0; i < count; i++) {
        shapes[i] = (int)(i % 4);
        write_blob(arena + i * STRIDE, shapes[i], i);
        call(i, i, 7);
        call(i, -i, i * 3);
        call(i, 0x12345678 + i, -1);
        if (i > 0)
            call(0, i, 1);   /* a hot blob: a generational code cache keeps it */
        if (i % 64 == 63) {   /* come back to 8 earlier blobs, spread over everything so far */
            for (int k = 0; k < 8; k++) {
                lcg = lcg * 1103515245u + 12345u;
                call((long)(lcg >> 8) % (i + 1), k, i);
            }
        }
    }
    printf("phase 1: %ld calls, checksum %016llx\n", calls, (unsigned long long)checksum);

    for (long i = 0; i < count; i += 7)   /* old blobs again, long after they were first run */
        call(i, i * i, -i);
    printf("phase 2: %ld calls, checksum %016llx\n", calls, (unsigned long long)checksum);

    for (long i = 0; i < count / 4; i++) {   /* rewrite a quarter in place, with another shape */
        shapes[i] = (shapes[i] + 1) % 4;
        write_blob(arena + i * STRIDE, shapes[i], i);
    }
    for (long i = 0; i < count; i += 3)
        call(i, 1000 - i, i);
    printf("phase 3: %ld calls, checksum %016llx\n", calls, (unsigned long long)checksum);

    long samples[] = {0, 1, 2, 3, count / 2, count - 1};
    for (unsigned s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        if (samples[s] >= count) continue;   /* small counts */
        long i = samples[s], r1 = call(i, i, 7), r2 = call(i, -5, 9);   /* calls in a fixed order */
        printf("blob %ld (shape %d): f(%ld, 7) = %ld, f(-5, 9) = %ld\n", i, shapes[i], i, r1, r2);
    }
    printf("blobs: %ld, calls: %ld, mismatches: %ld, checksum %016llx\n", count, calls, mismatches,
           (unsigned long long)checksum);
    munmap(arena, (size_t)count * STRIDE);
    free(shapes);
    return mismatches != 0;
}
