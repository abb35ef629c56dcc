"""RV64I base integer instructions (and Zifencei)."""

from __future__ import annotations

from aotbuilder import abi
from aotbuilder.isa import Insn
from aotbuilder.isa.insn import FENCE_I, FENCE_O, FENCE_R, FENCE_TSO, FENCE_W

# -- shapes ---------------------------------------------------------------------------------------


def gen_alu(ctx, insn: Insn, op: str) -> None:
    e = ctx.e
    a, b = e.x(insn.rs1), e.x(insn.rs2)
    e.set_x(insn.rd, getattr(e.b, op)(a, b))


def gen_alu_imm(ctx, insn: Insn, op: str) -> None:
    e = ctx.e
    e.set_x(insn.rd, getattr(e.b, op)(e.x(insn.rs1), e.c(insn.imm)))


def gen_alu_w(ctx, insn: Insn, op: str) -> None:
    e = ctx.e
    a, b = e.low32(e.x(insn.rs1)), e.low32(e.x(insn.rs2))
    e.set_x(insn.rd, e.sext32(getattr(e.b, op)(a, b)))


def gen_shift(ctx, insn: Insn, op: str, amount=None) -> None:
    """64-bit shifts use the low 6 bits of the amount."""
    e = ctx.e
    amt = e.b.and_(e.x(insn.rs2), e.c(63)) if amount is None else e.c(amount & 63)
    e.set_x(insn.rd, getattr(e.b, op)(e.x(insn.rs1), amt))


def gen_shift_w(ctx, insn: Insn, op: str, amount=None) -> None:
    """W shifts operate on the low 32 bits with the low 5 bits of the amount."""
    e = ctx.e
    amt = e.b.and_(e.low32(e.x(insn.rs2)), e.c(31, 32)) if amount is None else e.c(amount & 31, 32)
    e.set_x(insn.rd, e.sext32(getattr(e.b, op)(e.low32(e.x(insn.rs1)), amt)))


def gen_set_less(ctx, insn: Insn, signed: bool, rhs) -> None:
    e = ctx.e
    cmp = e.b.icmp_signed if signed else e.b.icmp_unsigned
    e.set_x(insn.rd, e.bool_to_x(cmp("<", e.x(insn.rs1), rhs)))


def gen_branch(ctx, insn: Insn, cond: str, signed: bool) -> None:
    e = ctx.e
    cmp = e.b.icmp_signed if signed else e.b.icmp_unsigned
    ctx.branch(cmp(cond, e.x(insn.rs1), e.x(insn.rs2)), ctx.pc + insn.imm)


def gen_load(ctx, insn: Insn, size: int, signed: bool) -> None:
    e = ctx.e
    e.set_x(insn.rd, e.load(*ctx.memory_operand(insn), size, signed, ctx.pc_value()))


def gen_store(ctx, insn: Insn, size: int) -> None:
    e = ctx.e
    e.store(*ctx.memory_operand(insn), e.x(insn.rs2), size, ctx.pc_value())


# -- upper immediates, jumps ------------------------------------------------------------------------

def trans_lui(ctx, insn: Insn) -> None:
    address = ctx.site()  # the upper half of an absolute address in the image: like auipc
    ctx.e.set_x(insn.rd, ctx.e.c(insn.imm) if address is None else ctx.e.addr(address))


def trans_auipc(ctx, insn: Insn) -> None:
    ctx.e.set_x(insn.rd, ctx.e.addr(ctx.site()))


def trans_jal(ctx, insn: Insn) -> None:
    ctx.jump(ctx.pc + insn.imm, insn.rd)


