/* Registers a function changes on one path into a join and leaves alone on another, with
 * nothing after the join writing them: the translation writes them back at the end of the path
 * that changed them, not after the join (lift/writeback.py, merge_writebacks).  Whoever reads them
 * next must see the right value on both paths: the caller after the return (t0, t1, ft0 read
 * directly, not as results), a callee after the join (`record_t2` reads t2 from the state), a
 * second join that a first one feeds (`twice`: t3 changed on two nested paths), and a join of
 * two changing paths and one that is not (`either`: t5).  Each round is run with a0 = 0 (the
 * early path) and a0 != 0; the log goes to stdout, the exit status is a checksum of it. */
    .text
    .globl _start
    .type pick, @function
    .type then_call, @function
    .type twice, @function
    .type either, @function
_start:
    la      s0, log
    li      s2, 6                /* rounds */
    li      t0, 11
    li      t1, 22
    li      t2, 33
    li      t3, 44
    li      t4, 55
    fmv.d.x ft0, t4
    li      t5, 66
round:
    andi    a0, s2, 1            /* odd rounds take the changing paths */
    call    pick
    sd      t0, 0(s0)
    sd      t1, 8(s0)
    fmv.x.d t4, ft0
    sd      t4, 16(s0)
    addi    s0, s0, 24
    andi    a0, s2, 2
    call    then_call
    andi    a0, s2, 1
    andi    a1, s2, 4
    call    twice
    sd      t3, 0(s0)
    andi    a0, s2, 1
    andi    a1, s2, 2
    call    either
    sd      t5, 8(s0)
    addi    s0, s0, 16
    addi    s2, s2, -1
    bnez    s2, round
    li      a0, 1                /* write(1, log, 36 * 8) */
    la      a1, log
    li      a2, 36 * 8
    li      a7, 64
    ecall
    la      a1, log              /* exit status: sum of the log, mod 256 */
    li      a0, 0
    li      a2, 36
sum:
    ld      t0, 0(a1)
    add     a0, a0, t0
    addi    a1, a1, 8
    addi    a2, a2, -1
    bnez    a2, sum
    andi    a0, a0, 255
    li      a7, 93
    ecall

/* a0 == 0: return at once.  Else change t0, t1 and ft0, then join the early path. */
pick:
    beqz    a0, pick_done
    addi    t0, t0, 100
    slli    t1, t0, 1
    fcvt.d.l ft1, t0
    fadd.d  ft0, ft0, ft1
pick_done:
    ret

/* t2 changed on one path only; after the join a callee reads it from the state. */
then_call:
    addi    sp, sp, -16
    sd      ra, 8(sp)
    beqz    a0, then_join
    addi    t2, t2, 7
then_join:
    call    record_t2
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret

/* t3 changed on nested paths: the inner join is one path into the outer one. */
twice:
    beqz    a0, twice_done
    addi    t3, t3, 1
    beqz    a1, twice_inner
    addi    t3, t3, 10
twice_inner:
    nop
twice_done:
    ret

/* t5 changed on two paths (by different amounts), left alone on a third. */
either:
    beqz    a0, either_done
    beqz    a1, either_two
    addi    t5, t5, 1
    j       either_done
either_two:
    addi    t5, t5, 2
either_done:
    ret

record_t2:
    sd      t2, 0(s0)
    addi    s0, s0, 8
    ret

    .bss
    .balign 8
log:
    .space  36 * 8
