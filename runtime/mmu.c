/* The guest page table, software TLB fills, the memory-access intrinsics translated code calls on
 * a TLB miss, and the guest memory copy helpers of the system calls. */
#include "mmu.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

/* Three levels of 4096 entries translate the 36-bit guest page number. */
#define PT_LEVEL_BITS 12
#define PT_FANOUT (1ULL << PT_LEVEL_BITS)
#define PT_INDEX(vpn, level) (((vpn) >> ((level) * PT_LEVEL_BITS)) & (PT_FANOUT - 1))
#define PT_LEAF_PAGES PT_FANOUT
#define PT_MID_PAGES (PT_FANOUT * PT_FANOUT)

typedef uint64_t pt_leaf[PT_FANOUT];
typedef pt_leaf *pt_mid[PT_FANOUT];

/* Written only under the address-space lock; nodes are published with release stores so that
 * TLB fills in other threads can walk the table without taking it. */
static pt_mid *pt_root[PT_FANOUT];

static void *pt_node_alloc(void)
{
    void *node = calloc(1, sizeof(pt_leaf));
    if (!node)
        fatal_error("out of memory for the guest page table");
    return node;
}

static pt_leaf *pt_leaf_of(uint64_t vpn)
{
    pt_mid *mid = __atomic_load_n(&pt_root[PT_INDEX(vpn, 2)], __ATOMIC_ACQUIRE);
    return mid ? __atomic_load_n(&(*mid)[PT_INDEX(vpn, 1)], __ATOMIC_ACQUIRE) : NULL;
}

uint64_t pt_get(uint64_t vpn)
{
    if (vpn >= GUEST_VPN_LIMIT)
        return 0;
    pt_leaf *leaf = pt_leaf_of(vpn);
    return leaf ? __atomic_load_n(&(*leaf)[PT_INDEX(vpn, 0)], __ATOMIC_RELAXED) : 0;
}

void pt_set(uint64_t vpn, uint64_t pte)
{
    pt_mid **mid = &pt_root[PT_INDEX(vpn, 2)];
    if (!*mid)
        __atomic_store_n(mid, pt_node_alloc(), __ATOMIC_RELEASE);
    pt_leaf **leaf = &(**mid)[PT_INDEX(vpn, 1)];
    if (!*leaf)
        __atomic_store_n(leaf, pt_node_alloc(), __ATOMIC_RELEASE);
    __atomic_store_n(&(**leaf)[PT_INDEX(vpn, 0)], pte, __ATOMIC_RELAXED);
}

/* How many pages from vpn upwards are known free without looking further: a missing node frees
 * everything it would cover. */
static uint64_t free_pages_from(uint64_t vpn)
{
    if (vpn >= GUEST_VPN_LIMIT)
        return 0;
    if (!pt_root[PT_INDEX(vpn, 2)])
        return PT_MID_PAGES - (vpn & (PT_MID_PAGES - 1));
    pt_leaf *leaf = pt_leaf_of(vpn);
    if (!leaf)
        return PT_LEAF_PAGES - (vpn & (PT_LEAF_PAGES - 1));
    return (*leaf)[PT_INDEX(vpn, 0)] ? 0 : 1;
}

/* The same, from vpn downwards (vpn included). */
static uint64_t free_pages_down_from(uint64_t vpn)
{
    if (!pt_root[PT_INDEX(vpn, 2)])
        return (vpn & (PT_MID_PAGES - 1)) + 1;
    pt_leaf *leaf = pt_leaf_of(vpn);
    if (!leaf)
        return (vpn & (PT_LEAF_PAGES - 1)) + 1;
    return (*leaf)[PT_INDEX(vpn, 0)] ? 0 : 1;
}

bool pt_range_free(uint64_t vpn, uint64_t npages)
{
    uint64_t end = vpn + npages;
    if (end > GUEST_VPN_LIMIT || end < vpn)
        return false;
    while (vpn < end) {
        uint64_t span = free_pages_from(vpn);
        if (!span)
            return false;
        vpn += span;
    }
    return true;
}

uint64_t pt_find_free_below(uint64_t top_vpn, uint64_t npages, uint64_t min_vpn)
{
    uint64_t gap_top = top_vpn, vpn = top_vpn;
    while (vpn > min_vpn) {
        uint64_t span = free_pages_down_from(vpn - 1);
        if (!span) {
            gap_top = --vpn;
            continue;
        }
        vpn = span > vpn - min_vpn ? min_vpn : vpn - span;
        if (gap_top - vpn >= npages)
            return gap_top - npages;
    }
    return 0;
}

