/* Queue, SimpleQueue, JoinableQueue: see queue.h.
 *
 * Design. Python's Queue is a pipe written by a feeder thread under a
 * lock. A producer killed mid-write leaves half an item in the pipe (every
 * later get reads garbage) or the lock held forever; a consumer killed
 * mid-read does the same from the other side; and the feeder thread is
 * why a process that put items must be joined with care. Here:
 *
 * - The queue is a ring of records in anonymous shared memory, guarded by
 *   one robust process-shared mutex (lockcore.h). A record is an 8-byte
 *   header (payload length, kind) and the item's encoding (a protobuf
 *   Value), padded to 8 bytes; it may wrap around the ring's end.
 * - Every change of the queue's state (head, tail, counts) is computed
 *   aside, written to a journal, flagged valid by one store, applied, and
 *   unflagged (commit()). A process killed anywhere in a critical section
 *   leaves either the old state (journal not yet valid: the bytes it wrote
 *   past the tail are simply not part of the queue) or a valid journal,
 *   which the next holder — told by EOWNERDEAD — applies (recover()). So
 *   no item is ever half in the queue, and no death wedges it.
 * - Items are copied in and out under the lock (a small item: a memcpy),
 *   encoded before and decoded after it. An item over a quarter of the
 *   ring is spilled (spill.h): encoded into a memfd outside the lock; the
 *   memfd is sent over the queue's socket and a small record naming it
 *   (inode, size) committed, both under the lock, so descriptors queue in
 *   the socket in record order. A getter commits the record's removal,
 *   then receives descriptors until the one whose inode matches: any
 *   before it are strays from a process killed between the two steps
 *   (a producer after sending, a getter after committing), and are closed.
 * - Waiting: futex sequence words (items added / removed / all tasks
 *   done), bumped under the lock, with counts of sleepers so that a put
 *   into a queue nobody waits on makes no system call. One sleeper is woken
 *   per item; futex waits re-check every 200 ms (futex.h), so a process
 *   killed after committing but before waking costs the sleepers that much,
 *   never a hang.
 *
 * The handle (struct mproc_queue) is process-local memory pointing at the
 * shared part; fork copies it, so a child uses the parent's pointer. */
#include "core/base/error_detail.h"
#include "multiproc/queue.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/io.h"
#include "core/ipc/futex.h"
#include "core/ipc/lockcore.h"
#include "core/ipc/queue_testing.h"
#include "core/ipc/shared.h"
#include "core/ipc/spill.h"
#include "core/ipc/sync_internal.h"
#include "core/registry.h"

#define DEFAULT_CAPACITY ((size_t)512 << 10)
#define MIN_CAPACITY ((size_t)4 << 10)
#define RECORD_HEADER 8
/* Spilled items at most in the queue at once: each holds a descriptor in
 * flight in the socket, which the kernel counts against the sender's
 * RLIMIT_NOFILE. */
#define MAX_SPILLS 64
/* Small items are encoded on the stack. */
#define STACK_ITEM 512

enum { KIND_INLINE = 1, KIND_SPILL = 2 };

typedef struct {
  uint64_t head;       /* ring offset of the first record (grows forever) */
  uint64_t tail;       /* after the last record */
  uint64_t count;      /* items */
  uint64_t spills;     /* of which spilled to memory files */
  uint64_t unfinished; /* JoinableQueue: put and not yet task_done */
} qstate_t;

/* A spilled item's record payload. */
typedef struct {
  uint64_t ino;
  uint64_t size;
} spill_ref_t;

typedef struct {
  mproc__lockcore_t lock;
  qstate_t state;
  qstate_t journal;
  uint32_t journal_valid;
  uint32_t items_seq; /* futex: moves when an item is added */
  uint32_t space_seq; /* futex: moves when an item is removed */
  uint32_t done_seq;  /* futex: moves when unfinished reaches 0 */
  uint32_t getters, putters, joiners; /* sleeping on each */
  uint32_t joinable;
  uint64_t cap;     /* ring bytes, a multiple of 8 */
  uint64_t maxsize; /* 0: none */
  uint64_t ring_offset;
  uint64_t recoveries; /* deaths inside the lock recovered from */
  uint64_t strays;     /* stray descriptors closed */
} qshared_t;

struct mproc_queue {
  qshared_t *s;
  size_t map_size;
  int sock[2]; /* [1] carries spilled items' descriptors to [0] */
};

static uint8_t *ring(const qshared_t *s) {
  return (uint8_t *)s + s->ring_offset;
}

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* ---- The state and its journal. */

