"""The cache key of a translated function: one function that lists every input.

The lifted IR is position independent (guest addresses are link-time symbols), so it captures
everything about the guest code that reaches the object; the rest is the tool chain that turns IR
into machine code.  Anything added to translation that changes an object must be added here.
"""

from __future__ import annotations

import xxhash

from aotbuilder import __version__, abi
from aotbuilder.backend.codegen import CodegenOptions

KEY_FORMAT = 1


def function_key(ir_text: str, opts: CodegenOptions) -> str:
    """xxh3-128 (hex) of: key format, translator version, runtime ABI version, LLVM version and
    code generation options (opts.describe()), and the function's lifted IR."""
    h = xxhash.xxh3_128()
    for part in (f"aotbuilder-key-{KEY_FORMAT}", __version__, f"abi-{abi.ABI_VERSION}", opts.describe()):
        h.update(part.encode())
        h.update(b"\0")
    h.update(ir_text.encode())
    return h.hexdigest()
