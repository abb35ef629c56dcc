"""Builds the runtime's test executables.

Each one is what the translator's link step would produce, with the translations written by hand
(harness.c): a small riscv64 guest ELF (guest.S, assembled here with a guest toolchain), the link
symbols of abi.LINK_SYMBOLS generated from it, and libaotrt.a.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from aotbuilder import abi
from aotbuilder.backend.link import build_tool_symbols, call_table_assembly, guest_digest_symbol
from aotbuilder.backend.runtime import RUNTIME_LINK_FLAGS, c_compiler

HERE = Path(__file__).parent

# Guest layouts: a plain static executable, a static PIE (loaded at abi.PIE_LOAD_BIAS), and one
# whose writable segment shares a page with the executable one.
VARIANTS = ("exec", "pie", "shared_page")


def variant_flags(variant: str, toolchain: list[str]) -> list[str]:
    if variant == "pie":
        # zig cc silently links a non-PIE executable for -static-pie; gcc ignores -pie after -static
        return ["-static", "-fPIE", "-pie"] if "ziglang" in toolchain else ["-static-pie"]
    if variant == "shared_page":
        return ["-static", f"-Wl,-T,{HERE / 'shared_page.ld'}"]
    return ["-static"]


def guest_compiler() -> list[str] | None:
    if shutil.which("riscv64-linux-gnu-gcc"):
        return ["riscv64-linux-gnu-gcc"]
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "ziglang", "cc", "-target", "riscv64-linux-musl"]


@dataclass(frozen=True)
class Segment:
    vaddr: int  # runtime address
    memsz: int
    flags: int


@dataclass(frozen=True)
class GuestImage:
    """What the tests need to know about the guest, in runtime addresses (bias applied)."""

    path: Path
    bias: int
    entry: int
    phdr: int
    phnum: int
    phentsize: int
    segments: tuple[Segment, ...]
    symbols: dict[str, int] = field(default_factory=dict)
    functions: dict[str, int] = field(default_factory=dict)

    @property
    def brk_start(self) -> int:
        end = max(s.vaddr + s.memsz for s in self.segments)
        return (end + abi.PAGE_SIZE - 1) & ~(abi.PAGE_SIZE - 1)


def read_guest(path: Path) -> GuestImage:
    with path.open("rb") as f:
        elf = ELFFile(f)
        bias = abi.PIE_LOAD_BIAS if elf["e_type"] == "ET_DYN" else 0
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        phoff = elf["e_phoff"]
        phdr = next((s["p_vaddr"] for s in elf.iter_segments() if s["p_type"] == "PT_PHDR"), None)
        if phdr is None:
            phdr = next(phoff - s["p_offset"] + s["p_vaddr"] for s in loads
                        if s["p_offset"] <= phoff < s["p_offset"] + s["p_filesz"])
        symtab = elf.get_section_by_name(".symtab")
        symbols = {s.name: s["st_value"] + bias for s in symtab.iter_symbols()
                   if s.name and s["st_shndx"] != "SHN_UNDEF" and s["st_info"]["bind"] == "STB_GLOBAL"}
        functions = {s.name: s["st_value"] + bias for s in symtab.iter_symbols() if s["st_info"]["type"] == "STT_FUNC"}
        return GuestImage(
            path=path, bias=bias, entry=elf["e_entry"] + bias, phdr=phdr + bias, phnum=elf["e_phnum"],
            phentsize=elf["e_phentsize"],
            segments=tuple(Segment(s["p_vaddr"] + bias, s["p_memsz"], s["p_flags"]) for s in loads),
            symbols=symbols, functions=functions)


def link_assembly(guest: GuestImage) -> str:
    """The link symbols, as the translator's link step emits them."""
    start = guest.symbols["_start"]
    entries = sorted([(start, "t_start", 0), (start + 8, "t_start", 1), (guest.symbols["callee"], "t_callee", 0),
                      (guest.symbols["handler"], "t_handler", 0)])
    functions = sorted(guest.functions.items(), key=lambda kv: kv[1])
    lines = ["\t.section .rodata", "\t.p2align 4", "\t.globl aot_entries", "aot_entries:"]
    lines += [f"\t.quad 0x{pc:x}, entry_{fn}, {resume}" for pc, fn, resume in entries]
    lines += ["\t.globl aot_entry_count", "aot_entry_count:", f"\t.quad {len(entries)}"]
    lines += ["\t.globl aot_guest_load_bias", "aot_guest_load_bias:", f"\t.quad 0x{guest.bias:x}"]
    lines += ["\t.globl aot_guest_image_size", "aot_guest_image_size:", f"\t.quad {guest.path.stat().st_size}"]
    lines += ["\t.globl aot_symbols", "aot_symbols:"]
    lines += [f"\t.quad 0x{pc:x}, .Lname{i}" for i, (_, pc) in enumerate(functions)]
    lines += ["\t.globl aot_symbol_count", "aot_symbol_count:", f"\t.quad {len(functions)}"]
    lines += [f'.Lname{i}:\n\t.asciz "{name}"' for i, (name, _) in enumerate(functions)]
    lines += ["\t.globl aot_guest_name", "aot_guest_name:", f'\t.asciz "{guest.path.name}"']
    # No fallback JIT: the guest's code is never run as RISC-V here, so a miss must stay a miss.
    tools = build_tool_symbols()
    python = next(i for i, line in enumerate(tools) if line == "aot_build_python:") + 1
    tools[python] = f'\t.asciz "{NO_PYTHON}"'
    lines += tools + guest_digest_symbol(guest.path)
    # harness.c polls cpu->interrupt after its slow-path accesses, as translated code does
    lines += ["\t.globl aot_slow_path_polls", "aot_slow_path_polls:", "\t.byte 1"]
    lines += ["\t.p2align 12", "\t.globl aot_guest_image", "aot_guest_image:", f'\t.incbin "{guest.path}"']
    # The dispatcher calls entries with translated code's convention (abi.TRANSLATED_CC: cpu and
    # resume in r12 and r13; the returned registers come back after the next pc, which says
    # whether the CPU state holds ra); harness.c's hand-written translations are C functions,
    # which keep r12 and leave the registers in cpu.
    returned = [f"\torq ${abi.RA_IN_STATE}, %rax"]
    returned += [f"\tmovq {abi.x_offset(reg)}(%r12), %{host}"
                 for reg, host in zip(abi.RETURNED_REGISTERS, abi.PASSED_RESULT_HOST_REGISTERS, strict=True)]
    lines += ["\t.text"]
    for fn in sorted({fn for _, fn, _ in entries}):
        lines += [f"entry_{fn}:", "\tpushq %r12", "\tmovq %r12, %rdi", "\tmovq %r13, %rsi", f"\tcall {fn}",
                  *returned, "\tpopq %r12", "\tret"]
    lines += call_table_assembly({pc: f"entry_{fn}" for pc, fn, resume in entries if resume == 0})
    lines += ['\t.section .note.GNU-stack,"",@progbits', ""]
    return "\n".join(lines)