def trans_jalr(ctx, insn: Insn) -> None:
    e = ctx.e
    resolved = ctx.func.resolved_jumps.get(ctx.pc)
    if resolved is not None:
        ctx.jump(resolved, insn.rd)
        return
    target = e.b.and_(e.b.add(e.x(insn.rs1), e.c(insn.imm)), e.c(~1))
    if insn.rd:
        ctx.call_indirect(target, insn.rd)
    elif ctx.pc in ctx.func.jump_tables:
        ctx.jump_table(target, ctx.func.jump_tables[ctx.pc])
    elif insn.is_return:
        ctx.exit(target)  # a return: the caller checks the pc it gets back
    else:
        ctx.tail_jump(target)


# -- branches ----------------------------------------------------------------------------------

def trans_beq(ctx, insn: Insn) -> None:
    gen_branch(ctx, insn, "==", signed=False)


def trans_bne(ctx, insn: Insn) -> None:
    gen_branch(ctx, insn, "!=", signed=False)


def trans_blt(ctx, insn: Insn) -> None:
    gen_branch(ctx, insn, "<", signed=True)


def trans_bge(ctx, insn: Insn) -> None:
    gen_branch(ctx, insn, ">=", signed=True)


def trans_bltu(ctx, insn: Insn) -> None:
    gen_branch(ctx, insn, "<", signed=False)


def trans_bgeu(ctx, insn: Insn) -> None:
    gen_branch(ctx, insn, ">=", signed=False)


# -- loads and stores --------------------------------------------------------------------------------

def trans_lb(ctx, insn: Insn) -> None:
    gen_load(ctx, insn, 1, signed=True)


def trans_lh(ctx, insn: Insn) -> None:
    gen_load(ctx, insn, 2, signed=True)


def trans_lw(ctx, insn: Insn) -> None:
    gen_load(ctx, insn, 4, signed=True)


def trans_ld(ctx, insn: Insn) -> None:
    value = ctx.forwarded_slot()  # a frame slot the prologue wrote (lift/frame_slots.py)
    if value is None:
        gen_load(ctx, insn, 8, signed=True)
    else:
        ctx.e.set_x(insn.rd, value)


def trans_lbu(ctx, insn: Insn) -> None:
    gen_load(ctx, insn, 1, signed=False)


def trans_lhu(ctx, insn: Insn) -> None:
    gen_load(ctx, insn, 2, signed=False)


def trans_lwu(ctx, insn: Insn) -> None:
    gen_load(ctx, insn, 4, signed=False)


def trans_sb(ctx, insn: Insn) -> None:
    gen_store(ctx, insn, 1)


def trans_sh(ctx, insn: Insn) -> None:
    gen_store(ctx, insn, 2)


def trans_sw(ctx, insn: Insn) -> None:
    gen_store(ctx, insn, 4)


def trans_sd(ctx, insn: Insn) -> None:
    ctx.remember_slot(ctx.e.x(insn.rs2))
    gen_store(ctx, insn, 8)


# -- integer register-immediate --------------------------------------------------------------------

def trans_addi(ctx, insn: Insn) -> None:
    if ctx.site() is not None:  # the second half of la/lla, or gp-relative
        ctx.e.set_x(insn.rd, ctx.effective_address(insn))
    else:
        ctx.e.set_x(insn.rd, ctx.e.add_imm(ctx.e.x(insn.rs1), insn.imm))


def trans_slti(ctx, insn: Insn) -> None:
    gen_set_less(ctx, insn, True, ctx.e.c(insn.imm))


def trans_sltiu(ctx, insn: Insn) -> None:
    gen_set_less(ctx, insn, False, ctx.e.c(insn.imm))


def trans_xori(ctx, insn: Insn) -> None:
    gen_alu_imm(ctx, insn, "xor")


def trans_ori(ctx, insn: Insn) -> None:
    gen_alu_imm(ctx, insn, "or_")


def trans_andi(ctx, insn: Insn) -> None:
    gen_alu_imm(ctx, insn, "and_")


def trans_slli(ctx, insn: Insn) -> None:
    gen_shift(ctx, insn, "shl", insn.imm)


