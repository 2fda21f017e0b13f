/* multiproc internal — values too large to travel inline, spilled to a
 * memory file (memfd) whose descriptor travels instead (SCM_RIGHTS): a
 * queue's large items, a Process's large result. The file is written
 * (pwrite) and sealed before its descriptor leaves, so the receiver never
 * sees it change or shrink; it is read back with pread, straight into the
 * value's memory.
 *
 * Private descriptors. While this process holds such a memfd it is
 * registered in a registry node (core/registry.h), so a child forked in
 * that instant by another thread closes it instead of keeping a copy of a
 * file that may be gigabytes large; a received one is adopted while the
 * registry's lock is held, since it appears in the process during
 * recvmsg. Descriptors meant to be inherited — a Pipe's, a Queue's socket —
 * are in no node.
 */
#ifndef MPROC_CORE_IPC_SPILL_H
#define MPROC_CORE_IPC_SPILL_H

#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "multiproc/value.h"

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  mproc__node_t node; /* fds[0]: the memfd; linked while it is open */
  size_t size;        /* bytes of the encoded value */
} mproc__spill_t;

/* Encodes v into a new memfd held in s. Returns 0, MPROC_ENOMEM,
 * MPROC_ENOSPC, MPROC_EMFILE or -errno (s then holds nothing). */
MPROC__MUST_USE int mproc__spill_write(mproc__spill_t *s,
                                       const mproc_value_t *v);

/* Decodes the value in s's memfd. */
MPROC__MUST_USE int mproc__spill_read(const mproc__spill_t *s,
                                      mproc_value_t **out);

/* Decodes the value in the memory file fd, size bytes (a received one). */
MPROC__MUST_USE int mproc__spill_read_fd(int fd, size_t size,
                                         mproc_value_t **out);

/* The memfd, or -1. */
int mproc__spill_fd(const mproc__spill_t *s);

/* Takes in a descriptor received with the registry's lock held (the caller
 * still holds it), its size read from the file. */
void mproc__spill_adopt_locked(mproc__spill_t *s, int fd);

/* Closes the memfd and forgets it. Safe on a spill holding nothing. */
void mproc__spill_release(mproc__spill_t *s);

/* Sends the n (>= 1) bytes of data over a stream socket with fd attached
 * to the first of them. flags: for sendmsg (MSG_NOSIGNAL is added).
 * Returns 0 or -errno (-EAGAIN with MSG_DONTWAIT when nothing could be
 * sent; what follows a partial send is written without the flags). */
MPROC__MUST_USE int mproc__send_fd(int sock, const void *data, size_t n, int fd,
                                   int flags);

/* Receives one byte and the descriptor riding on it (close-on-exec) into
 * *fd, -1 when none came; call with the registry's lock held and adopt the
 * descriptor before releasing it. Returns 1, 0 at end of stream, or -errno
 * (-EAGAIN with MSG_DONTWAIT and nothing there; -EMFILE when a descriptor
 * came but this process had no room for it: the kernel dropped it). */
MPROC__MUST_USE int mproc__recv_fd_locked(int sock, int *fd, int flags);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_IPC_SPILL_H */
