/* Entry of a translated executable: load the embedded guest, build its process, run it. */
#include "mmu.h"

int main(int argc, char **argv, char **envp)
{
    struct guest_program prog;
    window_reserve();
    guest_signals_init();
    install_host_fault_handlers();
    syscalls_init();
    envp = runtime_environment_init(envp);
    dispatch_init();
    code_cache_init();
    jit_init();
    load_guest_program(&prog);
    perf_map_write();  /* names the code after the guest's symbols: once the guest is mapped */
    addrspace_init(page_up(prog.end), guest_stack_size());
    sigreturn_trampoline_init();
    uint64_t sp = build_initial_stack(&prog, argc, argv, envp);

    struct aot_cpu *cpu = cpu_create();
    cpu->x[2] = sp;
    cpu->pc = prog.entry;
    run_guest_thread(cpu);
}
