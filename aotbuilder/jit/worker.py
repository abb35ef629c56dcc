"""The worker process: one translation request at a time, on stdin/stdout (abi.py, JIT_*)."""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aotbuilder import abi
from aotbuilder.backend.codegen import TRIPLE, CodegenOptions, compile_object
from aotbuilder.backend.link import LinkUnit, function_symbol, instantiate
from aotbuilder.backend.place import Placement, executable_bytes, executable_symbols
from aotbuilder.cache.key import ir_digest, object_key
from aotbuilder.cache.store import CacheStore, default_cache_dir
from aotbuilder.cfg.discover import discover_from
from aotbuilder.cfg.program import Function, Program
from aotbuilder.elf import PF_R, PF_X, GuestImage, Segment, load_guest_bytes
from aotbuilder.errors import GuestError
from aotbuilder.lift.lower import garbage_collected_at_end, lower_function

# Code the JIT places anywhere in the host address space, for guest code anywhere.  It reaches
# guest memory through the TLB: the runtime only knows the fault table of the linked executable.
JIT_CODEGEN = CodegenOptions(code_model="large", memory_model="tlb")


@dataclass(frozen=True)
class Executable:
    """What the worker knows of the translated executable it serves."""

    symbols: dict[str, int]  # global symbols -> host address
    translated: frozenset[int]  # guest entries of its ahead-of-time translated functions
    image: GuestImage | None  # the embedded guest program
    cache: CacheStore | None


def read_executable(path: str) -> Executable:
    with open(path, "rb") as f:
        data = f.read()
    symbols = executable_symbols(data)

    def read(name: str, size: int) -> bytes:
        return executable_bytes(data, symbols[name], size) if name in symbols else b""

    size = int.from_bytes(read("aot_guest_image_size", 8) or bytes(8), "little")
    raw = read("aot_guest_image", size) if size else b""
    translated = frozenset(int(name[5:], 16) for name in symbols if name.startswith("aotF_"))
    image = load_guest_bytes("guest", raw) if raw else None
    # `run`'s cache, else the user's: an executable does not name the cache it was built with, so
    # that builds with different caches are the same file.
    cache = os.environ.get("AOTBUILDER_JIT_CACHE_DIR")
    return Executable(symbols, translated, image, CacheStore(Path(cache) if cache else default_cache_dir()))


def region_image(exe: Executable, lo: int, code: bytes) -> GuestImage:
    """The guest program itself when the region is its unchanged code (symbols, tables in data),
    else just the region's bytes."""
    image = exe.image
    if image is not None:
        seg = image.segment_at(lo)
        if seg is not None and seg.executable and seg.contains(lo + len(code) - 1) \
                and image.read(lo, len(code)) == code:
            return image
    return GuestImage(path=Path("<generated code>"), raw=b"", entry=lo, load_bias=0, is_pie=False,
                      segments=[Segment(lo, len(code), code, PF_R | PF_X, 0)], symbols=[], eh_frame_pcs=[],
                      init_array=[])


def compile_function(program: Program, func: Function, cache: CacheStore | None) -> LinkUnit:
    lifted = lower_function(program, func, TRIPLE, JIT_CODEGEN.memory_model)
    key = object_key(ir_digest(lifted.ir), JIT_CODEGEN)
    obj = cache.get("objects", key) if cache is not None else None
    if obj is None:
        obj = compile_object(lifted.ir, JIT_CODEGEN)
        if cache is not None:
            cache.put("objects", key, obj)
    return LinkUnit(func.entry, func.name, obj, lifted.addr_refs, lifted.fn_refs, lifted.resume_pcs)


def code_ranges(program: Program) -> list[tuple[int, int]]:
    """The guest bytes the translations were made from, as merged [lo, hi) ranges."""
    spans = sorted((i.pc, i.pc + i.size) for f in program.functions.values() for b in f.blocks.values()
                   for i in b.instructions)
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _u64s(stream: BinaryIO, n: int) -> tuple[int, ...]:
    return struct.unpack(f"<{n}Q", _read(stream, 8 * n))


def serve(exe: Executable, rd: BinaryIO, wr: BinaryIO) -> None:
    wr.write(struct.pack("<Q", abi.JIT_HELLO))
    wr.flush()
    while True:
        try:
            pc, lo, length = _u64s(rd, 3)
            code = _read(rd, length)
        except EOFError:
            return
        try:
            program = discover_from(region_image(exe, lo, code), pc, exe.translated)
            if pc not in program.functions:
                raise GuestError(f"no instruction at guest pc 0x{pc:x}")
            with garbage_collected_at_end():
                units = [compile_function(program, f, exe.cache) for f in program.functions.values()]
            placement = Placement([instantiate(u) for u in units])
        except Exception as exc:  # reported by the runtime, which names the guest pc
            message = (str(exc) or type(exc).__name__).encode()
            wr.write(struct.pack("<qQ", -1, len(message)) + message)
            wr.flush()
            continue
        wr.write(struct.pack("<q", placement.size))
        wr.flush()
        try:
            base, = _u64s(rd, 1)
        except EOFError:
            return
        placed = placement.place(base, exe.symbols)
        entries = []
        for u in units:
            fn = placed.symbols[function_symbol(u.entry)]
            entries.append((u.entry, fn, 0))
            entries += [(pc, fn, k) for k, pc in enumerate(u.resume_pcs, start=1)]
        ranges = code_ranges(program)
        out = [struct.pack("<Q", len(entries)), *(struct.pack("<3Q", *e) for e in entries),
               struct.pack("<Q", len(ranges)), *(struct.pack("<2Q", *r) for r in ranges), placed.code]
        wr.write(b"".join(out))
        wr.flush()


def main() -> None:
    """python -m aotbuilder.jit EXECUTABLE: serve the runtime of EXECUTABLE on stdin/stdout."""
    if len(sys.argv) != 2:
        sys.exit("usage: python -m aotbuilder.jit EXECUTABLE (the translated program's runtime starts it)")
    try:
        exe = read_executable(sys.argv[1])
    except (OSError, GuestError) as exc:
        sys.exit(f"aotbuilder: error: the fallback JIT cannot read {sys.argv[1]}: {exc}")
    serve(exe, sys.stdin.buffer, sys.stdout.buffer)
