/* SharedMemory: see shm.h. */
#include "core/base/error_detail.h"
#include "multiproc/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/io.h"
#include "core/ipc/shared.h"
#include "core/registry.h"

struct mproc_shm {
  void *addr;
  size_t size;
  bool named;
  char name[MPROC_SHM_NAME_MAX + 2]; /* "/name" */
};

int mproc_shm_new(mproc_shm_t **out, size_t size) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (size == 0) return MPROC__EINVAL("size must be 1 or more");
  mproc_shm_t *s = calloc(1, sizeof *s);
  if (s == NULL) return MPROC_ENOMEM;
  int rc = mproc__shared_map(&s->addr, size);
  if (rc < 0) {
    free(s);
    return rc;
  }
  s->size = size;
  *out = s;
  return 0;
}

/* "/name" from name, which may carry the leading slash. */
static int make_path(const char *func, char *path, const char *name) {
  if (name[0] == '/') name++;
  size_t n = strlen(name);
  if (n == 0 || n > MPROC_SHM_NAME_MAX)
    return mproc__einval(func, "name '%s' must be 1 to %d characters", name,
                         MPROC_SHM_NAME_MAX);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return mproc__einval(func, "name '%s': '%c' is not allowed (letters, "
                           "digits, '.', '_', '-')", name, c);
  }
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return mproc__einval(func, "name '%s' is not allowed", name);
  path[0] = '/';
  memcpy(path + 1, name, n + 1);
  return 0;
}

static void unique_path(char *path) {
  static atomic_uint counter;
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
    r = (uint64_t)(uintptr_t)path ^ (uint64_t)getpid() << 32;
  snprintf(path, MPROC_SHM_NAME_MAX + 2, "/mproc-%d-%u-%016llx", (int)getpid(),
           atomic_fetch_add(&counter, 1) + 1, (unsigned long long)r);
}

/* Opens (or creates) the object and maps it. The descriptor exists only
 * inside the registry's lock: a child forked meanwhile by another thread
 * cannot inherit it (core/registry.h). */
static int open_map(mproc_shm_t *s, bool create, size_t size) {
  int rc = 0;
  mproc__lock();
  int fd = create ? shm_open(s->name, O_RDWR | O_CREAT | O_EXCL, 0600)
                  : shm_open(s->name, O_RDWR, 0);
  if (fd < 0) rc = -errno;
  if (rc == 0 && create) {
    while (ftruncate(fd, (off_t)size) < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
  } else if (rc == 0) {
    struct stat st;
    if (fstat(fd, &st) < 0) rc = -errno;
    else if (st.st_size <= 0) /* not made by create */
      rc = mproc__einval("mproc_shm_attach", "shared memory '%s' is empty: "
                         "not made by mproc_shm_create", s->name + 1);
    else size = (size_t)st.st_size;
  }
  if (rc == 0) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) rc = -errno;
    else s->addr = p;
  }
  if (rc < 0 && create && fd >= 0) shm_unlink(s->name);
  mproc__close(fd);
  mproc__unlock();
  s->size = size;
  return rc;
}

int mproc_shm_create(mproc_shm_t **out, const char *name, size_t size) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (size == 0) return MPROC__EINVAL("size must be 1 or more");
  mproc_shm_t *s = calloc(1, sizeof *s);
  if (s == NULL) return MPROC_ENOMEM;
  s->named = true;
  int rc = 0;
  if (name != NULL) {
    rc = make_path(__func__, s->name, name);
  } else {
    unique_path(s->name);
  }
  if (rc == 0) rc = open_map(s, true, size);
  if (rc < 0) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int mproc_shm_attach(mproc_shm_t **out, const char *name) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (name == NULL) return MPROC__EINVAL("name is NULL");
  mproc_shm_t *s = calloc(1, sizeof *s);
  if (s == NULL) return MPROC_ENOMEM;
  s->named = true;
  int rc = make_path(__func__, s->name, name);
  if (rc == 0) rc = open_map(s, false, 0);
  if (rc < 0) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void *mproc_shm_buf(const mproc_shm_t *shm) {
  return shm == NULL ? NULL : shm->addr;
}

size_t mproc_shm_size(const mproc_shm_t *shm) {
  return shm == NULL ? 0 : shm->size;
}

const char *mproc_shm_name(const mproc_shm_t *shm) {
  return shm == NULL || !shm->named ? NULL : shm->name + 1;
}

int mproc_shm_unlink(mproc_shm_t *shm) {
  if (shm == NULL || !shm->named)
    return MPROC__EINVAL("%s", shm == NULL ? "shm is NULL"
                                           : "shm is anonymous: it has no name");
  return shm_unlink(shm->name) == 0 ? 0 : -errno;
}

int mproc_shm_close(mproc_shm_t *shm) {
  if (shm == NULL) return 0;
  if (shm->addr != NULL) munmap(shm->addr, shm->size);
  free(shm);
  return 0;
}
