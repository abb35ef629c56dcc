"""The runtime ABI, defined once.

Translated code and the C runtime meet here: the layout of the per-thread CPU state, the software
TLB, the entry table the linker emits, and the intrinsics translated code calls.  The runtime's
C header (``aot_abi.h``) is generated from this module at runtime-build time, so the two sides
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

ABI_VERSION = 14

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
TLB_BITS = 8
TLB_SIZE = 1 << TLB_BITS
# A TLB tag that no page-aligned guest address can equal.
TLB_INVALID = 0xFFFF_FFFF_FFFF_FFFF

# Guest memory layout (runtime/addrspace.c): the host memory of guest address a < DIRECT_LIMIT lives at
# host address DIRECT_BASE + a, and the whole window [DIRECT_BASE - one guard page, DIRECT_BASE +
# DIRECT_LIMIT + one guard page) is reserved, so a window address is either that guest page's memory
# (with at most the guest's permissions) or inaccessible.  Code of the "direct" memory model accesses
# guest memory at DIRECT_BASE + a without a TLB lookup; a host fault there continues at the access's
# slow path (FAULT_TABLE).  An access rs1 + imm checks only rs1 against DIRECT_LIMIT: imm has 12
# bits, so the address is at most 2 KiB outside, in a guard page.  DIRECT_LIMIT is the Sv39 user
# range, where Linux places everything by default.
DIRECT_BASE = 0x1000_0000_0000
DIRECT_LIMIT = 1 << 38
# The window's access map: one byte per window page, its host access (1 readable, 2 writable: the
# PROT_READ and PROT_WRITE bits), 0 for an inaccessible page.  It lies just below the window's low
# guard page, so translated code reads the byte of page p at %gs:(WINDOW_MAP_OFFSET + p); a counted
# loop's header reads it to run a copy whose accesses cannot fault (lift/loop_checks.py).
WINDOW_MAP_SIZE = DIRECT_LIMIT >> PAGE_SHIFT
WINDOW_MAP_OFFSET = -PAGE_SIZE - WINDOW_MAP_SIZE
MEMORY_MODELS = ("direct", "tlb")
DEFAULT_MEMORY_MODEL = "direct"
# Section of 8-byte entries {int32 fault, int32 resume}, each relative to its own field: the host pc
# of a direct access and of its slow path.  The linker provides __start_/__stop_ symbols for it.
FAULT_TABLE_SECTION = "aot_fault_table"

# Where a static-PIE guest is loaded: Linux riscv64's ELF_ET_DYN_BASE for Sv39 (2/3 of TASK_SIZE).
PIE_LOAD_BIAS = 0x2A_AAAA_B000


@dataclass(frozen=True)
class Field:
    name: str
    ctype: str  # C declaration type
    count: int  # array length, 1 for scalars
    size: int  # size of one element in bytes


# struct aot_tlb_entry: one direct-mapped slot.  A load hits when tag_read equals the page of its
# last byte; the host address is then guest address + addend.
TLB_ENTRY_FIELDS = (
    Field("tag_read", "uint64_t", 1, 8),
    Field("tag_write", "uint64_t", 1, 8),
    Field("addend", "uint64_t", 1, 8),
    Field("pad", "uint64_t", 1, 8),
)
TLB_ENTRY_SIZE = sum(f.count * f.size for f in TLB_ENTRY_FIELDS)

# How translated functions call each other: LLVM's preserve_none convention, where every host
# register but rsp and rbp is the caller's to save.  A translated function then pushes and pops
# nothing for its caller (whose guest registers cross the call in the CPU state anyway).  C code
# cannot call such a function: the runtime enters translated code through aot_enter_translated
# (runtime/dispatch.c), which saves the C convention's callee-saved registers around the call.
TRANSLATED_CC = "preserve_nonecc"

# The guest registers that cross a call between translated functions in host registers: a0 and
# a1, the psABI's first arguments and its return value, both ways, and ra into the callee.  A
# translated function takes them after cpu and resume, copies of what the CPU state holds at the
# call; it returns a0 and a1 after the next pc, and at a return the CPU state's copies may be
# stale: the caller holds the returned values as changed.  So the result a callee computes, and
# the arguments and return address its caller just computed, reach the other side in registers,
# not through the CPU state (a store and a dependent load on the path of every call).
PASSED_REGISTERS = (10, 11, 1)
RETURNED_REGISTERS = (10, 11)
RA = 1
# Where preserve_none puts them on x86-64: the arguments after cpu (r12) and resume (r13), the
# results after the next pc (rax).  It returns no more than three values in registers (a fourth
# makes the result a struct in memory), so ra comes back as one bit of the pc, RA_IN_STATE.
PASSED_ARGUMENT_HOST_REGISTERS = ("r14", "r15", "rdi")
PASSED_RESULT_HOST_REGISTERS = ("rdx", "rcx")
# Bit 0 of the next pc a translated function returns (guest pcs are even): set, the CPU state
# holds ra; clear, ra is the next pc itself, and the CPU state may not hold it.  A `ret` leaves
# with ra = the next pc, and its caller, having checked that the pc is its return site, knows ra
# without a load, while the callee stored nothing.  A pc with the bit set also tells a poll
# that a signal handler changed a register (aot_interrupt): its caller must not go on with the
# values it holds.
RA_IN_STATE = 1

# struct aot_entry: one row of the linker's entry table (and of the JIT's).  fn(cpu, resume, a0, a1,
# ra) runs the translated function from entry `resume` (0 = its start) and returns the guest pc
# where execution continues (with RA_IN_STATE), with a0 and a1 (RETURNED_REGISTERS).
ENTRY_FIELDS = (
    Field("pc", "uint64_t", 1, 8),
    Field("fn", "aot_fn", 1, 8),
    Field("resume", "uint64_t", 1, 8),
)
ENTRY_SIZE = sum(f.count * f.size for f in ENTRY_FIELDS)

# The entry cache (runtime data that translated code reads): aot_entry_cache[(pc >> 1) % size]
# holds a copy of the ahead-of-time entry of pc, or an entry no pc matches.  An indirect call whose
# target hits it calls the translated function directly, without aot_call_indirect's table
# lookup; aot_call_indirect fills it.  Copies rather than pointers: the target's pc and function
# are one load away from the target, not two.  Slots are padded to ENTRY_CACHE_SLOT bytes, so
# none straddles a cache line.  Ahead-of-time entries never go away, so it is never invalidated;
# the JIT's entries (which can) are never cached.
ENTRY_CACHE_BITS = 12
ENTRY_CACHE_SIZE = 1 << ENTRY_CACHE_BITS
ENTRY_CACHE_SLOT = 32

# The call table (link-time code, backend/link.py): a CALL_TABLE_SLOT-byte slot for every even
# pc in [aot_call_table_base, + aot_call_table_span), the program's lowest to highest translated
# function entry.  A function's slot jumps to its translation; any other slot calls
# aot_call_table_miss (runtime/dispatch.c), which runs the pc as aot_call_indirect does and
# returns like a translated function.  pc's slot is at aot_call_table_origin + pc * SCALE (slot
# bytes per byte of guest code: pcs are even), so an indirect call finds its host target without
# a load.
CALL_TABLE_SLOT = 8
CALL_TABLE_SCALE = CALL_TABLE_SLOT // 2

# struct aot_cpu: the guest hart state of one thread, plus its TLB.  Order is the layout.
CPU_FIELDS = (
    Field("x", "uint64_t", 32, 8),  # integer registers; x[0] is always 0
    Field("f", "uint64_t", 32, 8),  # FP registers, single values NaN-boxed
    Field("pc", "uint64_t", 1, 8),  # guest pc of a trap, ecall or dispatcher exit
    Field("fflags", "uint32_t", 1, 4),  # accrued exceptions (fcsr[4:0])
    Field("frm", "uint32_t", 1, 4),  # dynamic rounding mode (fcsr[7:5])
    Field("res_addr", "uint64_t", 1, 8),  # LR/SC reservation address, or all-ones
    Field("res_val", "uint64_t", 1, 8),  # value loaded by LR, compared by SC
    Field("host_stack_limit", "uint64_t", 1, 8),  # native recursion guard
    Field("rt", "void *", 1, 8),  # runtime-private per-thread data
    Field("interrupt", "uint32_t", 1, 4),  # non-zero: translated code calls aot_interrupt at a safe point
    Field("pad0", "uint32_t", 1, 4),
    Field("tlb", "struct aot_tlb_entry", TLB_SIZE, TLB_ENTRY_SIZE),
)


def _offsets(fields: tuple[Field, ...]) -> dict[str, int]:
    offsets, at = {}, 0
    for f in fields:
        assert at % min(f.size, 8) == 0, f"{f.name} misaligned"
        offsets[f.name] = at
        at += f.count * f.size
    return offsets


CPU_OFFSETS = _offsets(CPU_FIELDS)
TLB_ENTRY_OFFSETS = _offsets(TLB_ENTRY_FIELDS)
ENTRY_OFFSETS = _offsets(ENTRY_FIELDS)
CPU_SIZE = CPU_OFFSETS["tlb"] + TLB_SIZE * TLB_ENTRY_SIZE


def x_offset(reg: int) -> int:
    """Where guest integer register x`reg` lives in struct aot_cpu."""
    return CPU_OFFSETS["x"] + 8 * reg

# Trap causes passed to aot_trap (RISC-V mcause numbering).
CAUSE_ILLEGAL_INSTRUCTION = 2
CAUSE_BREAKPOINT = 3
CAUSE_MISALIGNED_AMO = 6


@dataclass(frozen=True)
class Intrinsic:
    name: str
    ret: str  # "void", "i32", "i64"
    params: tuple[str, ...]  # "cpu" (struct aot_cpu *), "i32", "i64"
    doc: str
    # LLVM calling convention of the calls from translated code ("" = C).  The memory slow paths,
    # the poll and the software FP operations use preserve_all: runtime/slowpath.c enters them
    # through stubs that save the C-clobbered registers.
    cconv: str = ""


# Everything translated code calls in the runtime.  Each returns (where noted) the guest pc at
# which execution continues; translated code leaves to the dispatcher when that is not the pc it
# expected, which is how signals, sigreturn and longjmp-like control transfers get through.
INTRINSICS = (
    Intrinsic("aot_load_slow", "i64", ("cpu", "i64", "i32", "i64"),
              "(cpu, addr, size, pc): TLB miss, page-crossing or faulting load; returns the value zero-extended",
              cconv="preserve_allcc"),
    Intrinsic("aot_store_slow", "void", ("cpu", "i64", "i64", "i32", "i64"),
              "(cpu, addr, value, size, pc): TLB miss, page-crossing or faulting store", cconv="preserve_allcc"),
    Intrinsic("aot_host_addr", "i64", ("cpu", "i64", "i32", "i32", "i64"),
              "(cpu, addr, size, access, pc): host address of an aligned atomic access; access 1=read 2=write"),
    Intrinsic("aot_ecall", "i64", ("cpu",),
              "(cpu): system call with cpu->pc at the ecall; returns the next guest pc"),
    Intrinsic("aot_trap", "i64", ("cpu", "i32", "i64"),
              "(cpu, cause, tval): synchronous trap at cpu->pc; returns the next guest pc"),
    Intrinsic("aot_call_indirect", "i64", ("cpu", "i64"),
              "(cpu, target): run the guest code at target until it returns; returns the next guest pc "
              "(an ahead-of-time entry it finds goes into aot_entry_cache)"),
    Intrinsic("aot_interrupt", "i64", ("cpu",),
              "(cpu): cpu->interrupt was set; at a safe point (cpu->pc set, registers written back) "
              "deliver pending signals; returns the next guest pc, which is cpu->pc only if every "
              "register is as it was (else with RA_IN_STATE set)", cconv="preserve_allcc"),
    Intrinsic("aot_csr_read", "i64", ("cpu", "i32"),
              "(cpu, csr): counters (cycle, time, instret); other CSRs are handled inline"),
    Intrinsic("aot_fcsr_read", "i64", ("cpu",),
              "(cpu): fcsr: frm, and fflags = cpu->fflags | the host's sticky FP flags (runtime/fpu.c)"),
    Intrinsic("aot_fcsr_write", "void", ("cpu", "i64"),
              "(cpu, fcsr): set frm and fflags, the host rounding mode, clear the host's sticky flags"),
    Intrinsic("aot_fp_soft", "i64", ("cpu", "i32", "i32", "i64", "i64", "i64"),
              "(cpu, op, rm, a, b, c): FP operation `op` (AOT_FP_*) rounded in software with static mode rm "
              "(RMM, or a mode other than frm); ORs its flags into cpu->fflags; returns the register value",
              cconv="preserve_allcc"),
)

# Operations of aot_fp_soft: the operation in the low bits, AOT_FP_DOUBLE for double precision.
# Operands: FP values as register bits (singles unboxed), integers as register values.
FP_SOFT_OPS = ("ADD", "SUB", "MUL", "DIV", "SQRT", "FMADD", "FMSUB", "FNMSUB", "FNMADD", "CVT_S_D",
               "CVT_F_W", "CVT_F_WU", "CVT_F_L", "CVT_F_LU", "CVT_W_F", "CVT_WU_F", "CVT_L_F", "CVT_LU_F")
FP_SOFT = {name: k + 1 for k, name in enumerate(FP_SOFT_OPS)}
FP_SOFT_OP_MASK = 0xFF
FP_SOFT_DOUBLE = 0x100

_C_TYPES = {"void": "void", "i32": "uint32_t", "i64": "uint64_t", "cpu": "struct aot_cpu *"}

# Every guest address crossing this ABI (cpu->pc, intrinsic pcs and results, the pcs in
# aot_entries and aot_symbols) is a runtime address: ELF vaddr + aot_guest_load_bias.
#
# The symbols the linker generates; aot_entries has one row per guest pc the dispatcher can enter.
LINK_SYMBOLS = {
    "aot_entries": "const struct aot_entry[]: sorted by pc",
    "aot_entry_count": "const uint64_t",
    "aot_guest_image": "const unsigned char[]: the guest ELF file, byte for byte",
    "aot_guest_image_size": "const uint64_t",
    "aot_guest_load_bias": "const uint64_t: 0 for ET_EXEC, PIE_LOAD_BIAS for static-PIE",
    "aot_guest_name": "const char[]: the guest file name as given to build (for messages)",
    "aot_symbols": "const struct aot_symbol[]: guest functions sorted by pc, for fault reports",
    "aot_symbol_count": "const uint64_t",
    "aot_build_python": "const char[]: the Python interpreter that built this executable (the runtime's "
                        "execve of another riscv64 program runs it as `aotbuilder run`)",
    "aot_build_root": "const char[]: the directory that holds the aotbuilder package of that build",
    "aot_guest_digest": "const char[]: xxh3-128 of the guest file, hex (names it in the learned-entries file)",
    "aot_memory_direct": "const uint8_t: 1 when translated code uses the direct memory model (it needs the "
                         "reserved window; without it the runtime stops with a message)",
}

# The fallback JIT worker (`python -m aotbuilder.jit EXE`, aotbuilder/jit/) and the runtime
# (runtime/jit.c) talk over the worker's stdin and stdout; every number is a little-endian u64
# (i64 where signed).
#   worker:  JIT_HELLO once it is ready
#   runtime: pc, region_lo, region_len, the region's bytes        (translate the code at pc)
#   worker:  size > 0                                            (bytes of code it will place)
#            or -1, message_len, message                         (it cannot; the runtime reports it)
#   runtime: base                                                (the host address for the code)
#   worker:  n_entries, n x (pc, host fn, resume), n_ranges, n x (lo, hi), the code (size bytes)
# The entries are rows of the dispatcher's table (struct aot_entry); the ranges are the guest
# bytes the code was translated from (stores to them invalidate it).
JIT_HELLO = int.from_bytes(b"AOTJIT01", "little")


def c_header() -> str:
    """The runtime's view of this ABI, as a C header."""
    lines = [
        "/* Generated from aotbuilder/abi.py -- do not edit. */",
        "#ifndef AOT_ABI_H",
        "#define AOT_ABI_H",
        "#include <stdint.h>",
        f"#define AOT_ABI_VERSION {ABI_VERSION}",
        f"#define AOT_PAGE_SHIFT {PAGE_SHIFT}",
        f"#define AOT_PAGE_SIZE {PAGE_SIZE}ULL",
        f"#define AOT_TLB_BITS {TLB_BITS}",
        f"#define AOT_TLB_SIZE {TLB_SIZE}",
        f"#define AOT_TLB_INVALID 0x{TLB_INVALID:x}ULL",
        f"#define AOT_PIE_LOAD_BIAS 0x{PIE_LOAD_BIAS:x}ULL",
        f"#define AOT_DIRECT_BASE 0x{DIRECT_BASE:x}ULL",
        f"#define AOT_DIRECT_LIMIT 0x{DIRECT_LIMIT:x}ULL",
        f"#define AOT_WINDOW_MAP_SIZE 0x{WINDOW_MAP_SIZE:x}ULL",
        f"#define AOT_WINDOW_MAP_OFFSET ({WINDOW_MAP_OFFSET}LL)",
        f"#define AOT_FAULT_TABLE {FAULT_TABLE_SECTION}",
        f"#define AOT_RA_IN_STATE {RA_IN_STATE}",
        f"#define AOT_CAUSE_ILLEGAL_INSTRUCTION {CAUSE_ILLEGAL_INSTRUCTION}",
        f"#define AOT_CAUSE_BREAKPOINT {CAUSE_BREAKPOINT}",
        f"#define AOT_CAUSE_MISALIGNED_AMO {CAUSE_MISALIGNED_AMO}",
        f"#define AOT_ENTRY_CACHE_SIZE {ENTRY_CACHE_SIZE}",
        f"#define AOT_ENTRY_CACHE_SLOT {ENTRY_CACHE_SLOT}",
        f"#define AOT_CALL_TABLE_SLOT {CALL_TABLE_SLOT}",
        f"#define AOT_JIT_HELLO 0x{JIT_HELLO:x}ULL",
        *(f"#define AOT_FP_{name} {code}" for name, code in FP_SOFT.items()),
        f"#define AOT_FP_OP_MASK 0x{FP_SOFT_OP_MASK:x}",
        f"#define AOT_FP_DOUBLE 0x{FP_SOFT_DOUBLE:x}",
        "",
        "struct aot_tlb_entry {",
        *(f"    {f.ctype} {f.name};" for f in TLB_ENTRY_FIELDS),
        "};",
        "",
        "struct aot_cpu {",
        *(f"    {f.ctype} {f.name}{f'[{f.count}]' if f.count > 1 else ''};" for f in CPU_FIELDS),
        "};",
        "",
        "/* A translated function (TRANSLATED_CC, not callable from C): see aot_enter_translated. */",
        "typedef void (*aot_fn)(void);",
        "/* The moves of the passed registers (abi.PASSED_REGISTERS) between the CPU state and the host",
        " * registers translated code takes them in (cpu in r12) and returns them in (cpu in rsi): for",
        " * aot_enter_translated, and for aot_call_table_miss, called as a translated function. */",
        "#define AOT_LOAD_PASSED_REGISTERS \\",
        *(f'    "    movq {x_offset(reg)}(%r12), %{host}\\n" \\'
          for reg, host in zip(PASSED_REGISTERS, PASSED_ARGUMENT_HOST_REGISTERS, strict=True)),
        "",
        "#define AOT_STORE_PASSED_REGISTERS \\",
        *(f'    "    movq %{host}, {x_offset(reg)}(%r12)\\n" \\'
          for reg, host in zip(PASSED_REGISTERS, PASSED_ARGUMENT_HOST_REGISTERS, strict=True)),
        "",
        "#define AOT_STORE_RETURNED_REGISTERS \\",
        *(f'    "    movq %{host}, {x_offset(reg)}(%rsi)\\n" \\'
          for reg, host in zip(RETURNED_REGISTERS, PASSED_RESULT_HOST_REGISTERS, strict=True)),
        "",
        "#define AOT_LOAD_RETURNED_REGISTERS \\",
        *(f'    "    movq {x_offset(reg)}(%r12), %{host}\\n" \\'
          for reg, host in zip(RETURNED_REGISTERS, PASSED_RESULT_HOST_REGISTERS, strict=True)),
        "",
        "/* The pc in rax as a translated function returned it, made the next pc (cpu in rsi): clear",
        " * bit 0 (abi.RA_IN_STATE), or, clear already, store it as ra. */",
        "#define AOT_TAKE_RETURNED_PC \\",
        f'    "    testb ${RA_IN_STATE}, %al\\n" \\',
        '    "    jnz 1f\\n" \\',
        f'    "    movq %rax, {x_offset(RA)}(%rsi)\\n" \\',
        f'    "1:  andq ${~RA_IN_STATE}, %rax\\n"',
        "",
        "/* Flag the pc in rax: the CPU state holds ra (abi.RA_IN_STATE). */",
        f'#define AOT_RA_IN_STATE_PC "    orq ${RA_IN_STATE}, %rax\\n"',
        "",
        "struct aot_entry {",
        *(f"    {f.ctype} {f.name};" for f in ENTRY_FIELDS),
        "};",
        "struct aot_symbol { uint64_t pc; const char *name; };",
        f"/* Calls fn(cpu, resume, a0, a1, ra), a translated function ({TRANSLATED_CC}), from C; returns the",
        " * next pc. */",
        "uint64_t aot_enter_translated(aot_fn fn, struct aot_cpu *cpu, uint64_t resume);",
        "",
    ]
    for name, doc in LINK_SYMBOLS.items():
        ctype, _, _ = doc.partition(":")
        decl = ctype.replace("const ", "").strip()
        if decl.endswith("[]"):
            lines.append(f"extern const {decl[:-2]} {name}[];")
        else:
            lines.append(f"extern const {decl} {name};")
    lines.append("struct aot_cached_entry {")
    lines.append("    struct aot_entry entry;")
    lines.append("    char pad[AOT_ENTRY_CACHE_SLOT - sizeof(struct aot_entry)];")
    lines.append("};")
    lines.append("extern struct aot_cached_entry aot_entry_cache[AOT_ENTRY_CACHE_SIZE];")
    lines.append("")
    for intr in INTRINSICS:
        params = ", ".join(_C_TYPES[p] for p in intr.params)
        lines.append(f"/* {intr.doc} */")
        lines.append(f"{_C_TYPES[intr.ret]} {intr.name}({params});")
    lines += ["", f'_Static_assert(sizeof(struct aot_cpu) == {CPU_SIZE}, "aot_cpu layout");',
              f'_Static_assert(sizeof(struct aot_entry) == {ENTRY_SIZE}, "aot_entry layout");',
              "#endif", ""]
    return "\n".join(lines)
