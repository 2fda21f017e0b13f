/* Writes the fuzz targets' seed corpus: real encodings of every kind of
 * value, of Calls, Reports and Control messages as multiproc sends them,
 * frame streams, and a few broken ones (truncated, oversized, malformed).
 *
 *   bazel run //tests/fuzz:make_corpus [-- DIR]
 *
 * DIR defaults to tests/fuzz/corpus in the workspace. Files are named
 * seed-*; inputs kept from fuzzing (crash-*) are left alone. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "multiproc/frame.h"
#include "multiproc/value.h"
#include "serialization/frame_internal.h"
#include "serialization/message.h"
#include "workers/control.h"

static const char *g_root;
static int g_count;

static void die(const char *what) {
  fprintf(stderr, "make_corpus: %s\n", what);
  exit(1);
}

static void put(const char *dir, const char *name, const void *p, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", g_root, dir);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) die(path);
  snprintf(path, sizeof path, "%s/%s/seed-%s", g_root, dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
    die(path);
  g_count++;
}

/* mproc_pack, or die. */
static mproc_value_t *pack(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_value_t *v = NULL;
  if (mproc_vpack(&v, fmt, ap) < 0) die(fmt);
  va_end(ap);
  return v;
}

/* Encodes v into buf (cap bytes); returns the size. */
static size_t encode(const mproc_value_t *v, uint8_t *buf, size_t cap) {
  int n = mproc_value_encode(v, buf, cap);
  if (n < 0) die("encode");
  return (size_t)n;
}

/* A value seed; v is freed. */
static void value_seed(const char *name, mproc_value_t *v) {
  uint8_t buf[8192];
  put("value_fuzz", name, buf, encode(v, buf, sizeof buf));
  mproc_value_free(v);
}

/* Wraps an encoded Value into a one-item list: depth + 1. */
static size_t wrap_in_list(uint8_t *buf, size_t n, size_t cap) {
  /* Value{list_value (7): List{items (1): Value}}; every length < 16384
   * fits two varint bytes. */
  uint8_t head[6];
  size_t h = 0, inner = 1 + (n < 128 ? 1 : 2) + n;
  head[h++] = 0x3a;
  if (inner < 128) head[h++] = (uint8_t)inner;
  else { head[h++] = (uint8_t)(inner | 0x80); head[h++] = (uint8_t)(inner >> 7); }
  head[h++] = 0x0a;
  if (n < 128) head[h++] = (uint8_t)n;
  else { head[h++] = (uint8_t)(n | 0x80); head[h++] = (uint8_t)(n >> 7); }
  if (h + n > cap) die("wrap");
  memmove(buf + h, buf, n);
  memcpy(buf, head, h);
  return h + n;
}

