"""Random instruction sequences with random initial state, as assembly.

A *case* is the initial state (integer and FP registers, fcsr, a 256-byte memory window) and a
*body*: a list of items, each one or a few instructions that belong together (an address
computation and the AMO that uses it, a counted loop, one with an exit in the middle).
Minimisation removes whole items.

Rules that keep a case deterministic and inside the specification, so qemu and the translation
must agree bit for bit: sp (x2) points at the memory window and is never written; every memory
access is sp-relative inside the window (atomics naturally aligned); branches only go forward
(and the one backward kind, a counted loop, has a counter nothing else writes); frm only ever
holds a valid mode (reserved modes are tested in test_insn_vectors); the counters (cycle, time,
instret) are not read; LR/SC pairs have the same width.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MASK64 = (1 << 64) - 1
WINDOW = 256
X_WRITABLE = [r for r in range(32) if r != 2]  # x0 may be written (and must stay 0); sp may not
X_NAMES = [f"x{i}" for i in range(32)]
_ABI = {"s0": "x8", "s1": "x9", **{f"a{i}": f"x{10 + i}" for i in range(8)}}
F_NAMES = [f"f{i}" for i in range(32)]
RM_NAMES = ("rne", "rtz", "rdn", "rup", "rmm", "dyn")

# Edge values, shared with the instruction vectors.
SPECIAL_X = [0, 1, 2, MASK64, MASK64 - 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFF80000000, 0x100000000,
             0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 31, 32, 63, 64, 0x8000000000000001, 0xFF, 0x5555555555555555]
SPECIAL_F64 = [0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x3FE0000000000000, 0x4004000000000000,
               0x7FEFFFFFFFFFFFFF, 0x0010000000000000, 1, 0x800FFFFFFFFFFFFF, 0x7FF0000000000000,
               0xFFF0000000000000, 0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000042,
               0x43E0000000000000, 0xC3E0000000000000, 0x41E0000000000000, 0x3FD5555555555555,
               0x4330000000000001, 0x3CA0000000000000]
SPECIAL_F32 = [0, 0x80000000, 0x3F800000, 0xBF800000, 0x3F000000, 0x40200000, 0x7F7FFFFF, 0x00800000, 1,
               0x807FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFC00042, 0x5F000000, 0xDF000000,
               0x4F000000, 0x3EAAAAAB, 0x4B800001, 0x33800000]


def random_x(rng: random.Random) -> int:
    k = rng.random()
    if k < 0.45:
        return rng.choice(SPECIAL_X)
    if k < 0.6:
        return rng.randrange(-64, 64) & MASK64
    return rng.getrandbits(64)


def random_f(rng: random.Random) -> int:
    """FP register bits: NaN-boxed singles (sometimes improperly boxed), doubles, random bits."""
    k = rng.random()
    if k < 0.35:
        return 0xFFFFFFFF00000000 | (rng.choice(SPECIAL_F32) if rng.random() < 0.7 else rng.getrandbits(32))
    if k < 0.7:
        return rng.choice(SPECIAL_F64)
    if k < 0.8:
        return rng.getrandbits(32) | (rng.choice((0, 0xFFFFFFFE, 0x7FF80000)) << 32)
    if k < 0.9:  # a double near 1 with random low bits: rounding happens
        return 0x3FF0000000000000 | rng.getrandbits(52) | (rng.getrandbits(1) << 63)
    return rng.getrandbits(64)


@dataclass
class Case:
    x: list[int]  # x0..x31 (x0 and x2 ignored)
    f: list[int]
    fcsr: int
    memory: bytes
    body: list[list[str]] = field(default_factory=list)  # items of assembly lines

    def lines(self) -> list[str]:
        return [line for item in self.body for line in item]


# -- the instruction menu ---------------------------------------------------------------------------

R_INT = ("add sub sll slt sltu xor srl sra or and addw subw sllw srlw sraw mul mulh mulhsu mulhu mulw div divu "
         "rem remu divw divuw remw remuw andn orn xnor min minu max maxu rol ror rolw rorw sh1add sh2add sh3add "
         "add.uw sh1add.uw sh2add.uw sh3add.uw bclr bext binv bset").split()
UNARY_INT = "clz ctz cpop clzw ctzw cpopw sext.b sext.h zext.h orc.b rev8".split()
I_IMM12 = ("addi", "slti", "sltiu", "xori", "ori", "andi", "addiw")
I_SHIFT64 = ("slli", "srli", "srai", "rori", "bclri", "bexti", "binvi", "bseti", "slli.uw")
I_SHIFT32 = ("slliw", "srliw", "sraiw", "roriw")
LOADS = {"lb": 1, "lbu": 1, "lh": 2, "lhu": 2, "lw": 4, "lwu": 4, "ld": 8}
STORES = {"sb": 1, "sh": 2, "sw": 4, "sd": 8}
AMO_OPS = ("amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax", "amominu", "amomaxu")
BRANCHES = ("beq", "bne", "blt", "bge", "bltu", "bgeu")
FP_BIN_RM = ("fadd", "fsub", "fmul", "fdiv")
FP_BIN = ("fmin", "fmax", "fsgnj", "fsgnjn", "fsgnjx")
FP_CMP = ("feq", "flt", "fle")
FP_FMA = ("fmadd", "fmsub", "fnmsub", "fnmadd")


class Generator:
    """Produces cases from a seeded random source (one Generator per batch)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.labels = 0
        self.protected: set[int] = set()  # loop counters nothing may write
        # Each case works on a few registers: more interplay between its instructions, and a
        # smaller translated function (translation cost grows with the registers a function uses).
        self.x_pool: list[int] = X_WRITABLE
        self.f_pool: list[int] = list(range(32))

    # -- operands ---------------------------------------------------------------------------------
    def xd(self) -> str:
        while True:
            r = self.rng.choice(self.x_pool) if self.rng.random() < 0.95 else self.rng.choice(X_WRITABLE)
            if r not in self.protected:
                return X_NAMES[r]

    def xs(self) -> str:
        if self.rng.random() < 0.9:
            return X_NAMES[self.rng.choice(self.x_pool)]
        return X_NAMES[self.rng.randrange(32)]

    def f(self) -> str:
        return F_NAMES[self.rng.choice(self.f_pool) if self.rng.random() < 0.95 else self.rng.randrange(32)]

    def rm(self) -> str:
        return self.rng.choice(RM_NAMES + ("dyn", "dyn"))

    def imm12(self) -> int:
        return self.rng.choice((0, 1, -1, 2047, -2048, self.rng.randrange(-2048, 2048), self.rng.randrange(-16, 16)))

    def label(self) -> str:
        self.labels += 1
        return f".L{self.labels}"

    # -- items ------------------------------------------------------------------------------------
    def item(self) -> list[str]:
        g = self.rng.choices(
            (self.int_op, self.memory_op, self.atomic_op, self.fp_op, self.fp_convert_op, self.csr_op),
            weights=(30, 12, 6, 30, 14, 5))[0]
        return g()

    def int_op(self) -> list[str]:
        r, k = self.rng, self.rng.random()
        if k < 0.4:
            return [f"{r.choice(R_INT)} {self.xd()}, {self.xs()}, {self.xs()}"]
        if k < 0.5:
            return [f"{r.choice(UNARY_INT)} {self.xd()}, {self.xs()}"]
        if k < 0.7:
            return [f"{r.choice(I_IMM12)} {self.xd()}, {self.xs()}, {self.imm12()}"]
        if k < 0.8:
            return [f"{r.choice(I_SHIFT64)} {self.xd()}, {self.xs()}, {r.choice((0, 1, 31, 32, 63, r.randrange(64)))}"]
        if k < 0.85:
            return [f"{r.choice(I_SHIFT32)} {self.xd()}, {self.xs()}, {r.choice((0, 1, 31, r.randrange(32)))}"]
        if k < 0.9:
            upper = r.choice((0, 1, 0x80000, 0xFFFFF, r.randrange(1 << 20)))
            return [f"{r.choice(('lui', 'auipc'))} {self.xd()}, {upper}"]
        if k < 0.95:  # compressed-only spellings (the assembler compresses the rest by itself)
            rd = self.rng.choice([n for n in ("s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5")
                                  if X_NAMES.index(_ABI[n]) not in self.protected] or ["s0"])
            if X_NAMES.index(_ABI[rd]) in self.protected:
                return [f"mv x0, {self.xs()}"]
            return [r.choice((f"c.li {rd}, {r.randrange(-32, 32)}", f"c.addi {rd}, {r.choice((1, -1, 31, -32))}",
                              f"c.andi {rd}, {r.randrange(-32, 32)}", f"c.srai {rd}, {r.randrange(1, 64)}",
                              f"c.srli {rd}, {r.randrange(1, 64)}", f"c.slli {rd}, {r.randrange(1, 64)}",
                              f"c.addiw {rd}, {r.randrange(-32, 32)}", "c.nop",
                              f"c.lui {rd}, {r.choice((1, 31, 0xFFFE0, 0xFFFFF))}"))]
        return [f"mv {self.xd()}, {self.xs()}"]

    def memory_op(self) -> list[str]:
        r = self.rng
        if r.random() < 0.5:
            name, size = r.choice(list(LOADS.items()))
            return [f"{name} {self.xd()}, {r.randrange(WINDOW - size + 1)}(sp)"]
        if r.random() < 0.6:
            name, size = r.choice(list(STORES.items()))
            return [f"{name} {self.xs()}, {r.randrange(WINDOW - size + 1)}(sp)"]
        name, size = r.choice((("flw", 4), ("fld", 8), ("fsw", 4), ("fsd", 8)))
        off = r.randrange(WINDOW - size + 1) if r.random() < 0.5 else r.randrange(WINDOW // size) * size
        return [f"{name} {self.f()}, {off}(sp)"]

    def atomic_op(self) -> list[str]:
        r = self.rng
        width = r.choice(("w", "d"))
        size = 4 if width == "w" else 8
        base = self.xd()
        while base == "x0":
            base = self.xd()
        addr = [f"addi {base}, sp, {r.randrange(WINDOW // size) * size}"]
        order = r.choice(("", ".aq", ".rl", ".aqrl"))
        if r.random() < 0.6:
            return addr + [f"{r.choice(AMO_OPS)}.{width}{order} {self.xd()}, {self.xs()}, ({base})"]
        # LR, maybe a store or another instruction in between, then SC of the same width.
        rd = self.xd()
        while rd == base:  # the SC needs the address still in base
            rd = self.xd()
        middle: list[str] = []
        if r.random() < 0.5:  # the SC must see the same address: nothing in between writes base
            index = X_NAMES.index(base)
            added = index not in self.protected
            self.protected.add(index)
            middle = self.int_op() if r.random() < 0.5 else self.memory_op()
            if added:
                self.protected.discard(index)
        return addr + [f"lr.{width}{order} {rd}, ({base})"] + middle + \
            [f"sc.{width}{r.choice(('', '.rl'))} {self.xd()}, {self.xs()}, ({base})"]

    def fp_op(self) -> list[str]:
        r, k = self.rng, self.rng.random()
        p = r.choice(("s", "d"))
        if k < 0.35:
            return [f"{r.choice(FP_BIN_RM)}.{p} {self.f()}, {self.f()}, {self.f()}, {self.rm()}"]
        if k < 0.5:
            return [f"{r.choice(FP_FMA)}.{p} {self.f()}, {self.f()}, {self.f()}, {self.f()}, {self.rm()}"]
        if k < 0.58:
            return [f"fsqrt.{p} {self.f()}, {self.f()}, {self.rm()}"]
        if k < 0.75:
            return [f"{r.choice(FP_BIN)}.{p} {self.f()}, {self.f()}, {self.f()}"]
        if k < 0.88:
            return [f"{r.choice(FP_CMP)}.{p} {self.xd()}, {self.f()}, {self.f()}"]
        return [f"fclass.{p} {self.xd()}, {self.f()}"]

    def fp_convert_op(self) -> list[str]:
        r, k = self.rng, self.rng.random()
        p = r.choice(("s", "d"))
        ity = r.choice(("w", "wu", "l", "lu"))
        if k < 0.35:
            return [f"fcvt.{ity}.{p} {self.xd()}, {self.f()}, {self.rm()}"]
        if k < 0.6:
            if p == "d" and ity in ("w", "wu"):  # exact: GNU as takes no rounding mode
                return [f"fcvt.d.{ity} {self.f()}, {self.xs()}"]
            return [f"fcvt.{p}.{ity} {self.f()}, {self.xs()}, {self.rm()}"]
        if k < 0.75:
            return [r.choice((f"fcvt.s.d {self.f()}, {self.f()}, {self.rm()}", f"fcvt.d.s {self.f()}, {self.f()}"))]
        return [r.choice((f"fmv.x.w {self.xd()}, {self.f()}", f"fmv.x.d {self.xd()}, {self.f()}",
                          f"fmv.w.x {self.f()}, {self.xs()}", f"fmv.d.x {self.f()}, {self.xs()}"))]

    def csr_op(self) -> list[str]:
        r = self.rng
        k = r.random()
        if k < 0.3:
            return [r.choice((f"frflags {self.xd()}", f"frrm {self.xd()}", f"frcsr {self.xd()}"))]
        if k < 0.55:
            op = r.choice(("csrrw", "csrrs", "csrrc"))
            if r.random() < 0.5:
                return [f"{op} {self.xd()}, fflags, {self.xs()}"]
            return [f"{op}i {self.xd()}, fflags, {r.randrange(32)}"]
        if k < 0.8:
            mode = r.randrange(5)
            return [r.choice((f"fsrmi {self.xd()}, {mode}", f"csrrci {self.xd()}, frm, {r.randrange(8)}"))]
        tmp = self.xd()
        if tmp == "x0":
            return [f"fsflagsi {r.randrange(32)}"]
        value = r.randrange(5) << 5 | r.randrange(32) | (r.getrandbits(56) << 8 if r.random() < 0.3 else 0)
        return [f"li {tmp}, {value:#x}", f"fscsr {self.xd()}, {tmp}"]

    # -- control flow --------------------------------------------------------------------------------
    def body(self, length: int) -> list[list[str]]:
        items: list[list[str]] = []
        pending: list[tuple[int, str]] = []  # (item index where the label goes, label)
        i = 0
        while i < length:
            k = self.rng.random()
            if k < 0.1:
                label = self.label()
                items.append([self.branch(label)])
                pending.append((i + 1 + self.rng.randrange(1, 6), label))
            elif k < 0.13:
                items.append(self.loop())
            elif k < 0.15:
                label = self.label()
                link = self.xd()
                items.append([f"jal {link}, {label}"])
                pending.append((i + 1 + self.rng.randrange(0, 4), label))
            else:
                items.append(self.item())
            i += 1
            for at, label in [p for p in pending if p[0] <= i]:
                items.append([f"{label}:"])
                pending.remove((at, label))
        items += [[f"{label}:"] for _, label in pending]
        return items

    def branch(self, label: str) -> str:
        r = self.rng
        if r.random() < 0.2:
            reg = r.choice(("s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5"))
            return f"{r.choice(('c.beqz', 'c.bnez'))} {reg}, {label}"
        return f"{r.choice(BRANCHES)} {self.xs()}, {self.xs()}, {label}"

    def loop(self) -> list[str]:
        """A counted loop: its counter is protected from the instructions inside.  Half of them
        have a forward branch out of the middle (a loop of two blocks, lift/lower.py's strided
        loops)."""
        r = self.rng
        counter = self.xd()
        while counter == "x0":
            counter = self.xd()
        index = X_NAMES.index(counter)
        self.protected.add(index)
        label = self.label()
        inner = [line for _ in range(r.randrange(1, 5)) for line in self.item()]
        out = None
        if r.random() < 0.5:
            out = self.label()
            inner.insert(r.randrange(len(inner) + 1), self.branch(out))
            inner += [line for line in self.item()]
        self.protected.discard(index)
        return [f"li {counter}, {r.randrange(1, 5)}", f"{label}:", *inner,
                f"addi {counter}, {counter}, -1", f"bnez {counter}, {label}", *([f"{out}:"] if out else [])]

    def case(self, length: int) -> Case:
        r = self.rng
        self.x_pool = r.sample(X_WRITABLE, r.randrange(4, 10))
        self.f_pool = r.sample(range(32), r.randrange(3, 9))
        x = [random_x(r) for _ in range(32)]
        f = [random_f(r) for _ in range(32)]
        fcsr = r.randrange(5) << 5 | (r.randrange(32) if r.random() < 0.3 else 0)
        memory = bytearray(r.getrandbits(8) for _ in range(WINDOW))
        for _ in range(8):  # some FP and integer edge values in memory
            off = r.randrange(WINDOW // 8) * 8
            memory[off:off + 8] = (random_f(r) if r.random() < 0.6 else random_x(r)).to_bytes(8, "little")
        return Case(x, f, fcsr, bytes(memory), self.body(length))


def generate(seed: int, count: int, min_length: int = 1, max_length: int = 20) -> list[Case]:
    rng = random.Random(seed)
    gen = Generator(rng)
    return [gen.case(rng.randrange(min_length, max_length + 1)) for _ in range(count)]
