/* The guest program of the runtime tests.  Its code is never run as RISC-V: harness.c holds
 * hand-written "translations" of these functions.  What matters is the image: segments and
 * permissions, symbols, instruction words, data the translations read. */
    .text
    .globl _start
    .type _start, @function
_start:
    .rept 8
    nop             /* compressed: _start+2 has no translation, _start+8 is a second entry */
    .endr
    .size _start, . - _start

    .globl callee
    .type callee, @function
callee:
    li a0, 42
    ret
    .size callee, . - callee

    .globl handler
    .type handler, @function
handler:            /* translated by t_handler: the guest's signal handler */
    ret
    .size handler, . - handler

    .globl illegal32
    .type illegal32, @function
illegal32:
    .4byte 0xc0001073   /* unimp: csrrw x0, cycle, x0 */
    .size illegal32, . - illegal32

    .globl illegal16
    .type illegal16, @function
illegal16:
    .2byte 0x0000       /* c.unimp */
    .2byte 0x0001       /* c.nop, to keep the next symbol aligned */
    .size illegal16, . - illegal16

    .globl breakpoint
    .type breakpoint, @function
breakpoint:
    ebreak
    .size breakpoint, . - breakpoint

    .section .rodata
    .balign 8
    .globl greeting
greeting:
    .asciz "hello from rodata"

    .data
    .balign 8
    .globl counter
counter:
    .quad 0x1122334455667788

    .bss
    .balign 4096
    .globl scratch
scratch:
    .space 4 * 4096
