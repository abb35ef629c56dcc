"""Placing relocatable objects at a fixed host address: the fallback JIT's linker.

The JIT's code is loaded by the runtime, not by a system linker: the worker lays the allocatable
sections of its objects out in one block, resolves every symbol (the objects' own definitions,
then the executable's: runtime intrinsics and ahead-of-time translated functions, then the
values that `aotA_<hex>` names encode) and applies the x86-64 relocations for the address the
runtime chose.  The runtime copies the block and makes it executable; nothing else is needed.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from aotbuilder.errors import BuildError

SHF_ALLOC = 0x2
SHT_SYMTAB = 2
SHT_RELA = 4
SHT_NOBITS = 8
SHN_UNDEF = 0
SHN_ABS = 0xFFF1
STB_LOCAL = 0
# Where a translated executable lists its global symbols for the JIT (see executable_symbols).
SYMBOLS_SECTION = ".aot.symbols"
# Unwind tables: the runtime does not unwind through translated code.
SKIPPED_SECTIONS = (b".eh_frame",)

R_X86_64_64 = 1
R_X86_64_PC32 = 2
R_X86_64_PLT32 = 4
R_X86_64_32 = 10
R_X86_64_32S = 11
R_X86_64_PC64 = 24


@dataclass(frozen=True)
class _Section:
    index: int
    name: bytes
    offset: int
    size: int
    align: int
    nobits: bool


@dataclass
class _Object:
    data: bytes
    sections: dict[int, _Section]  # the allocatable ones, by index
    symbols: list[tuple[bytes, int, int, int]]  # (name, bind, shndx, value)
    relas: list[tuple[int, int, int]]  # (target section index, file offset of the entries, count)
    place: dict[int, int]  # section index -> offset in the block


def _section_headers(data: bytes) -> list[tuple[int, ...]]:
    """(sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign,
    sh_entsize) of every section of an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise BuildError("not an ELF64 little-endian file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    return [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]


def _name(data: bytes, off: int) -> bytes:
    return data[off:data.index(b"\0", off)]


def global_symbols(data: bytes) -> dict[str, int]:
    """The global symbols an ELF file defines, by name (its .symtab)."""
    headers = _section_headers(data)
    found: dict[str, int] = {}
    for _, sh_type, _, _, offset, size, link, _, _, _ in headers:
        if sh_type != SHT_SYMTAB:
            continue
        strings = headers[link][4]
        for k in range(size // 24):
            st_name, st_info, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", data, offset + 24 * k)
            if st_info >> 4 != STB_LOCAL and shndx != SHN_UNDEF:
                found[_name(data, strings + st_name).decode(errors="replace")] = value
    return found


def symbol_table_section(symbols: Mapping[str, int]) -> bytes:
    """The SYMBOLS_SECTION contents: (u64 address, NUL-terminated name) for each symbol."""
    return b"".join(struct.pack("<Q", addr) + name.encode() + b"\0" for name, addr in sorted(symbols.items()))


def executable_symbols(data: bytes) -> dict[str, int]:
    """The global symbols of a translated executable, from its SYMBOLS_SECTION: that section is
    not a symbol table, so `strip` keeps it."""
    headers = _section_headers(data)
    shstrndx, = struct.unpack_from("<H", data, 0x3E)
    names = headers[shstrndx][4] if shstrndx < len(headers) else None
    for sh_name, _, _, _, offset, size, *_ in headers:
        if names is not None and _name(data, names + sh_name) == SYMBOLS_SECTION.encode():
            found, at, end = {}, offset, offset + size
            while at < end:
                addr, = struct.unpack_from("<Q", data, at)
                name = _name(data, at + 8)
                found[name.decode(errors="replace")] = addr
                at += 8 + len(name) + 1
            return found
    raise BuildError(f"the executable has no {SYMBOLS_SECTION} section (an aotbuilder older than this one "
                     "built it, or a tool removed it): rebuild it with `aotbuilder build`")


def executable_bytes(data: bytes, addr: int, size: int | None = None) -> bytes:
    """`size` bytes at a virtual address of an executable (None: a NUL-terminated string, without
    the NUL), from the section that holds them in the file."""
    for _, sh_type, flags, sh_addr, offset, sh_size, *_ in _section_headers(data):
        if flags & SHF_ALLOC and sh_type != SHT_NOBITS and sh_addr <= addr < sh_addr + sh_size:
            at = offset + addr - sh_addr
            if size is None:
                return _name(data, at)
            if addr + size <= sh_addr + sh_size:
                return data[at:at + size]
    raise BuildError(f"no section of the executable holds 0x{addr:x}")


def _parse(data: bytes) -> _Object:
    headers = _section_headers(data)
    names_at = headers[struct.unpack_from("<H", data, 0x3E)[0]][4]

    obj = _Object(data, {}, [], [], {})
    symtab = None
    for i, (sh_name, sh_type, flags, _, offset, size, link, info, align, _) in enumerate(headers):
        sname = _name(data, names_at + sh_name)
        if flags & SHF_ALLOC and size and sname not in SKIPPED_SECTIONS:
            obj.sections[i] = _Section(i, sname, offset, size, max(align, 1), sh_type == SHT_NOBITS)
        elif sh_type == SHT_SYMTAB:
            symtab = (offset, size, headers[link][4])
        elif sh_type == SHT_RELA:
            obj.relas.append((info, offset, size // 24))
    if symtab is not None:
        offset, size, strings = symtab
        for k in range(size // 24):
            st_name, st_info, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", data, offset + 24 * k)
            obj.symbols.append((_name(data, strings + st_name), st_info >> 4, shndx, value))
    return obj


@dataclass(frozen=True)
class PlacedCode:
    """A block of machine code for one host address, and where its symbols ended up."""

    code: bytes
    symbols: dict[str, int]  # global symbols defined by the objects -> host address


class Placement:
    """Objects laid out in one block; `place(base)` relocates it for the host address base."""

    def __init__(self, objects: list[bytes]) -> None:
        self._objects = [_parse(o) for o in objects]
        size = 0
        for obj in self._objects:
            for index, sec in obj.sections.items():
                size = (size + sec.align - 1) // sec.align * sec.align
                obj.place[index] = size
                size += sec.size
        self.size = size

    def place(self, base: int, resolve: Mapping[str, int]) -> PlacedCode:
        """The block at `base`: symbols the objects do not define come from `resolve`, else from
        an `aotA_<hex>` name's own value."""
        block = bytearray(self.size)
        defined: dict[bytes, int] = {}
        for obj in self._objects:
            for index, sec in obj.sections.items():
                if not sec.nobits:
                    at = obj.place[index]
                    block[at:at + sec.size] = obj.data[sec.offset:sec.offset + sec.size]
            for sname, bind, shndx, value in obj.symbols:
                if bind != STB_LOCAL and shndx in obj.sections:
                    defined[sname] = base + obj.place[shndx] + value
        for obj in self._objects:
            self._relocate(obj, block, base, defined, resolve)
        return PlacedCode(bytes(block), {k.decode(): v for k, v in defined.items()})

    def _relocate(self, obj: _Object, block: bytearray, base: int, defined: dict[bytes, int],
                  resolve: Mapping[str, int]) -> None:
        for target, offset, count in obj.relas:
            if target not in obj.sections:
                continue
            for k in range(count):
                r_offset, r_info, addend = struct.unpack_from("<QQq", obj.data, offset + 24 * k)
                kind = r_info & 0xFFFFFFFF
                sname, bind, shndx, value = obj.symbols[r_info >> 32]
                if shndx in obj.sections and (bind == STB_LOCAL or sname not in defined):
                    s = base + obj.place[shndx] + value
                elif shndx == SHN_ABS:
                    s = value
                else:
                    s = self._symbol(sname, defined, resolve)
                at = obj.place[target] + r_offset
                p = base + at
                _apply(block, at, kind, s + addend, p, sname)

    @staticmethod
    def _symbol(name: bytes, defined: dict[bytes, int], resolve: Mapping[str, int]) -> int:
        if name in defined:
            return defined[name]
        text = name.decode()
        if text in resolve:
            return resolve[text]
        if text.startswith("aotA_"):
            return int(text[5:], 16)
        raise BuildError(f"the JIT's code refers to {text}, which the executable does not define")


def _apply(block: bytearray, at: int, kind: int, value: int, p: int, name: bytes) -> None:
    if kind == R_X86_64_64:
        struct.pack_into("<Q", block, at, value & (2**64 - 1))
    elif kind in (R_X86_64_PC32, R_X86_64_PLT32):
        _pack32(block, at, value - p, True, name)
    elif kind == R_X86_64_32:
        _pack32(block, at, value, False, name)
    elif kind == R_X86_64_32S:
        _pack32(block, at, value, True, name)
    elif kind == R_X86_64_PC64:
        struct.pack_into("<Q", block, at, (value - p) & (2**64 - 1))
    else:
        raise BuildError(f"the JIT's code has relocation type {kind} against {name.decode()}, which it cannot place")


def _pack32(block: bytearray, at: int, value: int, signed: bool, name: bytes) -> None:
    lo, hi = (-(2**31), 2**31) if signed else (0, 2**32)
    if not lo <= value < hi:
        raise BuildError(f"the JIT's reference to {name.decode()} does not fit in 32 bits")
    struct.pack_into("<i" if signed else "<I", block, at, value)
