"""Linking: instantiate cached position-independent objects and link the native executable.

A cached object names its function `aotF_r<k>` and the guest addresses it uses `aotA_r<k>`
(fixed-length placeholders, see lift/emitter.py).  Instantiating it for one place in one program
rewrites those names in the string table to `aotF_<guest pc>` / `aotA_<guest address>`; a generated
assembly file defines every `aotA_*` as an absolute symbol, embeds the guest image and emits the
dispatcher's entry table.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aotbuilder
from aotbuilder import abi
from aotbuilder.backend.place import SYMBOLS_SECTION, global_symbols, symbol_table_section
from aotbuilder.backend.runtime import c_compiler, tool_env
from aotbuilder.cache.digest import file_digest, guest_digest
from aotbuilder.errors import BuildError
from aotbuilder.lift.emitter import placeholder

SHT_STRTAB = 3
# LLVM lowers some operations to libm calls on CPUs without the instruction (fma on x86-64-v2).
TRANSLATED_CODE_LIBS = ("-lm",)


@dataclass(frozen=True)
class LinkUnit:
    """One translated function ready to link: its cached object and its link-time values."""

    entry: int
    name: str
    obj: bytes
    addr_refs: tuple[int, ...]
    fn_refs: tuple[int, ...]
    resume_pcs: tuple[int, ...]


def function_symbol(pc: int) -> str:
    return f"aotF_{pc:016x}"


def address_symbol(addr: int) -> str:
    return f"aotA_{addr:016x}"


def instantiate(unit: LinkUnit) -> bytes:
    """The object with its placeholders renamed for this function's place in the program."""
    renames = {placeholder("F", k): function_symbol(pc) for k, pc in enumerate(unit.fn_refs)}
    renames.update({placeholder("A", k): address_symbol(a) for k, a in enumerate(unit.addr_refs)})
    return rename_symbols(unit.obj, {k.encode(): v.encode() for k, v in renames.items()})


def rename_symbols(obj: bytes, renames: dict[bytes, bytes]) -> bytes:
    """Replace same-length names in every string table of an ELF64 relocatable object."""
    out = bytearray(obj)
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    for i in range(shnum):
        sh = shoff + i * shentsize
        sh_type, = struct.unpack_from("<I", obj, sh + 4)
        if sh_type != SHT_STRTAB:
            continue
        offset, size = struct.unpack_from("<QQ", obj, sh + 0x18)
        table = bytes(obj[offset:offset + size])
        for old, new in renames.items():
            assert len(old) == len(new)
            table = table.replace(b"\0" + old + b"\0", b"\0" + new + b"\0")
        out[offset:offset + size] = table
    return bytes(out)


def _asm_string(s: str) -> str:
    return '"' + s.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def link_assembly(units: Iterable[LinkUnit], guest_path: Path, guest_name: str, load_bias: int,
                  memory_direct: bool) -> str:
    """The generated part of the executable: absolute symbols, guest image, entry and symbol tables."""
    units = list(units)
    addrs = sorted({a for u in units for a in u.addr_refs})
    entries: dict[int, tuple[int, int]] = {}
    for u in units:
        entries.setdefault(u.entry, (u.entry, 0))
    for u in units:
        for k, pc in enumerate(u.resume_pcs, start=1):
            entries.setdefault(pc, (u.entry, k))
    lines = ["\t.section .rodata", "\t.p2align 4"]
    lines += [f"\t.globl {address_symbol(a)}\n\t.set {address_symbol(a)}, 0x{a:x}" for a in addrs]
    lines += call_table_assembly({u.entry: function_symbol(u.entry) for u in units})
    lines += ["\t.section .rodata", "\t.globl aot_entries", "aot_entries:"]
    lines += [f"\t.quad 0x{pc:x}, {function_symbol(fn)}, {k}" for pc, (fn, k) in sorted(entries.items())]
    lines += ["\t.globl aot_entry_count", "aot_entry_count:", f"\t.quad {len(entries)}"]
    lines += ["\t.globl aot_guest_load_bias", "aot_guest_load_bias:", f"\t.quad 0x{load_bias:x}"]
    lines += ["\t.globl aot_guest_image_size", "aot_guest_image_size:", f"\t.quad {guest_path.stat().st_size}"]
    named = sorted({u.entry: u.name for u in units}.items())
    lines += ["\t.globl aot_symbols", "aot_symbols:"]
    lines += [f"\t.quad 0x{pc:x}, .Lname{i}" for i, (pc, _) in enumerate(named)]
    lines += ["\t.globl aot_symbol_count", "aot_symbol_count:", f"\t.quad {len(named)}"]
    lines += [f".Lname{i}:\n\t.asciz {_asm_string(name)}" for i, (_, name) in enumerate(named)]
    lines += ["\t.globl aot_guest_name", "aot_guest_name:", f"\t.asciz {_asm_string(guest_name)}"]
    # Translated code checks cpu->interrupt after every slow-path access (lift/emitter.py), so the
    # runtime may defer a fault to the guest's handler instead of dying at once.
    lines += ["\t.globl aot_slow_path_polls", "aot_slow_path_polls:", "\t.byte 1"]
    lines += ["\t.globl aot_memory_direct", "aot_memory_direct:", f"\t.byte {int(memory_direct)}"]
    lines += build_tool_symbols()
    lines += guest_digest_symbol(guest_path)
    lines += ["\t.p2align 12", "\t.globl aot_guest_image", "aot_guest_image:",
              f"\t.incbin {_asm_string(str(guest_path))}"]
    lines += ['\t.section .note.GNU-stack,"",@progbits', ""]
    return "\n".join(lines)


