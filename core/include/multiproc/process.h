/* multiproc — Process: Python's multiprocessing.Process for C.
 *
 *     mproc_value_t *args, *kwargs;
 *     mproc_pack(&args, "(si)", "test", 18);
 *     mproc_pack(&kwargs, "{s:i}", "m", 20);
 *     mproc_process_opts_t opts = {0};
 *     opts.target = run_proc;           // int run_proc(mproc_call_t *call)
 *     opts.args = args;
 *     opts.kwargs = kwargs;
 *     mproc_process_t *p;
 *     mproc_process_new(&p, &opts);     // args and kwargs are encoded here
 *     mproc_process_start(p);           // fork; the child reads its call
 *     mproc_process_join(p, -1);
 *     int code;
 *     mproc_process_exitcode(p, &code); // run_proc's return value
 *     mproc_process_close(p);
 *
 * start() forks (the default start method; spawn and forkserver are
 * below, at mproc_start_method_t). The parent encodes the call (target name, args, kwargs) as
 * protobuf with nanopb and writes it, framed, into a socketpair — a duplex
 * pipe, like multiprocessing.Pipe(); the child reads and decodes it, calls
 * the target, reports when it entered and left the target on the same pipe,
 * and leaves with _exit(). The parent watches the child through a pidfd
 * (or, on kernels without one, a sentinel pipe whose write end only the
 * child holds), so join and mproc_wait sleep in poll until the child ends —
 * no polling loop — and signals go through the pidfd, never to a recycled
 * pid.
 *
 * Fork hygiene. stdio is flushed before fork, so buffered output is not
 * printed twice. Signals are blocked across fork; the child resets every
 * caught signal to its default (ignored ones stay ignored, as across exec)
 * and restores the parent's mask. Every descriptor multiproc opens is
 * O_CLOEXEC, and a child closes the ones that belong to its parent's other
 * children, keeping only its own end of its pipe. The child never returns
 * into the caller's code and never runs the parent's atexit handlers or
 * static destructors (a gtest child does not run gtest's teardown).
 *
 * Many processes. Each live child holds two of the parent's descriptors
 * (its socket and its pidfd; a pool worker three). When a start runs out
 * of descriptors (EMFILE), multiproc raises the soft RLIMIT_NOFILE to the
 * hard limit, once, and retries — so a program started with the usual soft
 * limit of 1,024 can have as many children as its hard limit allows (about
 * hard/2: 10,000 at once need a hard limit above 20,000). The raise is
 * visible to the whole program (getrlimit); every child multiproc forks
 * gets the original soft limit back. Only at the hard limit does a start
 * fail: MPROC_EMFILE, and mproc_last_error() says how many descriptors are
 * open, the soft and hard limits, and how many multiproc holds. A fork that
 * fails for other limits says which: MPROC_EAGAIN names RLIMIT_NPROC,
 * kernel.pid_max and kernel.threads-max with their values, MPROC_ENOMEM the
 * memory. A failed start leaks nothing; once the limit allows, new
 * processes start again.
 *
 * Semantics follow Python: default names Process-1, Process-2, ... counting
 * from 1 in each process (a child's children are Process-1:1, ...); the
 * counter advances on every mproc_process_new, named or not. terminate and
 * kill of an ended process do nothing; is_alive reaps. At normal exit of
 * the parent (exit() or return from main), daemonic children are
 * terminated, then all children are joined. Daemonic children also die
 * (SIGKILL) when the parent dies — through PR_SET_PDEATHSIG, which fires
 * when the *thread* that started the child exits, so start daemons from a
 * thread that lives as long as they should. A daemonic process may not
 * start children (MPROC_EDAEMONIC), as in Python.
 *
 * A handle is not thread-safe: use each from one thread at a time. Handles
 * are only usable in the process that created them (MPROC_ENOTCHILD in a
 * child that inherited a copy).
 *
 * Fork in a multithreaded program copies only the calling thread: a lock
 * another thread held at that moment stays locked in the child. glibc
 * protects malloc and stdio's list of streams; other locks are the
 * program's concern, as with Python's "fork" start method.
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "multiproc/call.h"
#include "multiproc/error.h"
#include "multiproc/target.h"
#include "multiproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_process mproc_process_t;

/* How a child is started, as Python's start methods.
 *   MPROC_START_DEFAULT    0: the global method (mproc_set_start_method),
 *                          which is MPROC_START_FORK unless changed
 *   MPROC_START_FORK       fork(): the child is a copy of the parent, runs
 *                          the target with the parent's memory and, in a
 *                          multithreaded program, with any lock another
 *                          thread held at fork held forever (see above)
 *   MPROC_START_FORKSERVER the child is forked by a single-threaded fork
 *                          server: this program spawned (as below) on
 *                          first use or by mproc_forkserver_start, so the
 *                          child has none of the parent's threads, locks,
 *                          memory or descriptors, and starts faster than a
 *                          spawn child. What spawn needs, it needs too. The
 *                          server is the child's parent: join, timeouts,
 *                          is_alive, terminate/kill, exitcode, result,
 *                          timing and the sentinel work as with fork. When
 *                          this process ends, the server kills its daemonic
 *                          children, waits for the others and leaves.
 *                          (Pools have their own fork server, exec'd fresh
 *                          with forkserver and spawn: pool.h.)
 *   MPROC_START_SPAWN      fork+exec of this program (/proc/self/exe, so
 *                          under bazel run and bazel test too): a fresh
 *                          image that holds none of the parent's memory,
 *                          locks or descriptors besides its own socket
 *                          (and sentinel pipe), runs the target found by
 *                          its name and leaves before main() would run. The
 *                          exec is vfork-style (the parent's pages are not
 *                          copied, nor their tables), so its cost does not
 *                          grow with the parent's size. See "Spawn" below.
 *
 * Spawn. The call travels as with fork (target name, args, kwargs); the
 * child's result, error, exit code and timing come back as with fork.
 * What it needs:
 *  - a target registered by name before main() runs: MPROC_TARGET (or
 *    mproc_target_register from a constructor of your own, see below).
 *    Starting an unregistered function fails with MPROC_ENOTARGET; a name
 *    registered in the parent only after main() began is not found by the
 *    child, which then fails (exit code 1) with a message naming it;
 *  - opts.ctx NULL: a pointer into the parent cannot cross exec;
 *  - the program must recognise that it was started as a child before its
 *    main() runs: mproc_spawn_child_main (multiproc/target.h) does, and
 *    every file that uses MPROC_TARGET calls it from a constructor that
 *    runs after every MPROC_TARGET registration (those run with constructor
 *    priority 101, before every constructor without a priority, in the
 *    program and in the shared libraries it loads). A program that
 *    registers its targets otherwise calls mproc_spawn_child_main itself
 *    once they are registered, at the top of main(); until it has been
 *    called in this process, a spawn start fails with MPROC_ENOSYS, so a
 *    child never runs your main() by mistake.
 * The spawned child runs its target before main() and before the
 * constructors without a priority (C++ dynamic initialisers among them)
 * that come after the first MPROC_TARGET file in link order: a spawn
 * target must not rely on those. */
