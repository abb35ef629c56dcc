"""CSR numbers and their names, from the CSR listings of the RISC-V specifications.

Only used to print instructions.  RV32-only CSRs (cycleh, mstatush, odd pmpcfg, ...) are left out: on
RV64 they do not exist, so they print as numbers.  The user-level interrupt CSRs of the withdrawn N
extension (ustatus ...) are kept because toolchains still print their names.
"""

from __future__ import annotations

CSR_NAMES: dict[int, str] = {
    # Unprivileged: floating point, counters, vector, entropy source (Zkr).
    0x001: "fflags", 0x002: "frm", 0x003: "fcsr",
    0xC00: "cycle", 0xC01: "time", 0xC02: "instret",
    **{0xC00 + n: f"hpmcounter{n}" for n in range(3, 32)},
    0x008: "vstart", 0x009: "vxsat", 0x00A: "vxrm", 0x00F: "vcsr",
    0xC20: "vl", 0xC21: "vtype", 0xC22: "vlenb",
    0x015: "seed",
    # User trap setup and handling (N extension, withdrawn).
    0x000: "ustatus", 0x004: "uie", 0x005: "utvec",
    0x040: "uscratch", 0x041: "uepc", 0x042: "ucause", 0x043: "utval", 0x044: "uip",
    # Supervisor.
    0x100: "sstatus", 0x102: "sedeleg", 0x103: "sideleg", 0x104: "sie", 0x105: "stvec",
    0x106: "scounteren", 0x10A: "senvcfg",
    0x10C: "sstateen0", 0x10D: "sstateen1", 0x10E: "sstateen2", 0x10F: "sstateen3",
    0x140: "sscratch", 0x141: "sepc", 0x142: "scause", 0x143: "stval", 0x144: "sip",
    0x14D: "stimecmp", 0x180: "satp", 0x5A8: "scontext", 0xDA0: "scountovf",
    # Hypervisor and virtual supervisor.
    0x600: "hstatus", 0x602: "hedeleg", 0x603: "hideleg", 0x604: "hie", 0x605: "htimedelta",
    0x606: "hcounteren", 0x607: "hgeie", 0x60A: "henvcfg",
    0x60C: "hstateen0", 0x60D: "hstateen1", 0x60E: "hstateen2", 0x60F: "hstateen3",
    0x643: "htval", 0x644: "hip", 0x645: "hvip", 0x64A: "htinst", 0x680: "hgatp", 0x6A8: "hcontext",
    0xE12: "hgeip",
    0x200: "vsstatus", 0x204: "vsie", 0x205: "vstvec", 0x240: "vsscratch", 0x241: "vsepc",
    0x242: "vscause", 0x243: "vstval", 0x244: "vsip", 0x24D: "vstimecmp", 0x280: "vsatp",
    # Machine.
    0xF11: "mvendorid", 0xF12: "marchid", 0xF13: "mimpid", 0xF14: "mhartid", 0xF15: "mconfigptr",
    0x300: "mstatus", 0x301: "misa", 0x302: "medeleg", 0x303: "mideleg", 0x304: "mie", 0x305: "mtvec",
    0x306: "mcounteren", 0x30A: "menvcfg",
    0x30C: "mstateen0", 0x30D: "mstateen1", 0x30E: "mstateen2", 0x30F: "mstateen3",
    0x340: "mscratch", 0x341: "mepc", 0x342: "mcause", 0x343: "mtval", 0x344: "mip",
    0x34A: "mtinst", 0x34B: "mtval2", 0x747: "mseccfg",
    **{0x3A0 + n: f"pmpcfg{n}" for n in range(0, 16, 2)},
    **{0x3B0 + n: f"pmpaddr{n}" for n in range(64)},
    0xB00: "mcycle", 0xB02: "minstret",
    **{0xB00 + n: f"mhpmcounter{n}" for n in range(3, 32)},
    0x320: "mcountinhibit",
    **{0x320 + n: f"mhpmevent{n}" for n in range(3, 32)},
    # Debug and trigger.
    0x7A0: "tselect", 0x7A1: "tdata1", 0x7A2: "tdata2", 0x7A3: "tdata3", 0x7A8: "mcontext",
    0x7B0: "dcsr", 0x7B1: "dpc", 0x7B2: "dscratch0", 0x7B3: "dscratch1",
}


def csr_name(number: int) -> str:
    """The CSR's name, or its number in decimal when it has none on RV64."""
    return CSR_NAMES.get(number, str(number))
