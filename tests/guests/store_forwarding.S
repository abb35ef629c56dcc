/* Loads of bytes the same straight-line code just stored (the translation may hand a load the
 * stored value instead of reading memory, Emitter._forwarded): each width with sign and zero
 * extension, doubles and singles through integer registers and back, a store through another
 * register holding the same address, a narrower store over part of the bytes, a neighbour, the
 * base register changed in between, an AMO and an LR/SC pair on the bytes, and a system call
 * (read) writing them.  The log (stdout) holds each value loaded. */
    .text
    .globl _start
_start:
    la      s0, log
    addi    sp, sp, -128
    li      t0, 0x1122334455667788
    li      t3, 5

    sd      t0, 0(sp)           /* the same doubleword */
    ld      t1, 0(sp)
    sd      t1, 0(s0)

    li      t2, 0x1ff           /* a byte: sign and zero extended */
    sb      t2, 8(sp)
    lb      t1, 8(sp)
    lbu     t2, 8(sp)
    sd      t1, 8(s0)
    sd      t2, 16(s0)

    li      t2, 0x80000001      /* a word */
    sw      t2, 16(sp)
    lw      t1, 16(sp)
    lwu     t2, 16(sp)
    sd      t1, 24(s0)
    sd      t2, 32(s0)

    li      t2, 0x18001         /* a halfword */
    sh      t2, 20(sp)
    lh      t1, 20(sp)
    lhu     t2, 20(sp)
    sd      t1, 40(s0)
    sd      t2, 48(s0)

    addi    a1, sp, 8           /* the same bytes through another register */
    sd      t0, 24(sp)
    sd      t3, 16(a1)
    ld      t1, 24(sp)
    sd      t1, 56(s0)

    sd      t0, 32(sp)          /* a narrower store over the upper half */
    sw      zero, 36(sp)
    ld      t1, 32(sp)
    sd      t1, 64(s0)

    sd      t0, 40(sp)          /* a neighbour does not touch it */
    sd      t3, 48(sp)
    ld      t1, 40(sp)
    sd      t1, 72(s0)

    sd      t0, 56(sp)          /* a double through an integer register and back */
    fld     fa0, 56(sp)
    fsd     fa0, 64(sp)
    ld      t1, 64(sp)
    sd      t1, 80(s0)

    sw      t0, 72(sp)          /* a single: NaN-boxed in the FP register */
    flw     fa1, 72(sp)
    fmv.x.d t1, fa1
    sd      t1, 88(s0)
    fsw     fa1, 76(sp)
    lw      t1, 76(sp)
    sd      t1, 96(s0)

    sd      t0, 80(sp)          /* the base changes in between */
    addi    sp, sp, -8
    ld      t1, 88(sp)
    addi    sp, sp, 8
    sd      t1, 104(s0)

    sd      t0, 96(sp)          /* an AMO adds to the bytes */
    addi    a2, sp, 96
    amoadd.d zero, t3, (a2)
    ld      t1, 96(sp)
    sd      t1, 112(s0)

    sd      t0, 104(sp)         /* LR/SC replace them */
    addi    a2, sp, 104
    lr.d    t1, (a2)
    sc.d    t2, t3, (a2)
    ld      t1, 104(sp)
    sd      t1, 120(s0)

    addi    a0, sp, 8           /* a system call writes the bytes: pipe2(fds at sp+8) */
    li      a1, 0
    li      a7, 59
    ecall
    sd      t3, 0(sp)           /* write(fds[1], &t3 at sp, 8) */
    lw      a0, 12(sp)
    mv      a1, sp
    li      a2, 8
    li      a7, 64
    ecall
    sd      t0, 16(sp)          /* read(fds[0], sp+16, 8) over a stored doubleword */
    lw      a0, 8(sp)
    addi    a1, sp, 16
    li      a2, 8
    li      a7, 63
    ecall
    ld      t1, 16(sp)
    sd      t1, 128(s0)

    li      a0, 1               /* write(1, log, 17 * 8) */
    la      a1, log
    li      a2, 17 * 8
    li      a7, 64
    ecall
    li      a0, 0               /* exit(0) */
    li      a7, 93
    ecall

    .bss
    .balign 8
log:
    .zero   17 * 8