typedef enum {
  MPROC_START_DEFAULT = 0,
  MPROC_START_FORK = 1,
  MPROC_START_FORKSERVER = 2,
  MPROC_START_SPAWN = 3
} mproc_start_method_t;

/* Sets the global start method, used by every Process and pool whose
 * options leave start_method 0 (Python's set_start_method; unlike Python
 * it may be changed again at any time, and each start uses the method set
 * when it starts). MPROC_START_DEFAULT restores fork. Thread-safe.
 * Errors: MPROC_EINVAL (not one of the values above). */
MPROC_API int mproc_set_start_method(mproc_start_method_t method);

/* The global start method: MPROC_START_FORK, _FORKSERVER or _SPAWN (never
 * MPROC_START_DEFAULT). Cannot fail. */
MPROC_API int mproc_get_start_method(void);

/* Starts this process's fork server now, if it has none (the first
 * forkserver start does it otherwise): early, before threads and state
 * exist, as Python's forkserver is meant to be used. A child forked from
 * a process with a server does not share it: it starts its own.
 * Errors: MPROC_ENOSYS (this program never called mproc_spawn_child_main,
 * see "Spawn"), MPROC_EAGAIN, MPROC_ENOMEM, MPROC_EMFILE (limits, named by
 * mproc_last_error()), MPROC_ENOENT or MPROC_EACCES (/proc/self/exe could
 * not be executed). */
MPROC_API int mproc_forkserver_start(void);

