/* multiproc — Pipe and Connection: Python's multiprocessing.Pipe().
 *
 *     mproc_conn_t *parent_end, *child_end;
 *     mproc_pipe(&parent_end, &child_end, true);   // Pipe()
 *     ... start a child that uses child_end:
 *         mproc_value_t *v;
 *         mproc_pack(&v, "[in s]", 42, "hello");
 *         mproc_conn_send(child_end, v);           // conn.send([42, None, 'hello'])
 *     mproc_conn_close(child_end);                 // the parent's copy
 *     mproc_value_t *got;
 *     mproc_conn_recv(parent_end, &got);           // [42, None, 'hello']
 *
 * A Connection is one end of a pipe: a socketpair when duplex (both ends
 * send and receive; SOCK_SEQPACKET, so that a small message is one system
 * call each way), else a pipe(2) whose first end only receives and second
 * only sends, as in Python. Messages are frames (multiproc/frame.h): a
 * value travels as its protobuf encoding (mproc_conn_send/recv), bytes as
 * they are (send_bytes/recv_bytes); on a duplex pipe a message over 4 KiB
 * goes as several records. A message larger than the pipe buffer streams
 * through while the other side reads.
 *
 * Processes. The descriptors are inherited by every child forked after
 * the pipe was made — Processes started later and the workers of a pool
 * created later — and the handle works there unchanged (it is plain
 * memory, copied by fork). This is the one deliberate exception to
 * multiproc's rule that a child closes the descriptors of its parent's
 * other children (see the README's IPC design): a pipe is made to be
 * shared. As in Python, each process should close the ends it does not
 * use: the other end sees the end of the stream only once *every* process
 * holding this end has closed it (or ended).
 *
 * End of stream and errors. recv returns MPROC_EOF once the peer's end is
 * closed everywhere and every message has been read; MPROC_ETRUNCATED if
 * the writer died in the middle of a message. send returns MPROC_EPIPE
 * when no process holds the receiving end any more (never SIGPIPE). A
 * signal during a blocking call (EINTR) never ends it.
 *
 * Threads. A Connection may be used by one thread at a time per end and
 * direction; two processes writing the same end at once can interleave
 * large messages (as in Python): guard shared writers with a Lock.
 *
 * Reads never go beyond the message being read, so whatever is left is
 * still in the descriptor: mproc_conn_fileno's readiness in your own poll
 * loop always means a message (or the end) is there.
 *
 * Errors every function here may return: MPROC_EINVAL (a NULL handle or
 * argument, NaN timeout).
 */
#ifndef MPROC_PIPE_H
#define MPROC_PIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "multiproc/error.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_conn mproc_conn_t;

/* Makes a pipe and its two Connections (Python's Pipe(duplex)). With
 * duplex false, *a only receives and *b only sends.
 * Errors: MPROC_EMFILE, MPROC_ENFILE, MPROC_ENOMEM. */
MPROC_API int mproc_pipe(mproc_conn_t **a, mproc_conn_t **b, bool duplex);

/* Sends v as one message. Errors: MPROC_EPIPE (no receiver), MPROC_EBADF
 * (a receive-only end), MPROC_ETOOBIG (an encoding over 4 GiB - 1 bytes),
 * MPROC_ENOMEM, other -errno. */
MPROC_API int mproc_conn_send(mproc_conn_t *c, const mproc_value_t *v);

/* Receives one message sent by mproc_conn_send, waiting for it; *out is a
 * new value owned by the caller. Errors: MPROC_EOF, MPROC_ETRUNCATED,
 * MPROC_EMALFORMED (a message that is not a value, such as one sent with
 * send_bytes), MPROC_EBADF (a send-only end), MPROC_ENOMEM, -errno. */
MPROC_API int mproc_conn_recv(mproc_conn_t *c, mproc_value_t **out);

/* Sends n bytes as one message (p may be NULL when n is 0).
 * Errors: as mproc_conn_send. */
MPROC_API int mproc_conn_send_bytes(mproc_conn_t *c, const void *p, size_t n);

/* Receives one message as bytes: *p is a new buffer of *n bytes plus a
 * NUL after them, to be released with mproc_frame_free (multiproc/frame.h).
 * Errors: as mproc_conn_recv (but any bytes are accepted). */
MPROC_API int mproc_conn_recv_bytes(mproc_conn_t *c, void **p, size_t *n);

/* Whether there is something to receive (a message, or the end of the
 * stream), waiting at most timeout_s (negative: without limit; 0: just
 * check). Returns 1 or 0. Errors: MPROC_EBADF (a send-only end),
 * MPROC_ENOMEM. */
MPROC_API int mproc_conn_poll(mproc_conn_t *c, double timeout_s);

/* The descriptor, for your own poll/epoll loop (do not close it). */
MPROC_API int mproc_conn_fileno(const mproc_conn_t *c);

/* Whether this end can receive / send (Python's readable, writable). */
MPROC_API bool mproc_conn_readable(const mproc_conn_t *c);
MPROC_API bool mproc_conn_writable(const mproc_conn_t *c);

/* Closes this process's copy of the end and frees the handle. NULL is
 * ignored. Always 0. */
MPROC_API int mproc_conn_close(mproc_conn_t *c);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_PIPE_H */
