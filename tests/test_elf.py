"""aotbuilder.elf: loading the committed fixtures, and rejecting every kind of bad input in one line."""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import fixture_lib
from elftools.elf.elffile import ELFFile

from aotbuilder import abi
from aotbuilder.elf import PF_X, ElfError, GuestImage, Segment, Symbol, load_guest
from aotbuilder.elf import loader as elf_loader
from aotbuilder.errors import GuestError

BIN = fixture_lib.BIN
HELLO = BIN / "hello-zig-O2"  # small ET_EXEC
HELLO_PIE = BIN / "hello-zig-O2-pie"  # small static-PIE
HELLO_GCC = BIN / "hello-gcc-O2"  # glibc ET_EXEC with .preinit/.init/.fini arrays

EHDR = struct.Struct("<HHIQQQIHHHHHH")  # at offset 16
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3


# -- helpers ---------------------------------------------------------------------------------------


def ehdr(raw: bytes) -> dict[str, int]:
    names = ("type machine version entry phoff shoff flags ehsize phentsize phnum shentsize shnum "
             "shstrndx").split()
    return dict(zip(names, EHDR.unpack_from(raw, 16), strict=True))


def set_ehdr(raw: bytes, **fields: int) -> bytes:
    h = ehdr(raw)
    h.update(fields)
    out = bytearray(raw)
    EHDR.pack_into(out, 16, *h.values())
    return bytes(out)


def phdrs(raw: bytes) -> list[list[int]]:
    h = ehdr(raw)
    return [list(PHDR.unpack_from(raw, h["phoff"] + i * PHDR.size)) for i in range(h["phnum"])]


def set_phdr(raw: bytes, index: int, **fields: int) -> bytes:
    names = ("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align")
    ph = dict(zip(names, phdrs(raw)[index], strict=True))
    ph.update(fields)
    out = bytearray(raw)
    PHDR.pack_into(out, ehdr(raw)["phoff"] + index * PHDR.size, *ph.values())
    return bytes(out)


def load_indices(raw: bytes) -> list[int]:
    return [i for i, p in enumerate(phdrs(raw)) if p[0] == PT_LOAD]


