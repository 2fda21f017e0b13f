"""Python's side of //bench:process_bench: start+join of one
multiprocessing.Process with the fork start method, the reference multiproc
is compared against.

    python3 process_bench.py ITERS [WARMUP]

Prints one machine-readable line per figure:

    per_iter_us=<mean>
    median_us=<median>
    n=<iterations measured>
    samples_us=<comma-separated per-iteration times>
"""
import multiprocessing
import statistics
import sys
import time


def f(name, age, **kwargs):
    # The same work as the C target: take the arguments, return (exit 0).
    assert name == 'test' and age == 18 and kwargs == {'m': 20}


def once(ctx):
    p = ctx.Process(target=f, args=('test', 18), kwargs={'m': 20})
    p.start()
    p.join()
    if p.exitcode != 0:
        raise SystemExit('child exited with %r' % (p.exitcode,))


def main(argv):
    if len(argv) < 2:
        raise SystemExit('usage: process_bench.py ITERS [WARMUP]')
    iters = int(argv[1])
    warmup = int(argv[2]) if len(argv) > 2 else 10
    if iters < 1 or warmup < 0:
        raise SystemExit('ITERS must be >= 1, WARMUP >= 0')
    ctx = multiprocessing.get_context('fork')
    for _ in range(warmup):
        once(ctx)
    samples = []
    clock = time.perf_counter
    for _ in range(iters):
        t0 = clock()
        once(ctx)
        samples.append((clock() - t0) * 1e6)
    print('per_iter_us=%.3f' % statistics.fmean(samples))
    print('median_us=%.3f' % statistics.median(samples))
    print('n=%d' % len(samples))
    print('samples_us=' + ','.join('%.3f' % s for s in samples))
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv)
