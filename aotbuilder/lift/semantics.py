"""The semantic function of every mnemonic, collected from the per-extension modules.

`trans_fcvt_w_s` implements "fcvt.w.s": RISC-V mnemonics never contain underscores, so the name
maps back unambiguously."""

from __future__ import annotations

from collections.abc import Callable

from aotbuilder.lift import rva, rvd, rvf, rvi, rvm, zb, zicsr

_MODULES = (rvi, rvm, rva, rvf, rvd, zicsr, zb)


def _collect() -> dict[str, Callable]:
    table: dict[str, Callable] = {}
    for module in _MODULES:
        for name, fn in vars(module).items():
            if name.startswith("trans_"):
                mnemonic = name.removeprefix("trans_").replace("_", ".")
                assert mnemonic not in table, f"{mnemonic} defined twice"
                table[mnemonic] = fn
    return table


SEMANTICS: dict[str, Callable] = _collect()