/* For the fault tests only (queue_testing.h): a step at which to die. */
static int die_at;

static void maybe_die(int step) {
  if (__builtin_expect(die_at == step, 0)) raise(SIGKILL);
}

static void store_state(qstate_t *dst, const qstate_t *src) {
  MPROC__STORE(&dst->head, src->head);
  MPROC__STORE(&dst->tail, src->tail);
  MPROC__STORE(&dst->count, src->count);
  MPROC__STORE(&dst->spills, src->spills);
  MPROC__STORE(&dst->unfinished, src->unfinished);
}

/* Makes ns the state, as one step for anyone who finds this process dead
 * half-way (see the top of the file). */
static void commit(qshared_t *s, const qstate_t *ns) {
  store_state(&s->journal, ns);
  MPROC__STORE(&s->journal_valid, 1);
  maybe_die(MPROC__QUEUE_DIE_IN_COMMIT);
  store_state(&s->state, ns);
  MPROC__STORE(&s->journal_valid, 0);
}

/* The previous holder died holding the lock: finish its commit, if it got
 * that far, and wake everyone — it may have died before waking anyone. */
static void recover(qshared_t *s) {
  MPROC__ADD(&s->recoveries, 1);
  if (MPROC__LOAD(&s->journal_valid)) {
    qstate_t j;
    j.head = MPROC__LOAD(&s->journal.head);
    j.tail = MPROC__LOAD(&s->journal.tail);
    j.count = MPROC__LOAD(&s->journal.count);
    j.spills = MPROC__LOAD(&s->journal.spills);
    j.unfinished = MPROC__LOAD(&s->journal.unfinished);
    store_state(&s->state, &j);
    MPROC__STORE(&s->journal_valid, 0);
  }
  MPROC__ADD(&s->items_seq, 1);
  MPROC__ADD(&s->space_seq, 1);
  MPROC__ADD(&s->done_seq, 1);
  mproc__futex_wake(&s->items_seq, INT32_MAX);
  mproc__futex_wake(&s->space_seq, INT32_MAX);
  mproc__futex_wake(&s->done_seq, INT32_MAX);
}

static qstate_t current(const qshared_t *s) { return s->state; }

/* Takes the queue's lock by deadline; returns 0 or MPROC_ETIMEDOUT. */
static int qlock(qshared_t *s, uint64_t deadline) {
  int rc = mproc__lockcore_acquire(&s->lock, deadline);
  if (rc == MPROC_EOWNERDEAD) {
    recover(s);
    rc = 0;
  }
  return rc;
}

/* Only after qlock succeeded, by the same thread: never refused. */
static void qunlock(qshared_t *s) {
  MPROC__IGNORE(mproc__lockcore_release(&s->lock));
}

/* With the lock held: sleeps on seq until it moves or the deadline, and
 * takes the lock back. Returns 0 (the lock held: look again), 1 (the lock
 * held, the deadline passed: look a last time), or MPROC_ETIMEDOUT (the
 * lock could not be had by the deadline). */
static int sleep_on(qshared_t *s, uint32_t *seq, uint32_t *sleepers,
                    uint64_t deadline) {
  if (deadline == 0) return 1; /* the nowait forms */
  uint32_t seen = MPROC__LOAD(seq);
  MPROC__ADD(sleepers, 1);
  qunlock(s);
  int rc = mproc__futex_wait(seq, seen, deadline);
  MPROC__SUB(sleepers, 1);
  /* Past the deadline the lock is still tried once, for that last look. */
  int lrc = qlock(s, deadline);
  if (lrc < 0) return lrc;
  return rc == MPROC_ETIMEDOUT ? 1 : 0;
}

/* With the lock held: an item was added (items_seq) or removed
 * (space_seq). The sleepers are woken once the lock is released (wake),
 * so that the one woken does not find it still taken. */
static void moved(uint32_t *seq) { MPROC__ADD(seq, 1); }

static void wake(uint32_t *seq, uint32_t *sleepers) {
  if (MPROC__LOAD(sleepers) > 0) mproc__futex_wake(seq, 1);
}

/* ---- The ring. */

static void ring_write(qshared_t *s, uint64_t off, const void *src, size_t n) {
  size_t pos = (size_t)(off % s->cap);
  size_t first = n < s->cap - pos ? n : (size_t)(s->cap - pos);
  memcpy(ring(s) + pos, src, first);
  memcpy(ring(s), (const uint8_t *)src + first, n - first);
}

