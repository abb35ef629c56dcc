/* Maps the embedded guest ELF and builds the guest's initial stack the way Linux's
 * fs/binfmt_elf.c (load_elf_binary, create_elf_tables) does for riscv64. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mmu.h"

/* AT_HWCAP on riscv: one bit per single-letter extension, bit (letter - 'A'). */
#define HWCAP_LETTER(c) (1ULL << ((c) - 'A'))
#define HWCAP_RV64GC (HWCAP_LETTER('I') | HWCAP_LETTER('M') | HWCAP_LETTER('A') | \
                      HWCAP_LETTER('F') | HWCAP_LETTER('D') | HWCAP_LETTER('C'))
#define USER_HZ 100
#define MIN_STACK_SIZE (128ULL << 10)
#define MAX_STACK_SIZE (1ULL << 30)
#define DEFAULT_STACK_SIZE (8ULL << 20)

uint64_t guest_image_low, guest_image_high;

static void require(bool ok, const char *what)
{
    if (!ok)
        fatal_error("the embedded guest image is not a loadable riscv64 executable: %s", what);
}

static Elf64_Ehdr read_ehdr(void)
{
    Elf64_Ehdr eh;
    require(aot_guest_image_size >= sizeof eh, "file too short");
    memcpy(&eh, aot_guest_image, sizeof eh);
    require(!memcmp(eh.e_ident, ELFMAG, SELFMAG), "no ELF magic");
    require(eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_ident[EI_DATA] == ELFDATA2LSB, "not ELF64 little-endian");
    require(eh.e_machine == EM_RISCV, "not RISC-V");
    require(eh.e_type == ET_EXEC || eh.e_type == ET_DYN, "not an executable");
    require(eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phoff <= aot_guest_image_size &&
            eh.e_phnum <= (aot_guest_image_size - eh.e_phoff) / sizeof(Elf64_Phdr), "program headers out of bounds");
    return eh;
}

static Elf64_Phdr read_phdr(const Elf64_Ehdr *eh, unsigned i)
{
    Elf64_Phdr ph;
    memcpy(&ph, aot_guest_image + eh->e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
    return ph;
}

static void check_segment(const Elf64_Phdr *ph, uint64_t bias)
{
    uint64_t start = ph->p_vaddr + bias;
    require(ph->p_filesz <= ph->p_memsz, "segment file size exceeds its memory size");
    require(ph->p_offset <= aot_guest_image_size && ph->p_filesz <= aot_guest_image_size - ph->p_offset,
            "segment outside the file");
    require(start >= GUEST_MMAP_MIN_ADDR && start + ph->p_memsz >= start && start + ph->p_memsz <= GUEST_VA_LIMIT,
            "segment outside the guest address space");
}

static uint64_t segment_perms(uint32_t flags)
{
    return (flags & (PF_R | PF_W) ? PTE_R : 0) | (flags & PF_W ? PTE_W : 0) | (flags & PF_X ? PTE_X : 0);
}

/* Memory for every page the segment touches (a page shared with the previous segment is mapped
 * once), writable while the file bytes are copied in; the rest stays zero (bss). */
static void place_segment(const Elf64_Phdr *ph, uint64_t bias)
{
    uint64_t addr = ph->p_vaddr + bias, end = page_up(addr + ph->p_memsz);
    for (uint64_t page = page_down(addr); page < end;) {
        uint64_t run_end = page;
        while (run_end < end && !pt_get(run_end >> AOT_PAGE_SHIFT))
            run_end += AOT_PAGE_SIZE;
        if (run_end > page)
            map_guest_fixed(page, run_end - page, PTE_R | PTE_W);
        page = run_end > page ? run_end : page + AOT_PAGE_SIZE;
    }
    guest_write(addr, aot_guest_image + ph->p_offset, ph->p_filesz);
}

/* Final permissions, or-ed page-wise over the segments sharing a page (called with clear first,
 * then once per segment to set). */
static void set_segment_perms(const Elf64_Phdr *ph, uint64_t bias, bool clear)
{
    uint64_t addr = ph->p_vaddr + bias;
    for (uint64_t vpn = addr >> AOT_PAGE_SHIFT; vpn < page_up(addr + ph->p_memsz) >> AOT_PAGE_SHIFT; vpn++) {
        uint64_t pte = pt_get(vpn);
        pt_set(vpn, clear ? pte & ~PTE_PERMS : pte | segment_perms(ph->p_flags));
    }
}

/* AT_PHDR: PT_PHDR if present, else where the PT_LOAD that contains the headers puts them. */
static uint64_t phdr_address(const Elf64_Ehdr *eh, uint64_t bias)
{
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph = read_phdr(eh, i);
        if (ph.p_type == PT_PHDR)
            return ph.p_vaddr + bias;
    }
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph = read_phdr(eh, i);
        if (ph.p_type == PT_LOAD && ph.p_offset <= eh->e_phoff && eh->e_phoff < ph.p_offset + ph.p_filesz)
            return eh->e_phoff - ph.p_offset + ph.p_vaddr + bias;
    }
    return 0;
}