/* Zero-initialise, then set what you need. */
typedef struct {
  mproc_target_fn target;      /* required, unless target_name is given */
  /* A registered target's name (multiproc/target.h), used when target is NULL.
   * A target that is registered travels with its name either way, and
   * failure messages use it ("run_proc() missing required argument"). */
  const char *target_name;
  const char *name;            /* NULL: "Process-N"; copied */
  const mproc_value_t *args;   /* a tuple or list, or NULL for () */
  const mproc_value_t *kwargs; /* a dict, or NULL for {} */
  void *ctx;                   /* handed to the target: mproc_call_ctx */
  bool daemon;
  /* Largest call frame the child accepts, in bytes; 0 for
   * MPROC_FRAME_MAX_DEFAULT (1 GiB). */
  size_t max_frame;
  /* How the child starts; 0: the global method, read at start
   * (mproc_get_start_method). */
  mproc_start_method_t start_method;
} mproc_process_opts_t;

/* Per-process timing. Instants are CLOCK_MONOTONIC nanoseconds, 0 while
 * unknown; the child's instants are read by the child itself (the clock is
 * system-wide) and reach the parent in its reports. Durations are seconds,
 * 0 while either end is unknown. Everything is known once the process has
 * been reaped (by join, is_alive, exitcode or mproc_wait seeing it end);
 * before that only started_ns is. */
typedef struct {
  /* Parent, in mproc_process_start just before fork. */
  uint64_t started_ns;
  /* Child, the call received and decoded, just before calling the target
   * (0 if it never got there: killed or failed before). */
  uint64_t entered_ns;
  /* Child, once the target returned (failed, or a C++ exception escaped
   * it) and stdio was flushed, as it reports that (0 if it never did:
   * killed, crashed, exit() called). */
  uint64_t returned_ns;
  /* The child's end, as well as it is known: returned_ns when there is one
   * (the child leaves right after it, once its own non-daemonic children
   * are joined); otherwise, for a child that was killed, crashed or called
   * exit(), nothing reports its end and reaped_ns is the best known, late
   * by however long the parent took to collect it. */
  uint64_t ended_ns;
  /* Parent, when the exit status was collected: late by however long the
   * parent took to join (or to ask). */
  uint64_t reaped_ns;
  double startup_s; /* entered - started: fork, call transfer, decode */
  double run_s;     /* returned - entered: the target itself */
  /* ended - started: the child's life from the parent's start call, not
   * counting how late the parent joined it (reaped - started does). */
  double wall_s;
  /* CPU time in user mode and in the kernel, and the peak resident set
   * size, from wait4(): the child's own plus those of its children it
   * reaped. A forked child's RSS starts from its parent's. */
  double user_s;
  double sys_s;
  long max_rss_kb;
} mproc_timing_t;

/* Creates a process that has not started. args and kwargs are encoded now
 * (the caller keeps ownership of them and may free them on return); the
 * default name's number is taken now, as in Python.
 * Errors: MPROC_EINVAL (no target; args not a tuple/list; kwargs not a dict;
 * start_method not an mproc_start_method_t),
 * MPROC_ENOTARGET (target_name is not registered), MPROC_EDUPTARGET
 * (two functions registered under target_name; mproc_last_error() names
 * where), MPROC_ETOOBIG (call
 * larger than max_frame), MPROC_ENOMEM. */
MPROC_API int mproc_process_new(mproc_process_t **out, const mproc_process_opts_t *opts);

/* Forks and starts the target in the child, by the process's start method
 * (its option, else the global one, read now). Returns once the call has
 * been handed over (a call larger than the pipe buffer is streamed while
 * the child reads it).
 * Errors: MPROC_ESTATE (started already), MPROC_ENOTCHILD,
 * MPROC_ENOSYS (spawn or forkserver in a program that never called
 * mproc_spawn_child_main — see "Spawn" above), MPROC_ENOTARGET (spawn or
 * forkserver with a target that is not registered: the detail names the
 * function, by symbol when it has one), MPROC_EINVAL (spawn or forkserver
 * with opts.ctx set), MPROC_ENOENT or MPROC_EACCES (spawn, or starting
 * the fork server: /proc/self/exe could not be executed), MPROC_EPIPE (the
 * fork server died, twice in a row),
 * MPROC_EDAEMONIC (called inside a daemonic process), MPROC_EAGAIN and
 * MPROC_ENOMEM (fork failed: process or memory limits; mproc_last_error()
 * names the limit), MPROC_EMFILE (the hard descriptor limit reached — the
 * soft one is raised first; mproc_last_error() gives the counts). */
MPROC_API int mproc_process_start(mproc_process_t *p);

