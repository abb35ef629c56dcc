    .option norelax
    .text
    .globl _start
_start:
    li a0, 1
    call dispatch           # a0 = 1: handler_b (20)
    mv s2, a0
    li a0, 0
    call dispatch           # a0 = 0: handler_a (10)
    add a0, a0, s2          # 30 when each call reached its own handler
    li a7, 93
    ecall

    .type dispatch, @function
dispatch:
    addi sp, sp, -16
    sd ra, 8(sp)
    bnez a0, other
    lla a5, handler_a       # this case falls through into the shared call ...
shared:
    li a0, 0
    jalr a5                 # ... that the other case jumps into with its own a5
    ld ra, 8(sp)
    addi sp, sp, 16
    ret
other:
    lla a5, handler_b
    j shared

    .type handler_a, @function
handler_a:
    addi a0, a0, 10
    ret

    .type handler_b, @function
handler_b:
    addi a0, a0, 20
    ret
