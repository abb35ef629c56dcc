"""Guest ELF loading and validation: ``load_guest(path) -> GuestImage``."""

from aotbuilder.elf.image import PF_R, PF_W, PF_X, ElfError, GuestImage, Segment, Symbol
from aotbuilder.elf.loader import load_guest, load_guest_bytes

__all__ = ["PF_R", "PF_W", "PF_X", "ElfError", "GuestImage", "Segment", "Symbol", "load_guest", "load_guest_bytes"]
