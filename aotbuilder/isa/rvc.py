"""RV64C as data: each 16-bit format and the base instruction it expands to.

Table columns, separated by ``|``:

1. the C mnemonic (what the disassembler prints);
2. fixed bits, ``range=value`` as in the base table (``op`` = 1:0, ``funct3`` = 15:13 ...);
3. the expansion: a base mnemonic, then ``attribute=source`` for every Insn attribute the base instruction
   uses, where the source is a C field below or a constant register/immediate;
4. the C assembly syntax, in operand kinds of the base instruction (``imm?`` is printed only if nonzero);
5. attributes that must be nonzero: the code points where they are zero are reserved (decode -> None).

Entries that overlap are resolved by order: an entry must come before every entry it overlaps with, and
its fixed bits must be a strict superset of theirs (the more specific encoding wins, e.g. c.nop before
c.addi, c.jr before c.mv).  HINT code points (rd=x0 and the like) are deliberately not reserved: they
expand to base instructions that have no architectural effect.  RV32-only formats (c.jal, c.flw, ...)
are absent: on RV64 those code points are c.addiw, c.ld, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

from aotbuilder.isa.bitfield import BitField
from aotbuilder.isa.encodings import BY_MNEMONIC, KIND_ATTRS, parse_fixed

TABLE = """
# quadrant 0
c.addi4spn | op=0 funct3=0               | addi rd=rd' rs1=2 imm=nzuimm_4spn   | rd rs1 imm  | imm
c.fld      | op=0 funct3=1               | fld rd=rd' rs1=rs1' imm=uimm_d      | frd mem     |
c.lw       | op=0 funct3=2               | lw rd=rd' rs1=rs1' imm=uimm_w       | rd mem      |
c.ld       | op=0 funct3=3               | ld rd=rd' rs1=rs1' imm=uimm_d       | rd mem      |
c.fsd      | op=0 funct3=5               | fsd rs2=rs2' rs1=rs1' imm=uimm_d    | frs2 mem    |
c.sw       | op=0 funct3=6               | sw rs2=rs2' rs1=rs1' imm=uimm_w     | rs2 mem     |
c.sd       | op=0 funct3=7               | sd rs2=rs2' rs1=rs1' imm=uimm_d     | rs2 mem     |
# quadrant 1
c.nop      | op=1 funct3=0 11:7=0        | addi rd=0 rs1=0 imm=imm6            | imm?        |
c.addi     | op=1 funct3=0               | addi rd=rd rs1=rd imm=imm6          | rd imm      |
c.addiw    | op=1 funct3=1               | addiw rd=rd rs1=rd imm=imm6         | rd imm      | rd
c.li       | op=1 funct3=2               | addi rd=rd rs1=0 imm=imm6           | rd imm      |
c.addi16sp | op=1 funct3=3 11:7=2        | addi rd=2 rs1=2 imm=nzimm_16sp      | rd imm      | imm
c.lui      | op=1 funct3=3               | lui rd=rd imm=nzimm_lui             | rd upper    | imm
# shamt=0 is a HINT on RV64 (it means 64 on RV128, hence the names)
c.srli64   | op=1 funct3=4 11:10=0 12=0 6:2=0 | srli rd=rs1' rs1=rs1' imm=0    | rd          |
c.srli     | op=1 funct3=4 11:10=0       | srli rd=rs1' rs1=rs1' imm=shamt     | rd imm      |
c.srai64   | op=1 funct3=4 11:10=1 12=0 6:2=0 | srai rd=rs1' rs1=rs1' imm=0    | rd          |
c.srai     | op=1 funct3=4 11:10=1       | srai rd=rs1' rs1=rs1' imm=shamt     | rd imm      |
c.andi     | op=1 funct3=4 11:10=2       | andi rd=rs1' rs1=rs1' imm=imm6      | rd imm      |
c.sub      | op=1 funct6=0b100011 funct2=0 | sub rd=rs1' rs1=rs1' rs2=rs2'     | rd rs2      |
c.xor      | op=1 funct6=0b100011 funct2=1 | xor rd=rs1' rs1=rs1' rs2=rs2'     | rd rs2      |
c.or       | op=1 funct6=0b100011 funct2=2 | or rd=rs1' rs1=rs1' rs2=rs2'      | rd rs2      |
c.and      | op=1 funct6=0b100011 funct2=3 | and rd=rs1' rs1=rs1' rs2=rs2'     | rd rs2      |
c.subw     | op=1 funct6=0b100111 funct2=0 | subw rd=rs1' rs1=rs1' rs2=rs2'    | rd rs2      |
c.addw     | op=1 funct6=0b100111 funct2=1 | addw rd=rs1' rs1=rs1' rs2=rs2'    | rd rs2      |
c.j        | op=1 funct3=5               | jal rd=0 imm=offset_j               | target      |
c.beqz     | op=1 funct3=6               | beq rs1=rs1' rs2=0 imm=offset_b     | rs1 target  |
c.bnez     | op=1 funct3=7               | bne rs1=rs1' rs2=0 imm=offset_b     | rs1 target  |
# quadrant 2
c.slli64   | op=2 funct3=0 12=0 6:2=0    | slli rd=rd rs1=rd imm=0             | rd          |
c.slli     | op=2 funct3=0               | slli rd=rd rs1=rd imm=shamt         | rd imm      |
c.fldsp    | op=2 funct3=1               | fld rd=rd rs1=2 imm=uimm_dsp        | frd mem     |
c.lwsp     | op=2 funct3=2               | lw rd=rd rs1=2 imm=uimm_wsp         | rd mem      | rd
c.ldsp     | op=2 funct3=3               | ld rd=rd rs1=2 imm=uimm_dsp         | rd mem      | rd
c.jr       | op=2 funct4=0b1000 6:2=0    | jalr rd=0 rs1=rd imm=0              | rs1         | rs1
c.mv       | op=2 funct4=0b1000          | add rd=rd rs1=0 rs2=rs2             | rd rs2      |
c.ebreak   | op=2 funct4=0b1001 11:7=0 6:2=0 | ebreak                          |             |
c.jalr     | op=2 funct4=0b1001 6:2=0    | jalr rd=1 rs1=rd imm=0              | rs1         |
c.add      | op=2 funct4=0b1001          | add rd=rd rs1=rd rs2=rs2            | rd rs2      |
c.fsdsp    | op=2 funct3=5               | fsd rs2=rs2 rs1=2 imm=uimm_sdsp     | frs2 mem    |
c.swsp     | op=2 funct3=6               | sw rs2=rs2 rs1=2 imm=uimm_swsp      | rs2 mem     |
c.sdsp     | op=2 funct3=7               | sd rs2=rs2 rs1=2 imm=uimm_sdsp      | rs2 mem     |
"""

NAMED_RANGES = {"op": "1:0", "funct2": "6:5", "funct3": "15:13", "funct4": "15:12", "funct6": "15:10"}

# C fields, from the spec's compressed-format figures.  rd is the full rd/rs1 field of CR/CI formats;
# the primed 3-bit fields name x8..x15.
FIELDS: dict[str, BitField] = {
    "rd": BitField.parse("11:7"),
    "rs2": BitField.parse("6:2"),
    "rd'": BitField.parse("4:2", offset=8),
    "rs1'": BitField.parse("9:7", offset=8),
    "rs2'": BitField.parse("4:2", offset=8),
    "imm6": BitField.parse("12=5 6:2=4:0", signed=True),
    "shamt": BitField.parse("12=5 6:2=4:0"),
    "nzimm_lui": BitField.parse("12=17 6:2=16:12", signed=True),
    "nzimm_16sp": BitField.parse("12=9 6:2=4|6|8:7|5", signed=True),
    "nzuimm_4spn": BitField.parse("12:5=5:4|9:6|2|3"),
    "uimm_w": BitField.parse("12:10=5:3 6:5=2|6"),
    "uimm_d": BitField.parse("12:10=5:3 6:5=7:6"),
    "uimm_wsp": BitField.parse("12=5 6:2=4:2|7:6"),
    "uimm_dsp": BitField.parse("12=5 6:2=4:3|8:6"),
    "uimm_swsp": BitField.parse("12:7=5:2|7:6"),
    "uimm_sdsp": BitField.parse("12:7=5:3|8:6"),
    "offset_j": BitField.parse("12:2=11|4|9:8|10|6|7|3:1|5", signed=True),
    "offset_b": BitField.parse("12:10=8|4:3 6:2=7:6|2:1|5", signed=True),
}


@dataclass(frozen=True, slots=True)
class CompressedEncoding:
    """One C format: its identifying bits and how it becomes a base instruction."""

    name: str
    match: int
    mask: int
    mnemonic: str  # the base instruction it expands to
    fields: tuple[tuple[str, BitField], ...]
    constants: tuple[tuple[str, int], ...]
    syntax: tuple[str, ...]
    nonzero: tuple[str, ...]


def _parse_line(line: str) -> CompressedEncoding:
    columns = [c.strip() for c in line.split("|")]
    if len(columns) != 5:
        raise ValueError(f"{line!r}: expected 5 columns")
    name, fixed_text, expansion, syntax_text, nonzero_text = columns
    match = mask = covered = 0
    for token in fixed_text.split():
        bits, bits_mask, ignored = parse_fixed(token, NAMED_RANGES, 16)
        if covered & bits_mask or ignored:
            raise ValueError(f"{name}: {token!r} overlaps other bits or is ignored")
        covered |= bits_mask
        match, mask = match | bits, mask | bits_mask
    mnemonic, *assignments = expansion.split()
    if mnemonic not in BY_MNEMONIC:
        raise ValueError(f"{name}: expands to unknown instruction {mnemonic!r}")
    base = BY_MNEMONIC[mnemonic]
    fields: list[tuple[str, BitField]] = []
    constants: list[tuple[str, int]] = []
    read = 0
    for assignment in assignments:
        attr, _, source = assignment.partition("=")
        if source in FIELDS:
            fields.append((attr, FIELDS[source]))
            read |= FIELDS[source].inst_mask
        else:
            constants.append((attr, int(source, 0)))
    if covered & read or (covered | read) != 0xFFFF:
        raise ValueError(f"{name}: fixed bits and fields do not cover the 16 bits exactly once")
    # The expansion must set exactly the attributes the base instruction's operands carry.
    needed = {a for kind in base.kinds for a in KIND_ATTRS[kind]}
    assigned = [a for a, _ in fields] + [a for a, _ in constants]
    if set(assigned) != needed or len(set(assigned)) != len(assigned):
        raise ValueError(f"{name}: expansion sets {sorted(assigned)}, {mnemonic} needs {sorted(needed)}")
    syntax = tuple(syntax_text.split())
    for kind in syntax:
        # c.jr/c.jalr print the base register of jalr's mem operand on its own.
        base_reg = kind == "rs1" and "mem" in base.kinds
        if kind.rstrip("?") not in base.kinds and not base_reg:
            raise ValueError(f"{name}: syntax operand {kind!r} is not an operand of {mnemonic}")
    nonzero = tuple(nonzero_text.split())
    if not set(nonzero) <= {a for a, _ in fields}:
        raise ValueError(f"{name}: only attributes read from the encoding can be required nonzero")
    return CompressedEncoding(name, match, mask, mnemonic, tuple(fields), tuple(constants), syntax, nonzero)


def parse_table(text: str) -> tuple[CompressedEncoding, ...]:
    entries: list[CompressedEncoding] = []
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if line:
            entries.append(_parse_line(line))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError("a C mnemonic is listed twice")
    # Overlaps are allowed only where the earlier entry is strictly more specific (see module doc).
    for i, a in enumerate(entries):
        for b in entries[i + 1 :]:
            if (a.match ^ b.match) & a.mask & b.mask == 0:
                if not (a.mask & b.mask == b.mask and a.mask != b.mask):
                    raise ValueError(f"C encodings {a.name} and {b.name} overlap ambiguously")
    return tuple(entries)


COMPRESSED: tuple[CompressedEncoding, ...] = parse_table(TABLE)
BY_NAME: dict[str, CompressedEncoding] = {e.name: e for e in COMPRESSED}
