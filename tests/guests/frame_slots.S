/* Frame slots read back in a later block (lift/frame_slots.py): a translated epilogue may take
 * the value the prologue saved instead of loading it, only while nothing can have written the
 * slot.  `restore` saves s1, maybe writes the slot (through another register, or through sp
 * with another offset first), then, in a later block, loads s1 back and returns.  The log
 * (stdout) holds s1 after each call: what the slot held at the restore, as under qemu. */
    .text
    .globl _start
_start:
    la      s0, log
    li      s1, 5
    li      a2, 77
    li      a0, 0           /* nothing writes the slot: 5 */
    call    restore
    sd      s1, 0(s0)
    li      a0, 1           /* a store through a1 = sp + 8: 77 */
    call    restore
    sd      s1, 8(s0)
    li      a0, 2           /* a store through sp to the slot itself: 78 */
    call    restore
    sd      s1, 16(s0)
    li      s1, 6
    li      a0, 3           /* a store through sp next to the slot only: 6 */
    call    restore
    sd      s1, 24(s0)
    li      a0, 1           /* write(1, log, 4 * 8) */
    la      a1, log
    li      a2, 4 * 8
    li      a7, 64
    ecall
    li      a0, 0           /* exit(0) */
    li      a7, 93
    ecall

restore:
    addi    sp, sp, -32
    sd      s1, 8(sp)
    addi    a1, sp, 8
    addi    a3, a2, 1
    li      t0, 1
    beq     a0, t0, through_a1
    li      t0, 2
    beq     a0, t0, through_sp
    li      t0, 3
    beq     a0, t0, beside
    ld      s1, 8(sp)       /* nothing wrote the slot: the value saved */
    addi    sp, sp, 32
    ret
through_a1:
    sd      a2, 0(a1)
    j       1f
1:  ld      s1, 8(sp)       /* a later block than the store through a1 */
    addi    sp, sp, 32
    ret
through_sp:
    sd      a3, 8(sp)
    j       1f
1:  ld      s1, 8(sp)
    addi    sp, sp, 32
    ret
beside:
    sd      a3, 16(sp)
    j       1f
1:  ld      s1, 8(sp)       /* the slot is as saved */
    addi    sp, sp, 32
    ret

    .bss
    .balign 8
log:
    .space  4 * 8
