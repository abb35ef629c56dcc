"""Load a guest ELF file into a ``GuestImage``, rejecting anything aotbuilder cannot translate.

The fixed-layout structures (ELF header, program and section headers, dynamic entries, relocations,
symbols) are parsed here with ``struct`` and checked field by field, so every rejection gets a precise
one-line message and loading a static binary with 30k symbols stays fast.  The variable-length DWARF
call frame information in .eh_frame comes from pyelftools, which raises a zoo of exception types on
malformed input; that call is fenced by ``_Loader.pyelftools`` and turned into ``ElfError``.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from elftools.dwarf.callframe import FDE, CallFrameInfo
from elftools.dwarf.structs import DWARFStructs

from aotbuilder.abi import PAGE_SIZE, PIE_LOAD_BIAS
from aotbuilder.elf.image import ElfError, GuestImage, Segment, Symbol

EM_RISCV = 243
ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_RELA, DT_RELASZ, DT_RELAENT, DT_SONAME = 0, 1, 7, 8, 9, 14
DT_RELRSZ, DT_RELR, DT_RELRENT = 35, 36, 37
R_RISCV_RELATIVE = 3
_U64 = (1 << 64) - 1

_EHDR = struct.Struct("<HHIQQQIHHHHHH")  # e_type .. e_shstrndx, after the 16-byte e_ident
_PHDR = struct.Struct("<IIQQQQQQ")
_RELA = struct.Struct("<QQq")
_SHDR = struct.Struct("<IIQQQQIIQQ")
SHF_ALLOC_EXEC = 0x2 | 0x4  # SHF_ALLOC | SHF_EXECINSTR
_SYM = struct.Struct("<IBBHQQ")
# Linux refuses more program headers than fit in 64 KiB (fs/binfmt_elf.c: elf_read_phdrs).
_MAX_PHNUM = 65536 // _PHDR.size
# Top of user space under Sv57, the largest RISC-V Linux address space.
_USER_TOP = 1 << 56

_MACHINES = {
    2: "SPARC", 3: "i386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "s390x", 40: "ARM",
    42: "SuperH", 43: "SPARC64", 50: "IA-64", 62: "x86-64", 183: "AArch64", 243: "RISC-V",
    247: "BPF", 258: "LoongArch",
}
# st_info & 0xf: STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_GNU_IFUNC (its value is the resolver, code).
_SYMBOL_KINDS = {0: "notype", 1: "object", 2: "func", 10: "func"}
# SHT_PREINIT_ARRAY runs first, then SHT_INIT_ARRAY; SHT_FINI_ARRAY at exit.
SHT_PROGBITS, SHT_SYMTAB, SHT_NOBITS, SHT_DYNSYM = 1, 2, 8, 11
SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY = 14, 15, 16
SHN_XINDEX = 0xFFFF
_INIT_ARRAY_TYPES = (SHT_PREINIT_ARRAY, SHT_INIT_ARRAY, SHT_FINI_ARRAY)

T = TypeVar("T")


@dataclass(frozen=True)
class _Section:
    name: str  # "[<index>]" when it has none
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


def load_guest(path: str | Path) -> GuestImage:
    """Read and validate a RISC-V RV64 Linux executable (static or static-PIE).

    Raises ``ElfError`` with a one-line message naming ``path`` for anything that is not one.
    """
    return _Loader(os.fspath(path), _read_file(os.fspath(path))).load()


def load_guest_bytes(name: str, data: bytes) -> GuestImage:
    """``load_guest`` of a file's contents (messages call it ``name``)."""
    return _Loader(name, data).load()


