"""Instruction bit fields written in the RISC-V spec's own notation.

The spec's format figures label a run of instruction bits with the immediate bits it carries, e.g. the
B-type figure puts ``imm[12|10:5]`` over bits 31:25 and ``imm[4:1|11]`` over bits 11:7.  A layout here is
the same thing as text, ``"31:25=12|10:5 11:7=4:1|11"``, so each field can be checked against the figure
by eye.  A plain ``"19:15"`` means the bits are the value unscrambled.
"""

from __future__ import annotations

from dataclasses import dataclass


def parse_range(text: str) -> tuple[int, int]:
    """``"31:25"`` -> (31, 25); ``"12"`` -> (12, 12)."""
    hi, _, lo = text.partition(":")
    high, low = int(hi), int(lo or hi)
    if high < low:
        raise ValueError(f"bit range {text!r} must be written high:low")
    return high, low


@dataclass(frozen=True, slots=True)
class BitField:
    """A value gathered from (possibly scattered) instruction bits.

    ``parts`` are (instruction bit, width, value bit) runs; ``sign_bit`` is the value bit to sign-extend
    from (None: unsigned); ``offset`` is added last (the 3-bit compressed registers name x8..x15).
    """

    layout: str
    parts: tuple[tuple[int, int, int], ...]
    sign_bit: int | None
    offset: int = 0

    @classmethod
    def parse(cls, layout: str, *, signed: bool = False, offset: int = 0) -> BitField:
        parts: list[tuple[int, int, int]] = []
        for chunk in layout.split():
            inst_text, _, value_text = chunk.partition("=")
            inst_hi, inst_lo = parse_range(inst_text)
            if not value_text:
                value_text = f"{inst_hi - inst_lo}:0"
            # The value bits are listed from the instruction's most significant bit downwards.
            pos = inst_hi
            for item in value_text.split("|"):
                val_hi, val_lo = parse_range(item)
                width = val_hi - val_lo + 1
                parts.append((pos - width + 1, width, val_lo))
                pos -= width
            if pos != inst_lo - 1:
                raise ValueError(f"layout {chunk!r}: value bits do not fill instruction bits {inst_text}")
        covered = [b for _, width, lo in parts for b in range(lo, lo + width)]
        if len(covered) != len(set(covered)):
            raise ValueError(f"layout {layout!r} names a value bit twice")
        sign_bit = max(covered) if signed else None
        return cls(layout, tuple(parts), sign_bit, offset)

    @property
    def inst_mask(self) -> int:
        """The instruction bits this field reads."""
        mask = 0
        for src, width, _ in self.parts:
            mask |= ((1 << width) - 1) << src
        return mask

    def extract(self, word: int) -> int:
        value = 0
        for src, width, dst in self.parts:
            value |= ((word >> src) & ((1 << width) - 1)) << dst
        if self.sign_bit is not None:
            sign = 1 << self.sign_bit
            value = (value ^ sign) - sign
        return value + self.offset

    def expression(self, var: str) -> str:
        """The Python expression computing ``extract(var)``: the decoder compiles these, no loop per call."""
        terms = []
        for src, width, dst in self.parts:
            term = f"(({var} >> {src}) & {(1 << width) - 1:#x})"
            terms.append(f"({term} << {dst})" if dst else term)
        expr = " | ".join(terms)
        if self.sign_bit is not None:
            expr = f"((({expr}) ^ {1 << self.sign_bit:#x}) - {1 << self.sign_bit:#x})"
        return f"({expr} + {self.offset})" if self.offset else expr

    def insert(self, value: int) -> int:
        """The instruction bits that encode ``value`` (the inverse of extract, for building test words)."""
        value -= self.offset
        word = 0
        for src, width, dst in self.parts:
            word |= ((value >> dst) & ((1 << width) - 1)) << src
        return word
