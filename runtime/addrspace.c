/* The guest address space: which guest pages exist, with which permissions, backed by which host
 * memory.  Each guest mapping gets its own host mapping (so a range inside one guest mapping is
 * contiguous on the host); host pages are 4 KiB like the guest's, so munmap, mprotect and mremap
 * of parts of a mapping translate page for page.
 *
 * The direct window: at start-up the runtime reserves [AOT_DIRECT_BASE - a guard page,
 * AOT_DIRECT_BASE + AOT_DIRECT_LIMIT + a guard page) with no access (translated code checks the
 * base register of an access, not rs1 + offset, so it may touch the guard pages).  A guest mapping
 * below AOT_DIRECT_LIMIT gets its host memory at AOT_DIRECT_BASE + its guest address, with host protection equal to the guest's
 * (window_prot), so translated code of the direct memory model can access it without a TLB.  The
 * invariant that makes that exact: a window page is either inaccessible or the memory of the guest
 * page at that address with no more access than the guest has.  Every function here that changes
 * page table entries ends with host_prot_sync() over what it changed, and memory that
 * leaves the window goes back to the reservation (window_release). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <asm/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest_linux.h"
#include "mmu.h"

/* Linux places mmap_base below the stack by the stack rlimit, at least 128 MiB, plus a guard. */
#define MIN_STACK_GAP (128ULL << 20)
#define STACK_GUARD_GAP (1ULL << 20)

static struct {
    pthread_mutex_t lock;
    uint64_t brk_start, brk;
    uint64_t mmap_base;  /* top-down allocation starts here */
} as = { .lock = PTHREAD_MUTEX_INITIALIZER };

void addrspace_init(uint64_t brk_start, uint64_t stack_size)
{
    as.brk_start = as.brk = brk_start;
    uint64_t gap = stack_size > MIN_STACK_GAP ? stack_size : MIN_STACK_GAP;
    as.mmap_base = page_down(GUEST_STACK_TOP - gap - STACK_GUARD_GAP);
}

/* A page nothing else uses: in the guard gap between the mmap area and the stack (the sigreturn
 * trampoline lives there, out of the way of top-down mmap). */
uint64_t addrspace_private_page(void)
{
    return as.mmap_base + STACK_GUARD_GAP / 2;
}

static uint64_t vpn_of(uint64_t addr) { return addr >> AOT_PAGE_SHIFT; }
static uint64_t pages_of(uint64_t len) { return len >> AOT_PAGE_SHIFT; }
static bool page_aligned(uint64_t addr) { return !(addr & ~GUEST_PAGE_MASK); }

static bool range_ok(uint64_t addr, uint64_t len)
{
    return addr + len >= addr && addr + len <= GUEST_VA_LIMIT;
}

static uint64_t prot_to_perms(int prot)
{
    uint64_t perms = 0;
    /* On RISC-V a writable page is always readable (W without R is a reserved encoding). */
    if (prot & (GUEST_PROT_READ | GUEST_PROT_WRITE))
        perms |= PTE_R;
    if (prot & GUEST_PROT_WRITE)
        perms |= PTE_W;
    if (prot & GUEST_PROT_EXEC)
        perms |= PTE_X;
    return perms;
}

/* Host protection of a shared file mapping; executable pages stay readable so that the runtime
 * can read instructions for its reports. */
static int host_prot_of(uint64_t perms)
{
    return (perms & (PTE_R | PTE_X) ? PROT_READ : 0) | (perms & PTE_W ? PROT_WRITE : 0);
}

/* ---- The direct window ---- */

extern const uint8_t aot_memory_direct __attribute__((weak));

static bool window_reserved;

/* The window's access map (abi.WINDOW_MAP_OFFSET): one byte per window page, PROT_READ and
 * PROT_WRITE as the page's host protection has them.  It never claims more access than the page
 * has: bits go before the protection is reduced and come after it is raised. */
static unsigned char *const window_map = (unsigned char *)(uintptr_t)(AOT_DIRECT_BASE + AOT_WINDOW_MAP_OFFSET);

