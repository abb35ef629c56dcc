/* Links runtime/slowpath.c against slow-path bodies that clobber every register the C convention
 * lets them clobber, calls each stub the way translated code does (preserve_all), and checks that
 * the vector registers and the general-purpose registers the convention keeps came back intact.
 * Prints "ok" or what differed. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct aot_cpu;
uint64_t mmu_load_slow(struct aot_cpu *cpu, uint64_t addr, uint32_t size, uint64_t pc);
void mmu_store_slow(struct aot_cpu *cpu, uint64_t addr, uint64_t value, uint32_t size, uint64_t pc);
uint64_t interrupt_at_poll(struct aot_cpu *cpu);
uint64_t fp_soft(struct aot_cpu *cpu, uint32_t op, uint32_t rm, uint64_t a, uint64_t b, uint64_t c);
uint64_t stored;

#define CLOBBER_ALL                                                                                \
    __asm__ volatile("vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n"                                          \
                     "vmovdqa %%ymm0, %%ymm1\n vmovdqa %%ymm0, %%ymm2\n vmovdqa %%ymm0, %%ymm3\n"     \
                     "vmovdqa %%ymm0, %%ymm4\n vmovdqa %%ymm0, %%ymm5\n vmovdqa %%ymm0, %%ymm6\n"     \
                     "vmovdqa %%ymm0, %%ymm7\n vmovdqa %%ymm0, %%ymm8\n vmovdqa %%ymm0, %%ymm9\n"     \
                     "vmovdqa %%ymm0, %%ymm10\n vmovdqa %%ymm0, %%ymm11\n vmovdqa %%ymm0, %%ymm12\n"   \
                     "vmovdqa %%ymm0, %%ymm13\n vmovdqa %%ymm0, %%ymm14\n vmovdqa %%ymm0, %%ymm15\n"   \
                     "vzeroupper\n"                                                                \
                     "mov $-1, %%rcx\n mov $-1, %%rdx\n mov $-1, %%rsi\n mov $-1, %%rdi\n"            \
                     "mov $-1, %%r8\n mov $-1, %%r9\n mov $-1, %%r10\n"                               \
                     ::: "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "xmm0", "xmm1", "xmm2",     \
                     "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",       \
                     "xmm12", "xmm13", "xmm14", "xmm15")

uint64_t mmu_load_slow(struct aot_cpu *cpu, uint64_t addr, uint32_t size, uint64_t pc)
{
    (void)cpu, (void)pc;
    CLOBBER_ALL;
    return addr + size;
}

void mmu_store_slow(struct aot_cpu *cpu, uint64_t addr, uint64_t value, uint32_t size, uint64_t pc)
{
    (void)cpu, (void)pc;
    CLOBBER_ALL;
    stored = addr + value + size;
}

uint64_t interrupt_at_poll(struct aot_cpu *cpu)
{
    CLOBBER_ALL;
    return (uint64_t)(uintptr_t)cpu + 1;
}

uint64_t fp_soft(struct aot_cpu *cpu, uint32_t op, uint32_t rm, uint64_t a, uint64_t b, uint64_t c)
{
    (void)b, (void)c;
    CLOBBER_ALL;
    return (uint64_t)(uintptr_t)cpu + op + rm + a;
}

/* Loads ymm0-15 from in and r8-r10 from gprs[0..2], calls the stub with rdi, rsi, rdx, rcx =
 * 0x1111, 0x2000, 0x3000, 8 (the load's cpu, addr, size, pc; the store's cpu, addr, value, size
 * and, in r8, pc), then saves the vector registers to out and r8-r10, rdi, rsi, rdx, rcx, rax to
 * gprs[3..10]. */