def trans_srli(ctx, insn: Insn) -> None:
    gen_shift(ctx, insn, "lshr", insn.imm)


def trans_srai(ctx, insn: Insn) -> None:
    gen_shift(ctx, insn, "ashr", insn.imm)


def trans_addiw(ctx, insn: Insn) -> None:
    e = ctx.e
    e.set_x(insn.rd, e.sext32(e.b.add(e.low32(e.x(insn.rs1)), e.c(insn.imm, 32))))


def trans_slliw(ctx, insn: Insn) -> None:
    gen_shift_w(ctx, insn, "shl", insn.imm)


def trans_srliw(ctx, insn: Insn) -> None:
    gen_shift_w(ctx, insn, "lshr", insn.imm)


def trans_sraiw(ctx, insn: Insn) -> None:
    gen_shift_w(ctx, insn, "ashr", insn.imm)


# -- integer register-register -----------------------------------------------------------------------

def trans_add(ctx, insn: Insn) -> None:
    gen_alu(ctx, insn, "add")


def trans_sub(ctx, insn: Insn) -> None:
    gen_alu(ctx, insn, "sub")


def trans_sll(ctx, insn: Insn) -> None:
    gen_shift(ctx, insn, "shl")


def trans_slt(ctx, insn: Insn) -> None:
    gen_set_less(ctx, insn, True, ctx.e.x(insn.rs2))


def trans_sltu(ctx, insn: Insn) -> None:
    gen_set_less(ctx, insn, False, ctx.e.x(insn.rs2))


def trans_xor(ctx, insn: Insn) -> None:
    gen_alu(ctx, insn, "xor")


def trans_srl(ctx, insn: Insn) -> None:
    gen_shift(ctx, insn, "lshr")


def trans_sra(ctx, insn: Insn) -> None:
    gen_shift(ctx, insn, "ashr")


def trans_or(ctx, insn: Insn) -> None:
    gen_alu(ctx, insn, "or_")


def trans_and(ctx, insn: Insn) -> None:
    gen_alu(ctx, insn, "and_")


def trans_addw(ctx, insn: Insn) -> None:
    gen_alu_w(ctx, insn, "add")


def trans_subw(ctx, insn: Insn) -> None:
    gen_alu_w(ctx, insn, "sub")


def trans_sllw(ctx, insn: Insn) -> None:
    gen_shift_w(ctx, insn, "shl")


def trans_srlw(ctx, insn: Insn) -> None:
    gen_shift_w(ctx, insn, "lshr")


def trans_sraw(ctx, insn: Insn) -> None:
    gen_shift_w(ctx, insn, "ashr")


# -- system ------------------------------------------------------------------------------------------

def trans_fence(ctx, insn: Insn) -> None:
    """x86 keeps every order of memory accesses but a store before a later load (TSO), so only a
    fence with writes (or output) before and reads (or input) after needs a host fence; FENCE.TSO
    and the other fences need only keep LLVM from moving accesses across (a single-thread fence)."""
    ctx.e.forget_stores()  # a load after it may not take an earlier store's value: other harts order in between
    store_load = insn.fence_pred & (FENCE_W | FENCE_O) and insn.fence_succ & (FENCE_R | FENCE_I)
    if store_load and insn.imm != FENCE_TSO:
        ctx.e.b.fence("seq_cst")
    else:
        ctx.e.b.fence("seq_cst", "singlethread")


def trans_fence_i(ctx, insn: Insn) -> None:
    """Leave to the dispatcher: a store that changed code has invalidated its translation, and the
    next instruction runs from a fresh one (discovery made it a resume point)."""
    ctx.exit(ctx.e.pc(ctx.offset + ctx.size))


def trans_ecall(ctx, insn: Insn) -> None:
    ctx.ecall()


def trans_ebreak(ctx, insn: Insn) -> None:
    ctx.trap(abi.CAUSE_BREAKPOINT, ctx.pc_value())

