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
 *   a loop whose callee returns (a1, a0 + a1), fed back as its next arguments (89, 144).
 * ra goes to a callee in a host register too, and comes back as a bit of the returned pc (set:
 * the callee stored it).  Logged as differences from the return site where it is an address:
 *   the ra a callee gets, called directly, through a register (an entry-cache miss, then a hit)
 *   and through the call table's miss path (a return site, no function): 0, 0, 0, 0;
 *   a callee that returns through t0 with ra set to 0x1234: the caller sees 0x1234;
 *   a callee that returns with ra odd (ret clears bit 0 of the target only): 1;
 *   a call linked through t0 leaves the caller's ra (0x777) as it was. */
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
    call    ra_seen
site1:
    la      t1, site1
    sub     t1, a0, t1
    sd      t1, 88(s0)
    la      s1, ra_seen
    jalr    s1
site2:
    la      t1, site2
    sub     t1, a0, t1
    sd      t1, 96(s0)
    jalr    s1
site3:
    la      t1, site3
    sub     t1, a0, t1
    sd      t1, 104(s0)
    la      s1, sometimes
    la      t0, to_resumed
    ld      t0, 0(t0)
    add     s1, s1, t0
    jalr    s1
site4:
    la      t1, site4
    sub     t1, a0, t1
    sd      t1, 112(s0)
    call    sets_ra
    sd      ra, 120(s0)
    call    odd_ra
site5:
    la      t1, site5
    sub     t1, ra, t1
    sd      t1, 128(s0)
    li      ra, 0x777
    jal     t0, keeps_ra
    sd      ra, 136(s0)
    li      a0, 1           /* write(1, log, 18 * 8) */
    la      a1, log
    li      a2, 18 * 8
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

ra_seen:
    mv      a0, ra
    ret

/* Code entered only at `resumed`, through a pointer computed from an offset in memory, so static
 * discovery knows of no function there: the call table hands it to the runtime
 * (aot_call_table_miss), whose fallback JIT runs it. */
sometimes:
    li      a0, 0
    beqz    a1, resumed
    li      a0, 1
resumed:
    mv      a0, ra
    ret

sets_ra:
    mv      t0, ra
    li      ra, 0x1234
    jr      t0

odd_ra:
    addi    ra, ra, 1
    ret

keeps_ra:
    li      a0, 0
    jr      t0

    .section .rodata
ok:
    .ascii  "ok\n"
    .balign 8
to_resumed:
    .quad   resumed - sometimes

    .bss
    .balign 8
log:
    .space  18 * 8
