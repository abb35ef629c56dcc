"""Differential testing of translated guests against qemu-riscv64 (the oracle).

- ``toolchain``: assemble a guest from RISC-V assembly, translate it, run it both ways.
- ``generator``: random instruction sequences with random initial state.
- ``runner``: packs many sequences into one guest, compares, minimises mismatches; also the
  command line for long campaigns (``nox -s fuzz -- --count N --seed S``).
- ``regressions``: minimal sequences of every bug the fuzzer found, replayed by the tests.
"""
