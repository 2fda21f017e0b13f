/* multiproc — Python's multiprocessing for C.
 *
 * The umbrella header: everything public, module by module. Each header can
 * also be included alone ("multiproc/process.h"); they live in
 * <module>/include/multiproc/ in the source tree.
 *   multiproc/error.h   error codes, mproc_strerror, mproc_last_error
 *   multiproc/version.h mproc_version, MPROC_VERSION_*
 *   multiproc/value.h   values, pack/unpack, repr, protobuf encoding
 *   multiproc/frame.h   length-prefixed frames over a descriptor
 *   multiproc/call.h    what a target receives
 *   multiproc/target.h  named targets (MPROC_TARGET)
 *   multiproc/process.h Process
 *   multiproc/pool.h    Pool of pre-forked workers
 *   multiproc/pipe.h    Pipe and Connection
 *   multiproc/queue.h   Queue, SimpleQueue, JoinableQueue
 *   multiproc/sync.h    Lock, RLock, Semaphore, Event, Condition, Barrier
 *   multiproc/shm.h     shared memory, Value and Array
 */
#ifndef MULTIPROC_H
#define MULTIPROC_H

#include "multiproc/call.h"
#include "multiproc/error.h"
#include "multiproc/frame.h"
#include "multiproc/pipe.h"
#include "multiproc/pool.h"
#include "multiproc/process.h"
#include "multiproc/queue.h"
#include "multiproc/shm.h"
#include "multiproc/sync.h"
#include "multiproc/target.h"
#include "multiproc/value.h"
#include "multiproc/version.h"

#endif /* MULTIPROC_H */