NO_PYTHON = "/nonexistent/python-for-the-jit"


def symbols_header(guest: GuestImage) -> str:
    return "".join(f"#define G_{name} 0x{addr:x}ULL\n" for name, addr in sorted(guest.symbols.items()))


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")


def build_harness(work: Path, variant: str, runtime_lib: Path, toolchain: list[str]) -> tuple[Path, GuestImage]:
    """The native test executable for one guest layout, and the guest it embeds."""
    work.mkdir(parents=True, exist_ok=True)
    elf = work / "guest.elf"
    _run([*toolchain, "-nostdlib", "-Wl,--build-id=none", *variant_flags(variant, toolchain), "-o", str(elf),
          str(HERE / "guest.S")])
    guest = read_guest(elf)
    if (guest.bias != 0) != (variant == "pie"):
        raise RuntimeError(f"{' '.join(toolchain)} did not link the {variant} layout")
    (work / "guest_symbols.h").write_text(symbols_header(guest))
    (work / "aot_abi.h").write_text(abi.c_header())
    (work / "link.s").write_text(link_assembly(guest))
    exe = work / "harness"
    _run([*c_compiler(), "-O1", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", str(work), "-o", str(exe),
          str(HERE / "harness.c"), str(work / "link.s"), str(runtime_lib), *RUNTIME_LINK_FLAGS])
    return exe, guest