def write(tmp_path: Path, data: bytes, name: str = "guest") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def error_of(path: Path | str) -> str:
    with pytest.raises(ElfError) as info:
        load_guest(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def corrupt(tmp_path: Path, data: bytes) -> str:
    """Load ``data`` and return the <what> of its "corrupt ELF: <what>" message."""
    path = write(tmp_path, data)
    message = error_of(path)
    prefix = f"{path}: corrupt ELF: "
    assert message.startswith(prefix), message
    return message[len(prefix):]


def header_only_elf(ei_class: int = 2, ei_data: int = 1, machine: int = 243, e_type: int = 2) -> bytes:
    """An ELF header and nothing else (what a foreign or damaged file looks like up front)."""
    order = "<" if ei_data == 1 else ">"
    ident = b"\x7fELF" + bytes([ei_class, ei_data, 1, 0]) + bytes(8)
    return ident + struct.pack(order + "HHI", e_type, machine, 1) + bytes(64 - 24)


# -- loading the fixtures ----------------------------------------------------------------------------


def test_fixture_loads_and_matches_pyelftools(fixture_elf: Path) -> None:
    image = load_guest(fixture_elf)
    raw = fixture_elf.read_bytes()
    elf = ELFFile(io.BytesIO(raw))
    pie = fixture_elf.name.endswith("-pie")
    bias = abi.PIE_LOAD_BIAS if pie else 0

    assert image.raw == raw
    assert image.path == fixture_elf
    assert image.is_pie == pie and image.load_bias == bias
    assert image.entry == elf["e_entry"] + bias
    assert image.is_executable(image.entry)

    loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
    assert [(s.vaddr, s.memsz, s.filesz, s.offset, s.flags) for s in image.segments] == [
        (p["p_vaddr"] + bias, p["p_memsz"], p["p_filesz"], p["p_offset"], p["p_flags"] & 7) for p in loads]
    for seg, ph in zip(image.segments, loads, strict=True):
        assert seg.data == ph.data()
    assert image.exec_ranges() == [(s.vaddr, s.end) for s in image.segments if s.flags & PF_X]
    assert image.exec_ranges(), "a program has code"

    main = image.symbol_named("main")
    assert main is not None and main.kind == "func" and main.size > 0
    assert image.is_executable(main.addr)
    assert image.function_at(main.addr) is not None
    assert image.function_at(main.addr + main.size - 1).addr == main.addr
    assert [(s.addr, s.name) for s in image.symbols] == sorted((s.addr, s.name) for s in image.symbols)
    assert not any(s.name.startswith(".L") for s in image.symbols)

    assert image.eh_frame_pcs == sorted(set(image.eh_frame_pcs))
    assert image.eh_frame_pcs and all(image.is_executable(pc) for pc in image.eh_frame_pcs)
    assert all(image.is_executable(p) for p in image.init_array)
    if pie:
        assert image.relative_relocs
        assert all(image.segment_at(slot) and image.segment_at(slot).writable for slot in image.relative_relocs)


def test_memory_reads_follow_the_segments() -> None:
    image = load_guest(HELLO)
    raw = HELLO.read_bytes()
    text = next(s for s in image.segments if s.executable)
    assert image.read(image.entry, 16) == raw[text.offset + image.entry - text.vaddr:][:16]
    assert image.read_u32(image.entry) == int.from_bytes(image.read(image.entry, 4), "little")
    assert image.read_u16(image.entry) == image.read_u32(image.entry) & 0xFFFF
    assert image.read(image.entry, 0) == b""
    bss = next(s for s in image.segments if s.memsz > s.filesz)
    assert image.read(bss.vaddr + bss.filesz, 64) == bytes(64)
    assert image.read(bss.end - 8, 8) == bytes(8)
    last = image.segments[-1]
    with pytest.raises(ElfError, match=r"^.*hello-zig-O2: guest read of 16 bytes at 0x[0-9a-f]+ leaves"):
        image.read(last.end - 8, 16)
    with pytest.raises(ElfError):
        image.read(0, 4)
    assert not image.is_executable(0)
    assert not image.is_executable(last.end)
    assert image.segment_at(text.vaddr) is text and image.segment_at(text.end) is not text


def test_reads_span_adjacent_segments() -> None:
    segs = [Segment(vaddr=0x1000, memsz=0x10, data=b"a" * 8, flags=5, offset=0),
            Segment(vaddr=0x1010, memsz=0x10, data=b"b" * 16, flags=6, offset=0x1010)]
    image = GuestImage(path=Path("x"), raw=b"", entry=0x1000, load_bias=0, is_pie=False, segments=segs,
                       symbols=[], eh_frame_pcs=[], init_array=[])
    assert image.read(0x1004, 16) == b"aaaa" + bytes(8) + b"bbbb"
    with pytest.raises(ElfError):
        image.read(0x1018, 16)
    assert image.exec_ranges() == [(0x1000, 0x1010)]


def test_function_at_handles_aliases_and_sizes() -> None:
    syms = [Symbol("f", 0x100, 0x10, "func"), Symbol("f_alias", 0x100, 0, "func"),
            Symbol("g", 0x120, 0, "func"), Symbol("data", 0x130, 8, "object")]
    image = GuestImage(path=Path("x"), raw=b"", entry=0, load_bias=0, is_pie=False, segments=[],
                       symbols=syms, eh_frame_pcs=[], init_array=[])
    assert image.function_at(0x100).addr == 0x100
    assert image.function_at(0x10F).name == "f"
    assert image.function_at(0x110) is None
    assert image.function_at(0x120).name == "g"
    assert image.function_at(0x122) is None  # size 0: only its first byte is known to be g
    assert image.function_at(0x130) is None  # objects are not functions
    assert image.function_at(0x50) is None


def test_static_pie_is_relocated(tmp_path: Path) -> None:
    image = load_guest(HELLO_PIE)
    raw = HELLO_PIE.read_bytes()
    assert ehdr(raw)["type"] == 3 and image.is_pie
    assert image.load_bias == abi.PIE_LOAD_BIAS
    assert all(s.vaddr >= abi.PIE_LOAD_BIAS for s in image.segments)
    assert all(s.addr >= abi.PIE_LOAD_BIAS for s in image.symbols)
    assert all(pc >= abi.PIE_LOAD_BIAS for pc in image.eh_frame_pcs)
    # Every R_RISCV_RELATIVE target is the addend plus the bias.
    relocs = subprocess.run(["llvm-readelf", "-r", str(HELLO_PIE)], capture_output=True, text=True).stdout \
        if shutil.which("llvm-readelf") else ""
    for line in relocs.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "R_RISCV_RELATIVE":
            slot, addend = int(fields[0], 16), int(fields[3], 16)
            assert image.relative_relocs[slot + abi.PIE_LOAD_BIAS] == addend + abi.PIE_LOAD_BIAS


@pytest.mark.parametrize("variant", [v.name for v in fixture_lib.VARIANTS])
def test_init_and_fini_arrays_hold_constructors(variant: str) -> None:
    path = fixture_lib.elf_path("structs", variant)
    if not path.exists():
        pytest.skip(f"{path.name} is not built")
    image = load_guest(path)
    for name in ("setup", "teardown"):  # __attribute__((constructor)) / ((destructor)) in structs.c
        sym = image.symbol_named(name)
        assert sym is not None and sym.addr in image.init_array, (name, [hex(p) for p in image.init_array])


def test_glibc_arrays_are_read_in_order() -> None:
    image = load_guest(HELLO_GCC)
    elf = ELFFile(io.BytesIO(HELLO_GCC.read_bytes()))
    expected: list[int] = []
    for kind in ("SHT_PREINIT_ARRAY", "SHT_INIT_ARRAY", "SHT_FINI_ARRAY"):
        for sec in elf.iter_sections(kind):
            expected += [p for (p,) in struct.iter_unpack("<Q", sec.data()) if p not in (0, 2**64 - 1)]
    assert image.init_array == list(dict.fromkeys(expected))
    # glibc's start.S puts load_gp (sets up gp, a NOTYPE label) in .preinit_array.
    named = {s.addr: s.name for s in image.symbols}
    assert named[image.init_array[0]] == "load_gp"
    assert {"frame_dummy", "__do_global_dtors_aux"} <= {named.get(p) for p in image.init_array}


def _objdump(*args: str) -> str:
    if not shutil.which("llvm-objdump"):
        pytest.skip("llvm-objdump is not installed (apt install llvm)")
    return subprocess.run(["llvm-objdump", *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("name", ["hello-zig-O0", "sort-gcc-O2", "floats-zig-O2-pie"])
def test_function_symbols_agree_with_llvm_objdump(name: str) -> None:
    path = BIN / name
    image = load_guest(path)
    want = set()
    for line in _objdump("-t", str(path)).splitlines():
        m = re.match(r"^([0-9a-f]{16}) (.{7}) (\S+)\s+([0-9a-f]{16}) (.*)$", line)
        if m and "F" in m.group(2) and m.group(3) != "*UND*":
            want.add((int(m.group(1), 16) + image.load_bias, m.group(5).split()[-1]))
    got = {(s.addr, s.name) for s in image.symbols if s.kind == "func"}
    assert want and got == want


@pytest.mark.parametrize("name", ["hello-zig-O0", "sort-gcc-O2", "floats-zig-O2-pie"])
def test_eh_frame_pcs_agree_with_llvm_objdump(name: str) -> None:
    path = BIN / name
    image = load_guest(path)
    pcs = {int(m, 16) + image.load_bias for m in re.findall(r"FDE cie=\w+ pc=([0-9a-f]+)\.\.\.",
                                                             _objdump("--dwarf=frames", str(path)))}
    assert image.eh_frame_pcs == sorted(pc for pc in pcs if image.is_executable(pc))


# -- files that are not ELF executables --------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope") == f"{tmp_path / 'nope'}: no such file"
    assert error_of(str(tmp_path / "nope")) == f"{tmp_path / 'nope'}: no such file"
    assert error_of(tmp_path / "a" / "b") == f"{tmp_path / 'a' / 'b'}: no such file"
    (tmp_path / "file").write_bytes(b"x")
    assert error_of(tmp_path / "file" / "b") == f"{tmp_path / 'file' / 'b'}: no such file"


def test_dangling_symlink(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    assert error_of(tmp_path / "link") == f"{tmp_path / 'link'}: no such file"


def test_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path) == f"{tmp_path}: is a directory"


def test_not_a_regular_file() -> None:
    assert error_of("/dev/null") == "/dev/null: not a regular file"


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, HELLO.read_bytes())

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(elf_loader, "open", denied, raising=False)
    assert error_of(path) == f"{path}: permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(tmp_path: Path) -> None:
    path = write(tmp_path, HELLO.read_bytes())
    path.chmod(0)
    assert error_of(path) == f"{path}: permission denied"


def test_other_os_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, HELLO.read_bytes())

    def eio(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(elf_loader, "open", eio, raising=False)
    assert error_of(path) == f"{path}: cannot read: Input/output error"


@pytest.mark.parametrize("data", [b"", b"\x7f", b"\x7fEL", b"#!/bin/sh\necho hi\n", b"MZ\x90\x00" + bytes(60),
                                  b"\x7felf" + bytes(60)])
def test_not_an_elf_file(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, data)
    assert error_of(path) == f"{path}: not an ELF file"


def test_errors_are_guest_errors_with_one_line_messages(tmp_path: Path) -> None:
    path = write(tmp_path, b"no elf", name="two\nlines")
    with pytest.raises(GuestError) as info:
        load_guest(path)
    assert isinstance(info.value, ElfError)
    assert str(info.value) == f"{tmp_path}/two lines: not an ELF file"


MACHINE_MESSAGE = "ELF: aotbuilder translates RISC-V RV64 executables"


def test_x86_64_executable() -> None:
    true = shutil.which("true") or "/bin/true"
    real = os.path.realpath(true)
    assert error_of(real) == f"{real}: x86-64 {MACHINE_MESSAGE}"


@pytest.mark.parametrize(("machine", "name"), [(183, "AArch64"), (40, "ARM"), (3, "i386"), (62, "x86-64"),
                                               (258, "LoongArch"), (21, "PowerPC64"), (9999, "machine 9999")])
def test_other_machines(tmp_path: Path, machine: int, name: str) -> None:
    path = write(tmp_path, set_ehdr(HELLO.read_bytes(), machine=machine))
    assert error_of(path) == f"{path}: {name} {MACHINE_MESSAGE}"


def test_other_machine_with_only_a_header(tmp_path: Path) -> None:
    path = write(tmp_path, header_only_elf(machine=183)[:20])
    assert error_of(path) == f"{path}: AArch64 {MACHINE_MESSAGE}"


@pytest.mark.parametrize("machine", [243, 3, 40])
def test_32_bit(tmp_path: Path, machine: int) -> None:
    path = write(tmp_path, header_only_elf(ei_class=1, machine=machine)[:52])
    assert error_of(path) == f"{path}: 32-bit {MACHINE_MESSAGE}"


def test_big_endian(tmp_path: Path) -> None:
    raw = bytearray(HELLO.read_bytes())
    raw[5] = 2  # EI_DATA = ELFDATA2MSB: reads e_machine as 0xf300
    assert corrupt(tmp_path, bytes(raw)) == "big-endian byte order (RISC-V executables are little-endian)"
    be_riscv = header_only_elf(ei_data=2, machine=243)
    assert corrupt(tmp_path, be_riscv) == "big-endian byte order (RISC-V executables are little-endian)"


def test_big_endian_foreign_machine_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, header_only_elf(ei_data=2, machine=22))
    assert error_of(path) == f"{path}: s390x {MACHINE_MESSAGE}"


@pytest.mark.parametrize(("index", "value", "what"), [(4, 0, "invalid ELF class (EI_CLASS=0)"),
                                                      (4, 7, "invalid ELF class (EI_CLASS=7)"),
                                                      (5, 0, "invalid byte order (EI_DATA=0)"),
                                                      (5, 3, "invalid byte order (EI_DATA=3)")])
def test_bad_ident(tmp_path: Path, index: int, value: int, what: str) -> None:
    raw = bytearray(HELLO.read_bytes())
    raw[index] = value
    assert corrupt(tmp_path, bytes(raw)) == what


@pytest.mark.parametrize("length", [4, 5, 16, 19])
def test_truncated_before_e_machine(tmp_path: Path, length: int) -> None:
    assert corrupt(tmp_path, HELLO.read_bytes()[:length]) == f"truncated ELF header ({length} bytes)"


@pytest.mark.parametrize("length", [20, 40, 63])
def test_truncated_header(tmp_path: Path, length: int) -> None:
    assert corrupt(tmp_path, HELLO.read_bytes()[:length]) == f"truncated ELF header ({length} bytes)"


def test_relocatable_object(tmp_path: Path, riscv_gcc: str) -> None:
    src = write(tmp_path, b"int f(int x) { return x + 1; }\n", name="f.c")
    obj = tmp_path / "f.o"
    subprocess.run([riscv_gcc, "-c", str(src), "-o", str(obj)], check=True)
    assert error_of(obj) == f"{obj}: relocatable object, not an executable"


def test_core_dump(tmp_path: Path) -> None:
    path = write(tmp_path, set_ehdr(HELLO.read_bytes(), type=4))
    assert error_of(path) == f"{path}: core dump, not an executable"


@pytest.mark.parametrize(("e_type", "what"), [(0, "unknown ELF type 0x0"), (0xFE00, "unknown ELF type 0xfe00")])
def test_unknown_type(tmp_path: Path, e_type: int, what: str) -> None:
    assert corrupt(tmp_path, set_ehdr(HELLO.read_bytes(), type=e_type)) == what


DYNAMIC_MESSAGE = "dynamically linked executables are not supported yet (link with -static)"
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'


@pytest.mark.parametrize("pie", [True, False])
def test_dynamically_linked(tmp_path: Path, riscv_gcc: str, pie: bool) -> None:
    src = write(tmp_path, HELLO_C.encode(), name="hello.c")
    exe = tmp_path / "hello"
    subprocess.run([riscv_gcc, "-pie" if pie else "-no-pie", str(src), "-o", str(exe)], check=True)
    assert ehdr(exe.read_bytes())["type"] == (3 if pie else 2)
    assert error_of(exe) == f"{exe}: {DYNAMIC_MESSAGE}"


def test_dt_needed_without_interpreter(tmp_path: Path, riscv_gcc: str) -> None:
    src = write(tmp_path, HELLO_C.encode(), name="hello.c")
    exe = tmp_path / "hello"
    subprocess.run([riscv_gcc, "-pie", str(src), "-o", str(exe)], check=True)
    raw = exe.read_bytes()
    interp = next(i for i, p in enumerate(phdrs(raw)) if p[0] == PT_INTERP)
    path = write(tmp_path, set_phdr(raw, interp, type=0))  # PT_NULL: only DT_NEEDED says "dynamic"
    assert error_of(path) == f"{path}: {DYNAMIC_MESSAGE}"


def test_shared_library(tmp_path: Path, riscv_gcc: str) -> None:
    src = write(tmp_path, b"int f(int x) { return x + 1; }\n", name="f.c")
    lib = tmp_path / "libf.so"
    subprocess.run([riscv_gcc, "-shared", "-fPIC", "-Wl,-soname,libf.so", str(src), "-o", str(lib)], check=True)
    assert error_of(lib) == f"{lib}: shared library, not an executable"


def test_shared_library_without_soname(tmp_path: Path, riscv_gcc: str) -> None:
    src = write(tmp_path, b"int f(int x) { return x + 1; }\n", name="f.c")
    lib = tmp_path / "libf.so"
    subprocess.run([riscv_gcc, "-shared", "-fPIC", "-nostdlib", str(src), "-o", str(lib)], check=True)
    assert error_of(lib) == f"{lib}: shared library, not an executable"


# -- corrupt headers and segments ----------------------------------------------------------------


def test_no_program_headers(tmp_path: Path) -> None:
    assert corrupt(tmp_path, set_ehdr(HELLO.read_bytes(), phnum=0)) == "no program headers"


def test_bad_program_header_size(tmp_path: Path) -> None:
    assert corrupt(tmp_path, set_ehdr(HELLO.read_bytes(), phentsize=32)) == "program header size 32, expected 56"


def test_too_many_program_headers(tmp_path: Path) -> None:
    assert corrupt(tmp_path, set_ehdr(HELLO.read_bytes(), phnum=5000)) == "5000 program headers (at most 1170)"


def test_program_headers_past_end_of_file(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    what = corrupt(tmp_path, set_ehdr(raw, phoff=len(raw) - 8))
    assert what.startswith(f"program header table (0x{len(raw) - 8:x}, ") and "extends past the end" in what


def test_segment_past_end_of_file(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    i = load_indices(raw)[-1]
    offset = phdrs(raw)[i][2]
    what = corrupt(tmp_path, set_phdr(raw, i, filesz=len(raw), memsz=len(raw) * 2))
    assert what == (f"PT_LOAD segment {i} (file bytes 0x{offset:x}-0x{offset + len(raw):x}) extends past the "
                    f"end of the file ({len(raw)} bytes)")


def test_truncated_inside_a_segment(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    i = load_indices(raw)[1]
    _, _, offset, _, _, filesz, _, _ = phdrs(raw)[i]
    what = corrupt(tmp_path, raw[:offset + filesz // 2])
    assert what.startswith(f"PT_LOAD segment {i} (file bytes") and "extends past the end of the file" in what


def test_filesz_larger_than_memsz(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    i = load_indices(raw)[0]
    filesz = phdrs(raw)[i][5]
    what = corrupt(tmp_path, set_phdr(raw, i, memsz=filesz - 1))
    assert what == f"PT_LOAD segment {i} has p_filesz 0x{filesz:x} > p_memsz 0x{filesz - 1:x}"


def test_overlapping_segments(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    a, b = load_indices(raw)[:2]
    pa, pb = phdrs(raw)[a], phdrs(raw)[b]
    # Move b onto the end of a, keeping its page offset so only the overlap is wrong.
    vaddr = pa[3] + pa[6] - 0x10
    vaddr += (pb[2] - vaddr) % 4096 - 4096
    what = corrupt(tmp_path, set_phdr(raw, b, vaddr=vaddr))
    assert re.fullmatch(r"PT_LOAD segments at 0x[0-9a-f]+ and 0x[0-9a-f]+ overlap", what), what


def test_misaligned_segment(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    i = load_indices(raw)[1]
    what = corrupt(tmp_path, set_phdr(raw, i, vaddr=phdrs(raw)[i][3] + 2))
    assert what.endswith("at different offsets within a page"), what


def test_segment_outside_address_space(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    i = load_indices(raw)[-1]
    what = corrupt(tmp_path, set_phdr(raw, i, vaddr=(1 << 64) - 0x1000 + phdrs(raw)[i][3] % 4096))
    assert what.endswith("is outside the RV64 user address space"), what


def test_no_pt_load(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    for i in load_indices(raw):
        raw = set_phdr(raw, i, type=0x6FFFFFFF)
    assert corrupt(tmp_path, raw) == "no PT_LOAD segment"


@pytest.mark.parametrize("where", ["zero", "data", "past-end"])
def test_entry_not_executable(tmp_path: Path, where: str) -> None:
    raw = HELLO.read_bytes()
    data = next(p for p in phdrs(raw) if p[0] == PT_LOAD and not p[1] & PF_X)
    entry = {"zero": 0, "data": data[3], "past-end": 1 << 40}[where]
    assert corrupt(tmp_path, set_ehdr(raw, entry=entry)) == f"entry point 0x{entry:x} is not in an executable segment"


def test_section_headers_past_end_of_file(tmp_path: Path) -> None:
    raw = HELLO.read_bytes()
    what = corrupt(tmp_path, set_ehdr(raw, shoff=len(raw) - 64))
    assert what.startswith("section header table") and "extends past the end of the file" in what
    assert corrupt(tmp_path, set_ehdr(raw, shentsize=40)) == "section header size 40, expected 64"


def test_sectionless_executable_loads(tmp_path: Path) -> None:
    # What sstrip leaves: no section headers.  Symbols and unwind pcs are gone; the program is fine.
    path = write(tmp_path, set_ehdr(HELLO.read_bytes(), shoff=0, shnum=0, shstrndx=0))
    image = load_guest(path)
    assert image.symbols == [] and image.eh_frame_pcs == [] and image.init_array == []
    assert image.entry == load_guest(HELLO).entry


def _section_header_offset(raw: bytes, name: str) -> int:
    elf = ELFFile(io.BytesIO(raw))
    index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == name)
    h = ehdr(raw)
    return h["shoff"] + index * h["shentsize"]


def test_bad_symbol_table(tmp_path: Path) -> None:
    raw = bytearray(HELLO.read_bytes())
    at = _section_header_offset(bytes(raw), ".symtab")
    struct.pack_into("<I", raw, at + 40, 999)  # sh_link
    assert corrupt(tmp_path, bytes(raw)) == "symbol table .symtab links to section 999, which does not exist"
    raw = bytearray(HELLO.read_bytes())
    struct.pack_into("<Q", raw, at + 56, 7)  # sh_entsize
    assert corrupt(tmp_path, bytes(raw)) == "symbol table .symtab has entry size 7, expected 24"
    raw = bytearray(HELLO.read_bytes())
    struct.pack_into("<Q", raw, at + 24, len(raw) - 100)  # sh_offset
    assert "section .symtab (file bytes" in corrupt(tmp_path, bytes(raw))


def test_bad_eh_frame(tmp_path: Path) -> None:
    raw = bytearray(HELLO.read_bytes())
    at = _section_header_offset(bytes(raw), ".eh_frame")
    offset = struct.unpack_from("<Q", raw, at + 24)[0]
    # A non-zero CIE id makes the first entry an FDE, whose CIE pointer leads far outside the section.
    struct.pack_into("<I", raw, offset + 4, 0x7FFFFFF0)
    assert corrupt(tmp_path, bytes(raw)).startswith(".eh_frame: ")


def test_eh_frame_cycle_is_rejected(tmp_path: Path) -> None:
    # An FDE whose CIE pointer names the FDE itself sends pyelftools into unbounded recursion.
    raw = bytearray(HELLO.read_bytes())
    offset = struct.unpack_from("<Q", raw, _section_header_offset(bytes(raw), ".eh_frame") + 24)[0]
    fde = offset + 4 + struct.unpack_from("<I", raw, offset)[0]  # the entry after the first CIE
    struct.pack_into("<I", raw, fde + 4, 4)
    assert corrupt(tmp_path, bytes(raw)).startswith(".eh_frame: maximum recursion depth exceeded")


def _file_offset(raw: bytes, vaddr: int) -> int:
    for p in phdrs(raw):
        if p[0] == PT_LOAD and p[3] <= vaddr < p[3] + p[5]:
            return vaddr - p[3] + p[2]
    raise AssertionError(f"0x{vaddr:x} is not file-backed")


def _encode_relr(offsets: list[int]) -> list[int]:
    """The DT_RELR encoding: an address word, then bitmap words (low bit set) for the next 63 words."""
    words, offs, i = [], sorted(offsets), 0
    while i < len(offs):
        words.append(offs[i])
        where, i = offs[i] + 8, i + 1
        while True:
            bitmap = 0
            while i < len(offs) and 0 <= offs[i] - where < 63 * 8:
                bitmap |= 1 << ((offs[i] - where) // 8 + 1)
                i += 1
            if not bitmap:
                break
            words.append(bitmap | 1)
            where += 63 * 8
    return words


def test_relr_relocations(tmp_path: Path) -> None:
    # No toolchain here emits DT_RELR for riscv64 yet (zig cc rejects -z pack-relative-relocs), so
    # rewrite a static-PIE's RELA table as the equivalent RELR table, addends moved into the slots.
    raw = bytearray(HELLO_PIE.read_bytes())
    dyn = next(p for p in phdrs(bytes(raw)) if p[0] == PT_DYNAMIC)
    tags = {tag: (i, val) for i, (tag, val) in enumerate(struct.iter_unpack("<qQ", raw[dyn[2]:dyn[2] + dyn[5]]))}
    rela_at = _file_offset(bytes(raw), tags[7][1])
    relas = list(struct.iter_unpack("<QQq", raw[rela_at:rela_at + tags[8][1]]))
    assert relas and all(info == 3 for _, info, _ in relas)  # all R_RISCV_RELATIVE
    for offset, _, addend in relas:
        struct.pack_into("<Q", raw, _file_offset(bytes(raw), offset), addend)
    words = _encode_relr([offset for offset, _, _ in relas])
    assert any(w & 1 for w in words), "the table should exercise bitmaps"
    struct.pack_into(f"<{len(words)}Q", raw, rela_at, *words)
    for old, new, value in ((7, 36, tags[7][1]), (8, 35, 8 * len(words)), (9, 37, 8)):  # RELA* -> RELR*
        struct.pack_into("<qQ", raw, dyn[2] + 16 * tags[old][0], new, value)
    image = load_guest(write(tmp_path, bytes(raw)))
    assert image.relative_relocs == load_guest(HELLO_PIE).relative_relocs


def test_bad_relocation_entry_sizes(tmp_path: Path) -> None:
    raw = HELLO_PIE.read_bytes()
    dyn = next(p for p in phdrs(raw) if p[0] == PT_DYNAMIC)
    entries = list(struct.iter_unpack("<qQ", raw[dyn[2]:dyn[2] + dyn[5]]))
    relaent = next(i for i, (tag, _) in enumerate(entries) if tag == 9)  # DT_RELAENT
    out = bytearray(raw)
    struct.pack_into("<qQ", out, dyn[2] + 16 * relaent, 9, 16)
    assert corrupt(tmp_path, bytes(out)) == "DT_RELAENT 16, expected 24"


def test_extended_section_numbering(tmp_path: Path) -> None:
    # e_shnum = 0 and e_shstrndx = SHN_XINDEX: the real values live in section header 0.
    raw = bytearray(HELLO.read_bytes())
    h = ehdr(bytes(raw))
    struct.pack_into("<Q", raw, h["shoff"] + 32, h["shnum"])  # sh_size
    struct.pack_into("<I", raw, h["shoff"] + 40, h["shstrndx"])  # sh_link
    raw = bytearray(set_ehdr(bytes(raw), shnum=0, shstrndx=0xFFFF))
    image = load_guest(write(tmp_path, bytes(raw)))
    reference = load_guest(HELLO)
    assert image.symbols == reference.symbols and image.eh_frame_pcs == reference.eh_frame_pcs


def test_bad_pie_relocations(tmp_path: Path) -> None:
    raw = HELLO_PIE.read_bytes()
    dyn = next(p for p in phdrs(raw) if p[0] == PT_DYNAMIC)
    entries = list(struct.iter_unpack("<qQ", raw[dyn[2]:dyn[2] + dyn[5]]))
    rela = next(i for i, (tag, _) in enumerate(entries) if tag == 7)  # DT_RELA
    out = bytearray(raw)
    struct.pack_into("<qQ", out, dyn[2] + 16 * rela, 7, 1 << 40)
    assert corrupt(tmp_path, bytes(out)).startswith("DT_RELA table at 0x")


# -- robustness: truncations and random damage never escape as anything but ElfError ------------------


def _check_loaded_or_rejected(path: Path) -> str:
    try:
        image = load_guest(path)
    except ElfError as e:
        message = str(e)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        return message
    # Damage the loader tolerates must still give a consistent image.
    assert image.is_executable(image.entry)
    assert all(a.end <= b.vaddr for a, b in zip(image.segments, image.segments[1:], strict=False))
    assert all(image.is_executable(p) for p in image.init_array + image.eh_frame_pcs)
    return "loaded"


def _truncation_lengths(raw: bytes) -> list[int]:
    lengths = set(range(0, 130)) | {len(raw) - 1, len(raw) - 64, len(raw) // 2}
    h = ehdr(raw)
    for i in range(h["phnum"] + 1):
        lengths |= {h["phoff"] + i * 56 - 1, h["phoff"] + i * 56 + 3}
    for p in phdrs(raw):
        lengths |= {p[2] + p[5] - 1, p[2] + p[5] // 2}
    rng = random.Random(20240601)
    lengths |= {rng.randrange(len(raw)) for _ in range(60)}
    return sorted(n for n in lengths if 0 <= n < len(raw))


@pytest.mark.parametrize("source", [HELLO, HELLO_PIE], ids=lambda p: p.name)
def test_truncated_files_are_rejected(tmp_path: Path, source: Path) -> None:
    raw = source.read_bytes()
    for n in _truncation_lengths(raw):
        path = write(tmp_path, raw[:n])
        message = _check_loaded_or_rejected(path)
        # Section headers sit at the end of the file, so every truncation leaves something cut off.
        assert message != "loaded", n
        assert re.match(rf"^{re.escape(str(path))}: (not an ELF file|corrupt ELF: )", message), (n, message)


def _flip_regions(raw: bytes) -> list[tuple[int, int]]:
    h = ehdr(raw)
    return [(0, 64), (h["phoff"], h["phoff"] + h["phnum"] * 56),
            (h["shoff"], h["shoff"] + h["shnum"] * h["shentsize"]), (0, len(raw))]


@pytest.mark.parametrize("chunk", range(8))
@pytest.mark.parametrize("source", [HELLO, HELLO_PIE], ids=lambda p: p.name)
def test_random_damage_is_rejected_or_tolerated(tmp_path: Path, source: Path, chunk: int) -> None:
    raw = source.read_bytes()
    regions = _flip_regions(raw)
    rng = random.Random(1000 * chunk + len(raw))
    outcomes = {"loaded": 0, "rejected": 0}
    for trial in range(40):
        data = bytearray(raw)
        lo, hi = regions[trial % len(regions)]
        for _ in range(rng.choice((1, 1, 2, 8))):
            at = rng.randrange(lo, hi)
            if rng.random() < 0.5:
                data[at] ^= 1 << rng.randrange(8)
            else:
                data[at] = rng.choice((0, 0xFF, rng.randrange(256)))
        message = _check_loaded_or_rejected(write(tmp_path, bytes(data)))
        outcomes["loaded" if message == "loaded" else "rejected"] += 1
    assert outcomes["rejected"] > 0


def test_garbage_after_the_magic_is_rejected(tmp_path: Path) -> None:
    rng = random.Random(7)
    for size in (64, 200, 4096, 65536):
        for _ in range(10):
            data = b"\x7fELF\x02\x01\x01" + rng.randbytes(size)
            data = data[:18] + struct.pack("<H", 243) + data[20:]  # get past the machine check
            message = _check_loaded_or_rejected(write(tmp_path, data))
            assert message != "loaded"


@pytest.mark.parametrize("name", ["hello-gcc-O2", "hello-zig-O2"])
def test_code_is_the_executable_sections(fixture_bin_dir: Path, name: str) -> None:
    """Read-only data sharing the executable segment with the code (.rodata) is not code; the
    ranges are checked against pyelftools' section headers."""
    path = fixture_bin_dir / name
    image = load_guest(path)
    with open(path, "rb") as f:
        sections = {s.name: s for s in ELFFile(f).iter_sections()}
        text, rodata = sections[".text"], sections.get(".rodata")
        text_lo, text_hi = text["sh_addr"], text["sh_addr"] + text["sh_size"]
        assert any(lo <= text_lo and text_hi <= hi for lo, hi in image.code_ranges)
        assert image.is_code(text_lo) and image.is_code(text_hi - 2)
        if rodata is not None and image.is_executable(rodata["sh_addr"]):
            assert not image.is_code(rodata["sh_addr"])
    stripped_of_headers = GuestImage(path, b"", image.entry, 0, False, image.segments, [], [], [])
    assert stripped_of_headers.is_code(text_lo)  # no section headers: the executable segments
