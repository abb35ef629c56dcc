"""The decoder and disassembler against an independent oracle: llvm-objdump.

Words are written into a minimal ELF relocatable (built here, so no assembler or objcopy is needed) and
disassembled with ``llvm-objdump -M no-aliases``; for every word, llvm's verdict (valid or ``<unknown>``)
and text must equal ours.  Where llvm legitimately differs from the spec, ``known_difference`` names
the case and the reason; nothing else may differ.
"""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
from functools import cache
from pathlib import Path

import pytest

from aotbuilder.isa import Insn, decode, disassemble, operand_kinds
from aotbuilder.isa.encodings import BASE

LLVM_OBJDUMP = shutil.which("llvm-objdump")
pytestmark = pytest.mark.skipif(
    LLVM_OBJDUMP is None, reason="llvm-objdump is not installed: it is the oracle these tests compare with"
)
MATTR = "+m,+a,+f,+d,+c,+zba,+zbb,+zbs"


def riscv_elf(code: bytes) -> bytes:
    """An ELF64 little-endian RISC-V relocatable whose only content is ``code`` in .text."""
    shstrtab = b"\0.text\0.shstrtab\0"
    text_off = 64
    strtab_off = text_off + len(code)
    shoff = (strtab_off + len(shstrtab) + 7) & ~7
    header = struct.pack(
        "<4sBBBBB7xHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0,  # ELFCLASS64, little-endian, version 1, SysV ABI
        1, 243, 1, 0, 0, shoff,  # ET_REL, EM_RISCV, version, entry, phoff, shoff
        0x5, 64, 0, 0, 64, 3, 2,  # RVC | double-float ABI; sizes; 3 sections, .shstrtab is #2
    )  # fmt: skip
    section = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
    sections = (
        section.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        + section.pack(1, 1, 0x6, 0, text_off, len(code), 0, 0, 2, 0)  # PROGBITS, ALLOC|EXECINSTR
        + section.pack(7, 3, 0, 0, strtab_off, len(shstrtab), 0, 0, 1, 0)  # STRTAB
    )
    body = header + code + shstrtab
    return body + b"\0" * (shoff - len(body)) + sections


_LINE = re.compile(r"^\s*([0-9a-f]+):\s*\t(.*)$")


