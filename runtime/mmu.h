/* Guest memory: the guest page table, the per-thread software TLBs, helpers that
 * move data between guest memory and the runtime, and the guest address-space operations
 * (mmap, munmap, mprotect, mremap, brk) built on them. */
#ifndef AOT_MMU_H
#define AOT_MMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "runtime.h"

/* A page table entry is the host address of the page's memory with these bits in the low 12.
 * 0 means unmapped.  The PTE bits are the guest's permissions.  Host memory in the direct window
 * has at most the guest's access (no write on PTE_CODE pages, none for execute-only ones; see
 * addrspace.c); elsewhere it is readable and writable (except for shared file mappings, see
 * PTE_SHARED_FILE), and the PTE bits alone protect it. */
#define PTE_R 1ULL
#define PTE_W 2ULL
#define PTE_X 4ULL
#define PTE_PERMS (PTE_R | PTE_W | PTE_X)
/* The host mapping is a MAP_SHARED file mapping whose host protection mirrors the guest's
 * (the host would refuse read-write for a read-only file descriptor). */
#define PTE_SHARED_FILE 8ULL
/* The fallback JIT translated code on this page: stores take the slow path (no write TLB entry,
 * no host write access in the window), which drops the page's code before writing to it
 * (self-modifying code). */
#define PTE_CODE 16ULL

/* The page table covers 48-bit guest addresses; Linux riscv64 user space (Sv48 at most) fits. */
#define GUEST_VA_BITS 48
#define GUEST_VA_LIMIT (1ULL << GUEST_VA_BITS)
#define GUEST_VPN_LIMIT (GUEST_VA_LIMIT >> AOT_PAGE_SHIFT)
/* Like Linux's vm.mmap_min_addr default: the first 64 KiB are never mapped. */
#define GUEST_MMAP_MIN_ADDR 0x10000ULL
/* The guest stack ends one guard page below the top of the Sv39 user range. */
#define GUEST_STACK_TOP 0x3ffffff000ULL

static inline unsigned char *pte_host(uint64_t pte) { return (unsigned char *)(uintptr_t)(pte & GUEST_PAGE_MASK); }
static inline uint64_t pte_make(const void *host, uint64_t bits) { return (uint64_t)(uintptr_t)host | bits; }

uint64_t pt_get(uint64_t vpn);
void pt_set(uint64_t vpn, uint64_t pte);

/* A maximal run of pages from vpn: either all unmapped (pte == 0), or all mapped to consecutive
 * host pages of the same kind (pte is the first page's entry; permissions may differ). */
struct pt_run { uint64_t vpn, npages, pte; };
struct pt_run pt_run_at(uint64_t vpn, uint64_t end_vpn);
bool pt_range_free(uint64_t vpn, uint64_t npages);
/* The highest vpn >= min_vpn such that [vpn, vpn + npages) is free and ends at or below top_vpn;
 * 0 if there is none. */
uint64_t pt_find_free_below(uint64_t top_vpn, uint64_t npages, uint64_t min_vpn);

void tlb_register(struct aot_cpu *cpu);
/* Sets (or clears) PTE_CODE on the mapped pages of [lo, hi). */
void pt_mark_code(uint64_t lo, uint64_t hi, bool on);
void tlb_flush_all(void);

/* Data transfer for system calls; permissions are checked, failures are -EFAULT. */
int guest_read(uint64_t addr, void *dst, size_t len);
int guest_write(uint64_t addr, const void *src, size_t len);
/* Reads instruction bytes: the pages must be executable rather than readable. */
int guest_fetch(uint64_t addr, void *dst, size_t len);
/* Copies the NUL-terminated string at addr; returns its length, -EFAULT or -ENAMETOOLONG. */
int64_t guest_read_string(uint64_t addr, char *dst, size_t cap);
/* Host iovecs covering the accessible prefix of [addr, addr + len) (at most max of them, so the
 * prefix may be short); returns their count, or -EFAULT if not even the first byte is accessible. */
int guest_iovecs(uint64_t addr, uint64_t len, uint64_t need, struct iovec *iov, int max);
/* Host address of [addr, addr + len) if it lies within one page granting need, else NULL. */
void *guest_host_ptr(uint64_t addr, uint64_t len, uint64_t need);

/* Address space (addrspace.c).  Results are guest addresses or negated errno values. */
/* Reserves the direct window (see addrspace.c); first thing at start-up. */
void window_reserve(void);
/* Points this thread's %gs at the window, before it runs translated code. */
void window_enter_thread(void);
/* Gives the host memory of the mapped pages of [addr, addr + len) the protection their entries
 * call for (see addrspace.c), after the entries or the host memory changed. */
void host_prot_sync(uint64_t addr, uint64_t len);
void addrspace_init(uint64_t brk_start, uint64_t stack_size);
uint64_t addrspace_private_page(void);
void *map_guest_fixed(uint64_t addr, uint64_t len, uint64_t perms);
int64_t guest_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t offset);
int64_t guest_munmap(uint64_t addr, uint64_t len);
int64_t guest_mprotect(uint64_t addr, uint64_t len, int prot);
int64_t guest_mremap(uint64_t old_addr, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr);
int64_t guest_madvise(uint64_t addr, uint64_t len, int advice);
int64_t guest_msync(uint64_t addr, uint64_t len, int flags);
uint64_t guest_brk(uint64_t new_brk);

#endif
