/* multiproc — Python's multiprocessing for C.
 *
 * The umbrella header: everything public, module by module.
 *   core/error.h            error codes, mproc_strerror
 *   serialization/value.h   values, pack/unpack, repr, protobuf encoding
 *   serialization/frame.h   length-prefixed frames over a descriptor
 *   core/call.h             what a target receives
 *   core/process.h          Process
 */
#ifndef MULTIPROC_H
#define MULTIPROC_H

#include "core/call.h"
#include "core/error.h"
#include "core/process.h"
#include "serialization/frame.h"
#include "serialization/value.h"

#endif /* MULTIPROC_H */