static void ring_read(const qshared_t *s, uint64_t off, void *dst, size_t n) {
  size_t pos = (size_t)(off % s->cap);
  size_t first = n < s->cap - pos ? n : (size_t)(s->cap - pos);
  memcpy(dst, ring(s) + pos, first);
  memcpy((uint8_t *)dst + first, ring(s), n - first);
}

static uint64_t ring_free(const qshared_t *s, const qstate_t *st) {
  return s->cap - (st->tail - st->head);
}

/* ---- Creation and release. */

int mproc_queue_new(mproc_queue_t **out, const mproc_queue_opts_t *opts) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  mproc_queue_opts_t o;
  memset(&o, 0, sizeof o);
  if (opts != NULL) o = *opts;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t cap = o.capacity ? o.capacity : DEFAULT_CAPACITY;
  if (cap < MIN_CAPACITY) cap = MIN_CAPACITY;
  if (cap > SIZE_MAX / 2)
    return MPROC__EINVAL("opts.capacity is too large (%zu)", cap);
  cap = (cap + page - 1) / page * page;
  size_t header = (sizeof(qshared_t) + page - 1) / page * page;
  mproc_queue_t *q = calloc(1, sizeof *q);
  if (q == NULL) return MPROC_ENOMEM;
  q->sock[0] = q->sock[1] = -1;
  q->map_size = header + cap;
  void *mem;
  int rc = mproc__shared_map(&mem, q->map_size);
  if (rc == 0) {
    q->s = mem;
    rc = mproc__lockcore_init(&q->s->lock, false);
  }
  /* The socket is meant to be inherited (queue.h), so it is in no
   * registry node. Stream, not datagram: a connected datagram socket
   * blocks its sender after max_dgram_qlen (10) messages. */
  if (rc == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, q->sock) < 0)
    rc = -errno;
  if (rc < 0) {
    mproc_queue_close(q);
    return rc;
  }
  q->s->cap = cap;
  q->s->maxsize = o.maxsize;
  q->s->joinable = o.joinable;
  q->s->ring_offset = header;
  *out = q;
  return 0;
}

int mproc_queue_close(mproc_queue_t *q) {
  if (q == NULL) return 0;
  mproc__close(q->sock[0]);
  mproc__close(q->sock[1]);
  if (q->s != NULL) mproc__shared_unmap(q->s, q->map_size);
  free(q);
  return 0;
}

/* ---- put. */

/* Whether one more record of rec bytes (a spill when spill) fits now. */
static bool has_room(const qshared_t *s, const qstate_t *st, size_t rec,
                     bool spill) {
  if (s->maxsize != 0 && st->count >= s->maxsize) return false;
  if (spill && st->spills >= MAX_SPILLS) return false;
  return ring_free(s, st) >= rec;
}

/* With the lock held: appends a record and commits it. */
static void append(qshared_t *s, uint32_t kind, const void *payload,
                   size_t len, bool spill) {
  qstate_t ns = current(s);
  uint32_t hdr[2] = {(uint32_t)len, kind};
  ring_write(s, ns.tail, hdr, RECORD_HEADER);
  ring_write(s, ns.tail + RECORD_HEADER, payload, len);
  ns.tail += RECORD_HEADER + round8(len);
  ns.count++;
  if (spill) ns.spills++;
  if (s->joinable) ns.unfinished++;
  commit(s, &ns);
}

/* Every descriptor in the socket is a stray when no spilled record is
 * queued: take them out (with the lock held), making room. */
static void drop_strays(mproc_queue_t *q) {
  for (;;) {
    int fd;
    mproc__lock();
    int rc = mproc__recv_fd_locked(q->sock[0], &fd, MSG_DONTWAIT);
    if (fd >= 0) MPROC__ADD(&q->s->strays, 1);
    mproc__close(fd);
    mproc__unlock();
    if (rc <= 0) return;
  }
}

