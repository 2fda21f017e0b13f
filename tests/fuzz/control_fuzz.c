/* Fuzz target: a fork-server Control message (mproc__control_decode).
 *
 * Decoding never crashes; what decodes re-encodes into the same fields. */
#include <string.h>

#include "workers/control.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mproc__control_t c;
  memset(&c, 0, sizeof c);
  int rc = mproc__control_decode(&c, data, size);
  if (rc < 0) {
    FUZZ_CHECK_RC(rc == MPROC_EMALFORMED, rc);
    return 0;
  }
  FUZZ_CHECK(c.kind >= MPROC__CTL_SPAWN && c.kind <= MPROC__CTL_KILL);
  uint8_t buf[128]; /* every field at its widest: 64 bytes */
  int n = mproc__control_encode(&c, buf, sizeof buf);
  FUZZ_CHECK_RC(n > 0, n);
  mproc__control_t d;
  memset(&d, 0, sizeof d);
  rc = mproc__control_decode(&d, buf, (size_t)n);
  FUZZ_CHECK_RC(rc == 0, rc);
  FUZZ_CHECK(c.kind == d.kind && c.slot == d.slot && c.pid == d.pid &&
             c.status == d.status && c.utime_us == d.utime_us &&
             c.stime_us == d.stime_us && c.maxrss_kb == d.maxrss_kb &&
             c.serial == d.serial);
  /* Canonical: the second encoding is the first. */
  uint8_t again[128];
  FUZZ_CHECK(mproc__control_encode(&d, again, sizeof again) == n);
  FUZZ_CHECK(memcmp(buf, again, (size_t)n) == 0);
  return 0;
}
