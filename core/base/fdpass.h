/* multiproc internal — descriptors passed over Unix sockets (SCM_RIGHTS).
 *
 * One place for the control-message arithmetic that the relay, both fork
 * servers, the spill of large values and the frame reader need: build the
 * message, retry EINTR, take the descriptors that came (close-on-exec from
 * the moment they exist), close any beyond what the caller wants, and say
 * when the kernel dropped some (MSG_CTRUNC: the receiver was at its
 * descriptor limit). What a dropped descriptor means stays the caller's
 * decision: a hand-over missing one may be no hand-over at all.
 */
#ifndef MPROC_CORE_BASE_FDPASS_H
#define MPROC_CORE_BASE_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/base/check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most descriptors one message carries here. */
#define MPROC__FDPASS_MAX 4

/* One sendmsg of the n (>= 1) bytes of data with the nfds (0 to
 * MPROC__FDPASS_MAX) descriptors fds attached to its first byte, retried
 * on EINTR. flags are sendmsg's (MSG_NOSIGNAL is added). Returns the bytes
 * sent (a stream socket may take fewer than n: the rest is plain data) or
 * -errno (-EINVAL for nfds out of range). */
MPROC__MUST_USE ssize_t mproc__send_fds(int sock, const void *data, size_t n,
                                        const int *fds, int nfds, int flags);

/* One recvmsg of at most n bytes into buf, retried on EINTR, taking the
 * descriptors that came with them into fds (up to max_fds, in order;
 * *nfds says how many; any beyond are closed). They are close-on-exec.
 * *truncated (may be NULL) is set when the kernel dropped descriptors
 * (MSG_CTRUNC). flags are recvmsg's. Returns the bytes received, 0 at end
 * of stream, or -errno (-EAGAIN with MSG_DONTWAIT and nothing there). */
MPROC__MUST_USE ssize_t mproc__recv_fds(int sock, void *buf, size_t n,
                                        int *fds, int max_fds, int *nfds,
                                        bool *truncated, int flags);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_CORE_BASE_FDPASS_H */
