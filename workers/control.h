/* multiproc internal — the pool's protocol with its fork server: the
 * Control message of serialization/wire.proto as C. One message travels as
 * one SOCK_SEQPACKET datagram (no frame header); descriptors ride along
 * with SCM_RIGHTS (forkserver.c). */
#ifndef MPROC_WORKERS_CONTROL_H
#define MPROC_WORKERS_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  MPROC__CTL_SPAWN = 1,
  MPROC__CTL_SPAWNED = 2,
  MPROC__CTL_SPAWN_FAILED = 3,
  MPROC__CTL_EXITED = 4,
  MPROC__CTL_KILL = 5
};

typedef struct {
  int kind; /* MPROC__CTL_* */
  uint32_t slot;
  int32_t pid;
  int32_t status;
  uint64_t utime_us, stime_us, maxrss_kb;
  uint32_t serial;
} mproc__control_t;

/* Encodes c into buf (cap bytes); returns the length or a negative error
 * (MPROC_E2BIG when cap is too small). */
MPROC__MUST_USE int mproc__control_encode(const mproc__control_t *c, void *buf, size_t cap);
/* Errors: MPROC_EMALFORMED (not a Control, or a kind this version does not
 * know; mproc_last_error() says which). */
MPROC__MUST_USE int mproc__control_decode(mproc__control_t *c, const void *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_WORKERS_CONTROL_H */