static void value_seeds(void) {
  value_seed("none", pack("n"));
  value_seed("true", pack("b", 1));
  value_seed("false", pack("b", 0));
  value_seed("int-0", pack("L", (int64_t)0));
  value_seed("int-minus-1", pack("L", (int64_t)-1));
  value_seed("int-min", pack("L", INT64_MIN));
  value_seed("int-max", pack("L", INT64_MAX));
  value_seed("float-0", pack("d", 0.0));
  value_seed("float-minus-0", pack("d", -0.0));
  value_seed("float-1.5", pack("d", 1.5));
  value_seed("float-inf", pack("d", 1.0 / 0.0));
  value_seed("float-nan", pack("d", 0.0 / 0.0));
  value_seed("str-empty", pack("s", ""));
  value_seed("str-test", pack("s", "test"));
  value_seed("str-unicode", pack("s", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  value_seed("str-nul", pack("s#", "a\0b", (size_t)3));
  value_seed("bytes-empty", pack("y#", "", (size_t)0));
  value_seed("bytes-binary", pack("y#", "\x00\xff\n'\"\\", (size_t)6));
  value_seed("list-empty", pack("[]"));
  value_seed("tuple-empty", pack("()"));
  value_seed("tuple-one", pack("(i)", 1));
  value_seed("dict-empty", pack("{}"));
  value_seed("args", pack("(si)", "test", 18));
  value_seed("kwargs", pack("{s:i}", "m", 20));
  value_seed("nested",
             pack("[i(is){s:[ny#]s:d}(())]", 1, 2, "x", "k", "\0", (size_t)1,
                  "f", -2.5));
  value_seed("dict-many",
             pack("{s:is:ss:ns:[]s:{}s:bs:d}", "a", 1, "b", "two", "c", "d",
                  "e", "f", 1, "g", 0.25));

  /* Nested as deep as allowed, and one deeper (refused: MPROC_EDEPTH). */
  uint8_t buf[8192];
  mproc_value_t *none = pack("n");
  size_t n = encode(none, buf, sizeof buf);
  mproc_value_free(none);
  for (int depth = 1; depth <= MPROC_MAX_DEPTH + 1; depth++) {
    n = wrap_in_list(buf, n, sizeof buf);
    if (depth == MPROC_MAX_DEPTH) put("value_fuzz", "depth-max", buf, n);
  }
  put("value_fuzz", "depth-over-max", buf, n);

  /* Broken: cut short, two kinds in one Value, bad UTF-8, a repeated key,
   * an unknown field (skipped: decodes). */
  mproc_value_t *v = pack("[i(is){s:[n]}]", 1, 2, "x", "k");
  n = encode(v, buf, sizeof buf);
  mproc_value_free(v);
  put("value_fuzz", "truncated", buf, n - 3);
  static const uint8_t two_kinds[] = {0x08, 0x01, 0x10, 0x01};
  put("value_fuzz", "two-kinds", two_kinds, sizeof two_kinds);
  static const uint8_t bad_utf8[] = {0x2a, 0x02, 0xc3, 0x28};
  put("value_fuzz", "str-bad-utf8", bad_utf8, sizeof bad_utf8);
  static const uint8_t dup_key[] = {0x42, 0x10,                   /* dict */
                                    0x0a, 0x06, 0x0a, 0x01, 'k',  /* entry */
                                    0x12, 0x01, 0x08,             /* (cut) */
                                    0x0a, 0x06, 0x0a, 0x01, 'k', 0x12, 0x01,
                                    0x08};
  put("value_fuzz", "dict-repeated-key", dup_key, sizeof dup_key);
  static const uint8_t unknown[] = {0x48, 0x05, 0x08, 0x01};
  put("value_fuzz", "unknown-field", unknown, sizeof unknown);

  /* Packed lists (wire.proto's List.ints and List.floats) and what a List
   * may also hold: the same ints item by item, unpacked, in two packed
   * runs; and what it may not: items from two of its fields. */
  value_seed("list-ints", pack("[iiii]", 0, -1, 300, 1 << 30));
  value_seed("tuple-ints", pack("(LL)", INT64_MIN, INT64_MAX));
  value_seed("list-floats", pack("[ddd]", 0.5, -0.0, 1e300));
  value_seed("list-ints-then-str", pack("[iis]", 1, 2, "x"));
  static const uint8_t ints_item_by_item[] = {0x3a, 0x08, 0x0a, 0x02, 0x18,
                                              0x02, 0x0a, 0x02, 0x18, 0x04};
  put("value_fuzz", "list-ints-item-by-item", ints_item_by_item,
      sizeof ints_item_by_item);
  static const uint8_t ints_unpacked[] = {0x3a, 0x04, 0x18, 0x02, 0x18, 0x04};
  put("value_fuzz", "list-ints-unpacked", ints_unpacked,
      sizeof ints_unpacked);
  static const uint8_t ints_split[] = {0x3a, 0x06, 0x1a, 0x01, 0x02,
                                       0x1a, 0x01, 0x04};
  put("value_fuzz", "list-ints-split", ints_split, sizeof ints_split);
  static const uint8_t mixed_fields[] = {0x3a, 0x07, 0x0a, 0x02, 0x18,
                                         0x02, 0x1a, 0x01, 0x04};
  put("value_fuzz", "list-mixed-fields", mixed_fields, sizeof mixed_fields);
  static const uint8_t packed_cut[] = {0x3a, 0x04, 0x1a, 0x02, 0x80, 0x80};
  put("value_fuzz", "list-ints-cut", packed_cut, sizeof packed_cut);
}

/* ---- Calls, Reports and Control messages. */

static mproc__buf_t g_stream; /* frames for the reader seeds */

static void keep_frame(const mproc__buf_t *frame) {
  if (mproc__buf_reserve(&g_stream, frame->len) < 0) die("memory");
  memcpy(g_stream.p + g_stream.len, frame->p, frame->len);
  g_stream.len += frame->len;
}

static void call_seed(const char *name, const mproc__call_out_t *c) {
  mproc__buf_t f = {0};
  if (mproc__call_encode_frame(&f, c) < 0) die(name);
  put("call_fuzz", name, f.p + MPROC_FRAME_HEADER, f.len - MPROC_FRAME_HEADER);
  keep_frame(&f);
  mproc__buf_free(&f);
}

static void call_seeds(void) {
  mproc__call_out_t c;
  memset(&c, 0, sizeof c);
  call_seed("empty", &c);
  mproc_value_t *args = pack("(si)", "test", 18);
  mproc_value_t *kwargs = pack("{s:i}", "m", 20);
  c.target = "run_proc";
  c.args = args;
  c.kwargs = kwargs;
  call_seed("process", &c);
  c.id = 7;
  call_seed("pool-apply", &c);
  mproc_value_free(args);
  mproc_value_free(kwargs);

  mproc_value_t *items[3] = {pack("i", 1), pack("s", "two"), pack("[i]", 3)};
  memset(&c, 0, sizeof c);
  c.target = "square";
  c.argv = (const mproc_value_t *const *)items;
  c.argc = 3;
  c.id = 12;
  c.mode = MPROC__CALL_MAP;
  c.first = 100;
  call_seed("map-chunk", &c);
  for (int i = 0; i < 3; i++) mproc_value_free(items[i]);

  /* Chunks of ints and of floats: their args go packed (Call.int_args,
   * Call.float_args). */
  mproc_value_t *nums[3] = {pack("i", 1), pack("i", -2), pack("L", INT64_MAX)};
  c.argv = (const mproc_value_t *const *)nums;
  call_seed("map-chunk-ints", &c);
  for (int i = 0; i < 3; i++) mproc_value_free(nums[i]);
  mproc_value_t *reals[2] = {pack("d", 0.5), pack("d", -1e-300)};
  c.argv = (const mproc_value_t *const *)reals;
  c.argc = 2;
  call_seed("map-chunk-floats", &c);
  for (int i = 0; i < 2; i++) mproc_value_free(reals[i]);

  mproc_value_t *pairs = pack("[(ii)(ii)]", 1, 2, 3, 4);
  memset(&c, 0, sizeof c);
  c.target = "add";
  c.args = pairs;
  c.mode = MPROC__CALL_STARMAP;
  c.first = 2;
  call_seed("starmap-chunk", &c);
  mproc_value_free(pairs);

  /* A NUL inside the target name (malformed), and a cut Call. */
  static const uint8_t nul_target[] = {0x0a, 0x03, 'a', 0x00, 'b'};
  put("call_fuzz", "target-with-nul", nul_target, sizeof nul_target);
  static const uint8_t cut[] = {0x0a, 0x08, 'r', 'u', 'n', 0x12, 0x05, 0x08};
  put("call_fuzz", "truncated", cut, sizeof cut);
}

static void report_seed(const char *name, const mproc__report_t *r) {
  mproc__buf_t f = {0};
  if (mproc__report_encode_frame(&f, r) < 0) die(name);
  put("report_fuzz", name, f.p + MPROC_FRAME_HEADER,
      f.len - MPROC_FRAME_HEADER);
  keep_frame(&f);
  mproc__buf_free(&f);
}

static void report_seeds(void) {
  mproc__report_t r;
  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_ENTERED;
  r.t_ns = 123456789;
  report_seed("entered", &r);

  mproc_value_t *result = pack("{s:[id]}", "r", 4, 0.5);
  r.kind = MPROC__REPORT_RETURNED;
  r.id = 7;
  r.result = result;
  r.t_enter_ns = 123456000;
  r.utime_us = 1500;
  r.stime_us = 300;
  r.maxrss_kb = 4096;
  report_seed("returned-result", &r);
  mproc_value_free(result);

  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_RETURNED;
  r.id = 8;
  r.code = -1;
  r.message = "run_proc() missing required argument 'age' (pos 2)";
  r.message_len = strlen(r.message);
  r.error = MPROC_EARITY;
  report_seed("returned-failure", &r);

  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_READY;
  r.t_ns = 5;
  r.maxrss_kb = 2048;
  report_seed("ready", &r);

  r.kind = MPROC__REPORT_INIT_FAILED;
  r.message = "init: no database";
  r.message_len = strlen(r.message);
  report_seed("init-failed", &r);

  mproc__item_error_t errs[2] = {{1, -1, 0, "bad item 1"},
                                 {4, 0, MPROC_ETYPE, NULL}};
  mproc_value_t *list = pack("[inin]", 0, 4, 9);
  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_RETURNED;
  r.id = 12;
  r.result = list;
  r.item_errors = errs;
  r.n_item_errors = 2;
  report_seed("chunk-item-errors", &r);
  mproc_value_free(list);

  /* A chunk's results packed (Report.int_results, Report.float_results). */
  mproc_value_t *ints[3] = {pack("i", 0), pack("i", 81), pack("i", -9)};
  memset(&r, 0, sizeof r);
  r.kind = MPROC__REPORT_RETURNED;
  r.id = 13;
  r.results = ints;
  r.n_results = 3;
  report_seed("chunk-int-results", &r);
  for (int i = 0; i < 3; i++) mproc_value_free(ints[i]);
  mproc_value_t *reals[2] = {pack("d", 2.5), pack("d", 1.0 / 0.0)};
  r.results = reals;
  r.n_results = 2;
  report_seed("chunk-float-results", &r);
  for (int i = 0; i < 2; i++) mproc_value_free(reals[i]);

  static const uint8_t no_kind[] = {0x10, 0x07};
  put("report_fuzz", "no-kind", no_kind, sizeof no_kind);
  static const uint8_t cut[] = {0x08, 0x02, 0x32, 0x09, 0x3a, 0x02};
  put("report_fuzz", "truncated", cut, sizeof cut);
}

static void control_seed(const char *name, const mproc__control_t *c) {
  uint8_t buf[128];
  int n = mproc__control_encode(c, buf, sizeof buf);
  if (n < 0) die(name);
  put("control_fuzz", name, buf, (size_t)n);
}

static void control_seeds(void) {
  mproc__control_t c = {MPROC__CTL_SPAWN, 3, 0, 0, 0, 0, 0, 9};
  control_seed("spawn", &c);
  c.kind = MPROC__CTL_SPAWNED;
  c.pid = 4242;
  control_seed("spawned", &c);
  c.kind = MPROC__CTL_SPAWN_FAILED;
  c.pid = 0;
  c.status = -12;
  control_seed("spawn-failed", &c);
  mproc__control_t e = {MPROC__CTL_EXITED, 1, 4242, 9, 1000, 20, 8192, 2};
  control_seed("exited", &e);
  static const uint8_t unknown_kind[] = {0x08, 0x09, 0x10, 0x01};
  put("control_fuzz", "unknown-kind", unknown_kind, sizeof unknown_kind);
  static const uint8_t cut[] = {0x08, 0x04, 0x18, 0xff};
  put("control_fuzz", "truncated", cut, sizeof cut);
}

/* ---- Frame streams: a control byte (reader_fuzz.c), then frames. */

static void reader_seed(const char *name, uint8_t ctl, const void *p,
                        size_t n) {
  uint8_t *buf = malloc(n + 1);
  if (buf == NULL) die("memory");
  buf[0] = ctl;
  if (n > 0) memcpy(buf + 1, p, n);
  put("reader_fuzz", name, buf, n + 1);
  free(buf);
}

static void reader_seeds(void) {
  enum { MAX = 4096 }; /* reader_fuzz.c's MAX_PAYLOAD */
  uint8_t ctl_heap_700 = 0x00, ctl_lent5_bytewise = 0x05,
          ctl_lent64_small = 0x0a, ctl_lent8192_whole = 0x7f;
  reader_seed("empty", 0x00, NULL, 0);
  reader_seed("messages", ctl_heap_700, g_stream.p, g_stream.len);
  reader_seed("messages-bytewise", ctl_lent5_bytewise, g_stream.p,
              g_stream.len);
  reader_seed("messages-small-chunks", ctl_lent64_small, g_stream.p,
              g_stream.len);
  reader_seed("messages-at-once", ctl_lent8192_whole, g_stream.p,
              g_stream.len);

  /* An empty frame, a frame of exactly the maximum, then clean EOF. */
  static uint8_t s[2 * MPROC_FRAME_HEADER + MAX + 64];
  size_t n = 0;
  mproc__frame_put_header(s + n, 0);
  n += MPROC_FRAME_HEADER;
  mproc__frame_put_header(s + n, MAX);
  n += MPROC_FRAME_HEADER;
  for (int i = 0; i < MAX; i++) s[n++] = (uint8_t)(i * 7);
  reader_seed("empty-then-max", 0x03, s, n);
  reader_seed("empty-then-max-chunks", 0x10, s, n);

  /* One more than the maximum: ETOOBIG, with and without its bytes. */
  n = 0;
  mproc__frame_put_header(s + n, 3);
  n += MPROC_FRAME_HEADER;
  memcpy(s + n, "abc", 3);
  n += 3;
  mproc__frame_put_header(s + n, MAX + 1);
  n += MPROC_FRAME_HEADER;
  reader_seed("too-big", 0x00, s, n);
  memset(s + n, 'x', 60);
  reader_seed("too-big-with-bytes", 0x04, s, n + 60);
  mproc__frame_put_header(s + 7, 0xffffffffu);
  reader_seed("claims-4-gib", 0x08, s, n);

  /* Ends inside a header, and inside a payload. */
  reader_seed("cut-in-header", 0x00, s, 9);
  mproc__frame_put_header(s + 7, 100);
  memset(s + 11, 'y', 50);
  reader_seed("cut-in-payload", 0x00, s, 61);
  reader_seed("cut-in-payload-bytewise", 0x05, s, 61);
}

int main(int argc, char **argv) {
  char root[4096];
  if (argc > 1) {
    g_root = argv[1];
  } else {
    const char *ws = getenv("BUILD_WORKSPACE_DIRECTORY");
    if (ws == NULL) die("usage: make_corpus DIR (or run it with bazel run)");
    snprintf(root, sizeof root, "%s/tests/fuzz/corpus", ws);
    g_root = root;
  }
  if (mkdir(g_root, 0755) != 0 && errno != EEXIST) die(g_root);
  value_seeds();
  call_seeds();
  report_seeds();
  control_seeds();
  reader_seeds();
  mproc__buf_free(&g_stream);
  printf("make_corpus: %d files in %s\n", g_count, g_root);
  return 0;
}
