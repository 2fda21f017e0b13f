/* Shared anonymous mappings: see shared.h. */
#include "core/ipc/shared.h"

#include <errno.h>
#include <sys/mman.h>

int mproc__shared_map(void **out, size_t size) {
  *out = NULL;
  if (size == 0) size = 1;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) return errno == ENOMEM ? -ENOMEM : -errno;
  *out = p;
  return 0;
}

void mproc__shared_unmap(void *p, size_t size) {
  if (p != NULL) munmap(p, size ? size : 1);
}