struct pt_run pt_run_at(uint64_t vpn, uint64_t end_vpn)
{
    struct pt_run run = { vpn, 0, pt_get(vpn) };
    if (!run.pte) {
        while (vpn < end_vpn) {
            uint64_t span = free_pages_from(vpn);
            if (!span)
                break;
            vpn += span;
        }
    } else {
        unsigned char *expect = pte_host(run.pte);
        for (; vpn < end_vpn; vpn++, expect += AOT_PAGE_SIZE) {
            uint64_t pte = pt_get(vpn);
            if (pte_host(pte) != expect || ((pte ^ run.pte) & PTE_SHARED_FILE))
                break;
        }
    }
    run.npages = (vpn < end_vpn ? vpn : end_vpn) - run.vpn;
    return run;
}

/* ---- Software TLB ---- */

#define MAX_CPUS 256
static struct aot_cpu *tlb_cpus[MAX_CPUS];
static unsigned tlb_cpu_count;
static pthread_mutex_t tlb_cpus_lock = PTHREAD_MUTEX_INITIALIZER;

static void tlb_invalidate(struct aot_cpu *cpu)
{
    for (unsigned i = 0; i < AOT_TLB_SIZE; i++) {
        cpu->tlb[i].tag_read = AOT_TLB_INVALID;
        cpu->tlb[i].tag_write = AOT_TLB_INVALID;
    }
}

void tlb_register(struct aot_cpu *cpu)
{
    tlb_invalidate(cpu);
    pthread_mutex_lock(&tlb_cpus_lock);
    if (tlb_cpu_count == MAX_CPUS)
        fatal_error("more than %d guest threads", MAX_CPUS);
    tlb_cpus[tlb_cpu_count++] = cpu;
    pthread_mutex_unlock(&tlb_cpus_lock);
}

/* Called whenever a page loses a permission or changes its host memory. */
void tlb_flush_all(void)
{
    pthread_mutex_lock(&tlb_cpus_lock);
    for (unsigned i = 0; i < tlb_cpu_count; i++)
        tlb_invalidate(tlb_cpus[i]);
    pthread_mutex_unlock(&tlb_cpus_lock);
}

static void tlb_fill(struct aot_cpu *cpu, uint64_t addr, uint64_t pte)
{
    struct aot_tlb_entry *e = &cpu->tlb[(addr >> AOT_PAGE_SHIFT) & (AOT_TLB_SIZE - 1)];
    uint64_t page = page_down(addr);
    e->tag_read = (pte & PTE_R) ? page : AOT_TLB_INVALID;
    e->tag_write = (pte & (PTE_W | PTE_CODE)) == PTE_W ? page : AOT_TLB_INVALID;
    e->addend = (uint64_t)(uintptr_t)pte_host(pte) - page;
}

void pt_mark_code(uint64_t lo, uint64_t hi, bool on)
{
    bool changed = false;
    for (uint64_t vpn = lo >> AOT_PAGE_SHIFT; vpn < (hi + AOT_PAGE_SIZE - 1) >> AOT_PAGE_SHIFT; vpn++) {
        uint64_t pte = pt_get(vpn);
        uint64_t marked = on ? pte | PTE_CODE : pte & ~PTE_CODE;
        if (pte && marked != pte) {
            pt_set(vpn, marked);
            changed = true;
        }
    }
    if (changed)
        host_prot_sync(lo, hi - lo);
    if (changed && on)
        tlb_flush_all();  /* no thread may keep a write entry for a page that now holds code */
}

/* ---- Access intrinsics ---- */

/* Before the runtime (or the host kernel, in a system call) writes [addr, addr + len), at most two
 * pages, through its host address: code the fallback JIT translated from those pages is dropped,
 * whole pages at a time, so that they are writable on the host again (see PTE_CODE). */
static void note_write(uint64_t addr, uint64_t len)
{
    if ((pt_get(addr >> AOT_PAGE_SHIFT) | pt_get((addr + len - 1) >> AOT_PAGE_SHIFT)) & PTE_CODE)
        code_cache_written(page_down(addr), page_up(addr + len) - page_down(addr));
}

static uint64_t pte_granting(uint64_t addr, uint64_t need)
{
    uint64_t pte = pt_get(addr >> AOT_PAGE_SHIFT);
    return (pte & need) == need ? pte : 0;
}

static unsigned char *host_byte(uint64_t addr, uint64_t need)
{
    uint64_t pte = pte_granting(addr, need);
    return pte ? pte_host(pte) + (addr & ~GUEST_PAGE_MASK) : NULL;
}

