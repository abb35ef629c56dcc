/* Window checks on a root (Emitter._window_root): an access off root + (i & 0xff) checks only
 * the root against the direct window's end (2^38), so with the root just below it the address
 * lies past it, in the guard page, where the move faults and the slow path must do the access.
 * Two mappings meet at boundary B (2^38 where the guest can map there; qemu keeps 2^38 for
 * itself, and then B is 0x3000000000): root = B - 16, i = 24, so the load reads B + 8 and the
 * store after it writes B + 16, in the mapping above.  The log (stdout) holds what the load read,
 * what a plain load of B + 16 reads back, and what a load off the root at a negative index
 * (i & 0xff = 0, offset -8: B - 24, in the mapping below) reads. */
    .text
    .globl _start
_start:
    la      s0, boundaries
1:  ld      s1, 0(s0)           /* B */
    li      t0, 4096
    sub     a0, s1, t0          /* mmap(B - 4096, 4096, RW, private anonymous fixed-noreplace) */
    call    map_page
    bnez    a0, 2f
    mv      a0, s1              /* mmap(B, 4096, ...) */
    call    map_page
    beqz    a0, 3f
2:  addi    s0, s0, 8           /* taken: try the next boundary */
    j       1b
3:  li      t0, 0x1111          /* markers: B - 24, B + 8 */
    sd      t0, -24(s1)
    li      t0, 0x2222
    sd      t0, 8(s1)
    la      t0, index
    ld      t0, 0(t0)           /* 24, unknown to the translator */
    andi    t0, t0, 0xff
    li      t1, 4080            /* root = B - 16, too far from B to share B's check */
    sub     t1, s1, t1
    li      t3, 4064
    add     t1, t1, t3
    add     t2, t1, t0          /* root + (i & 0xff) = B + 8 */
    ld      a0, 0(t2)
    li      a1, 0x3333
    sd      a1, 8(t2)           /* B + 16 */
    la      s2, log
    sd      a0, 0(s2)
    ld      a2, 16(s1)
    sd      a2, 8(s2)
    andi    t0, t0, 0           /* i & 0xff = 0: root - 8 = B - 24 */
    add     t2, t1, t0
    ld      a3, -8(t2)
    sd      a3, 16(s2)
    li      a0, 1               /* write(1, log, 3 * 8) */
    la      a1, log
    li      a2, 3 * 8
    li      a7, 64
    ecall
    li      a0, 0               /* exit(0) */
    li      a7, 93
    ecall

/* a0 = 0 when one page at a0 got mapped there, else not 0. */
map_page:
    mv      t3, a0
    li      a1, 4096
    li      a2, 3               /* PROT_READ | PROT_WRITE */
    li      a3, 0x100022        /* MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE */
    li      a4, -1
    li      a5, 0
    li      a7, 222
    ecall
    sub     a0, a0, t3
    ret

    .section .rodata
    .balign 8
boundaries:
    .dword  0x4000000000, 0x3000000000
index:
    .dword  24

    .bss
    .balign 8
log:
    .zero   3 * 8
