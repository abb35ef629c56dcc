"""The cache keys: each is one function that lists every input of what it names.

Two levels, like ccache's direct and preprocessor modes:

* ``lift_key`` names the *lift* of one guest function: computed from the discovered function
  before lifting, it finds the stored lift result (the IR's digest and the link-time values), so an
  unchanged function is neither lifted nor compiled.
* ``object_key`` names the *object* compiled from lifted IR.  The IR is position independent, so
  this is the key that lets one libc function serve every program, whatever produced the IR.

Anything added to lifting or code generation that changes their output must be added here.
docs/cache.md lists the inputs for people.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import xxhash

from aotbuilder import __version__, abi
from aotbuilder.backend.codegen import TRIPLE, CodegenOptions
from aotbuilder.cache.digest import feed, source_digest
from aotbuilder.cfg.addresses import MASK, address_sites, near_image
from aotbuilder.cfg.program import Function, Program
from aotbuilder.isa import Insn, operand_kinds

KEY_FORMAT = 3

# The code whose behaviour decides a lift (decoder, semantics, emitter, ABI, the Program it reads)
# and the code that turns IR into an object.  Hashing the sources, not only __version__, keeps a
# development tree honest: editing the lifter invalidates lifts without anyone bumping a number.
LIFT_SOURCES = ("isa", "lift", "abi.py", "cfg/program.py", "cfg/addresses.py", "cfg/loops.py", "cache/key.py")
CODEGEN_SOURCES = ("backend/codegen.py", "abi.py")


def _ints(values: Iterable[int]) -> bytes:
    return array("q", values).tobytes()


# Offsets are kept only while they are what pc-relative code can reach (auipc: +-2 GiB, plus an
# addi); a lift referring to anything farther by offset is not stored (lift_record.storable).
NEAR = 1 << 32


@dataclass(frozen=True)
class LiftKey:
    """A function's lift key and what it assumed about the rest of the program.

    ``targets`` are the addresses whose "is a function entry" answer went into the key,
    ``image_values`` the lui values whose "is an image address" answer did: the pipeline checks
    that the real lift asked nothing else before it stores a lift result under this key.
    ``sites`` are the function's address sites (cfg/addresses.py), for placing a stored lift.
    """

    digest: str
    targets: frozenset[int]
    image_values: frozenset[int]
    sites: dict[int, int]


def _site_form(insn: Insn) -> bytes:
    """An address site's instruction without its immediate (the immediate is the site's address,
    which reaches the code only as a placeholder)."""
    return "|".join(map(str, (insn.mnemonic, insn.size, insn.rd, insn.rs1, insn.rs2, insn.rs3, insn.csr,
                              insn.rm, insn.aq, insn.rl, insn.compressed))).encode()


def lift_key(program: Program, func: Function, memory_model: str = abi.DEFAULT_MEMORY_MODEL,
             avx: bool = False) -> LiftKey:
    """xxh3-128 (hex) of everything ``lower_function(program, func, TRIPLE, memory_model, avx)`` reads:

    1. key format, aotbuilder version, runtime ABI version, target triple, memory model, AVX, and the
       source digest of the lifter (LIFT_SOURCES: decoder, semantics, emitter, ABI, Program);
    2. the instruction stream: for each block in address order, its start and length, and for
       each instruction its pc, size and raw bits (the decoded form follows from the raw bits),
       except that an address site (cfg/addresses.py) contributes its decoded form without its
       immediate;
    3. the control-flow graph inside the function (nodes and edges), the return sites, the
       resolved jumps (jalr pc -> constant target; the target only if it is inside the function),
       the jump tables (jalr pc -> targets) and which of them are guessed (computed gotos);
    4. for every address the lifter may ask "is this a function entry?" about (each instruction's
       fall-through pc, each branch or jal target, each resolved and jump-table target): the answer;
    5. for each address site, whether it is gp-relative and whether its address is a function entry.

    Addresses in 2-4 are offsets from the entry, and the immediates of address sites are left out,
    so a function that moved, or the same libc function in another program with its data and
    callees elsewhere, has the same key.
    """
    entry = func.entry
    h = xxhash.xxh3_128()
    feed(h, f"aotbuilder-lift-{KEY_FORMAT}".encode(), __version__.encode(), f"abi-{abi.ABI_VERSION}".encode(),
         TRIPLE.encode(), memory_model.encode(), b"avx" if avx else b"sse", source_digest(LIFT_SOURCES).encode())
    lui_values = [ins.insn.imm & MASK for ins in func.instructions() if ins.insn and ins.insn.mnemonic == "lui"]
    # The predicate the lifter uses, so the key cannot drift from what the lifter decides.
    found = address_sites(func, lambda v: near_image(program.image_range, v))
    sites = found.values
    words = array("q")
    targets: set[int] = set()
    for start in sorted(func.blocks):
        block = func.blocks[start]
        words.append(start - entry)
        words.append(len(block.instructions))
        for ins in block.instructions:
            targets.add(ins.pc + ins.size)
            insn = ins.insn
            site = ins.pc in sites
            words.append(ins.pc - entry)
            words.append(ins.size)
            if site:
                words.append(-2 if ins.pc in found.gp_relative else -1)
                feed(h, b"site", _site_form(insn))
            else:
                words.append(ins.raw)
            if insn is not None and "target" in operand_kinds(insn.mnemonic) and not site:
                targets.add(ins.pc + insn.imm)
    feed(h, b"code", words.tobytes())
    feed(h, b"cfg-nodes", _ints(sorted(n - entry for n in func.cfg.nodes)))
    feed(h, b"cfg-edges", _ints(sorted(d for u, v in func.cfg.edges for d in (u - entry, v - entry))))
    feed(h, b"return-sites", _ints(pc - entry for pc in func.return_sites))
    resolved = sorted(func.resolved_jumps.items())
    feed(h, b"resolved", _ints(v - entry for pc, t in resolved for v in ((pc,) if pc in sites else (pc, t))))
    targets.update(t for pc, t in resolved if pc not in sites)
    for pc, table in sorted(func.jump_tables.items()):
        feed(h, b"jump-table", _ints([pc - entry, *(t - entry for t in table)]))
        targets.update(table)
    feed(h, b"guessed-tables", _ints(sorted(pc - entry for pc in func.guessed_tables)))
    feed(h, b"function-entries", _ints(sorted(t - entry for t in targets if program.is_function(t))))
    feed(h, b"site-entries", bytes(program.is_function(address) for address in sites.values()))
    targets.update(sites.values())
    return LiftKey(h.hexdigest(), frozenset(targets), frozenset(lui_values), sites)


def ir_digest(ir_text: str) -> str:
    """The digest of a lifted function's IR: what a lift result records, and object_key's input."""
    return xxhash.xxh3_128_hexdigest(ir_text.encode())


def object_key(ir: str, opts: CodegenOptions) -> str:
    """xxh3-128 (hex) of everything that determines a translated function's object:

    key format, aotbuilder version, runtime ABI version, the source digest of the code generator
    (CODEGEN_SOURCES: target machine set-up and pass pipeline), the LLVM and llvmlite versions,
    optimisation level and target CPU (opts.describe()), and the digest of the lifted IR
    (``ir_digest``).  The IR is position independent, so the guest addresses the function uses
    are not inputs: they are supplied when the object is linked.
    """
    h = xxhash.xxh3_128()
    feed(h, f"aotbuilder-object-{KEY_FORMAT}".encode(), __version__.encode(), f"abi-{abi.ABI_VERSION}".encode(),
         source_digest(CODEGEN_SOURCES).encode(), opts.describe().encode(), ir.encode())
    return h.hexdigest()
