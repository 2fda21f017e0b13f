/* Huge pages for big buffers.
 *
 * On the virtual machines this library runs on, the first touch of a fresh
 * 4 KiB page can cost 4-15 us (bench/PROFILE.md, the memory-costs review):
 * a 256 MiB argument copied into fresh memory pays 65,536 such faults per
 * pass. Transparent huge pages in "madvise" mode (the common default) cut
 * that 512-fold, but only where the program asks. glibc serves big blocks
 * with their own mmap, so advising the block's 2 MiB-aligned interior right
 * after malloc or realloc, before it is written, is enough: free and realloc
 * keep working as usual (glibc's own glibc.malloc.hugetlb=1 tunable does
 * the same, but only when set in the environment before start). */
#ifndef MPROC_CORE_BASE_HUGEMEM_H
#define MPROC_CORE_BASE_HUGEMEM_H

#include <stddef.h>

/* Blocks smaller than this are left alone: at most one huge page would fit,
 * and small blocks come from the heap's reused memory anyway. */
#define MPROC__HUGE_MIN ((size_t)4 << 20)

/* Asks for huge pages on the whole 2 MiB pages inside [p, p + n) when n is
 * at least MPROC__HUGE_MIN. A hint: where the kernel refuses (THP "never",
 * no memory to compact) nothing changes, so errors are ignored. */
void mproc__huge_hint(void *p, size_t n);

#endif
