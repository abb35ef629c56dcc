/* Callers that read caller-saved registers a callee set, against the psABI (hand-written code has
 * conventions of its own; Go returns results in a2-a7 and more): after a direct call (t3, a2),
 * through a tail call (t4), through a later callee that leaves the register alone (t5), after a
 * call through a register (t6), and through a jump through a register to a function that
 * returns for the caller (a7).  A translation that wrote back at returns only what the psABI
 * lets callers read would lose them.  The log (stdout) holds each value read. */
    .text
    .globl _start
_start:
    la      s0, log
    li      t3, 1
    li      a2, 2
    call    pair            /* t3 = 30, a2 = 31 */
    sd      t3, 0(s0)
    sd      a2, 8(s0)
    call    via_tail        /* tail-calls set_t4: t4 = 40 */
    sd      t4, 16(s0)
    call    set_t5          /* t5 = 50 */
    call    leaves_t5       /* writes t0 only */
    sd      t5, 24(s0)
    la      s1, set_t6
    jalr    s1              /* t6 = 60 */
    sd      t6, 32(s0)
    la      a5, set_a7
    call    jump_on         /* jr a5: set_a7 returns for it, a7 = 70 */
    sd      a7, 40(s0)
    li      s2, 3           /* and once more in a loop: the values must not go stale */
again:
    call    pair
    add     t3, t3, a2
    sd      t3, 48(s0)
    addi    s2, s2, -1
    bnez    s2, again
    li      a0, 1           /* write(1, log, 7 * 8) */
    la      a1, log
    li      a2, 7 * 8
    li      a7, 64
    ecall
    li      a0, 0           /* exit(0) */
    li      a7, 93
    ecall

pair:
    li      t3, 30
    li      a2, 31
    ret

via_tail:
    li      t4, 4           /* set_t4 overwrites it */
    tail    set_t4

set_t4:
    li      t4, 40
    ret

set_t5:
    li      t5, 50
    ret

leaves_t5:
    li      t0, 5
    ret

set_t6:
    li      t6, 60
    ret

jump_on:
    li      a7, 7           /* set_a7 overwrites it */
    jr      a5

set_a7:
    li      a7, 70
    ret

    .bss
    .balign 8
log:
    .space  7 * 8
