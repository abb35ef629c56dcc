/* Self-modifying code: RISC-V functions generated at run time into one RWX page, called, then
 * overwritten in place (same address, new instructions) and called again.  A translator that keeps
 * a stale translation of the page prints a different line than qemu-riscv64.  Covers: constants
 * rewritten at the same address, a one-word patch, a loop with a conditional branch, generated code
 * calling back into C through a register (ra saved on the stack), compressed instructions, a caller
 * whose callee is rewritten underneath it, and W^X style mprotect RW -> write -> RX. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ZERO = 0, RA = 1, SP = 2, T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9, A0 = 10, A1 = 11 };

/* Instruction encoders, one per format (RISC-V unprivileged spec, chapter "RV32I"). */
static uint32_t enc_r(uint32_t f7, int rs2, int rs1, uint32_t f3, int rd, uint32_t op)
{ return f7 << 25 | (uint32_t)rs2 << 20 | (uint32_t)rs1 << 15 | f3 << 12 | (uint32_t)rd << 7 | op; }
static uint32_t enc_i(int32_t imm, int rs1, uint32_t f3, int rd, uint32_t op)
{ return ((uint32_t)imm & 0xfff) << 20 | (uint32_t)rs1 << 15 | f3 << 12 | (uint32_t)rd << 7 | op; }
static uint32_t enc_s(int32_t imm, int rs2, int rs1, uint32_t f3, uint32_t op)
{
    uint32_t u = (uint32_t)imm;
    return (u >> 5 & 0x7f) << 25 | (uint32_t)rs2 << 20 | (uint32_t)rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | op;
}
static uint32_t enc_b(int32_t off, int rs2, int rs1, uint32_t f3)
{
    uint32_t u = (uint32_t)off;
    return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | (uint32_t)rs2 << 20 | (uint32_t)rs1 << 15 |
           f3 << 12 | (u >> 1 & 0xf) << 8 | (u >> 11 & 1) << 7 | 0x63;
}
static uint32_t enc_j(int32_t off, int rd)
{
    uint32_t u = (uint32_t)off;
    return (u >> 20 & 1) << 31 | (u >> 1 & 0x3ff) << 21 | (u >> 11 & 1) << 20 | (u >> 12 & 0xff) << 12 |
           (uint32_t)rd << 7 | 0x6f;
}
static uint32_t enc_addi(int rd, int rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, 0x13); }
static uint32_t enc_addiw(int rd, int rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, 0x1b); }
static uint32_t enc_andi(int rd, int rs1, int32_t imm) { return enc_i(imm, rs1, 7, rd, 0x13); }
static uint32_t enc_srai(int rd, int rs1, int sh) { return enc_i(0x400 | sh, rs1, 5, rd, 0x13); }
static uint32_t enc_lui(int rd, uint32_t hi20) { return (hi20 & 0xfffff) << 12 | (uint32_t)rd << 7 | 0x37; }
static uint32_t enc_add(int rd, int rs1, int rs2) { return enc_r(0, rs2, rs1, 0, rd, 0x33); }
static uint32_t enc_sub(int rd, int rs1, int rs2) { return enc_r(0x20, rs2, rs1, 0, rd, 0x33); }
static uint32_t enc_mul(int rd, int rs1, int rs2) { return enc_r(1, rs2, rs1, 0, rd, 0x33); }
static uint32_t enc_xor(int rd, int rs1, int rs2) { return enc_r(0, rs2, rs1, 4, rd, 0x33); }
static uint32_t enc_ld(int rd, int rs1, int32_t imm) { return enc_i(imm, rs1, 3, rd, 0x03); }
static uint32_t enc_sd(int rs2, int rs1, int32_t imm) { return enc_s(imm, rs2, rs1, 3, 0x23); }
static uint32_t enc_jalr(int rd, int rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, 0x67); }
static uint32_t enc_ret(void) { return enc_jalr(ZERO, RA, 0); }
/* Compressed (RVC) forms: c.li rd, imm6; c.add rd, rs2; c.jr rs1. */
static uint16_t enc_c_li(int rd, int imm) { return (uint16_t)(2u << 13 | (imm >> 5 & 1) << 12 | rd << 7 | (imm & 0x1f) << 2 | 1); }
static uint16_t enc_c_add(int rd, int rs2) { return (uint16_t)(4u << 13 | 1 << 12 | rd << 7 | rs2 << 2 | 2); }
static uint16_t enc_c_jr(int rs1) { return (uint16_t)(4u << 13 | rs1 << 7 | 2); }

