"""The guest program as the rest of aotbuilder sees it: memory as loaded, entry, symbols, roots.

A ``GuestImage`` is built (and fully validated) by ``aotbuilder.elf.load_guest``.  All addresses it
holds are guest virtual addresses *after* the load bias, i.e. the addresses the guest program sees
when it runs, so later stages never have to think about PIE.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from aotbuilder.errors import GuestError

PF_X = 1
PF_W = 2
PF_R = 4


class ElfError(GuestError):
    """The guest file cannot be loaded: missing, not an RV64 executable, corrupt, unsupported."""


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment, relocated by the load bias."""

    vaddr: int
    memsz: int
    data: bytes = field(repr=False)  # the file bytes (len == p_filesz); the rest of memsz is zero
    flags: int  # PF_R | PF_W | PF_X
    offset: int  # p_offset in the file

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz

    @property
    def filesz(self) -> int:
        return len(self.data)

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)

    @property
    def writable(self) -> bool:
        return bool(self.flags & PF_W)

    def contains(self, addr: int) -> bool:
        return self.vaddr <= addr < self.end

    def bytes_at(self, addr: int, size: int) -> bytes:
        """Bytes of [addr, addr+size) as loaded; the caller keeps the range inside the segment."""
        start = addr - self.vaddr
        chunk = self.data[start:start + size]
        return chunk if len(chunk) == size else chunk + bytes(size - len(chunk))


@dataclass(frozen=True)
class Symbol:
    name: str
    addr: int  # relocated by the load bias
    size: int
    kind: str  # "func" | "object" | "notype"


@dataclass
class GuestImage:
    path: Path
    raw: bytes = field(repr=False)  # the whole file, byte for byte (the runtime embeds it)
    entry: int
    load_bias: int  # 0 for ET_EXEC, abi.PIE_LOAD_BIAS for static-PIE
    is_pie: bool
    segments: list[Segment]  # PT_LOAD, sorted by vaddr, non-overlapping, empty ones dropped
    # From .symtab (else .dynsym): named FUNC/OBJECT/NOTYPE symbols defined in a section, sorted by
    # (addr, name).  Includes size-0 functions and RISC-V mapping symbols ("$x...", "$d").
    symbols: list[Symbol] = field(repr=False)
    eh_frame_pcs: list[int] = field(repr=False)  # FDE start pcs inside executable segments, sorted
    # Code pointers from .preinit_array, .init_array, .fini_array (in that order, duplicates dropped):
    # libc calls them indirectly, so discovery needs them as roots.
    init_array: list[int] = field(repr=False)
    # Static-PIE only: slot address -> value the guest's self-relocation (R_RISCV_RELATIVE and RELR)
    # stores there at startup.  Pointer scans over PIE data must read values from here.
    relative_relocs: dict[int, int] = field(default_factory=dict, repr=False)
    # [lo, hi) of the executable sections, where the section headers tell (else empty: all of the
    # executable segments may be code).
    code_ranges: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @cached_property
    def _starts(self) -> list[int]:
        return [s.vaddr for s in self.segments]

    @cached_property
    def _functions(self) -> list[Symbol]:
        return [s for s in self.symbols if s.kind == "func"]

    @cached_property
    def _function_addrs(self) -> list[int]:
        return [s.addr for s in self._functions]

    def segment_at(self, addr: int) -> Segment | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and self.segments[i].contains(addr):
            return self.segments[i]
        return None

    def read(self, addr: int, size: int) -> bytes:
        """Guest memory [addr, addr+size) as the kernel loads it (zeros past p_filesz).

        For static-PIE this is memory *before* the guest relocates itself; see ``relative_relocs``.
        """
        if size < 0:
            raise ValueError(f"negative read size {size}")
        seg = self.segment_at(addr)
        if seg is not None and addr + size <= seg.end:
            return seg.bytes_at(addr, size)
        # Slow path: the range spans adjacent segments, or part of it is unmapped.
        out = bytearray()
        cur, end = addr, addr + size
        while cur < end:
            seg = self.segment_at(cur)
            if seg is None:
                raise ElfError(f"{self.path}: guest read of {size} bytes at 0x{addr:x} leaves the loaded "
                               f"segments (0x{cur:x} is not mapped)")
            take = min(end, seg.end) - cur
            out += seg.bytes_at(cur, take)
            cur += take
        return bytes(out)

    def read_u16(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 2), "little")

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def is_executable(self, addr: int) -> bool:
        seg = self.segment_at(addr)
        return seg is not None and seg.executable

    def is_code(self, addr: int) -> bool:
        """Whether addr may hold code: executable, and in an executable section if there are any."""
        if not self.code_ranges:
            return self.is_executable(addr)
        return any(lo <= addr < hi for lo, hi in self.code_ranges) and self.is_executable(addr)

    def exec_ranges(self) -> list[tuple[int, int]]:
        return [(s.vaddr, s.end) for s in self.segments if s.executable]

    def symbol_named(self, name: str) -> Symbol | None:
        """The first symbol called ``name`` (lowest address), or None."""
        return next((s for s in self.symbols if s.name == name), None)

    def function_at(self, addr: int) -> Symbol | None:
        """The function symbol whose [addr, addr+size) holds ``addr`` (size 0: exact match only).

        For messages that name where the guest was ("in main+0x1c").
        """
        addrs = self._function_addrs
        i = bisect.bisect_right(addrs, addr) - 1
        if i < 0:
            return None
        # Several symbols may share a start address (aliases); any one that covers addr will do.
        start = addrs[i]
        while i >= 0 and addrs[i] == start:
            sym = self._functions[i]
            if addr == sym.addr or addr < sym.addr + sym.size:
                return sym
            i -= 1
        return None
