/* Registers a loop with calls neither reads nor writes: the translation keeps them in the CPU
 * state through the loop (no reload after each call) and reloads them where control leaves the
 * loop, so they must be written back on entering it and read back on every way out.  s3 changes
 * only inside a callee; s5 only before the loops.  The second loop leaves from its middle.  The
 * log (stdout) holds s3 and s5 as _start sees them after each loop. */
    .text
    .globl _start
_start:
    la      s0, log
    li      s3, 100         /* changed by bump_s3 only */
    li      s4, 10          /* loop counter */
    li      s5, 7           /* changed before the loop, read after it */
loop:
    call    bump_s3
    addi    s4, s4, -1
    bnez    s4, loop
    sd      s3, 0(s0)       /* 110 */
    sd      s5, 8(s0)       /* 7 */
    li      s5, 9
    li      s4, 5
loop2:
    call    bump_s3
    addi    s4, s4, -1
    beqz    s4, out         /* leaves from the middle of the loop */
    call    bump_s3
    j       loop2
out:
    sd      s3, 16(s0)      /* 119 */
    sd      s5, 24(s0)      /* 9 */
    li      a0, 1           /* write(1, log, 32) */
    la      a1, log
    li      a2, 32
    li      a7, 64
    ecall
    andi    a0, s3, 255
    li      a7, 93
    ecall

bump_s3:
    addi    s3, s3, 1
    ret

    .bss
    .balign 8
log:
    .space  32