void window_reserve(void)
{
    void *low = window_map;
    uint64_t len = AOT_WINDOW_MAP_SIZE + AOT_PAGE_SIZE + AOT_DIRECT_LIMIT + AOT_PAGE_SIZE;
    void *got = mmap(low, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    window_reserved = got == low && mprotect(window_map, AOT_WINDOW_MAP_SIZE, PROT_READ | PROT_WRITE) == 0;
    if (got != MAP_FAILED && !window_reserved)
        munmap(got, len);  /* a kernel that ignores FIXED_NOREPLACE */
    if (!window_reserved && &aot_memory_direct && aot_memory_direct)
        fatal_error("cannot reserve %llu GiB of address space at 0x%llx for direct-mapped guest memory "
                    "(is `ulimit -v` set?); build with --memory-model tlb to run without it",
                    (unsigned long long)(AOT_DIRECT_LIMIT >> 30), (unsigned long long)AOT_DIRECT_BASE);
}

/* Translated code of the direct model addresses the window as %gs:(guest address). */
void window_enter_thread(void)
{
    if (window_reserved && syscall(SYS_arch_prctl, ARCH_SET_GS, AOT_DIRECT_BASE) != 0)
        fatal_error("cannot set the %%gs base for direct-mapped guest memory");
}

/* Where the host memory of [addr, addr + len) goes: its window address, or NULL (anywhere). */
static unsigned char *window_place(uint64_t addr, uint64_t len)
{
    if (!window_reserved || addr + len > AOT_DIRECT_LIMIT || addr + len < addr)
        return NULL;
    return (unsigned char *)(uintptr_t)(AOT_DIRECT_BASE + addr);
}

static bool in_window(const unsigned char *host)
{
    uint64_t h = (uint64_t)(uintptr_t)host;
    return window_reserved && h >= AOT_DIRECT_BASE && h < AOT_DIRECT_BASE + AOT_DIRECT_LIMIT;
}

/* The access map's byte of the window page at host. */
static unsigned char *window_map_byte(const unsigned char *host)
{
    return window_map + (((uint64_t)(uintptr_t)host - AOT_DIRECT_BASE) >> AOT_PAGE_SHIFT);
}

/* Sets the access map's bytes of the window pages [host, host + len) to prot's read and write bits. */
static void window_map_set(const unsigned char *host, uint64_t len, int prot)
{
    memset(window_map_byte(host), prot & (PROT_READ | PROT_WRITE), len >> AOT_PAGE_SHIFT);
}

/* Gives host memory back: window memory returns to the reservation (never a hole another host
 * mmap could take), other memory is unmapped. */
static void window_release(unsigned char *host, uint64_t len)
{
    if (!in_window(host)) {
        munmap(host, len);
        return;
    }
    window_map_set(host, len, PROT_NONE);
    if (mmap(host, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
        fatal_error("cannot return guest memory at 0x%llx to the direct window",
                    (unsigned long long)((uint64_t)(uintptr_t)host - AOT_DIRECT_BASE));
}

/* Host protection of a window page: the guest's, minus write on pages the fallback JIT translated
 * (a store there faults and takes the slow path, which invalidates the code).  Execute-only pages
 * are inaccessible; the runtime reads their instructions another way (guest_fetch). */
static int window_prot(uint64_t pte)
{
    if (!(pte & PTE_R))
        return PROT_NONE;
    return (pte & PTE_W) && !(pte & PTE_CODE) ? PROT_READ | PROT_WRITE : PROT_READ;
}

/* The host protection a mapped page must have: in the window see window_prot; elsewhere
 * read-write, except shared file mappings (host_prot_of). */
static int host_prot_of_page(uint64_t pte)
{
    if (in_window(pte_host(pte)))
        return window_prot(pte);
    return pte & PTE_SHARED_FILE ? host_prot_of(pte & PTE_PERMS) : PROT_READ | PROT_WRITE;
}

void host_prot_sync(uint64_t addr, uint64_t len)
{
    uint64_t vpn = addr >> AOT_PAGE_SHIFT, end = (addr + len + AOT_PAGE_SIZE - 1) >> AOT_PAGE_SHIFT;
    while (vpn < end) {
        uint64_t pte = pt_get(vpn);
        unsigned char *host = pte_host(pte);
        if (!pte) {
            vpn++;
            continue;
        }
        int prot = host_prot_of_page(pte);
        uint64_t n = 1;
        while (vpn + n < end && pte_host(pt_get(vpn + n)) == host + n * AOT_PAGE_SIZE &&
               host_prot_of_page(pt_get(vpn + n)) == prot)
            n++;
        bool mapped = in_window(host);
        if (mapped) {  /* meanwhile, no more access than both the old and the new protection give */
            unsigned char *bytes = window_map_byte(host);
            for (uint64_t i = 0; i < n; i++)
                bytes[i] &= (unsigned char)prot;
        }
        if (mprotect(host, n * AOT_PAGE_SIZE, prot) != 0)
            fatal_error("cannot protect guest memory at 0x%llx", (unsigned long long)(vpn << AOT_PAGE_SHIFT));
        if (mapped)
            window_map_set(host, n * AOT_PAGE_SIZE, prot);
        vpn += n;
    }
}

static void map_pages(uint64_t addr, uint64_t len, unsigned char *host, uint64_t bits)
{
    for (uint64_t i = 0; i < pages_of(len); i++)
        pt_set(vpn_of(addr) + i, pte_make(host + i * AOT_PAGE_SIZE, bits));
}

/* Removes the guest pages of [addr, addr + len).  replaced_at: the host range [replaced_at,
 * replaced_at + len) already holds new memory for them (a MAP_FIXED mmap in the window), so their
 * old host memory there must not be released. */
static void forget_range(uint64_t addr, uint64_t len, const unsigned char *replaced_at)
{
    code_cache_invalidate(addr, addr + len);
    uint64_t vpn = vpn_of(addr), end = vpn + pages_of(len);
    bool unmapped = false;
    while (vpn < end) {
        struct pt_run run = pt_run_at(vpn, end);
        if (run.pte) {
            unsigned char *host = pte_host(run.pte);
            bool replaced = replaced_at && host >= replaced_at && host < replaced_at + len;
            if (!replaced)
                window_release(host, run.npages * AOT_PAGE_SIZE);
            for (uint64_t i = 0; i < run.npages; i++)
                pt_set(vpn + i, 0);
            unmapped = true;
        }
        vpn += run.npages;
    }
    if (unmapped)
        tlb_flush_all();
}

static void unmap_range(uint64_t addr, uint64_t len)
{
    forget_range(addr, len, NULL);
}

static bool is_one_run(uint64_t addr, uint64_t len)
{
    struct pt_run run = pt_run_at(vpn_of(addr), vpn_of(addr + len));
    return run.pte && run.npages == pages_of(len);
}

static bool all_mapped(uint64_t addr, uint64_t len)
{
    uint64_t vpn = vpn_of(addr), end = vpn + pages_of(len);
    while (vpn < end) {
        struct pt_run run = pt_run_at(vpn, end);
        if (!run.pte)
            return false;
        vpn += run.npages;
    }
    return true;
}

/* An anonymous host mapping for guest [addr, addr + len): in the window if it fits there. */
static unsigned char *host_map_anonymous(uint64_t addr, uint64_t len, int flags)
{
    unsigned char *place = window_place(addr, len);
    return mmap(place, len, PROT_READ | PROT_WRITE,
                flags | MAP_ANONYMOUS | MAP_NORESERVE | (place ? MAP_FIXED : 0), -1, 0);
}

void *map_guest_fixed(uint64_t addr, uint64_t len, uint64_t perms)
{
    unsigned char *host = host_map_anonymous(addr, len, MAP_PRIVATE);
    if (host == MAP_FAILED)
        fatal_error("cannot allocate %llu bytes of guest memory at 0x%llx",
                    (unsigned long long)len, (unsigned long long)addr);
    pthread_mutex_lock(&as.lock);
    map_pages(addr, len, host, perms);
    host_prot_sync(addr, len);
    pthread_mutex_unlock(&as.lock);
    return host;
}

/* ---- mmap ---- */

/* A private file mapping maps the file's pages copy-on-write (the host loads them lazily); pages
 * past the end of the file are anonymous zero memory, where Linux would raise SIGBUS. */
static void *host_map_private_file(uint64_t addr, uint64_t len, int fd, uint64_t offset)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return MAP_FAILED;
    int mode = fcntl(fd, F_GETFL);
    if (mode >= 0 && (mode & O_ACCMODE) == O_WRONLY) {
        errno = EACCES;
        return MAP_FAILED;
    }
    uint64_t file_len = len;
    if (S_ISREG(st.st_mode)) {
        uint64_t size = (uint64_t)st.st_size;
        uint64_t in_file = size > offset ? page_up(size - offset) : 0;
        file_len = in_file < len ? in_file : len;
    }
    /* The file part is mapped first: in the window a failure then leaves what was there intact. */
    unsigned char *place = window_place(addr, len);
    if (!place) {
        place = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (place == MAP_FAILED)
            return MAP_FAILED;
    }
    if (file_len && mmap(place, file_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)offset) == MAP_FAILED) {
        int err = errno;
        if (!in_window(place))
            munmap(place, len);
        errno = err;
        return MAP_FAILED;
    }
    if (len > file_len && mmap(place + file_len, len - file_len, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
        fatal_error("cannot map guest memory at 0x%llx", (unsigned long long)addr);
    return place;
}

static void *host_map(uint64_t addr, uint64_t len, int flags, uint64_t perms, int fd, uint64_t offset)
{
    int populate = flags & GUEST_MAP_POPULATE ? MAP_POPULATE : 0;
    int sharing = (flags & GUEST_MAP_TYPE) == GUEST_MAP_PRIVATE ? MAP_PRIVATE : MAP_SHARED;
    if (flags & GUEST_MAP_ANONYMOUS)
        return host_map_anonymous(addr, len, sharing | populate);
    if (sharing == MAP_SHARED) {
        unsigned char *place = window_place(addr, len);
        return mmap(place, len, host_prot_of(perms), MAP_SHARED | populate | (place ? MAP_FIXED : 0), fd,
                    (off_t)offset);
    }
    return host_map_private_file(addr, len, fd, offset);
}

static int64_t choose_address(uint64_t addr, uint64_t len, int flags)
{
    if (flags & (GUEST_MAP_FIXED | GUEST_MAP_FIXED_NOREPLACE)) {
        if (!page_aligned(addr))
            return -EINVAL;
        if (!range_ok(addr, len))
            return -ENOMEM;
        if (addr < GUEST_MMAP_MIN_ADDR)
            return -EPERM;
        if ((flags & GUEST_MAP_FIXED_NOREPLACE) && !pt_range_free(vpn_of(addr), pages_of(len)))
            return -EEXIST;
        return (int64_t)addr;
    }
    uint64_t hint = page_up(addr);
    if (hint >= GUEST_MMAP_MIN_ADDR && range_ok(hint, len) && pt_range_free(vpn_of(hint), pages_of(len)))
        return (int64_t)hint;
    uint64_t vpn = pt_find_free_below(vpn_of(as.mmap_base), pages_of(len), vpn_of(GUEST_MMAP_MIN_ADDR));
    return vpn ? (int64_t)(vpn << AOT_PAGE_SHIFT) : -ENOMEM;
}

int64_t guest_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t offset)
{
    int type = flags & GUEST_MAP_TYPE;
    if (!len || !page_aligned(offset))
        return -EINVAL;
    if (type != GUEST_MAP_SHARED && type != GUEST_MAP_PRIVATE && type != GUEST_MAP_SHARED_VALIDATE)
        return -EINVAL;
    if (len > GUEST_VA_LIMIT)
        return -ENOMEM;
    len = page_up(len);
    uint64_t bits = prot_to_perms(prot);
    if (type != GUEST_MAP_PRIVATE && !(flags & GUEST_MAP_ANONYMOUS))
        bits |= PTE_SHARED_FILE;

    pthread_mutex_lock(&as.lock);
    int64_t where = choose_address(addr, len, flags);
    if (where >= 0) {
        unsigned char *host = host_map((uint64_t)where, len, flags, bits, fd, offset);
        if (host == MAP_FAILED) {
            /* A MAP_FIXED that fails for lack of memory may have unmapped the old pages first (as
             * on Linux): then they are gone for the guest too, and the window is whole again. */
            int err = errno;
            if (err == ENOMEM && window_place((uint64_t)where, len))
                unmap_range((uint64_t)where, len);
            where = -err;
        } else {
            forget_range((uint64_t)where, len, host);  /* MAP_FIXED replaces what was there */
            map_pages((uint64_t)where, len, host, bits);
            host_prot_sync((uint64_t)where, len);
        }
    }
    pthread_mutex_unlock(&as.lock);
    return where;
}

int64_t guest_munmap(uint64_t addr, uint64_t len)
{
    if (!page_aligned(addr) || !len || len > GUEST_VA_LIMIT)
        return -EINVAL;
    len = page_up(len);
    if (!range_ok(addr, len))
        return -EINVAL;
    pthread_mutex_lock(&as.lock);
    unmap_range(addr, len);
    pthread_mutex_unlock(&as.lock);
    return 0;
}

/* ---- mprotect, madvise, msync ---- */

static int64_t protect_range(uint64_t addr, uint64_t len, uint64_t perms)
{
    code_cache_invalidate(addr, addr + len);  /* W^X flips come with new code */
    uint64_t vpn = vpn_of(addr), end = vpn + pages_of(len);
    int64_t result = 0;
    while (vpn < end) {
        struct pt_run run = pt_run_at(vpn, end);
        if ((run.pte & PTE_SHARED_FILE) &&
            mprotect(pte_host(run.pte), run.npages * AOT_PAGE_SIZE, host_prot_of(perms)) != 0) {
            result = -errno;
            break;
        }
        for (; vpn < run.vpn + run.npages; vpn++)
            pt_set(vpn, (pt_get(vpn) & ~(PTE_PERMS | PTE_CODE)) | perms);
    }
    host_prot_sync(addr, (vpn << AOT_PAGE_SHIFT) - addr);
    tlb_flush_all();
    return result;
}

int64_t guest_mprotect(uint64_t addr, uint64_t len, int prot)
{
    if (!page_aligned(addr))
        return -EINVAL;
    if (prot & ~(GUEST_PROT_READ | GUEST_PROT_WRITE | GUEST_PROT_EXEC | GUEST_PROT_GROWSDOWN | GUEST_PROT_GROWSUP))
        return -EINVAL;
    if (len > GUEST_VA_LIMIT)
        return -ENOMEM;
    len = page_up(len);
    if (!range_ok(addr, len))
        return -ENOMEM;
    pthread_mutex_lock(&as.lock);
    int64_t result = all_mapped(addr, len) ? protect_range(addr, len, prot_to_perms(prot)) : -ENOMEM;
    pthread_mutex_unlock(&as.lock);
    return result;
}

/* Applies a host operation to the host memory of every mapped run of [addr, addr + len).  Like
 * Linux, holes in the range make the result -ENOMEM after the mapped parts have been done. */
static int64_t for_each_host_run(uint64_t addr, uint64_t len, int (*op)(void *, size_t, int), int arg)
{
    if (!page_aligned(addr))
        return -EINVAL;
    if (len > GUEST_VA_LIMIT)
        return -ENOMEM;
    len = page_up(len);
    if (!range_ok(addr, len))
        return -ENOMEM;
    uint64_t vpn = vpn_of(addr), end = vpn + pages_of(len);
    int64_t result = 0;
    pthread_mutex_lock(&as.lock);
    while (vpn < end) {
        struct pt_run run = pt_run_at(vpn, end);
        if (!run.pte)
            result = result ? result : -ENOMEM;
        else if (op(pte_host(run.pte), run.npages * AOT_PAGE_SIZE, arg) != 0 && !result)
            result = -errno;
        vpn += run.npages;
    }
    pthread_mutex_unlock(&as.lock);
    return result;
}

/* Advice values are the same on both sides, and applying them to the host memory gives the
 * guest's semantics: MADV_DONTNEED zero-fills private anonymous memory and re-reads private
 * file mappings from the file. */
int64_t guest_madvise(uint64_t addr, uint64_t len, int advice)
{
    return for_each_host_run(addr, len, madvise, advice);
}

int64_t guest_msync(uint64_t addr, uint64_t len, int flags)
{
    return for_each_host_run(addr, len, msync, flags);
}

/* ---- mremap and brk ---- */

/* Grows the mapping [start, start + old_len) in place in the guest address space (the caller has
 * checked the pages after it are free); the host may move the memory, which only the page table
 * sees. */
static int64_t grow_in_place(uint64_t start, uint64_t old_len, uint64_t new_len)
{
    uint64_t vpn = vpn_of(start), old_pages = pages_of(old_len);
    uint64_t first = pt_get(vpn), last = pt_get(vpn + old_pages - 1);
    unsigned char *old_host = pte_host(first), *host;
    if (in_window(old_host) && window_place(start, new_len)) {
        /* The host grows a mapping in place only into unmapped space: open a hole for it in the
         * reservation (closed again on failure). */
        munmap(old_host + old_len, new_len - old_len);
        host = mremap(old_host, old_len, new_len, 0);
        if (host == MAP_FAILED) {
            int err = errno;
            window_release(old_host + old_len, new_len - old_len);
            return -err;
        }
    } else {
        host = mremap(old_host, old_len, new_len, MREMAP_MAYMOVE);
        if (host == MAP_FAILED)
            return -errno;
        if (host != old_host && in_window(old_host))
            window_release(old_host, old_len);
    }
    if (host != old_host) {
        for (uint64_t i = 0; i < old_pages; i++)
            pt_set(vpn + i, pte_make(host + i * AOT_PAGE_SIZE, pt_get(vpn + i) & ~GUEST_PAGE_MASK));
        tlb_flush_all();
    }
    map_pages(start + old_len, new_len - old_len, host + old_len, last & ~GUEST_PAGE_MASK);
    host_prot_sync(start, new_len);
    return (int64_t)start;
}

/* Moves [old, old + old_len) to a free [new, new + new_len), new_len >= old_len. */
static int64_t move_mapping(uint64_t old, uint64_t old_len, uint64_t new, uint64_t new_len)
{
    uint64_t from = vpn_of(old), to = vpn_of(new), old_pages = pages_of(old_len);
    uint64_t first = pt_get(from), last = pt_get(from + old_pages - 1);
    unsigned char *old_host = pte_host(first), *place = window_place(new, new_len), *fresh = NULL;
    if (!place && in_window(old_host)) {
        /* Out of the window: to a place of its own (the host could leave it where it is). */
        fresh = mmap(NULL, new_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (fresh == MAP_FAILED)
            return -ENOMEM;
    }
    unsigned char *to_place = place ? place : fresh;
    unsigned char *host = mremap(old_host, old_len, new_len, MREMAP_MAYMOVE | (to_place ? MREMAP_FIXED : 0), to_place);
    if (host == MAP_FAILED) {
        int err = errno;
        if (to_place)
            window_release(to_place, new_len);  /* the host may have unmapped the target first */
        return -err;
    }
    if (host != old_host && in_window(old_host))
        window_release(old_host, old_len);
    code_cache_invalidate(old, old + old_len);
    for (uint64_t i = 0; i < old_pages; i++) {
        uint64_t bits = pt_get(from + i) & ~GUEST_PAGE_MASK & ~PTE_CODE;
        pt_set(from + i, 0);
        pt_set(to + i, pte_make(host + i * AOT_PAGE_SIZE, bits));
    }
    map_pages(new + old_len, new_len - old_len, host + old_len, last & ~GUEST_PAGE_MASK);
    host_prot_sync(new, new_len);
    tlb_flush_all();
    return (int64_t)new;
}

static int64_t remap_locked(uint64_t old, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr)
{
    if (new_len < old_len) {
        unmap_range(old + new_len, old_len - new_len);
        old_len = new_len;
    }
    if (!is_one_run(old, old_len))
        return -EFAULT;
    if (flags & GUEST_MREMAP_FIXED) {
        if (!page_aligned(new_addr) || !range_ok(new_addr, new_len) ||
            (new_addr < old + old_len && old < new_addr + new_len))
            return -EINVAL;
        unmap_range(new_addr, new_len);
        return move_mapping(old, old_len, new_addr, new_len);
    }
    if (new_len == old_len)
        return (int64_t)old;
    uint64_t tail = old + old_len, tail_len = new_len - old_len;
    if (range_ok(tail, tail_len) && pt_range_free(vpn_of(tail), pages_of(tail_len)))
        return grow_in_place(old, old_len, new_len);
    if (!(flags & GUEST_MREMAP_MAYMOVE))
        return -ENOMEM;
    uint64_t vpn = pt_find_free_below(vpn_of(as.mmap_base), pages_of(new_len), vpn_of(GUEST_MMAP_MIN_ADDR));
    return vpn ? move_mapping(old, old_len, vpn << AOT_PAGE_SHIFT, new_len) : -ENOMEM;
}

int64_t guest_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr)
{
    if (!page_aligned(old))
        return -EINVAL;
    if (flags & ~(GUEST_MREMAP_MAYMOVE | GUEST_MREMAP_FIXED | GUEST_MREMAP_DONTUNMAP))
        return -EINVAL;
    if ((flags & GUEST_MREMAP_FIXED) && !(flags & GUEST_MREMAP_MAYMOVE))
        return -EINVAL;
    if (flags & GUEST_MREMAP_DONTUNMAP)
        return -EINVAL;  /* not supported yet */
    if (old_len > GUEST_VA_LIMIT || new_len > GUEST_VA_LIMIT)
        return -ENOMEM;
    old_len = page_up(old_len);
    new_len = page_up(new_len);
    if (!old_len || !new_len)
        return -EINVAL;  /* old_len 0 duplicates shared mappings on Linux; not supported */
    if (!range_ok(old, old_len))
        return -EFAULT;
    pthread_mutex_lock(&as.lock);
    int64_t result = remap_locked(old, old_len, new_len, flags, new_addr);
    pthread_mutex_unlock(&as.lock);
    return result;
}

static bool resize_heap(uint64_t old_end, uint64_t new_end)
{
    if (new_end <= old_end) {
        unmap_range(new_end, old_end - new_end);
        return true;
    }
    uint64_t grow = new_end - old_end;
    if (!pt_range_free(vpn_of(old_end), pages_of(grow)))
        return false;
    uint64_t heap_len = old_end - as.brk_start;
    unsigned char *in_window = window_place(old_end, grow);
    /* In the window the heap is contiguous on the host anyway: new pages need no mremap. */
    if (!in_window && heap_len && is_one_run(as.brk_start, heap_len) &&
        grow_in_place(as.brk_start, heap_len, new_end - as.brk_start) >= 0)
        return true;
    unsigned char *host = host_map_anonymous(old_end, grow, MAP_PRIVATE);
    if (host == MAP_FAILED) {
        if (in_window)
            window_release(in_window, grow);  /* no hole left behind */
        return false;
    }
    map_pages(old_end, grow, host, PTE_R | PTE_W);
    host_prot_sync(old_end, grow);
    return true;
}

/* Linux semantics: the new break on success, the unchanged break on failure. */
uint64_t guest_brk(uint64_t want)
{
    pthread_mutex_lock(&as.lock);
    if (want >= as.brk_start && want <= GUEST_VA_LIMIT && resize_heap(page_up(as.brk), page_up(want)))
        as.brk = want;
    uint64_t result = as.brk;
    pthread_mutex_unlock(&as.lock);
    return result;
}
