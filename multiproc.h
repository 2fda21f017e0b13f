/* multiproc — Python's multiprocessing for C.
 *
 * The umbrella header: everything public, module by module.
 *   core/error.h            error codes, mproc_strerror
 *   serialization/value.h   values, pack/unpack, repr, protobuf encoding
 *   serialization/frame.h   length-prefixed frames over a descriptor
 *   core/call.h             what a target receives
 *   core/target.h           named targets (MPROC_TARGET)
 *   core/process.h          Process
 *   workers/pool.h          Pool of pre-forked workers
 */
#ifndef MULTIPROC_H
#define MULTIPROC_H

#include "core/call.h"
#include "core/error.h"
#include "core/process.h"
#include "core/target.h"
#include "serialization/frame.h"
#include "serialization/value.h"
#include "workers/pool.h"

#endif /* MULTIPROC_H */
