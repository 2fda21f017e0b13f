/* A program whose spawn target is registered with mproc_target_register,
 * not MPROC_TARGET: it calls mproc_spawn_child_main itself, first thing in
 * main (multiproc/target.h). Prints the spawned child's result. With
 * "nohook" it skips the call: spawn must then refuse (MPROC_ENOSYS), never
 * run this main() in a child. */
#include <stdio.h>
#include <string.h>

#include "multiproc.h"

static int twice(mproc_call_t *call) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  return mproc_call_return(call, "L", 2 * x);
}

int main(int argc, char **argv) {
  if (mproc_target_register("twice", twice) < 0) return 2;
  if (argc < 2 || strcmp(argv[1], "nohook") != 0) (void)mproc_spawn_child_main();
  mproc_value_t *args;
  if (mproc_pack(&args, "(i)", 21) < 0) return 3;
  mproc_process_opts_t o;
  memset(&o, 0, sizeof o);
  o.target_name = "twice";
  o.args = args;
  o.start_method = MPROC_START_SPAWN;
  mproc_process_t *p;
  if (mproc_process_new(&p, &o) < 0) return 4;
  int rc = mproc_process_start(p);
  if (rc < 0) {
    printf("start: %s: %s\n", mproc_err_name(rc), mproc_last_error());
    mproc_process_close(p);
    mproc_value_free(args);
    return 0;
  }
  if (mproc_process_join(p, 20) < 0) return 5;
  const mproc_value_t *r;
  int64_t v = 0;
  if (mproc_process_result(p, &r) != 1 || mproc_value_get_int(r, &v) < 0)
    return 6;
  printf("result %lld\n", (long long)v);
  mproc_process_close(p);
  mproc_value_free(args);
  return 0;
}
