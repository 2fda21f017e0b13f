"""Python's side of //bench:pool_bench: multiprocessing.Pool (fork start
method) on the same workloads as the C benchmark.

    python3 pool_bench.py MODE N WORKERS

MODE is apply (N sequential pool.apply calls), map1 (pool.map over N items
with chunksize=1) or map (pool.map over N items, default chunking). Prints
seconds=<elapsed> and per_task_us=<elapsed / N>.
"""
import multiprocessing
import sys
import time


def ident(x):
    return x


def main(argv):
    if len(argv) != 4:
        raise SystemExit('usage: pool_bench.py apply|map1|map N WORKERS')
    mode, n, workers = argv[1], int(argv[2]), int(argv[3])
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(workers) as pool:
        pool.map(ident, range(workers * 4))  # warm up: every worker started
        clock = time.perf_counter
        t0 = clock()
        if mode == 'apply':
            for i in range(n):
                pool.apply(ident, (i,))
        elif mode == 'map1':
            out = pool.map(ident, range(n), chunksize=1)
            assert len(out) == n
        elif mode == 'map':
            out = pool.map(ident, range(n))
            assert len(out) == n
        else:
            raise SystemExit('unknown mode ' + mode)
        elapsed = clock() - t0
    print('seconds=%.6f' % elapsed)
    print('per_task_us=%.3f' % (elapsed / n * 1e6))
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv)
