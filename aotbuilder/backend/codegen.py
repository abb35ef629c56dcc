"""LLVM target machine, optimisation pipeline and object emission (llvmlite, new pass manager)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import llvmlite
import llvmlite.binding as llvm

from aotbuilder import abi

TRIPLE = "x86_64-unknown-linux-gnu"


@cache
def default_cpu() -> str:
    """x86-64-v3 (AVX2, FMA, BMI2: hosts since 2013) when this host has it, else the v2 baseline."""
    _init()
    features = set(llvm.get_host_cpu_features().flatten().split(","))
    v3 = {"+avx2", "+fma", "+bmi2", "+bmi", "+lzcnt", "+movbe"}
    return "x86-64-v3" if v3 <= features else "x86-64-v2"


@dataclass(frozen=True)
class CodegenOptions:
    """Everything that changes the machine code generated from a given IR."""

    opt_level: int = 2
    cpu: str = field(default_factory=default_cpu)
    # "small": linked into the executable (code and guest addresses below 2 GiB); "large": code the
    # fallback JIT places anywhere, with guest addresses anywhere (every reference is 64-bit).
    code_model: str = "small"
    # How translated code reaches guest memory (abi.MEMORY_MODELS): "direct" (the reserved window,
    # no lookup) or "tlb" (the software TLB).  The lifter reads it: it is part of the lift key too.
    memory_model: str = abi.DEFAULT_MEMORY_MODEL

    @property
    def avx(self) -> bool:
        """Whether the target has AVX: the lifter's own asm then uses VEX encodings (Emitter)."""
        return self.cpu not in ("x86-64", "x86-64-v2")

    def describe(self) -> str:
        return (f"llvm={llvm_version()};llvmlite={llvmlite.__version__};O{self.opt_level};cpu={self.cpu};"
                f"code-model={self.code_model};memory={self.memory_model}")


@cache
def llvm_version() -> str:
    return ".".join(map(str, llvm.llvm_version_info))


@cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()  # the direct memory model's inline asm (lift/emitter.py)


@cache
def target_machine(opts: CodegenOptions) -> llvm.TargetMachine:
    _init()
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu=opts.cpu, opt=opts.opt_level, reloc="static",
                                        codemodel=opts.code_model)


def optimise(ir_text: str, opts: CodegenOptions) -> llvm.ModuleRef:
    tm = target_machine(opts)
    module = llvm.parse_assembly(ir_text)
    module.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=opts.opt_level)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)
    return module


def compile_object(ir_text: str, opts: CodegenOptions) -> bytes:
    """Optimise one translated function's module and emit an ELF relocatable object."""
    return target_machine(opts).emit_object(optimise(ir_text, opts))