static bool within_page(uint64_t addr, uint64_t size)
{
    return (addr & ~GUEST_PAGE_MASK) + size <= AOT_PAGE_SIZE;
}

/* Every page of a page-crossing access must grant it before any byte moves (a store must not
 * be half done when it faults). */
static bool crossing_access_ok(uint64_t addr, uint32_t size, uint64_t need)
{
    return addr + size - 1 >= addr && host_byte(addr, need) && host_byte(addr + size - 1, need);
}

/* An access of 1, 2, 4 or 8 bytes with the size known to the compiler: one move, not a call of
 * memcpy (slow paths run on every TLB miss). */
static uint64_t load_sized(const unsigned char *p, uint32_t size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static void store_sized(unsigned char *p, uint64_t value, uint32_t size)
{
    switch (size) {
    case 1: *p = (unsigned char)value; break;
    case 2: { uint16_t v = (uint16_t)value; memcpy(p, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)value; memcpy(p, &v, 4); break; }
    default: memcpy(p, &value, 8); break;
    }
}

/* After a fault the guest handles, the slow paths return to translated code as if the access
 * had been done (a load reads 0, a store and an atomic touch a scratch word); translated code
 * then polls cpu->interrupt and aot_interrupt runs the handler (see guest_memory_fault). */
static __thread uint64_t fault_scratch[2] __attribute__((aligned(16)));

/* Reads or writes host memory whatever its protection, as the kernel's own accesses do.  Opened
 * each time: a descriptor kept open would name the parent's memory after a fork, and the guest may
 * close or reuse descriptor numbers. */
static int proc_self_mem(unsigned char *host, void *buf, size_t len, bool write)
{
    int fd = open("/proc/self/mem", (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -EFAULT;
    ssize_t done = write ? pwrite(fd, buf, len, (off_t)(uintptr_t)host) : pread(fd, buf, len, (off_t)(uintptr_t)host);
    close(fd);
    return done == (ssize_t)len ? 0 : -EFAULT;
}

static int store_to_protected(unsigned char *host, uint64_t value, uint32_t size)
{
    return proc_self_mem(host, &value, size, true);  /* little-endian: the low bytes first */
}

/* The C bodies of aot_load_slow and aot_store_slow (entered through the stubs below). */
uint64_t mmu_load_slow(struct aot_cpu *cpu, uint64_t addr, uint32_t size, uint64_t pc);
void mmu_store_slow(struct aot_cpu *cpu, uint64_t addr, uint64_t value, uint32_t size, uint64_t pc);

uint64_t mmu_load_slow(struct aot_cpu *cpu, uint64_t addr, uint32_t size, uint64_t pc)
{
    uint64_t value = 0;
    if (within_page(addr, size)) {
        uint64_t pte = pte_granting(addr, PTE_R);
        if (!pte) {
            guest_memory_fault(cpu, pc, addr, size, PTE_R);
            return 0;
        }
        tlb_fill(cpu, addr, pte);
        return load_sized(pte_host(pte) + (addr & ~GUEST_PAGE_MASK), size);
    }
    if (!crossing_access_ok(addr, size, PTE_R)) {
        guest_memory_fault(cpu, pc, addr, size, PTE_R);
        return 0;
    }
    for (uint32_t i = 0; i < size; i++)
        value |= (uint64_t)*host_byte(addr + i, PTE_R) << (8 * i);
    return value;
}

void mmu_store_slow(struct aot_cpu *cpu, uint64_t addr, uint64_t value, uint32_t size, uint64_t pc)
{
    if (within_page(addr, size)) {
        uint64_t pte = pte_granting(addr, PTE_W);
        if (!pte) {
            guest_memory_fault(cpu, pc, addr, size, PTE_W);
            return;
        }
        unsigned char *host = pte_host(pte) + (addr & ~GUEST_PAGE_MASK);
        if (pte & PTE_CODE) {
            /* Only the code made from these bytes goes; other code on the page stays translated
             * and the page write-protected, so the store goes around the protection. */
            code_cache_written(addr, size);
            if ((pt_get(addr >> AOT_PAGE_SHIFT) & PTE_CODE) && store_to_protected(host, value, size) == 0)
                return;
            note_write(addr, size);
            pte = pt_get(addr >> AOT_PAGE_SHIFT);
        }
        tlb_fill(cpu, addr, pte);
        store_sized(host, value, size);
        return;
    }
    if (!crossing_access_ok(addr, size, PTE_W)) {
        guest_memory_fault(cpu, pc, addr, size, PTE_W);
        return;
    }
    note_write(addr, size);
    for (uint32_t i = 0; i < size; i++)
        *host_byte(addr + i, PTE_W) = (unsigned char)(value >> (8 * i));
}

uint64_t aot_host_addr(struct aot_cpu *cpu, uint64_t addr, uint32_t size, uint32_t access, uint64_t pc)
{
    if (addr & (size - 1)) {
        /* RISC-V Linux does not emulate misaligned atomics: the guest gets SIGBUS. */
        guest_misaligned_atomic(cpu, pc, addr);
        return (uint64_t)(uintptr_t)fault_scratch;
    }
    uint64_t need = (access & 1 ? PTE_R : 0) | (access & 2 ? PTE_W : 0);
    uint64_t pte = pte_granting(addr, need);
    if (!pte) {
        guest_memory_fault(cpu, pc, addr, size, need);
        return (uint64_t)(uintptr_t)fault_scratch;
    }
    if (pte & PTE_CODE && need & PTE_W) {
        note_write(addr, size);
        pte = pt_get(addr >> AOT_PAGE_SHIFT);
    }
    tlb_fill(cpu, addr, pte);
    return (uint64_t)(uintptr_t)(pte_host(pte) + (addr & ~GUEST_PAGE_MASK));
}

/* ---- Copy helpers for system calls ---- */

static size_t chunk_in_page(uint64_t addr, size_t len)
{
    size_t room = AOT_PAGE_SIZE - (addr & ~GUEST_PAGE_MASK);
    return len < room ? len : room;
}

static int copy_from_guest(uint64_t addr, void *dst, size_t len, uint64_t need)
{
    unsigned char *out = dst;
    while (len) {
        size_t n = chunk_in_page(addr, len);
        uint64_t pte = pte_granting(addr, need);
        if (!pte)
            return -EFAULT;
        unsigned char *src = pte_host(pte) + (addr & ~GUEST_PAGE_MASK);
        if (pte & PTE_R)
            memcpy(out, src, n);
        else if (proc_self_mem(src, out, n, false) != 0)  /* execute-only: inaccessible in the window */
            return -EFAULT;
        out += n, addr += n, len -= n;
    }
    return 0;
}

int guest_read(uint64_t addr, void *dst, size_t len)
{
    return copy_from_guest(addr, dst, len, PTE_R);
}

int guest_fetch(uint64_t addr, void *dst, size_t len)
{
    return copy_from_guest(addr, dst, len, PTE_X);
}

int guest_write(uint64_t addr, const void *src, size_t len)
{
    const unsigned char *in = src;
    while (len) {
        size_t n = chunk_in_page(addr, len);
        unsigned char *dst = host_byte(addr, PTE_W);
        if (!dst)
            return -EFAULT;
        note_write(addr, n);
        memcpy(dst, in, n);
        in += n, addr += n, len -= n;
    }
    return 0;
}

int64_t guest_read_string(uint64_t addr, char *dst, size_t cap)
{
    size_t len = 0;
    while (len < cap) {
        size_t n = chunk_in_page(addr, cap - len);
        unsigned char *src = host_byte(addr, PTE_R);
        if (!src)
            return -EFAULT;
        unsigned char *nul = memchr(src, 0, n);
        size_t take = nul ? (size_t)(nul - src) + 1 : n;
        memcpy(dst + len, src, take);
        if (nul)
            return (int64_t)(len + take - 1);
        len += n, addr += n;
    }
    return -ENAMETOOLONG;
}

int guest_iovecs(uint64_t addr, uint64_t len, uint64_t need, struct iovec *iov, int max)
{
    int count = 0;
    while (len) {
        size_t n = chunk_in_page(addr, len);
        unsigned char *host = host_byte(addr, need);
        if (!host)
            break;
        if (need & PTE_W)
            note_write(addr, n);  /* before the host writes: what runs afterwards is translated afresh */
        if (count && (unsigned char *)iov[count - 1].iov_base + iov[count - 1].iov_len == host)
            iov[count - 1].iov_len += n;
        else if (count < max)
            iov[count++] = (struct iovec){ host, n };
        else
            break;
        addr += n, len -= n;
    }
    return count ? count : (len ? -EFAULT : 0);
}

void *guest_host_ptr(uint64_t addr, uint64_t len, uint64_t need)
{
    if (!within_page(addr, len))
        return NULL;
    if (need & PTE_W && host_byte(addr, need))
        note_write(addr, len);  /* the caller (futex) has the host write there */
    return host_byte(addr, need);
}
