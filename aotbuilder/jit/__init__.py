"""The fallback JIT worker: translates, while the guest runs, code that static discovery missed.

The runtime (runtime/jit.c) starts it on the first miss and talks to it over a pipe pair; the
messages are described in abi.py (JIT_*).  It uses the same discovery, lifter and code generator
as `aotbuilder build`, and places the code itself (backend/place.py)."""
