/* The fork server's Control message (control.h) through nanopb.
 *
 * The generated struct comes from serialization's one schema (wire.proto
 * -> //serialization:wire_pb, visible to serialization/ and workers/
 * only): the schema and its generated code stay in one place, while the
 * protocol, its C form and its meaning belong to the pool. The other way
 * round, a codec function inside serialization/, would put the pool's
 * protocol back into a module that knows nothing of processes. */
#include "workers/control.h"

#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>

#include "multiproc/error.h"
#include "core/base/error_detail.h"
#include "serialization/wire.pb.h"

int mproc__control_encode(const mproc__control_t *c, void *buf, size_t cap) {
  if (c == NULL || buf == NULL) return MPROC_EINVAL;
  mproc_wire_Control w;
  memset(&w, 0, sizeof w);
  w.has_kind = true;
  w.kind = (mproc_wire_Control_Kind)c->kind;
  w.has_slot = w.has_pid = w.has_status = true;
  w.slot = c->slot;
  w.pid = c->pid;
  w.status = c->status;
  w.has_utime_us = w.has_stime_us = w.has_maxrss_kb = true;
  w.utime_us = c->utime_us;
  w.stime_us = c->stime_us;
  w.maxrss_kb = c->maxrss_kb;
  w.has_serial = true;
  w.serial = c->serial;
  pb_ostream_t s = pb_ostream_from_buffer(buf, cap);
  if (!pb_encode(&s, mproc_wire_Control_fields, &w)) return MPROC_E2BIG;
  return (int)s.bytes_written;
}

int mproc__control_decode(mproc__control_t *c, const void *buf, size_t n) {
  if (c == NULL || (buf == NULL && n > 0)) return MPROC_EINVAL;
  mproc_wire_Control w;
  memset(&w, 0, sizeof w);
  pb_istream_t s = pb_istream_from_buffer(buf, n);
  if (!pb_decode(&s, mproc_wire_Control_fields, &w))
    return mproc__fail(MPROC_EMALFORMED, "malformed Control: %s",
                       PB_GET_ERROR(&s));
  if (!w.has_kind || w.kind < mproc_wire_Control_Kind_SPAWN ||
      w.kind > mproc_wire_Control_Kind_KILL)
    return mproc__fail(MPROC_EMALFORMED,
                       "malformed Control: no kind this version knows");
  c->kind = (int)w.kind;
  c->slot = w.slot;
  c->pid = w.pid;
  c->status = w.status;
  c->utime_us = w.utime_us;
  c->stime_us = w.stime_us;
  c->maxrss_kb = w.maxrss_kb;
  c->serial = w.serial;
  return 0;
}