#define CALL_STUB(stub)                                                                 \
    __asm__ volatile(                                                                              \
        "vmovdqu 0(%[in]), %%ymm0\n vmovdqu 32(%[in]), %%ymm1\n vmovdqu 64(%[in]), %%ymm2\n"       \
        "vmovdqu 96(%[in]), %%ymm3\n vmovdqu 128(%[in]), %%ymm4\n vmovdqu 160(%[in]), %%ymm5\n"    \
        "vmovdqu 192(%[in]), %%ymm6\n vmovdqu 224(%[in]), %%ymm7\n vmovdqu 256(%[in]), %%ymm8\n"   \
        "vmovdqu 288(%[in]), %%ymm9\n vmovdqu 320(%[in]), %%ymm10\n vmovdqu 352(%[in]), %%ymm11\n" \
        "vmovdqu 384(%[in]), %%ymm12\n vmovdqu 416(%[in]), %%ymm13\n vmovdqu 448(%[in]), %%ymm14\n"\
        "vmovdqu 480(%[in]), %%ymm15\n"                                                           \
        "mov 0(%[gprs]), %%r8\n mov 8(%[gprs]), %%r9\n mov 16(%[gprs]), %%r10\n"                  \
        "mov $0x1111, %%rdi\n mov $0x2000, %%rsi\n mov $0x3000, %%rdx\n mov $8, %%rcx\n"    \
        "mov %%rsp, %%r12\n sub $128, %%rsp\n and $-16, %%rsp\n"                                   \
        "call " stub "\n"                                                                          \
        "mov %%r12, %%rsp\n"                                                                       \
        "vmovdqu %%ymm0, 0(%[out])\n vmovdqu %%ymm1, 32(%[out])\n vmovdqu %%ymm2, 64(%[out])\n"    \
        "vmovdqu %%ymm3, 96(%[out])\n vmovdqu %%ymm4, 128(%[out])\n vmovdqu %%ymm5, 160(%[out])\n" \
        "vmovdqu %%ymm6, 192(%[out])\n vmovdqu %%ymm7, 224(%[out])\n vmovdqu %%ymm8, 256(%[out])\n"\
        "vmovdqu %%ymm9, 288(%[out])\n vmovdqu %%ymm10, 320(%[out])\n"                            \
        "vmovdqu %%ymm11, 352(%[out])\n vmovdqu %%ymm12, 384(%[out])\n"                           \
        "vmovdqu %%ymm13, 416(%[out])\n vmovdqu %%ymm14, 448(%[out])\n"                           \
        "vmovdqu %%ymm15, 480(%[out])\n vzeroupper\n"                                              \
        "mov %%r8, 24(%[gprs])\n mov %%r9, 32(%[gprs])\n mov %%r10, 40(%[gprs])\n"                 \
        "mov %%rdi, 48(%[gprs])\n mov %%rsi, 56(%[gprs])\n mov %%rdx, 64(%[gprs])\n"               \
        "mov %%rcx, 72(%[gprs])\n mov %%rax, 80(%[gprs])\n"                                        \
        : : [in] "b"(in), [out] "r"(out), [gprs] "r"(gprs)                                         \
        : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "memory", "xmm0",    \
          "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", \
          "xmm12", "xmm13", "xmm14", "xmm15")

static int check(const char *stub, const unsigned char *in, const unsigned char *out, const uint64_t *gprs)
{
    int bad = 0;
    for (int r = 0; r < 16; r++)
        if (memcmp(in + 32 * r, out + 32 * r, 32) != 0)
            printf("%s: ymm%d changed\n", stub, r), bad = 1;
    for (int r = 0; r < 3; r++)
        if (gprs[r] != gprs[3 + r])
            printf("%s: r%d changed\n", stub, 8 + r), bad = 1;
    static const char *names[] = {"rdi", "rsi", "rdx", "rcx"};
    static const uint64_t args[] = {0x1111, 0x2000, 0x3000, 8};
    for (int r = 0; r < 4; r++)
        if (gprs[6 + r] != args[r])
            printf("%s: %s changed\n", stub, names[r]), bad = 1;
    return bad;
}

int main(void)
{
    if (!__builtin_cpu_supports("avx")) {
        puts("no avx");
        return 0;
    }
    unsigned char in[512], out[512];
    for (int i = 0; i < 512; i++)
        in[i] = (unsigned char)(i * 7 + 1);
    uint64_t gprs[11] = {0x8888, 0x9999, 0xaaaa};
    memset(out, 0, sizeof out);
    CALL_STUB("aot_load_slow");
    int bad = check("aot_load_slow", in, out, gprs);
    if (gprs[10] != 0x2000 + 0x3000)  /* addr + size */
        printf("aot_load_slow: returned %#llx\n", (unsigned long long)gprs[10]), bad = 1;
    memset(out, 0, sizeof out);
    CALL_STUB("aot_store_slow");
    bad |= check("aot_store_slow", in, out, gprs);
    if (stored != 0x2000 + 0x3000 + 8)
        printf("aot_store_slow: stored %#llx\n", (unsigned long long)stored), bad = 1;
    memset(out, 0, sizeof out);
    CALL_STUB("aot_interrupt");
    bad |= check("aot_interrupt", in, out, gprs);
    if (gprs[10] != 0x1111 + 1)  /* cpu + 1 */
        printf("aot_interrupt: returned %#llx\n", (unsigned long long)gprs[10]), bad = 1;
    memset(out, 0, sizeof out);
    CALL_STUB("aot_fp_soft");
    bad |= check("aot_fp_soft", in, out, gprs);
    if (gprs[10] != 0x1111 + 0x2000 + 0x3000 + 8)  /* cpu + op + rm + a */
        printf("aot_fp_soft: returned %#llx\n", (unsigned long long)gprs[10]), bad = 1;
    puts(bad ? "FAILED" : "ok");
    return bad;
}
