/* multiproc internal — robust file-descriptor I/O.
 *
 * Every read, write and poll in multiproc goes through these wrappers, so
 * EINTR, short transfers and non-blocking descriptors are handled in exactly
 * one place (redis rio.c and sqlite's robust_* wrappers are the model).
 * Writes never raise SIGPIPE: sockets use MSG_NOSIGNAL, pipes block SIGPIPE
 * in the calling thread for the duration of the write and discard the one
 * they caused.
 */
#ifndef MPROC_CORE_IO_H
#define MPROC_CORE_IO_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads until n bytes arrived or end of file. Returns the number of bytes
 * read (less than n only at end of file) or -errno. A non-blocking fd is
 * waited on with poll. */
MPROC__MUST_USE ssize_t mproc__read_full(int fd, void *buf, size_t n);

/* One read(2) of at most n bytes, retried on EINTR; waits for data on a
 * non-blocking fd. Returns bytes read, 0 at end of file, or -errno. */
MPROC__MUST_USE ssize_t mproc__read_some(int fd, void *buf, size_t n);

/* Writes all of buf. Returns 0 or -errno (-EPIPE when the reader is gone). */
MPROC__MUST_USE int mproc__write_full(int fd, const void *buf, size_t n);

/* Writes all of buf with plain write(2): for callers that have SIGPIPE
 * ignored or blocked (pool workers), so a pipe costs no signal-mask
 * juggling. Returns 0 or -errno. */
MPROC__MUST_USE int mproc__write_all(int fd, const void *buf, size_t n);

/* Writes all iovcnt buffers, in order, in as few syscalls as the kernel
 * allows. iov is modified (consumed). Returns 0 or -errno. */
MPROC__MUST_USE int mproc__writev_full(int fd, struct iovec *iov, int iovcnt);

/* Waits for events on nfds descriptors until deadline_ns (CLOCK_MONOTONIC,
 * UINT64_MAX for never). Returns the number of ready descriptors, 0 when the
 * deadline passed, or -errno. EINTR restarts the wait with the time left. */
MPROC__MUST_USE int mproc__poll(struct pollfd *fds, nfds_t nfds, uint64_t deadline_ns);

/* Closes fd and keeps errno. EINTR is not retried: on Linux the descriptor is
 * released even then, and retrying could close a reused number. */
void mproc__close(int fd);

/* Sets or clears O_NONBLOCK. Returns 0 or -errno. */
MPROC__MUST_USE int mproc__set_nonblock(int fd, int on);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_IO_H */