def llvm_disassemble(code: bytes, tmp_path: Path) -> dict[int, str]:
    """offset -> llvm's text (``<unknown>`` for illegal), tabs made spaces, symbolic targets dropped."""
    elf = tmp_path / "words.o"
    elf.write_bytes(riscv_elf(code))
    out = subprocess.run(
        [LLVM_OBJDUMP, "-d", "-z", "--no-show-raw-insn", "-M", "no-aliases", f"--mattr={MATTR}", str(elf)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = {}
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            text = re.sub(r" <[^>]*>$", "", m.group(2).strip()).replace("\t", " ")
            result[int(m.group(1), 16)] = text
    return result


def ours(word: int, pc: int) -> str:
    insn = decode(word)
    return "<unknown>" if insn is None else disassemble(insn, pc)


# ---- where llvm-objdump 14 and the spec part ways ----------------------------------------------------

# Privileged (supervisor/machine/hypervisor/debug) instructions llvm knows; a user-mode program that
# executes one gets SIGILL, so decode rejects them.
PRIVILEGED = {"sret", "mret", "uret", "dret", "wfi", "sfence.vma"}

_FENCE_SET = re.compile(r"^fence (\S+), (\S+)$")


def normalise_llvm(text: str) -> str:
    # llvm 14 prints an empty fence predecessor/successor set as "unknown"; it is the set 0.
    m = _FENCE_SET.match(text)
    if m:
        return "fence " + ", ".join("0" if s == "unknown" else s for s in m.groups())
    return text


def known_difference(word: int, insn: Insn | None, theirs: str) -> str | None:
    """Why llvm's text may differ from ours for this word, or None if it must not."""
    mnemonic = theirs.split(" ", 1)[0]
    if insn is None:
        if mnemonic in PRIVILEGED:
            return "privileged instruction, illegal in user mode"
        if word & 0xFFFF == 0 and theirs == "c.unimp":
            return "0x0000 is defined illegal by the spec; llvm names it c.unimp"
        if word & 0xE003 == 0x6001 and (word >> 7) & 31 != 2 and theirs.startswith("c.lui"):
            return "c.lui with nzimm=0 is reserved (spec); llvm 14 accepts it"
        return None
    if insn.compressed == "c.lui" and insn.rd == 0 and theirs == f"c.lui zero, {insn.imm >> 12}":
        return "llvm 14 prints the rd=x0 HINT form of c.lui with a signed 6-bit immediate"
    if theirs != "<unknown>":
        return None
    if insn.mnemonic == "fence":
        # Reserved fm/pred/succ combinations and nonzero rd/rs1 are ignored (executed as a normal fence)
        # per the spec; llvm 14 only accepts fm=0 (or exactly fence.tso) with rd=rs1=0.
        return "fence: reserved fields are ignored (spec), llvm rejects them"
    if insn.mnemonic == "fence.i":
        return "fence.i: imm/rs1/rd are ignored (spec), llvm requires them zero"
    if "rm" in operand_kinds(insn.mnemonic) and insn.rm in (5, 6):
        return "reserved rounding mode in the instruction: legal to decode, traps when executed"
    if insn.mnemonic in ("fcvt.d.s", "fcvt.d.w", "fcvt.d.wu") and insn.rm != 0:
        return "exact conversion with rm != rne: valid (spec); llvm 14 only decodes rm=000"
    return None


def compare(words: list[int], size: int, tmp_path: Path) -> None:
    code = b"".join(w.to_bytes(size, "little") for w in words)
    theirs_by_offset = llvm_disassemble(code, tmp_path)
    mismatches = []
    for i, word in enumerate(words):
        pc = i * size
        theirs = normalise_llvm(theirs_by_offset.get(pc, "<missing>"))
        mine = ours(word, pc)
        if mine != theirs and known_difference(word, decode(word), theirs) is None:
            mismatches.append(f"{word:#0{size * 2 + 2}x} at {pc:#x}: ours {mine!r}, llvm {theirs!r}")
    assert not mismatches, f"{len(mismatches)} differences:\n" + "\n".join(mismatches[:40])


@cache
def random_words() -> list[int]:
    """Random 32-bit words plus, for every table entry, its encoding with random operand bits."""
    rng = random.Random(20240611)
    words = [rng.getrandbits(32) | 0b11 for _ in range(20_000)]
    for entry in BASE:
        words += [entry.match | (rng.getrandbits(32) & ~entry.mask) for _ in range(48)]
    return words


def test_32bit_words_match_llvm(tmp_path: Path) -> None:
    compare(random_words(), 4, tmp_path)


def test_every_16bit_word_matches_llvm(tmp_path: Path) -> None:
    compare([h for h in range(0x10000) if h & 0b11 != 0b11], 2, tmp_path)


def test_every_csr_name_matches_llvm(tmp_path: Path) -> None:
    # csrrs a0, <csr>, zero for all 4096 CSR numbers: names of RV64 CSRs, numbers for the rest.
    compare([0x0000_2573 | csr << 20 for csr in range(4096)], 4, tmp_path)


def test_every_rounding_mode_and_register_matches_llvm(tmp_path: Path) -> None:
    # Every rm value and every register number in each field of the FP and AMO formats.
    words = []
    for entry in BASE:
        for value in range(32):
            operands = value << 7 | value << 15 | value << 20 | value << 27 | (value & 7) << 12
            words.append(entry.match | (operands & ~entry.mask))
    compare(words, 4, tmp_path)


def test_fences_and_system_instructions_match_llvm(tmp_path: Path) -> None:
    # Random operand bits never give a canonical fence; cover every pred/succ pair, fence.tso, fence.i,
    # ecall/ebreak/unimp and the privileged instructions llvm knows (which we reject).
    words = [0x0000_000F | pred << 24 | succ << 20 for pred in range(16) for succ in range(16)]
    words += [0x8330_000F, 0x0000_100F, 0x0000_0073, 0x0010_0073, 0xC000_1073]
    words += [0x1020_0073, 0x3020_0073, 0x0020_0073, 0x7B20_0073, 0x1050_0073, 0x1200_0073, 0x12B5_0073]
    compare(words, 4, tmp_path)


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bin"
# Compiler output of both toolchains the fixtures use: glibc+gcc, and musl+zig (LLVM codegen).
REAL_PROGRAMS = ("floats-gcc-O2", "floats-zig-O2")


@pytest.mark.parametrize("name", REAL_PROGRAMS)
def test_real_programs_match_llvm(name: str) -> None:
    """A linear sweep over every executable section of a real program, as llvm-objdump does it."""
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} is not present")
    from elftools.elf.elffile import ELFFile

    out = subprocess.run(
        [LLVM_OBJDUMP, "-d", "-z", "--no-show-raw-insn", "-M", "no-aliases", f"--mattr={MATTR}", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    theirs = {int(m.group(1), 16): m.group(2) for m in map(_LINE.match, out.splitlines()) if m}
    mismatches, count = [], 0
    with path.open("rb") as f:
        for section in ELFFile(f).iter_sections():
            if section["sh_type"] != "SHT_PROGBITS" or not section["sh_flags"] & 0x4:  # SHF_EXECINSTR
                continue
            data, offset = section.data(), 0
            while offset + 2 <= len(data):
                word = int.from_bytes(data[offset : offset + 4], "little")
                pc = section["sh_addr"] + offset
                text = re.sub(r" <[^>]*>$", "", theirs.get(pc, "<missing>").strip()).replace("\t", " ")
                text = normalise_llvm(text)
                mine = ours(word, pc)
                if mine != text and known_difference(word, decode(word), text) is None:
                    mismatches.append(f"{word:#010x} at {pc:#x}: ours {mine!r}, llvm {text!r}")
                offset += 2 if word & 0b11 != 0b11 else 4
                count += 1
    assert count > 5_000  # the sweep really ran over the program
    assert not mismatches, f"{len(mismatches)} differences:\n" + "\n".join(mismatches[:40])


def test_the_oracle_sees_what_we_send(tmp_path: Path) -> None:
    # Guards the harness itself: a known word at a known offset.
    got = llvm_disassemble(bytes.fromhex("13051500") + bytes.fromhex("0505"), tmp_path)
    assert got == {0: "addi a0, a0, 1", 4: "c.addi a0, 1"}