def call_table_assembly(functions: dict[int, str]) -> list[str]:
    """aot_call_table (abi.CALL_TABLE_SLOT): a slot for every even guest pc from the lowest
    function entry to the highest, which jumps to the translated function there (`functions`:
    symbol by entry pc) or calls aot_call_table_miss (runtime/dispatch.c).  Slots are spelled in
    bytes (a rel32 `jmp` or `call`, int3 padding) so each has the same size; runs of misses are
    one `.rept`, and they call a local label, so they need no relocation."""
    entries = sorted(functions)
    lo, hi = (entries[0], entries[-1] + 2) if entries else (0, 0)
    pad = "\n\t.byte " + ", ".join(["0xcc"] * (abi.CALL_TABLE_SLOT - 5))
    miss = "\t.byte 0xe8\n\t.long .Lcall_table_miss - . - 4" + pad
    lines = ['\t.section .text.aot_call_table,"ax",@progbits', "\t.p2align 4",
             "\t.globl aot_call_table", "aot_call_table:"]
    at = lo
    for pc in entries:
        if pc > at:
            lines += [f"\t.rept {(pc - at) // 2}", miss, "\t.endr"]
        lines.append(f"\t.byte 0xe9\n\t.long {functions[pc]} - . - 4" + pad)
        at = pc + 2
    lines += [".Lcall_table_miss:", "\tjmp aot_call_table_miss",
              "\t.globl aot_call_table_base", f"\t.set aot_call_table_base, 0x{lo:x}",
              "\t.globl aot_call_table_span", f"\t.set aot_call_table_span, 0x{hi - lo:x}",
              "\t.globl aot_call_table_origin",
              f"\t.set aot_call_table_origin, aot_call_table - 0x{lo * abi.CALL_TABLE_SCALE:x}"]
    return lines


def build_tool_symbols() -> list[str]:
    """aot_build_python and aot_build_root: how the runtime runs aotbuilder (for another guest,
    and the fallback JIT's worker)."""
    root = Path(aotbuilder.__file__).resolve().parent.parent
    return ["\t.globl aot_build_python", "aot_build_python:", f"\t.asciz {_asm_string(sys.executable)}",
            "\t.globl aot_build_root", "aot_build_root:", f"\t.asciz {_asm_string(str(root))}"]


def guest_digest_symbol(guest_path: Path) -> list[str]:
    return ["\t.globl aot_guest_digest", "aot_guest_digest:",
            f"\t.asciz {_asm_string(guest_digest(guest_path.read_bytes()))}"]


def _first_problem(output: str) -> str:
    lines = output.strip().splitlines() or ["(no output)"]
    return next((ln for ln in lines if "error" in ln or "undefined" in ln or "multiple definition" in ln),
                lines[-1]).strip()


def link_executable(units: list[LinkUnit], guest_path: Path, guest_name: str, load_bias: int,
                    runtime_lib: Path, link_flags: Iterable[str], out: Path, workdir: Path, *,
                    memory_direct: bool) -> str:
    """Write the objects and the generated assembly into workdir and link them into `out`.
    Returns the xxh3-128 of what it wrote to `out` (file_digest)."""
    objs = []
    for unit in units:
        path = workdir / f"{function_symbol(unit.entry)}.o"
        path.write_bytes(instantiate(unit))
        objs.append(path)
    guest_copy = workdir / "guest.elf"
    shutil.copyfile(guest_path, guest_copy)
    asm = workdir / "link.s"
    asm.write_text(link_assembly(units, guest_copy, guest_name, load_bias, memory_direct))
    rsp = workdir / "objects.rsp"
    rsp.write_text("\n".join(str(p) for p in objs))
    tmp_out = out.with_name(f".{out.name}.tmp{os.getpid()}")
    cmd = [*c_compiler(), "-o", str(tmp_out), f"@{rsp}", str(asm), str(runtime_lib), *link_flags,
           *TRANSLATED_CODE_LIBS]
    result = subprocess.run(cmd, capture_output=True, text=True, env=tool_env())
    if result.returncode != 0:
        tmp_out.unlink(missing_ok=True)
        raise BuildError(f"linking {out} failed: {_first_problem(result.stderr)}")
    try:
        add_symbol_section(tmp_out, workdir)
    except BuildError:
        tmp_out.unlink(missing_ok=True)
        raise
    digest = file_digest(tmp_out)  # of these bytes: another build may replace `out` right after
    os.replace(tmp_out, out)
    return digest



def add_symbol_section(exe: Path, workdir: Path) -> None:
    """Copies the executable's global symbols into place.SYMBOLS_SECTION, where the fallback JIT
    finds them even after the user strips the executable."""
    objcopy = os.environ.get("OBJCOPY", "objcopy")
    if shutil.which(objcopy) is None:
        raise BuildError(f"no objcopy found ({objcopy}): install binutils, or set OBJCOPY")
    table = workdir / "symbols.bin"
    table.write_bytes(symbol_table_section(global_symbols(exe.read_bytes())))
    result = subprocess.run([objcopy, "--add-section", f"{SYMBOLS_SECTION}={table}", str(exe)],
                            capture_output=True, text=True, env=tool_env())
    if result.returncode != 0:
        raise BuildError(f"adding the symbol table to {exe.name} failed: {_first_problem(result.stderr)}")
