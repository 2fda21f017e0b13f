"""Python's side of //bench:all: multiprocessing (fork start method) on the
same workloads as the C rows, timed by this script itself (pool start-up
and warm-up excluded, as on the C side).

    python3 all.py MODE WORKERS [ARGS...]

Modes:
    map N            pool.map(ident, range(N)), default chunks
    map1 N           pool.map(ident, range(N), chunksize=1)
    imap N           list(pool.imap(ident, range(N))), chunksize 1
    imap_unordered N list(pool.imap_unordered(ident, range(N))), chunksize 1
    process N        N x Process(target=f, args=('test', 18),
                     kwargs={'m': 20}).start()+join(); prints median_us
    skew_submit D    apply_async(sleep, (d,)) for each d, then get() each
    skew_imap D      list(pool.imap(sleep, ds)), chunksize 1
    skew_map D       pool.map(sleep, ds), default chunks
    queue N          a child puts the ints 0..N-1 into a Queue, the parent
                     gets them
    many N           N Processes napping 0.5 s started at once under a soft
                     descriptor limit of 1,024, then joined; prints
                     median_us=<how many started> when one failed to start
    D is a comma-separated list of durations in seconds.

Prints seconds=<elapsed> (and median_us=<...> for process).
"""
import multiprocessing
import statistics
import sys
import time


def ident(x):
    return x


def sleep(d):
    time.sleep(d)
    return d


def produce(q, n):
    for i in range(n):
        q.put(i)


def f(name, age, **kwargs):
    assert name == 'test' and age == 18 and kwargs == {'m': 20}


def process_once(ctx):
    p = ctx.Process(target=f, args=('test', 18), kwargs={'m': 20})
    p.start()
    p.join()
    if p.exitcode != 0:
        raise SystemExit('child exited with %r' % (p.exitcode,))


def main(argv):
    if len(argv) != 4:
        raise SystemExit('usage: all.py MODE WORKERS ARG')
    mode, workers, arg = argv[1], int(argv[2]), argv[3]
    ctx = multiprocessing.get_context('fork')
    clock = time.perf_counter
    if mode == 'queue':
        n = int(arg)
        q = ctx.Queue()
        t0 = clock()
        p = ctx.Process(target=produce, args=(q, n))
        p.start()
        for _ in range(n):
            q.get()
        elapsed = clock() - t0
        p.join()
        print('seconds=%.6f' % elapsed)
        return
    if mode == 'many':
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        procs = []
        t0 = clock()
        try:
            for _ in range(int(arg)):
                p = ctx.Process(target=time.sleep, args=(0.5,))
                p.start()
                procs.append(p)
        except OSError as e:
            for p in procs:
                p.join()
            print('seconds=%.6f' % (clock() - t0))
            print('median_us=%d' % len(procs))  # how many started
            print('error=%s' % e)
            return
        for p in procs:
            p.join()
        print('seconds=%.6f' % (clock() - t0))
        return
    if mode == 'process':
        n = int(arg)
        for _ in range(5):
            process_once(ctx)
        samples = []
        for _ in range(n):
            t0 = clock()
            process_once(ctx)
            samples.append((clock() - t0) * 1e6)
        print('seconds=%.6f' % (sum(samples) / 1e6))
        print('median_us=%.3f' % statistics.median(samples))
        return
    with ctx.Pool(workers) as pool:
        pool.map(ident, range(workers * 4))  # warm up: every worker started
        if mode.startswith('skew_'):
            ds = [float(x) for x in arg.split(',')]
            t0 = clock()
            if mode == 'skew_submit':
                rs = [pool.apply_async(sleep, (d,)) for d in ds]
                out = [r.get() for r in rs]
            elif mode == 'skew_imap':
                out = list(pool.imap(sleep, ds))
            elif mode == 'skew_map':
                out = pool.map(sleep, ds)
            else:
                raise SystemExit('unknown mode ' + mode)
            elapsed = clock() - t0
            assert len(out) == len(ds)
        else:
            n = int(arg)
            t0 = clock()
            if mode == 'map':
                out = pool.map(ident, range(n))
            elif mode == 'map1':
                out = pool.map(ident, range(n), chunksize=1)
            elif mode == 'imap':
                out = list(pool.imap(ident, range(n)))
            elif mode == 'imap_unordered':
                out = list(pool.imap_unordered(ident, range(n)))
            else:
                raise SystemExit('unknown mode ' + mode)
            elapsed = clock() - t0
            assert len(out) == n
    print('seconds=%.6f' % elapsed)
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv)