/* A cursor into the code page; instructions are stored with memcpy (RVC leaves words unaligned). */
static uint8_t *page, *cur;
static uint8_t *emit(uint32_t w) { uint8_t *at = cur; memcpy(cur, &w, 4); cur += 4; return at; }
static void emit16(uint16_t h) { memcpy(cur, &h, 2); cur += 2; }
static void patch(uint8_t *at, uint32_t w) { memcpy(at, &w, 4); }
static void li(int rd, int32_t v)
{
    if (v >= -2048 && v < 2048) { emit(enc_addi(rd, ZERO, v)); return; }
    int32_t hi = (int32_t)(((int64_t)v + 0x800) >> 12), lo = v - hi * 4096;
    emit(enc_lui(rd, (uint32_t)hi));
    emit(enc_addiw(rd, rd, lo));
}

static int round_no;
/* Make the written code visible to instruction fetch: alternate the libc call (the
 * riscv_flush_icache syscall or vDSO) and a bare fence.i, so each alone is enough. */
static void flush(void *start, void *end)
{
    if (round_no++ % 2 == 0)
        __builtin___clear_cache((char *)start, (char *)end);
    else
        __asm__ volatile("fence.i" ::: "memory");
}

typedef long (*fn2)(long, long);
typedef long (*fncb)(long, long (*)(long));

static long callback(long x)
{
    printf("  callback(%ld)\n", x);
    return 3 * x + 1;
}

/* a0 = a0 * k + a1: the same shape each time, only the constant changes. */
static fn2 gen_scale(int32_t k)
{
    cur = page;
    li(T0, k);
    emit(enc_mul(A0, A0, T0));
    emit(enc_add(A0, A0, A1));
    emit(enc_ret());
    flush(page, cur);
    return (fn2)(void *)page;
}

/* a0 = 1 + 2 + ... + a0, with a backward loop branch. */
static fn2 gen_sum(void)
{
    cur = page;
    emit(enc_addi(T0, A0, 0));            /* t0 = n */
    emit(enc_addi(A0, ZERO, 0));          /* a0 = 0 */
    uint8_t *loop = emit(0);              /* loop: beq t0, zero, done (patched below) */
    emit(enc_add(A0, A0, T0));
    emit(enc_addi(T0, T0, -1));
    uint8_t *back = emit(0);              /* j loop */
    patch(back, enc_j((int32_t)(loop - back), ZERO));
    patch(loop, enc_b((int32_t)(cur - loop), ZERO, T0, 0));
    emit(enc_ret());                      /* done: */
    flush(page, cur);
    return (fn2)(void *)page;
}

/* Collatz steps from a0: a loop, and a conditional branch on the low bit inside it. */
static fn2 gen_collatz(void)
{
    cur = page;
    emit(enc_addi(T0, ZERO, 0));           /* steps = 0 */
    emit(enc_addi(T2, ZERO, 1));
    uint8_t *top = emit(0);                /* top: beq a0, t2(=1), done */
    emit(enc_andi(T1, A0, 1));
    uint8_t *odd = emit(0);                /* bne t1, zero, odd */
    emit(enc_srai(A0, A0, 1));             /* even: n >>= 1 */
    uint8_t *join = emit(0);               /* j next */
    patch(odd, enc_b((int32_t)(cur - odd), ZERO, T1, 1));
    emit(enc_add(T1, A0, A0));             /* odd: n = 3n + 1 */
    emit(enc_add(A0, A0, T1));
    emit(enc_addi(A0, A0, 1));
    patch(join, enc_j((int32_t)(cur - join), ZERO));
    emit(enc_addi(T0, T0, 1));             /* next: steps++ */
    uint8_t *back = emit(0);
    patch(back, enc_j((int32_t)(top - back), ZERO));
    patch(top, enc_b((int32_t)(cur - top), T2, A0, 0));
    emit(enc_addi(A0, T0, 0));             /* done: return steps */
    emit(enc_ret());
    flush(page, cur);
    return (fn2)(void *)page;
}

/* f(x, cb) = cb(cb(x)) + x: calls C through a1 twice, so ra, s0, s1 live on the stack. */
static fncb gen_callback(void)
{
    cur = page;
    emit(enc_addi(SP, SP, -32));
    emit(enc_sd(RA, SP, 24));
    emit(enc_sd(S0, SP, 16));
    emit(enc_sd(S1, SP, 8));
    emit(enc_addi(S0, A0, 0));
    emit(enc_addi(S1, A1, 0));
    emit(enc_jalr(RA, S1, 0));
    emit(enc_jalr(RA, S1, 0));
    emit(enc_add(A0, A0, S0));
    emit(enc_ld(RA, SP, 24));
    emit(enc_ld(S0, SP, 16));
    emit(enc_ld(S1, SP, 8));
    emit(enc_addi(SP, SP, 32));
    emit(enc_ret());
    flush(page, cur);
    return (fncb)(void *)page;
}