static int put_spilled(mproc_queue_t *q, const mproc_value_t *item,
                       uint64_t deadline) {
  qshared_t *s = q->s;
  mproc__spill_t sp;
  int rc = mproc__spill_write(&sp, item);
  if (rc < 0) return rc;
  struct stat st;
  spill_ref_t ref;
  if (fstat(mproc__spill_fd(&sp), &st) < 0) {
    rc = -errno;
    mproc__spill_release(&sp);
    return rc;
  }
  ref.ino = (uint64_t)st.st_ino;
  ref.size = sp.size;
  size_t rec = RECORD_HEADER + sizeof ref;
  int last = 0;
  bool drained = false;
  rc = qlock(s, deadline);
  while (rc == 0) {
    qstate_t cur = current(s);
    bool room = has_room(s, &cur, rec, true);
    if (room) {
      /* Sent first, committed second: a death in between leaves a stray
       * descriptor, never a record without its descriptor. */
      rc = mproc__send_fd(q->sock[1], "", 1, mproc__spill_fd(&sp),
                          MSG_DONTWAIT);
      if (rc == 0) {
        maybe_die(MPROC__QUEUE_DIE_AFTER_SEND);
        append(s, KIND_SPILL, &ref, sizeof ref, true);
        moved(&s->items_seq);
        qunlock(s);
        wake(&s->items_seq, &s->getters);
        break;
      }
      if (rc != -EAGAIN && rc != -EWOULDBLOCK) {
        qunlock(s);
        break;
      }
      rc = 0;
      room = false;
      if (cur.spills == 0 && !drained) {
        drop_strays(q);
        drained = true;
        continue;
      }
    }
    if (last) {
      qunlock(s);
      rc = MPROC_ETIMEDOUT;
      break;
    }
    last = sleep_on(s, &s->space_seq, &s->putters, deadline);
    if (last < 0) rc = last;
  }
  mproc__spill_release(&sp);
  return rc == MPROC_ETIMEDOUT ? MPROC_EFULL : rc;
}

int mproc_queue_put(mproc_queue_t *q, const mproc_value_t *item,
                    double timeout_s) {
  if (q == NULL || item == NULL)
    return MPROC__EINVAL("%s is NULL", q == NULL ? "q" : "item");
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  qshared_t *s = q->s;
  size_t len = mproc_value_encoded_size(item);
  if (RECORD_HEADER + round8(len) > s->cap / 4 || len > UINT32_MAX)
    return put_spilled(q, item, deadline);
  uint8_t mem[STACK_ITEM];
  uint8_t *buf = len <= sizeof mem ? mem : malloc(len);
  if (buf == NULL) return MPROC_ENOMEM;
  rc = mproc_value_encode(item, buf, len);
  size_t rec = RECORD_HEADER + round8(len);
  int last = 0;
  if (rc >= 0) rc = qlock(s, deadline);
  while (rc == 0) {
    qstate_t cur = current(s);
    if (!has_room(s, &cur, rec, false)) {
      if (last) {
        qunlock(s);
        rc = MPROC_ETIMEDOUT;
        break;
      }
      last = sleep_on(s, &s->space_seq, &s->putters, deadline);
      if (last < 0) rc = last;
      continue;
    }
    append(s, KIND_INLINE, buf, len, false);
    moved(&s->items_seq);
    qunlock(s);
    wake(&s->items_seq, &s->getters);
    break;
  }
  if (buf != mem) free(buf);
  if (rc == MPROC_ETIMEDOUT) return MPROC_EFULL;
  return rc < 0 ? rc : 0;
}

/* ---- get. */

/* With the lock held, the record at head committed away: receives its
 * descriptor, closing strays before it. Returns 0 with sp holding it, or
 * MPROC_EEMPTY when it is missing (never, unless the socket was tampered
 * with: the item is lost), or -errno (MPROC_EMFILE: lost too). */
static int receive_spilled(mproc_queue_t *q, const spill_ref_t *ref,
                           mproc__spill_t *sp) {
  for (;;) {
    int fd;
    mproc__lock();
    int rc = mproc__recv_fd_locked(q->sock[0], &fd, MSG_DONTWAIT);
    struct stat st;
    if (rc > 0 && fd >= 0 && fstat(fd, &st) == 0 &&
        (uint64_t)st.st_ino == ref->ino) {
      mproc__spill_adopt_locked(sp, fd);
      mproc__unlock();
      return 0;
    }
    if (fd >= 0) MPROC__ADD(&q->s->strays, 1);
    mproc__close(fd); /* a stray */
    mproc__unlock();
    if (rc == 0 || rc == -EAGAIN || rc == -EWOULDBLOCK) return MPROC_EEMPTY;
    if (rc < 0) return rc;
  }
}