/* Waits for the process to end, at most timeout_s seconds (negative: no
 * limit; 0: just check). Returns 0 once it has ended (its exit code is then
 * known), MPROC_ETIMEDOUT if it is still running.
 * Errors: MPROC_ESTATE (not started), MPROC_ENOTCHILD, MPROC_EINVAL (NaN),
 * MPROC_ECHILD (someone else reaped it: SIGCHLD ignored, or waitpid(-1)). */
MPROC_API int mproc_process_join(mproc_process_t *p, double timeout_s);

/* 1 while the process runs, 0 before start and after it ended (reaping it
 * if it just did), or a negative error (MPROC_ENOTCHILD, MPROC_ECHILD). */
MPROC_API int mproc_process_is_alive(mproc_process_t *p);

/* Sends SIGTERM / SIGKILL. Nothing happens, successfully, when the process
 * has ended. Errors: MPROC_ESTATE (not started), MPROC_ENOTCHILD. */
MPROC_API int mproc_process_terminate(mproc_process_t *p);
MPROC_API int mproc_process_kill(mproc_process_t *p);

/* The child's pid once started, 0 before. */
MPROC_API pid_t mproc_process_pid(const mproc_process_t *p);

/* The name ("Process-1", or the name given). Never NULL for a valid p. */
MPROC_API const char *mproc_process_name(const mproc_process_t *p);

MPROC_API bool mproc_process_daemon(const mproc_process_t *p);

/* Python's exitcode. Returns 1 and sets *code once the process has ended
 * (checking without blocking): the target's return value, 1 for a failed
 * target, or -N when signal N ended it. Returns 0 while unknown (not started
 * or running), or a negative error. */
MPROC_API int mproc_process_exitcode(mproc_process_t *p, int *code);

/* The failure message the target reported (mproc_call_fail, a failed
 * mproc_unpack, or a return value outside 0..255), once it has ended;
 * NULL when there is none. Valid until mproc_process_close. */
MPROC_API const char *mproc_process_error(const mproc_process_t *p);

/* The target's result (mproc_call_set_result or mproc_call_return in the
 * child), once the process has ended (checking without blocking): returns
 * 1 with *out set — the value the target set, or None when it set none —
 * valid until mproc_process_close. A result of any size arrives: up to
 * 32 KiB it travels in the child's report, a larger one in a memory file
 * sent with it (a 64 MiB result costs one copy in and one out, and the
 * child never waits for the parent to read).
 * Returns 0 while unknown (not started or running).
 * Errors: MPROC_EFAILED (the target failed, or never returned: killed,
 * crashed, exit() called — see mproc_process_exitcode and
 * mproc_process_error), MPROC_ENOMEM or MPROC_ENOSPC (the child had no
 * memory to send the result), MPROC_EMFILE (the child had no descriptor
 * for a large result's memory file), MPROC_E2BIG (a result whose encoding
 * is over 2 GiB), MPROC_EMALFORMED or MPROC_EIO (the result
 * arrived damaged or not at all), MPROC_ENOTCHILD, MPROC_ECHILD. */
MPROC_API int mproc_process_result(mproc_process_t *p, const mproc_value_t **out);

/* A descriptor that becomes readable when the process ends, for your own
 * poll/epoll loop; owned by the handle (do not close it). Returns the fd,
 * or MPROC_ESTATE before start. After it fires, call join/is_alive/exitcode
 * to collect the exit status. */
MPROC_API int mproc_process_sentinel(const mproc_process_t *p);

/* Copies the timing so far into *t (fields still unknown are 0). */
MPROC_API int mproc_process_timing(const mproc_process_t *p, mproc_timing_t *t);

/* Releases the handle. Refuses (MPROC_EBUSY) while the process runs: join,
 * terminate or kill it first. NULL is accepted. In a child that inherited a
 * copy of the handle, only the copy is released. */
MPROC_API int mproc_process_close(mproc_process_t *p);

/* Waits until one of the n processes ends, like
 * multiprocessing.connection.wait, at most timeout_s seconds (negative: no
 * limit). Sets *index to the first one found ended (reaped) and returns 0,
 * or returns MPROC_ETIMEDOUT. Processes that ended before the call count.
 * Errors: MPROC_EINVAL, MPROC_ESTATE (one not started), MPROC_ENOTCHILD. */
MPROC_API int mproc_wait(mproc_process_t *const *procs, size_t n, double timeout_s,
               size_t *index);

/* This process's name: "MainProcess", or in a child its Process name. */
MPROC_API const char *mproc_current_process_name(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_PROCESS_H */
