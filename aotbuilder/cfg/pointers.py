"""Code pointers stored in data: candidate targets of computed jumps (labels as values)."""

from __future__ import annotations

import struct

from aotbuilder.elf import GuestImage


def code_pointers(image: GuestImage) -> frozenset[int]:
    """Every aligned 64-bit value in non-executable segments that points into code (an executable
    section) at an even address (for static-PIE, the values the guest's self-relocation stores)."""
    found: set[int] = set()

    def executable(value: int) -> bool:
        return value % 2 == 0 and image.is_code(value)

    for seg in image.segments:
        if seg.executable:
            continue
        start = (seg.vaddr + 7) & ~7
        data = seg.data[start - seg.vaddr:]
        usable = len(data) - len(data) % 8
        found.update(v for (v,) in struct.iter_unpack("<Q", data[:usable]) if executable(v))
    found.update(v for v in image.relative_relocs.values() if executable(v))
    return frozenset(found)
