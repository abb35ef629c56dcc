/* Registers a caller changes on some paths only, read by its callees from the CPU state.
 * The translation writes back only registers that may have changed since the state last held
 * them; a register changed on one path of a diamond or of a loop, or only before an earlier call
 * (where it was already written back), must still reach the callee right.  `record` reads s1, s2
 * and t1 directly (not from argument registers) and appends them to `log`; the exit status is a
 * checksum of the log and the log is written to stdout. */
    .text
    .globl _start
_start:
    la      s0, log
    li      s1, 0           /* changed on odd iterations only */
    li      s2, 12          /* loop counter, changed every iteration */
    li      t1, 5           /* changed before the first call only, then after a nested call */
loop:
    andi    t0, s2, 1
    beqz    t0, even
    addi    s1, s1, 7
    j       joined
even:
    andi    t0, s2, 2
    beqz    t0, joined
    call    bump_t1         /* t1 changes inside a callee on these paths */
joined:
    call    record
    addi    s2, s2, -1
    bnez    s2, loop
    la      a3, steps
    li      t2, 100
    call    bump_t1         /* t2 is written back here and clean on entering the loop */
load_loop:
    call    record_t2
    ld      t0, 0(a3)
    addi    a3, a3, 8
    add     t2, t2, t0
    bnez    t0, load_loop
    call    record_t2       /* t2 is written back: the state holds it */
    addi    t3, t2, 8       /* read while the state holds it */
    addi    t2, t2, 50
    call    record_t2       /* the state holds t2 + 50 */
    addi    t2, t3, -8      /* back to a value the state held once, but not now: written back */
    call    record_t2
    li      a0, 1           /* write(1, log, 43 * 8) */
    la      a1, log
    li      a2, 43 * 8
    li      a7, 64
    ecall
    la      a1, log         /* exit status: sum of the log, mod 256 */
    li      a0, 0
    li      a2, 43
sum:
    ld      t0, 0(a1)
    add     a0, a0, t0
    addi    a1, a1, 8
    addi    a2, a2, -1
    bnez    a2, sum
    andi    a0, a0, 255
    li      a7, 93
    ecall

bump_t1:
    addi    t1, t1, 3
    ret

record:
    sd      s1, 0(s0)
    sd      s2, 8(s0)
    sd      t1, 16(s0)
    addi    s0, s0, 24
    ret

record_t2:
    sd      t2, 0(s0)
    addi    s0, s0, 8
    ret

    .data
    .balign 8
steps:
    .dword  1, 2, 3, 0

    .bss
    .balign 8
log:
    .space  43 * 8