def _read_file(name: str) -> bytes:
    try:
        st = os.stat(name)
        if stat.S_ISDIR(st.st_mode):
            raise ElfError(f"{name}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            # Reading a FIFO or a device could block or never end.
            raise ElfError(f"{name}: not a regular file")
        with open(name, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        raise ElfError(f"{name}: no such file") from None
    except PermissionError:
        raise ElfError(f"{name}: permission denied") from None
    except IsADirectoryError:
        raise ElfError(f"{name}: is a directory") from None
    except OSError as e:
        raise ElfError(f"{name}: cannot read: {e.strerror or e}") from None


class _Loader:
    def __init__(self, name: str, raw: bytes) -> None:
        self.name = name
        self.raw = raw

    def corrupt(self, what: str) -> ElfError:
        return ElfError(f"{self.name}: corrupt ELF: {what}")

    def load(self) -> GuestImage:
        self.check_ident()
        (e_type, _machine, _version, entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
         shentsize, shnum, shstrndx) = _EHDR.unpack_from(self.raw, 16)
        self.check_type(e_type)
        phdrs = self.program_headers(phoff, phentsize, phnum)
        if any(p[0] == PT_INTERP for p in phdrs):
            raise self.dynamic()
        dynamic = self.dynamic_entries(phdrs)
        soname = any(tag == DT_SONAME for tag, _ in dynamic)
        # A shared library carries no PT_INTERP either; tell it apart from a static-PIE executable.
        if e_type == ET_DYN and (soname or entry == 0):
            raise ElfError(f"{self.name}: shared library, not an executable")
        if any(tag == DT_NEEDED for tag, _ in dynamic):
            raise self.dynamic()

        is_pie = e_type == ET_DYN
        bias = PIE_LOAD_BIAS if is_pie else 0
        segments = self.segments(phdrs, bias)
        image = GuestImage(
            path=Path(self.name), raw=self.raw, entry=entry + bias, load_bias=bias, is_pie=is_pie,
            segments=segments, symbols=[], eh_frame_pcs=[], init_array=[],
        )
        if not image.is_executable(image.entry):
            raise self.corrupt(f"entry point 0x{entry:x} is not in an executable segment")
        if is_pie:
            image.relative_relocs = self.relative_relocs(image, dict(dynamic))
        self.read_sections(image, self.sections(shoff, shentsize, shnum, shstrndx))
        return image

    # -- ELF header ---------------------------------------------------------------------------

    def check_ident(self) -> None:
        raw, name = self.raw, self.name
        if raw[:4] != b"\x7fELF":
            raise ElfError(f"{name}: not an ELF file")
        if len(raw) < 20:
            raise self.corrupt(f"truncated ELF header ({len(raw)} bytes)")
        ei_class, ei_data = raw[4], raw[5]
        if ei_data not in (1, 2):
            raise self.corrupt(f"invalid byte order (EI_DATA={ei_data})")
        machine = struct.unpack_from("<H" if ei_data == 1 else ">H", raw, 18)[0]
        if ei_class == 1:
            raise ElfError(f"{name}: 32-bit ELF: aotbuilder translates RISC-V RV64 executables")
        if ei_class != 2:
            raise self.corrupt(f"invalid ELF class (EI_CLASS={ei_class})")
        # A big-endian file of a known other architecture (s390x, PowerPC64) is named as such; a
        # big-endian "RISC-V" or unknown machine is most likely a damaged EI_DATA byte.
        if machine != EM_RISCV and (ei_data == 1 or machine in _MACHINES):
            arch = _MACHINES.get(machine, f"machine {machine}")
            raise ElfError(f"{name}: {arch} ELF: aotbuilder translates RISC-V RV64 executables")
        if ei_data == 2:
            raise self.corrupt("big-endian byte order (RISC-V executables are little-endian)")
        if len(raw) < 64:
            raise self.corrupt(f"truncated ELF header ({len(raw)} bytes)")

    def check_type(self, e_type: int) -> None:
        if e_type in (ET_EXEC, ET_DYN):
            return
        what = {ET_REL: "relocatable object", ET_CORE: "core dump"}.get(e_type)
        if what:
            raise ElfError(f"{self.name}: {what}, not an executable")
        raise self.corrupt(f"unknown ELF type 0x{e_type:x}")

    def dynamic(self) -> ElfError:
        return ElfError(f"{self.name}: dynamically linked executables are not supported yet "
                        "(link with -static)")

    # -- program headers ----------------------------------------------------------------------

    def program_headers(self, phoff: int, phentsize: int, phnum: int) -> list[tuple[int, ...]]:
        if phnum == 0:
            raise self.corrupt("no program headers")
        if phentsize != _PHDR.size:
            raise self.corrupt(f"program header size {phentsize}, expected {_PHDR.size}")
        if phnum > _MAX_PHNUM:
            raise self.corrupt(f"{phnum} program headers (at most {_MAX_PHNUM})")
        if phoff + phnum * _PHDR.size > len(self.raw):
            raise self.corrupt(f"program header table (0x{phoff:x}, {phnum} entries) extends past "
                               f"the end of the file ({len(self.raw)} bytes)")
        return [_PHDR.unpack_from(self.raw, phoff + i * _PHDR.size) for i in range(phnum)]

    def sections(self, shoff: int, shentsize: int, shnum: int, shstrndx: int) -> list[_Section]:
        if shoff == 0:
            return []  # stripped of section headers (sstrip): no symbols, nothing else lost
        if shentsize != _SHDR.size:
            raise self.corrupt(f"section header size {shentsize}, expected {_SHDR.size}")
        first = _SHDR.unpack(self.file_range("section header table", shoff, _SHDR.size))
        # Extended numbering: counts that do not fit in the ELF header live in section 0.
        if shnum == 0:
            shnum = first[5]
        if shstrndx == SHN_XINDEX:
            shstrndx = first[6]
        table = self.file_range(f"section header table ({shnum} entries at 0x{shoff:x})", shoff,
                                shnum * _SHDR.size)
        headers = list(_SHDR.iter_unpack(table))
        names = b""
        if 0 < shstrndx < len(headers):
            names = self.file_range("section name table", headers[shstrndx][4], headers[shstrndx][5])
        sections = []
        for i, header in enumerate(headers):
            sh_name, sh_type, flags, addr, offset, size, link, _info, _align, entsize = header
            end = names.find(b"\0", sh_name)
            if sh_name and (sh_name >= len(names) or end < 0):
                raise self.corrupt(f"section {i}: name at 0x{sh_name:x} is outside the section name table")
            name = names[sh_name:end].decode("utf-8", "replace") if sh_name else ""
            sections.append(_Section(name or f"[{i}]", sh_type, flags, addr, offset, size, link, entsize))
        return sections

    def file_range(self, what: str, offset: int, size: int) -> bytes:
        if offset + size > len(self.raw):
            raise self.corrupt(f"{what} (file bytes 0x{offset:x}-0x{offset + size:x}) extends past the "
                               f"end of the file ({len(self.raw)} bytes)")
        return self.raw[offset:offset + size]

    def segments(self, phdrs: list[tuple[int, ...]], bias: int) -> list[Segment]:
        segments = []
        for i, (p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align) in enumerate(phdrs):
            if p_type != PT_LOAD:
                continue
            what = f"PT_LOAD segment {i}"
            if filesz > memsz:
                raise self.corrupt(f"{what} has p_filesz 0x{filesz:x} > p_memsz 0x{memsz:x}")
            data = self.file_range(what, offset, filesz)
            if vaddr + bias + memsz > _USER_TOP:
                raise self.corrupt(f"{what} at 0x{vaddr:x} (0x{memsz:x} bytes) is outside the RV64 "
                                   "user address space")
            # The kernel (and our runtime) maps whole pages from the file: offset and address must
            # sit at the same place within a page.
            if (vaddr - offset) % PAGE_SIZE:
                raise self.corrupt(f"{what} has p_vaddr 0x{vaddr:x} and p_offset 0x{offset:x} at "
                                   "different offsets within a page")
            if memsz:
                segments.append(Segment(vaddr=vaddr + bias, memsz=memsz, data=data, flags=flags & 7,
                                        offset=offset))
        if not segments:
            raise self.corrupt("no PT_LOAD segment")
        segments.sort(key=lambda s: s.vaddr)
        for a, b in zip(segments, segments[1:], strict=False):
            if a.end > b.vaddr:
                raise self.corrupt(f"PT_LOAD segments at 0x{a.vaddr - bias:x} and 0x{b.vaddr - bias:x} "
                                   "overlap")
        return segments

    def dynamic_entries(self, phdrs: list[tuple[int, ...]]) -> list[tuple[int, int]]:
        entries: list[tuple[int, int]] = []
        for i, (p_type, _flags, offset, _vaddr, _paddr, filesz, _memsz, _align) in enumerate(phdrs):
            if p_type != PT_DYNAMIC:
                continue
            data = self.file_range(f"PT_DYNAMIC segment {i}", offset, filesz)
            for tag, val in struct.iter_unpack("<qQ", data[:len(data) // 16 * 16]):
                if tag == DT_NULL:
                    break
                entries.append((tag, val))
        return entries

    # -- static-PIE self-relocation -------------------------------------------------------------

    def relative_relocs(self, image: GuestImage, dyn: dict[int, int]) -> dict[int, int]:
        """What the guest's startup code (_dlstart, _dl_relocate_static_pie) writes where."""
        bias = image.load_bias
        rela_size, relr_size = dyn.get(DT_RELASZ, 0), dyn.get(DT_RELRSZ, 0)
        if rela_size and dyn.get(DT_RELAENT, _RELA.size) != _RELA.size:
            raise self.corrupt(f"DT_RELAENT {dyn[DT_RELAENT]}, expected {_RELA.size}")
        if relr_size and dyn.get(DT_RELRENT, 8) != 8:
            raise self.corrupt(f"DT_RELRENT {dyn[DT_RELRENT]}, expected 8")
        out: dict[int, int] = {}
        rela = self.guest_table("DT_RELA table", image, dyn.get(DT_RELA, 0) + bias, rela_size)
        for r_offset, r_info, r_addend in _RELA.iter_unpack(rela[:len(rela) // _RELA.size * _RELA.size]):
            if r_info & 0xFFFF_FFFF == R_RISCV_RELATIVE:
                out[(r_offset + bias) & _U64] = (r_addend + bias) & _U64
        relr = self.guest_table("DT_RELR table", image, dyn.get(DT_RELR, 0) + bias, relr_size)
        for slot in _relr_slots(relr, bias):
            # RELR keeps the addend in the slot itself.
            out[slot] = (int.from_bytes(self.guest_table("DT_RELR slot", image, slot, 8), "little")
                         + bias) & _U64
        return out

    def guest_table(self, what: str, image: GuestImage, addr: int, size: int) -> bytes:
        # Tables the file describes live in file bytes: one larger than the file is corrupt, and
        # must not make us allocate gigabytes of zeros.
        if size > len(self.raw):
            raise self.corrupt(f"{what} at 0x{addr:x} is larger than the file (0x{size:x} bytes)")
        try:
            return image.read(addr, size)
        except ElfError:
            raise self.corrupt(f"{what} at 0x{addr:x} (0x{size:x} bytes) is outside the loaded "
                               "segments") from None

    # -- sections (pyelftools) -------------------------------------------------------------------

    def read_sections(self, image: GuestImage, sections: list[_Section]) -> None:
        image.symbols = self.symbols(sections, image.load_bias)
        # Executable segments often hold read-only data too (.rodata next to .text): where the
        # section headers say which part is code, discovery only looks for code there.
        code = [(s.addr + image.load_bias, s.addr + image.load_bias + s.size) for s in sections
                if s.flags & SHF_ALLOC_EXEC == SHF_ALLOC_EXEC and s.size and s.type == SHT_PROGBITS]
        image.code_ranges = sorted(r for r in code if image.is_executable(r[0]))
        image.init_array = self.init_array(image, sections)
        eh_frame = next((s for s in sections if s.name == ".eh_frame" and s.type == SHT_PROGBITS), None)
        if eh_frame is not None:
            data = self.section_bytes(eh_frame)
            pcs = self.pyelftools(".eh_frame", lambda: _fde_pcs(data, eh_frame.addr))
            image.eh_frame_pcs = sorted({pc + image.load_bias for pc in pcs
                                         if image.is_executable(pc + image.load_bias)})

    def section_bytes(self, sec: _Section) -> bytes:
        return b"" if sec.type == SHT_NOBITS else self.file_range(f"section {sec.name}", sec.offset, sec.size)

    def symbols(self, sections: list[_Section], bias: int) -> list[Symbol]:
        table = next((s for s in sections if s.type == SHT_SYMTAB), None)
        if table is None:
            table = next((s for s in sections if s.type == SHT_DYNSYM), None)
        if table is None:
            return []
        what = f"symbol table {table.name}"
        if table.entsize != _SYM.size:
            raise self.corrupt(f"{what} has entry size {table.entsize}, expected {_SYM.size}")
        if not 0 < table.link < len(sections):
            raise self.corrupt(f"{what} links to section {table.link}, which does not exist")
        data = self.section_bytes(table)
        strtab = self.section_bytes(sections[table.link])
        symbols = set()
        for st_name, st_info, _other, shndx, value, size in _SYM.iter_unpack(data[:len(data) // 24 * 24]):
            kind = _SYMBOL_KINDS.get(st_info & 0xF)
            # Undefined, absolute and common symbols (index 0 or >= SHN_LORESERVE) are not addresses
            # in the image.
            if kind is None or shndx == 0 or shndx >= 0xFF00:
                continue
            end = strtab.find(b"\0", st_name)
            if st_name >= len(strtab) or end < 0:
                raise self.corrupt(f"{what}: symbol name at 0x{st_name:x} is outside the string table")
            # Skip nameless symbols and assembler temporaries (.L*), which name nothing a user wrote.
            if end == st_name or strtab.startswith(b".L", st_name):
                continue
            name = strtab[st_name:end].decode("utf-8", "replace")
            symbols.add(Symbol(name=name, addr=(value + bias) & _U64, size=size, kind=kind))
        return sorted(symbols, key=lambda s: (s.addr, s.name, s.kind, s.size))

    def pyelftools(self, what: str, parse: Callable[[], T]) -> T:
        try:
            return parse()
        # pyelftools signals malformed input with ELFError, ELFParseError, construct errors,
        # struct.error, ValueError, IndexError, KeyError, AssertionError, ZeroDivisionError,
        # RecursionError (an FDE whose CIE pointer leads back to itself) and more; at this boundary
        # all of them mean "corrupt".
        except Exception as e:
            # Construct errors carry (message, nested error) tuples: the message is enough.
            first = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
            detail = " ".join(first.split())[:160] or type(e).__name__
            raise self.corrupt(f"{what}: {detail}") from None

    def init_array(self, image: GuestImage, sections: list[_Section]) -> list[int]:
        bias = image.load_bias
        pointers: list[int] = []
        for sh_type in _INIT_ARRAY_TYPES:
            for sec in sections:
                if sec.type != sh_type:
                    continue
                start = sec.addr + bias
                table = self.guest_table(sec.name, image, start, sec.size // 8 * 8)
                for i, (value,) in enumerate(struct.iter_unpack("<Q", table)):
                    slot = start + 8 * i
                    if slot in image.relative_relocs:
                        value = image.relative_relocs[slot]
                    elif image.is_pie and value:
                        value += bias
                    # 0 and -1 are padding/terminators some toolchains leave in these arrays.
                    if image.is_executable(value) and value not in pointers:
                        pointers.append(value)
        return pointers


def _fde_pcs(data: bytes, addr: int) -> list[int]:
    cfi = CallFrameInfo(stream=io.BytesIO(data), size=len(data), address=addr,
                        base_structs=DWARFStructs(little_endian=True, dwarf_format=32, address_size=8),
                        for_eh_frame=True)
    return [e.header["initial_location"] for e in cfi.get_entries() if isinstance(e, FDE)]


def _relr_slots(table: bytes, bias: int) -> Iterator[int]:
    """Addresses (biased) named by a DT_RELR table: an address word, then bitmaps of the 63 words after."""
    where = 0
    for (entry,) in struct.iter_unpack("<Q", table[:len(table) // 8 * 8]):
        if entry & 1 == 0:
            yield entry + bias
            where = entry + 8
        else:
            for bit in range(1, 64):
                if entry >> bit & 1:
                    yield where + 8 * (bit - 1) + bias
            where += 63 * 8
