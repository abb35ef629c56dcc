/* Indirect calls through aot_call_table (backend/link.py), a slot for every even pc from the
 * lowest function entry to the highest: a function's slot jumps to its translation, any other
 * slot hands the pc to the runtime.  The log (stdout) holds a0 and a1 after each call:
 *   the lowest function (placed first in .text, so its slot is the table's first): 41, 42;
 *   the highest (placed last: the table's last slot): 43, 44;
 *   a function that calls another, called directly: 107, 55; then its return site (a resume
 *   entry, not a function's: the runtime enters that function there; its address is computed,
 *   so discovery does not take it for a function), reached with a frame that returns to the
 *   caller: 101, 55;
 *   a pc 4 bytes into a function, which static discovery cannot know is called (the offset is
 *   loaded from memory): the fallback JIT runs it: 2000, 3000;
 *   the lowest function again, reached through a pointer computed the same way (offset 0): 41, 42. */
    .option norvc
    .text
lowest:
    li      a0, 41
    li      a1, 42
    ret

    .globl _start
_start:
    la      s0, log
    la      s1, lowest
    jalr    s1
    sd      a0, 0(s0)
    sd      a1, 8(s0)
    la      s1, highest
    jalr    s1
    sd      a0, 16(s0)
    sd      a1, 24(s0)
    call    caller_fn
    sd      a0, 32(s0)
    sd      a1, 40(s0)
    addi    sp, sp, -16     /* the frame .Lresume_site pops: it returns to 8(sp) */
    la      t0, _start          /* .Lback, computed: no address of it in the code */
    la      t1, four
    ld      t1, 24(t1)
    add     t0, t0, t1
    sd      t0, 8(sp)
    li      a0, 1
    la      s1, caller_fn
    la      t0, four
    ld      t0, 16(t0)
    add     s1, s1, t0
    jalr    s1
.Lback:
    sd      a0, 48(s0)
    sd      a1, 56(s0)
    la      s1, mid_fn
    la      t0, four
    ld      t0, 0(t0)
    add     s1, s1, t0
    jalr    s1
    sd      a0, 64(s0)
    sd      a1, 72(s0)
    la      s1, lowest
    la      t0, four
    ld      t0, 8(t0)
    add     s1, s1, t0
    jalr    s1
    sd      a0, 80(s0)
    sd      a1, 88(s0)
    li      a0, 1           /* write(1, log, 12 * 8) */
    la      a1, log
    li      a2, 12 * 8
    li      a7, 64
    ecall
    li      a0, 0           /* exit(0) */
    li      a7, 93
    ecall

caller_fn:
    addi    sp, sp, -16
    sd      ra, 8(sp)
    call    leaf
.Lresume_site:
    addi    a0, a0, 100
    li      a1, 55
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret

leaf:
    li      a0, 7
    ret

mid_fn:
    li      a0, 1000
    li      a0, 2000
    li      a1, 3000
    ret

highest:
    li      a0, 43
    li      a1, 44
    ret

    .data
    .p2align 3
four:
    .quad 4, 0, .Lresume_site - caller_fn, .Lback - _start
log:
    .zero 12 * 8
