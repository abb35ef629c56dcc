/* a0 and a1 cross calls between translated functions in host registers, both ways (abi.py,
 * PASSED_REGISTERS): what a callee gets and what its caller gets back must be the guest's
 * values on every way out.  The log (stdout, after "ok\n" from the system call) holds each
 * value read:
 *   a callee that leaves a0 and a1 alone gives back what its caller set just before (5, 6);
 *   a callee that returns to a pc other than its return site (it sets ra itself), with a0 and
 *   a1 set: its caller hands them on to the dispatcher, which continues there (11, 12); the
 *   same two calls deep (21, 22);
 *   a callee reached through a register, twice (an entry-cache miss, then a hit): 34, 34;
 *   a system call made with the a0 and a1 the caller passed (the callee, not the caller, writes
 *   them back for it), whose result in a0 the function returns (3);
 *   a loop whose callee returns (a1, a0 + a1), fed back as its next arguments (89, 144). */
    .text
    .globl _start
_start:
    la      s0, log
    li      a0, 5
    li      a1, 6
    call    leaves_args
    sd      a0, 0(s0)
    sd      a1, 8(s0)
    call    returns_elsewhere
    li      a0, 99          /* not reached */
    li      a1, 99
landing:
    sd      a0, 16(s0)
    sd      a1, 24(s0)
    call    deep_elsewhere
    li      a0, 99          /* not reached */
    li      a1, 99
landing2:
    sd      a0, 32(s0)
    sd      a1, 40(s0)
    la      s1, sum_args
    li      a0, 30
    li      a1, 4
    jalr    s1
    sd      a0, 48(s0)
    li      a0, 30
    li      a1, 4
    jalr    s1
    sd      a0, 56(s0)
    li      a0, 1
    la      a1, ok
    call    write_ok
    sd      a0, 64(s0)
    li      s2, 10
    li      a0, 1
    li      a1, 1
fibs:
    call    fib_step
    addi    s2, s2, -1
    bnez    s2, fibs
    sd      a0, 72(s0)
    sd      a1, 80(s0)
    li      a0, 1           /* write(1, log, 11 * 8) */
    la      a1, log
    li      a2, 11 * 8
    li      a7, 64
    ecall
    li      a0, 0           /* exit(0) */
    li      a7, 93
    ecall

leaves_args:
    li      t0, 1
    ret

returns_elsewhere:
    li      a0, 11
    li      a1, 12
    la      ra, landing
    ret

deep_elsewhere:
    addi    sp, sp, -16
    sd      ra, 8(sp)
    call    to_landing2     /* does not come back here */
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret

to_landing2:
    li      a0, 21
    li      a1, 22
    addi    sp, sp, 16      /* drops deep_elsewhere's frame */
    la      ra, landing2
    ret

sum_args:
    add     a0, a0, a1
    ret

write_ok:
    li      a2, 3
    li      a7, 64
    ecall
    ret

fib_step:
    add     t0, a0, a1
    mv      a0, a1
    mv      a1, t0
    ret

    .section .rodata
ok:
    .ascii  "ok\n"

    .bss
    .balign 8
log:
    .space  11 * 8