int mproc_queue_get(mproc_queue_t *q, mproc_value_t **out, double timeout_s) {
  if (out == NULL) return MPROC__EINVAL("out is NULL");
  *out = NULL;
  if (q == NULL) return MPROC__EINVAL("q is NULL");
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  qshared_t *s = q->s;
  uint8_t mem[STACK_ITEM];
  uint8_t *buf = mem;
  int last = 0;
  rc = qlock(s, deadline);
  while (rc == 0) {
    qstate_t ns = current(s);
    if (ns.count == 0) {
      if (last) {
        qunlock(s);
        rc = MPROC_ETIMEDOUT;
        break;
      }
      last = sleep_on(s, &s->items_seq, &s->getters, deadline);
      if (last < 0) rc = last;
      continue;
    }
    uint32_t hdr[2];
    ring_read(s, ns.head, hdr, RECORD_HEADER);
    size_t len = hdr[0];
    bool spilled = hdr[1] == KIND_SPILL;
    if (!spilled && len > sizeof mem) {
      buf = malloc(len);
      if (buf == NULL) {
        qunlock(s);
        return MPROC_ENOMEM; /* the item stays in the queue */
      }
    }
    spill_ref_t ref;
    ring_read(s, ns.head + RECORD_HEADER, spilled ? (void *)&ref : buf,
              spilled ? sizeof ref : len);
    ns.head += RECORD_HEADER + round8(len);
    ns.count--;
    if (spilled) ns.spills--;
    commit(s, &ns);
    mproc__spill_t sp;
    if (spilled) maybe_die(MPROC__QUEUE_DIE_AFTER_POP);
    if (spilled) rc = receive_spilled(q, &ref, &sp);
    moved(&s->space_seq);
    qunlock(s);
    wake(&s->space_seq, &s->putters);
    if (spilled && rc == MPROC_EEMPTY) {
      rc = qlock(s, deadline); /* lost: take the next one */
      continue;
    }
    if (spilled && rc == 0) {
      rc = mproc__spill_read(&sp, out);
      mproc__spill_release(&sp);
    } else if (rc == 0) {
      rc = mproc_value_decode(out, buf, len);
    }
    break;
  }
  if (buf != mem) free(buf);
  if (rc == MPROC_ETIMEDOUT) return MPROC_EEMPTY;
  return rc < 0 ? rc : 0;
}

/* ---- Sizes. */

long mproc_queue_qsize(const mproc_queue_t *q) {
  if (q == NULL) return MPROC__EINVAL("q is NULL");
  return (long)MPROC__LOAD(&q->s->state.count);
}

int mproc_queue_empty(const mproc_queue_t *q) {
  if (q == NULL) return MPROC__EINVAL("q is NULL");
  return MPROC__LOAD(&q->s->state.count) == 0;
}

int mproc_queue_full(const mproc_queue_t *q) {
  if (q == NULL) return MPROC__EINVAL("q is NULL");
  return q->s->maxsize != 0 &&
         MPROC__LOAD(&q->s->state.count) >= q->s->maxsize;
}

/* ---- JoinableQueue. */

int mproc_queue_task_done(mproc_queue_t *q) {
  if (q == NULL) return MPROC__EINVAL("q is NULL");
  qshared_t *s = q->s;
  if (!s->joinable) return MPROC_ESTATE;
  int rc = qlock(s, UINT64_MAX);
  if (rc < 0) return rc;
  qstate_t ns = current(s);
  if (ns.unfinished == 0) {
    qunlock(s);
    return MPROC_ERANGE;
  }
  ns.unfinished--;
  commit(s, &ns);
  if (ns.unfinished == 0) moved(&s->done_seq);
  qunlock(s);
  if (ns.unfinished == 0 && MPROC__LOAD(&s->joiners) > 0)
    mproc__futex_wake(&s->done_seq, INT32_MAX);
  return 0;
}

int mproc_queue_join(mproc_queue_t *q, double timeout_s) {
  if (q == NULL) return MPROC__EINVAL("q is NULL");
  qshared_t *s = q->s;
  if (!s->joinable) return MPROC_ESTATE;
  uint64_t deadline;
  int rc = mproc__ipc_deadline(timeout_s, &deadline);
  if (rc < 0) return rc;
  int last = 0;
  rc = qlock(s, deadline);
  while (rc == 0 && current(s).unfinished > 0) {
    if (last) {
      qunlock(s);
      return MPROC_ETIMEDOUT;
    }
    last = sleep_on(s, &s->done_seq, &s->joiners, deadline);
    if (last < 0) rc = last;
  }
  if (rc == 0) qunlock(s);
  return rc;
}

/* ---- For tests (queue_testing.h). */

uint64_t mproc__queue_recoveries(const mproc_queue_t *q) {
  return MPROC__LOAD(&q->s->recoveries);
}

uint64_t mproc__queue_strays(const mproc_queue_t *q) {
  return MPROC__LOAD(&q->s->strays);
}

void mproc__queue_die_at(int step) { die_at = step; }
