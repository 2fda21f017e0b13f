"""Python's side of //bench:ipc_bench: multiprocessing.Queue (fork start
method) on the same workload as the C benchmark.

    python3 ipc_bench.py queue N

A child process puts the ints 0..N-1 into a Queue, the parent gets them.
Prints seconds=<from start to the last get> and per_item_us=.
"""
import multiprocessing
import sys
import time


def produce(q, n):
    for i in range(n):
        q.put(i)


def main(argv):
    if len(argv) != 3 or argv[1] != 'queue':
        raise SystemExit('usage: ipc_bench.py queue N')
    n = int(argv[2])
    ctx = multiprocessing.get_context('fork')
    q = ctx.Queue()
    clock = time.perf_counter
    t0 = clock()
    p = ctx.Process(target=produce, args=(q, n))
    p.start()
    for _ in range(n):
        q.get()
    elapsed = clock() - t0
    p.join()
    print('seconds=%.6f' % elapsed)
    print('per_item_us=%.3f' % (elapsed / n * 1e6))
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv)