/* a0 = imm + a1 in three compressed instructions. */
static fn2 gen_rvc(int imm)
{
    cur = page;
    emit16(enc_c_li(A0, imm));
    emit16(enc_c_add(A0, A1));
    emit16(enc_c_jr(RA));
    flush(page, cur);
    return (fn2)(void *)page;
}

/* g at page+256 calls f at page+0 with jal and adds 1000; f is then rewritten alone. */
static fn2 gen_caller(void)
{
    cur = page + 256;
    emit(enc_addi(SP, SP, -16));
    emit(enc_sd(RA, SP, 8));
    uint8_t *call = emit(0);
    patch(call, enc_j((int32_t)(page - call), RA));
    emit(enc_addi(A0, A0, 1000));
    emit(enc_ld(RA, SP, 8));
    emit(enc_addi(SP, SP, 16));
    emit(enc_ret());
    flush(page + 256, cur);
    return (fn2)(void *)(page + 256);
}
static void gen_callee(int op)
{
    cur = page;
    emit(op == 0 ? enc_sub(A0, A0, A1) : op == 1 ? enc_xor(A0, A0, A1) : enc_mul(A0, A0, A1));
    emit(enc_ret());
    flush(page, cur);
}

int main(void)
{
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) { perror("mmap"); return 1; }

    /* Same address, same length, only the constant differs: a stale translation shows at once. */
    static const int32_t ks[] = {1, 2, 7, -3, 2047, 4096, 123456, -98765, 0x7ffff000};
    for (unsigned i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        fn2 f = gen_scale(ks[i]);
        printf("scale k=%d: f(5, 100) = %ld, f(-4, 1) = %ld\n", ks[i], f(5, 100), f(-4, 1));
    }
    /* Programs close every descriptor they did not open (daemons, shells): a translator's own
     * must survive it, and a dup onto it must not break it. */
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    syscall(436 /* close_range */, 3u, ~0u, 0u);
    for (int fd = 900; fd < 910; fd++)
        dup2(1, fd);
    for (int fd = 900; fd < 910; fd++)
        close(fd);
    /* Patch one word (the li of k=3 is a single addi) and nothing else. */
    fn2 f = gen_scale(3);
    printf("scale k=3: f(10, 1) = %ld\n", f(10, 1));
    patch(page, enc_addi(T0, ZERO, 11));
    flush(page, page + 4);
    printf("patched k=11: f(10, 1) = %ld\n", f(10, 1));

    f = gen_sum();
    for (long n = 0; n <= 100; n += 25)
        printf("sum 1..%ld = %ld\n", n, f(n, 0));
    f = gen_collatz();
    for (long n = 1; n <= 27; n += 13)
        printf("collatz(%ld) = %ld steps\n", n, f(n, 0));
    printf("collatz(97) = %ld steps\n", f(97, 0));

    fncb g = gen_callback();
    printf("callback blob(5) = %ld\n", g(5, callback));
    printf("callback blob(-2) = %ld\n", g(-2, callback));

    for (int imm = -32; imm < 32; imm += 21) {
        f = gen_rvc(imm);
        printf("rvc imm=%d: f(0, 1000) = %ld\n", imm, f(0, 1000));
    }

    /* Rewrite a callee under an unchanged caller. */
    gen_callee(0);
    fn2 caller = gen_caller();
    for (int op = 0; op < 3; op++) {
        gen_callee(op);
        printf("caller op=%d: g(9, 5) = %ld\n", op, caller(9, 5));
    }

    /* W^X: writable but not executable while writing, then executable again. */
    for (int r = 0; r < 3; r++) {
        if (mprotect(page, 4096, PROT_READ | PROT_WRITE)) { perror("mprotect RW"); return 1; }
        f = gen_scale(100 + r);
        if (mprotect(page, 4096, PROT_READ | PROT_EXEC)) { perror("mprotect RX"); return 1; }
        printf("mprotect round %d: f(2, 3) = %ld\n", r, f(2, 3));
    }
    printf("rewrites of the page: %d\n", round_no);

    /* A forked child generates and runs code of its own (its parent's JIT is not its own); the
     * parent then rewrites the same page again. */
    if (mprotect(page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC)) { perror("mprotect RWX"); return 1; }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn2 h = gen_scale(77);
        printf("child: f(1, 1) = %ld\n", h(1, 1));
        fflush(stdout);
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    fn2 h = gen_scale(78);
    printf("parent: f(1, 1) = %ld, child status %d\n", h(1, 1), status);
    munmap(page, 4096);
    return 0;
}
