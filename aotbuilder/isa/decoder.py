"""The decoder, built from the encoding tables.

32-bit words are looked up by their opcode, funct3 and funct7 bits (``KEY_MASK``): the index maps every
value of those bits to the few table entries that can match, so a decode is one dict lookup plus a
mask compare or two.  16-bit words go through the C table in order (it is small and order matters for
its deliberate overlaps).

Decode is called for every instruction of big binaries, so each table entry is compiled once, at import,
into a straight-line Python function that extracts its fields (decodetree generates C the same way);
``GENERATED_SOURCE`` keeps the text for debugging.  Results are also cached by word: programs repeat
words a lot, and Insn is frozen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from functools import lru_cache

from aotbuilder.isa.bitfield import BitField
from aotbuilder.isa.encodings import BASE, Encoding
from aotbuilder.isa.insn import Insn
from aotbuilder.isa.rvc import COMPRESSED, CompressedEncoding

KEY_MASK = 0xFE00_707F  # funct7 | funct3 | opcode
C_KEY_MASK = 0xE003  # funct3 | op

_Decoder = Callable[[int], Insn | None]
_INSN_ATTRS = tuple(f.name for f in dataclass_fields(Insn))
GENERATED_SOURCE: dict[str, str] = {}


def _compile(
    name: str,
    mnemonic: str,
    size: int,
    compressed: str | None,
    fields: tuple[tuple[str, BitField], ...],
    constants: tuple[tuple[str, int], ...] = (),
    nonzero: tuple[str, ...] = (),
) -> _Decoder:
    """A function ``word -> Insn`` (None where a ``nonzero`` attribute is zero: a reserved code point)."""
    values = {"mnemonic": repr(mnemonic), "size": str(size), "raw": "w", "compressed": repr(compressed)}
    lines = []
    for attr, field in fields:
        expr = field.expression("w")
        lines.append(f"    {attr} = {f'bool({expr})' if attr in ('aq', 'rl') else expr}")
        values[attr] = attr
    for attr, value in constants:
        values[attr] = repr(value)
    lines += [f"    if not {attr}:\n        return None" for attr in nonzero]
    # Positional arguments: markedly cheaper than keywords for the frozen dataclass.
    args = ", ".join(values.get(a, "False" if a in ("aq", "rl") else "0") for a in _INSN_ATTRS)
    source = "def decode_entry(w):\n" + "\n".join(lines + [f"    return Insn({args})"]) + "\n"
    namespace: dict[str, object] = {"Insn": Insn}
    exec(compile(source, f"<isa decoder: {name}>", "exec"), namespace)
    GENERATED_SOURCE[name] = source
    return namespace["decode_entry"]  # type: ignore[return-value]


def _key_values(entry: Encoding) -> list[int]:
    """Every KEY_MASK value a word matching ``entry`` can have (its unconstrained key bits vary)."""
    free = [1 << b for b in range(32) if (KEY_MASK & ~entry.mask) >> b & 1]
    keys = []
    for n in range(1 << len(free)):
        key = entry.match & KEY_MASK
        for i, bit in enumerate(free):
            if n >> i & 1:
                key |= bit
        keys.append(key)
    return keys


def _build_index() -> dict[int, tuple[tuple[int, int, _Decoder], ...]]:
    index: defaultdict[int, list[tuple[int, int, _Decoder]]] = defaultdict(list)
    for entry in BASE:
        make = _compile(entry.mnemonic, entry.mnemonic, 4, None, entry.fields)
        for key in _key_values(entry):
            index[key].append((entry.mask, entry.match, make))
    return {key: tuple(bucket) for key, bucket in index.items()}


def _build_c_buckets() -> dict[int, tuple[tuple[int, int, _Decoder], ...]]:
    compiled = {
        e.name: _compile(e.name, e.mnemonic, 2, e.name, e.fields, e.constants, e.nonzero) for e in COMPRESSED
    }

    def bucket(key: int) -> tuple[tuple[int, int, _Decoder], ...]:
        # Table order is kept inside a bucket: the C table resolves its overlaps by order.
        entries: list[CompressedEncoding] = [
            e for e in COMPRESSED if (key ^ e.match) & e.mask & C_KEY_MASK == 0
        ]
        return tuple((e.mask, e.match, compiled[e.name]) for e in entries)

    return {key: bucket(key) for key in (f3 << 13 | op for f3 in range(8) for op in range(3))}


_INDEX = _build_index()
_C_BUCKETS = _build_c_buckets()


def insn_length(halfword: int) -> int:
    """Length in bytes of the instruction whose first 16-bit parcel is ``halfword``.

    Follows the spec's expanded length encoding: 2, 4, 6, 8, or 10..22 bytes; 0 for the reserved
    >=192-bit pattern, which has no defined length.  Only lengths 2 and 4 ever decode.
    """
    if halfword & 0b11 != 0b11:
        return 2
    if halfword & 0b11100 != 0b11100:
        return 4
    if halfword & 0b111111 == 0b011111:
        return 6
    if halfword & 0b1111111 == 0b0111111:
        return 8
    nnn = (halfword >> 12) & 0b111
    return 0 if nnn == 0b111 else 10 + 2 * nnn


def decode(word: int) -> Insn | None:
    """Decode the instruction at the start of ``word`` (the next 32 bits at pc, little-endian value).

    Returns None for anything illegal, reserved, longer than 32 bits, or outside RV64GC+Zba/Zbb/Zbs.
    A compressed instruction (``word & 3 != 3``) only uses the low 16 bits.
    """
    if word & 0b11 != 0b11:
        return _decode_word(word & 0xFFFF)
    return _decode_word(word & 0xFFFF_FFFF)


@lru_cache(maxsize=1 << 16)
def _decode_word(word: int) -> Insn | None:
    if word & 0b11 != 0b11:
        # The first matching C entry decides, even when it says "reserved" (its more specific rival
        # was listed before it and already did not match).
        for mask, match, make in _C_BUCKETS[word & C_KEY_MASK]:
            if word & mask == match:
                return make(word)
        return None
    if word & 0b11100 == 0b11100:
        return None  # 48-bit and longer encodings
    for mask, match, make in _INDEX.get(word & KEY_MASK, ()):
        if word & mask == match:
            return make(word)
    return None
