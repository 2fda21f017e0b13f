/* Parent and child talk over a Pipe: Python's documentation example.
 *
 *   from multiprocessing import Process, Pipe
 *
 *   def f(conn):
 *       conn.send([42, None, 'hello'])
 *       conn.close()
 *
 *   if __name__ == '__main__':
 *       parent_conn, child_conn = Pipe()
 *       p = Process(target=f, args=(child_conn,))
 *       p.start()
 *       print(parent_conn.recv())   # prints "[42, None, 'hello']"
 *       p.join()
 *
 * The connection reaches the child as Python's fork start method hands it
 * over: made before start, it is in the child's copy of the parent (here
 * through the ctx pointer). The parent closes its copy of the child's end
 * once the child has it, as Python's docs advise: otherwise a recv after
 * the child has gone would wait for ever instead of seeing the end.
 */
#include <stdio.h>

#include "examples/check.h"
#include "multiproc.h"

static int f(mproc_call_t *call) {
  mproc_conn_t *conn = mproc_call_ctx(call);
  mproc_value_t *v;
  check(mproc_pack(&v, "[ins]", 42, "hello"), "pack");
  check(mproc_conn_send(conn, v), "send");
  mproc_value_free(v);
  mproc_conn_close(conn);
  return 0;
}

int main(void) {
  mproc_conn_t *parent_conn, *child_conn;
  check(mproc_pipe(&parent_conn, &child_conn, true), "pipe");
  mproc_process_opts_t opts = {0};
  opts.target = f;
  opts.ctx = child_conn;
  mproc_process_t *p;
  check(mproc_process_new(&p, &opts), "new");
  check(mproc_process_start(p), "start");
  mproc_conn_close(child_conn);

  mproc_value_t *got;
  check(mproc_conn_recv(parent_conn, &got), "recv");
  char text[256];
  mproc_repr(got, text, sizeof text); /* print() shows a list's repr */
  printf("%s\n", text);
  mproc_value_free(got);

  check(mproc_process_join(p, -1), "join");
  check(mproc_process_close(p), "close");
  mproc_conn_close(parent_conn);
  return 0;
}
