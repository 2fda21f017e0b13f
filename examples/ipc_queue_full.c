/* The same tutorial's first Queue program: a Queue(3) fills up; put with a
 * timeout and put_nowait both fail with Full; get_nowait drains it.
 *
 *   from multiprocessing import Queue
 *   q=Queue(3) #初始化一个Queue对象，最多可接收三条put消息
 *   q.put("消息1")
 *   q.put("消息2")
 *   print(q.full())  #False
 *   q.put("消息3")
 *   print(q.full()) #True
 *
 *   #因为消息列队已满下面的try都会抛出异常，第一个try会等待2秒后再抛出异常，第二个Try会立刻抛出异常
 *   try:
 *       q.put("消息4",True,2)
 *   except:
 *       print("消息列队已满，现有消息数量:%s"%q.qsize())
 *
 *   try:
 *       q.put_nowait("消息4")
 *   except:
 *       print("消息列队已满，现有消息数量:%s"%q.qsize())
 *
 *   #推荐的方式，先判断消息列队是否已满，再写入
 *   if not q.full():
 *       q.put_nowait("消息4")
 *
 *   #读取消息时，先判断消息列队是否为空，再读取
 *   if not q.empty():
 *       for i in range(q.qsize()):
 *           print(q.get_nowait())
 */
#include <stdio.h>

#include "examples/check.h"
#include "multiproc.h"

static int put(mproc_queue_t *q, const char *s, double timeout_s) {
  mproc_value_t *v;
  check(mproc_value_str(&v, s), "str");
  int rc = mproc_queue_put(q, v, timeout_s);
  mproc_value_free(v);
  return rc;
}

static const char *py_bool(int b) { return b ? "True" : "False"; }

int main(void) {
  mproc_queue_opts_t opts = {0};
  opts.maxsize = 3; /* 最多可接收三条put消息 */
  mproc_queue_t *q;
  check(mproc_queue_new(&q, &opts), "queue");
  check(put(q, "消息1", -1), "put");
  check(put(q, "消息2", -1), "put");
  printf("%s\n", py_bool(mproc_queue_full(q)));
  check(put(q, "消息3", -1), "put");
  printf("%s\n", py_bool(mproc_queue_full(q)));

  /* 第一个会等待2秒后再失败，第二个会立刻失败 */
  if (put(q, "消息4", 2) == MPROC_EFULL)
    printf("消息列队已满，现有消息数量:%ld\n", mproc_queue_qsize(q));
  if (put(q, "消息4", 0) == MPROC_EFULL) /* put_nowait */
    printf("消息列队已满，现有消息数量:%ld\n", mproc_queue_qsize(q));

  /* 推荐的方式，先判断消息列队是否已满，再写入 */
  if (!mproc_queue_full(q)) check(put(q, "消息4", 0), "put");

  /* 读取消息时，先判断消息列队是否为空，再读取 */
  if (!mproc_queue_empty(q)) {
    long n = mproc_queue_qsize(q);
    for (long i = 0; i < n; i++) {
      mproc_value_t *v;
      check(mproc_queue_get(q, &v, 0), "get_nowait");
      const char *s;
      check(mproc_value_get_str(v, &s, NULL), "str");
      printf("%s\n", s);
      mproc_value_free(v);
    }
  }
  check(mproc_queue_close(q), "close");
  return 0;
}
