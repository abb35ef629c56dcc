/* The entry points translated code calls with LLVM's preserve_all convention (abi.INTRINSICS):
 * the memory slow paths aot_load_slow and aot_store_slow (C bodies mmu_load_slow and
 * mmu_store_slow in mmu.c), the poll's aot_interrupt (C body interrupt_at_poll in dispatch.c)
 * and aot_fp_soft (fp_soft in fpu.c).
 * A file of its own so tests/test_runtime.py can link the stubs against bodies that clobber
 * every register the C convention allows. */
#include <stdbool.h>

/* preserve_all keeps every general-purpose register but r11 and every vector register, so the
 * guest values a hot loop holds in host registers (FP registers in XMM) need not be spilled
 * around a rarely taken slow path or poll.  These entry points save what the C convention lets
 * the bodies clobber: seven or eight general-purpose registers, then the sixteen vector
 * registers (whole YMM registers when the host has AVX, since translated code may use them).
 * On entry rsp is 8 mod 16; the pushes (the store saves rax too, plus a pad) realign it. */
bool aot_host_avx;  /* read by the stubs */

__attribute__((constructor)) static void detect_host_avx(void)
{
    __builtin_cpu_init();
    aot_host_avx = __builtin_cpu_supports("avx");
}

#define SAVE_VECTORS \
    "    sub $512, %rsp\n" \
    "    cmpb $0, aot_host_avx(%rip)\n" \
    "    je 1f\n" \
    "    vmovdqu %ymm0, 0(%rsp)\n    vmovdqu %ymm1, 32(%rsp)\n    vmovdqu %ymm2, 64(%rsp)\n" \
    "    vmovdqu %ymm3, 96(%rsp)\n    vmovdqu %ymm4, 128(%rsp)\n    vmovdqu %ymm5, 160(%rsp)\n" \
    "    vmovdqu %ymm6, 192(%rsp)\n    vmovdqu %ymm7, 224(%rsp)\n    vmovdqu %ymm8, 256(%rsp)\n" \
    "    vmovdqu %ymm9, 288(%rsp)\n    vmovdqu %ymm10, 320(%rsp)\n    vmovdqu %ymm11, 352(%rsp)\n" \
    "    vmovdqu %ymm12, 384(%rsp)\n    vmovdqu %ymm13, 416(%rsp)\n    vmovdqu %ymm14, 448(%rsp)\n" \
    "    vmovdqu %ymm15, 480(%rsp)\n    vzeroupper\n    jmp 2f\n" \
    "1:  movdqu %xmm0, 0(%rsp)\n    movdqu %xmm1, 32(%rsp)\n    movdqu %xmm2, 64(%rsp)\n" \
    "    movdqu %xmm3, 96(%rsp)\n    movdqu %xmm4, 128(%rsp)\n    movdqu %xmm5, 160(%rsp)\n" \
    "    movdqu %xmm6, 192(%rsp)\n    movdqu %xmm7, 224(%rsp)\n    movdqu %xmm8, 256(%rsp)\n" \
    "    movdqu %xmm9, 288(%rsp)\n    movdqu %xmm10, 320(%rsp)\n    movdqu %xmm11, 352(%rsp)\n" \
    "    movdqu %xmm12, 384(%rsp)\n    movdqu %xmm13, 416(%rsp)\n    movdqu %xmm14, 448(%rsp)\n" \
    "    movdqu %xmm15, 480(%rsp)\n" \
    "2:\n"

#define RESTORE_VECTORS \
    "    cmpb $0, aot_host_avx(%rip)\n" \
    "    je 1f\n" \
    "    vmovdqu 0(%rsp), %ymm0\n    vmovdqu 32(%rsp), %ymm1\n    vmovdqu 64(%rsp), %ymm2\n" \
    "    vmovdqu 96(%rsp), %ymm3\n    vmovdqu 128(%rsp), %ymm4\n    vmovdqu 160(%rsp), %ymm5\n" \
    "    vmovdqu 192(%rsp), %ymm6\n    vmovdqu 224(%rsp), %ymm7\n    vmovdqu 256(%rsp), %ymm8\n" \
    "    vmovdqu 288(%rsp), %ymm9\n    vmovdqu 320(%rsp), %ymm10\n    vmovdqu 352(%rsp), %ymm11\n" \
    "    vmovdqu 384(%rsp), %ymm12\n    vmovdqu 416(%rsp), %ymm13\n    vmovdqu 448(%rsp), %ymm14\n" \
    "    vmovdqu 480(%rsp), %ymm15\n    jmp 2f\n" \
    "1:  movdqu 0(%rsp), %xmm0\n    movdqu 32(%rsp), %xmm1\n    movdqu 64(%rsp), %xmm2\n" \
    "    movdqu 96(%rsp), %xmm3\n    movdqu 128(%rsp), %xmm4\n    movdqu 160(%rsp), %xmm5\n" \
    "    movdqu 192(%rsp), %xmm6\n    movdqu 224(%rsp), %xmm7\n    movdqu 256(%rsp), %xmm8\n" \
    "    movdqu 288(%rsp), %xmm9\n    movdqu 320(%rsp), %xmm10\n    movdqu 352(%rsp), %xmm11\n" \
    "    movdqu 384(%rsp), %xmm12\n    movdqu 416(%rsp), %xmm13\n    movdqu 448(%rsp), %xmm14\n" \
    "    movdqu 480(%rsp), %xmm15\n" \
    "2:  add $512, %rsp\n"

/* An entry point whose body returns its result in rax (and takes at most six arguments, all in
 * the registers it saves, so they reach the body unchanged). */
#define RETURNING_STUB(name, body) \
    ".globl " name "\n" \
    ".type " name ", @function\n" \
    name ":\n" \
    "    push %rcx\n    push %rdx\n    push %rsi\n    push %rdi\n    push %r8\n    push %r9\n    push %r10\n" \
    SAVE_VECTORS \
    "    call " body "\n" \
    RESTORE_VECTORS \
    "    pop %r10\n    pop %r9\n    pop %r8\n    pop %rdi\n    pop %rsi\n    pop %rdx\n    pop %rcx\n" \
    "    ret\n" \
    ".size " name ", . - " name "\n"

__asm__(
    ".text\n"
    RETURNING_STUB("aot_load_slow", "mmu_load_slow")
    RETURNING_STUB("aot_interrupt", "interrupt_at_poll")
    RETURNING_STUB("aot_fp_soft", "fp_soft")
    ".globl aot_store_slow\n"
    ".type aot_store_slow, @function\n"
    "aot_store_slow:\n"
    "    push %rax\n    push %rcx\n    push %rdx\n    push %rsi\n    push %rdi\n    push %r8\n    push %r9\n"
    "    push %r10\n    sub $8, %rsp\n"
    SAVE_VECTORS
    "    call mmu_store_slow\n"
    RESTORE_VECTORS
    "    add $8, %rsp\n"
    "    pop %r10\n    pop %r9\n    pop %r8\n    pop %rdi\n    pop %rsi\n    pop %rdx\n    pop %rcx\n    pop %rax\n"
    "    ret\n"
    ".size aot_store_slow, . - aot_store_slow\n");