void load_guest_program(struct guest_program *prog)
{
    Elf64_Ehdr eh = read_ehdr();
    uint64_t bias = aot_guest_load_bias;
    guest_image_low = UINT64_MAX;
    guest_image_high = 0;
    prog->stack_perms = PTE_R | PTE_W;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph = read_phdr(&eh, i);
        if (ph.p_type == PT_GNU_STACK && (ph.p_flags & PF_X))
            prog->stack_perms |= PTE_X;
        if (ph.p_type != PT_LOAD || !ph.p_memsz)
            continue;
        check_segment(&ph, bias);
        place_segment(&ph, bias);
        if (ph.p_vaddr + bias < guest_image_low)
            guest_image_low = ph.p_vaddr + bias;
        if (ph.p_vaddr + bias + ph.p_memsz > guest_image_high)
            guest_image_high = ph.p_vaddr + bias + ph.p_memsz;
    }
    require(guest_image_high != 0, "no PT_LOAD segment");
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph = read_phdr(&eh, i);
            if (ph.p_type == PT_LOAD && ph.p_memsz)
                set_segment_perms(&ph, bias, pass == 0);
        }
    host_prot_sync(page_down(guest_image_low), page_up(guest_image_high) - page_down(guest_image_low));
    prog->entry = eh.e_entry + bias;
    prog->phdr = phdr_address(&eh, bias);
    prog->phent = eh.e_phentsize;
    prog->phnum = eh.e_phnum;
    prog->end = guest_image_high;
}

/* ---- Initial stack ---- */

uint64_t guest_stack_size(void)
{
    struct rlimit rl;
    uint64_t size = DEFAULT_STACK_SIZE;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        size = rl.rlim_cur;
    size = size < MIN_STACK_SIZE ? MIN_STACK_SIZE : size > MAX_STACK_SIZE ? MAX_STACK_SIZE : size;
    return page_up(size);
}

static uint64_t push_bytes(uint64_t *sp, const void *data, size_t len)
{
    *sp -= len;
    if (guest_write(*sp, data, len) != 0)
        fatal_error("the arguments and environment do not fit on the guest stack");
    return *sp;
}

static uint64_t push_string(uint64_t *sp, const char *s)
{
    return push_bytes(sp, s, strlen(s) + 1);
}

/* splitmix64: AT_RANDOM from AOTBUILDER_SEED makes runs reproducible. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void at_random_bytes(unsigned char out[16])
{
    const char *seed = getenv("AOTBUILDER_SEED");
    if (seed && *seed) {
        uint64_t state = 0xcbf29ce484222325ULL;  /* FNV-1a of the seed string */
        for (const char *c = seed; *c; c++)
            state = (state ^ (unsigned char)*c) * 0x100000001b3ULL;
        for (int i = 0; i < 2; i++) {
            uint64_t word = splitmix64(&state);
            memcpy(out + 8 * i, &word, 8);
        }
    } else if (getrandom(out, 16, 0) != 16) {
        fatal_error("getrandom failed");
    }
}

static size_t count_strings(char **v)
{
    size_t n = 0;
    while (v[n])
        n++;
    return n;
}

/* Strings are pushed last to first, so in memory they read argv[0] .. argv[n-1], envp[0] ..,
 * execfn, like Linux's copy_strings. */
static void push_strings(uint64_t *sp, char **v, size_t n, uint64_t *addrs)
{
    for (size_t i = n; i-- > 0;)
        addrs[i] = push_string(sp, v[i]);
}

uint64_t build_initial_stack(const struct guest_program *prog, int argc, char **argv, char **envp)
{
    uint64_t size = guest_stack_size();
    map_guest_fixed(GUEST_STACK_TOP - size, size, prog->stack_perms);

    size_t envc = count_strings(envp);
    uint64_t *argv_addrs = calloc((size_t)argc + 1, sizeof(uint64_t));
    uint64_t *envp_addrs = calloc(envc + 1, sizeof(uint64_t));
    if (!argv_addrs || !envp_addrs)
        fatal_error("out of memory building the guest stack");

    const char *execfn = guest_execfn() ? guest_execfn() : (const char *)getauxval(AT_EXECFN);
    uint64_t sp = GUEST_STACK_TOP - sizeof(uint64_t);  /* Linux keeps a NULL word at the very top */
    uint64_t execfn_addr = push_string(&sp, execfn ? execfn : argc ? argv[0] : "");
    push_strings(&sp, envp, envc, envp_addrs);
    push_strings(&sp, argv, (size_t)argc, argv_addrs);
    sp &= ~15ULL;
    unsigned char random[16];
    at_random_bytes(random);
    uint64_t random_addr = push_bytes(&sp, random, sizeof random);

    const uint64_t auxv[][2] = {
        { AT_HWCAP, HWCAP_RV64GC }, { AT_PAGESZ, AOT_PAGE_SIZE }, { AT_CLKTCK, USER_HZ },
        { AT_PHDR, prog->phdr }, { AT_PHENT, prog->phent }, { AT_PHNUM, prog->phnum },
        { AT_BASE, 0 }, { AT_FLAGS, 0 }, { AT_ENTRY, prog->entry },
        { AT_UID, getuid() }, { AT_EUID, geteuid() }, { AT_GID, getgid() }, { AT_EGID, getegid() },
        { AT_SECURE, 0 }, { AT_RANDOM, random_addr }, { AT_EXECFN, execfn_addr }, { AT_NULL, 0 },
    };
    size_t nwords = 1 + ((size_t)argc + 1) + (envc + 1) + 2 * (sizeof auxv / sizeof auxv[0]);
    uint64_t *words = calloc(nwords, sizeof(uint64_t)), *w = words;
    if (!words)
        fatal_error("out of memory building the guest stack");
    *w++ = (uint64_t)argc;
    memcpy(w, argv_addrs, (size_t)argc * sizeof(uint64_t)), w += argc + 1;
    memcpy(w, envp_addrs, envc * sizeof(uint64_t)), w += envc + 1;
    memcpy(w, auxv, sizeof auxv);
    remember_guest_auxv(auxv, sizeof auxv / sizeof auxv[0]);

    sp = (sp - nwords * sizeof(uint64_t)) & ~15ULL;
    if (guest_write(sp, words, nwords * sizeof(uint64_t)) != 0)
        fatal_error("the arguments and environment do not fit on the guest stack");
    free(words);
    free(argv_addrs);
    free(envp_addrs);
    return sp;
}
