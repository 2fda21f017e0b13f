/* multiproc — shared memory: Python's multiprocessing.shared_memory
 * (SharedMemory) and sharedctypes (Value, Array).
 *
 *     mproc_array_t *counter;                       // Value('i', 0)
 *     mproc_array_new(&counter, 'i', 1, true);
 *     ...                                           // in any child:
 *     mproc_lock_acquire(mproc_array_lock(counter), -1);
 *     ((int *)mproc_array_data(counter))[0] += 1;   // counter.value += 1
 *     mproc_lock_release(mproc_array_lock(counter));
 *
 *     mproc_shm_t *shm;                             // SharedMemory(create=True,
 *     mproc_shm_create(&shm, NULL, 4096);           //              size=4096)
 *     memcpy(mproc_shm_buf(shm), "hi", 2);
 *     ... another program: mproc_shm_attach(&other, mproc_shm_name(shm));
 *     mproc_shm_unlink(shm);                        // the creator removes
 *     mproc_shm_close(shm);                         //   the name
 *
 * Anonymous memory (mproc_shm_new, Arrays) is MAP_SHARED with no name and
 * no descriptor: a child forked after it was made shares it, at the same
 * address, through the same handle; nothing can leak, the pages go when
 * the last process unmaps them or ends. Named memory (mproc_shm_create,
 * mproc_shm_attach) is a POSIX shared memory object, /dev/shm/<name>, for
 * unrelated processes: the name stays until someone unlinks it, even after
 * every process has closed it (as in Python; there is no resource tracker
 * here to do it at exit, so the creator should unlink).
 *
 * *_close and *_free release the calling process's view (a child may close
 * its inherited copy; the others keep theirs). Handles may be used from
 * several threads; the memory itself is the caller's to synchronise.
 *
 * Errors every function here returning int may return: MPROC_EINVAL (a
 * NULL handle or argument); the constructors (mproc_shm_new,
 * mproc_shm_create, mproc_shm_attach, mproc_array_new) also MPROC_ENOMEM.
 */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multiproc/error.h"
#include "multiproc/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_shm mproc_shm_t;
typedef struct mproc_array mproc_array_t;

/* ---- SharedMemory. */

/* Longest name, in bytes (without the leading '/' POSIX adds). */
#define MPROC_SHM_NAME_MAX 200

/* Anonymous shared memory of size bytes (> 0), zeroed, shared with the
 * children forked after it. mproc_shm_name gives NULL.
 * Errors: MPROC_EINVAL (size 0), MPROC_ENOMEM. */
MPROC_API int mproc_shm_new(mproc_shm_t **out, size_t size);

/* Creates /dev/shm/<name> of size bytes (> 0), zeroed. name NULL makes a
 * unique one ("mproc-<pid>-<n>-<random>"; read it with mproc_shm_name).
 * Names are [A-Za-z0-9._-] only (a leading '/' is accepted and dropped).
 * Errors: MPROC_EEXIST (the name is taken), MPROC_EINVAL (bad name or
 * size 0), MPROC_EACCES, MPROC_ENOSPC, MPROC_EMFILE, MPROC_ENFILE. */
MPROC_API int mproc_shm_create(mproc_shm_t **out, const char *name, size_t size);

/* Opens an existing named segment, whatever its size.
 * Errors: MPROC_ENOENT, MPROC_EINVAL (a bad name, or an object of size 0:
 * not made by mproc_shm_create), MPROC_EACCES, MPROC_EMFILE, MPROC_ENFILE. */
MPROC_API int mproc_shm_attach(mproc_shm_t **out, const char *name);

/* The memory, its size, its name (NULL when anonymous). */
MPROC_API void *mproc_shm_buf(const mproc_shm_t *shm);
MPROC_API size_t mproc_shm_size(const mproc_shm_t *shm);
MPROC_API const char *mproc_shm_name(const mproc_shm_t *shm);

/* Removes the name: no one can attach any more; the memory lives on until
 * every process has closed it. Errors: MPROC_ENOENT (already unlinked),
 * MPROC_EINVAL (anonymous memory has no name), MPROC_EACCES. */
MPROC_API int mproc_shm_unlink(mproc_shm_t *shm);

/* Unmaps the memory in this process and frees the handle. NULL is
 * ignored. Always 0. */
MPROC_API int mproc_shm_close(mproc_shm_t *shm);

/* ---- Value and Array. */

/* An array of n (>= 1) C values of the ctypes typecode given, zeroed, in
 * anonymous shared memory, optionally with an RLock (Python's default,
 * lock=True): Array('d', n) is mproc_array_new(&a, 'd', n, true), and
 * Value('i', 0) an array of one. Typecodes: 'c' char, 'b' signed char,
 * 'B' unsigned char, 'h' short, 'H' unsigned short, 'i' int, 'I' unsigned
 * int, 'l' long, 'L' unsigned long, 'q' long long, 'Q' unsigned long long,
 * 'f' float, 'd' double. The data is aligned for any of them.
 * Errors: MPROC_EINVAL (unknown typecode, n 0 or too large), MPROC_ENOMEM. */
MPROC_API int mproc_array_new(mproc_array_t **out, char typecode, size_t n,
                              bool lock);

/* The items, to be used as the C type of the typecode: (double *) for 'd'. */
MPROC_API void *mproc_array_data(const mproc_array_t *a);
/* The number of items; their size; the typecode. */
MPROC_API size_t mproc_array_len(const mproc_array_t *a);
MPROC_API size_t mproc_array_itemsize(const mproc_array_t *a);
MPROC_API char mproc_array_typecode(const mproc_array_t *a);

/* The array's RLock (Python's get_lock()), or NULL when made without. It
 * belongs to the array: mproc_lock_free ignores it. */
MPROC_API mproc_lock_t *mproc_array_lock(const mproc_array_t *a);

/* Python's v.value / a[i], one item at a time, converted: each access
 * takes the array's lock (when it has one) for that access only — so
 * `set(get() + 1)` from several processes still loses updates, exactly as
 * Python's `v.value += 1` does; hold mproc_array_lock around both.
 * Integers from or to a float typecode are converted as C converts them.
 * Errors: MPROC_ERANGE (i >= len, or an int that does not fit the type),
 * MPROC_EOWNERDEAD (the lock's holder died: the access was made). */
MPROC_API int mproc_array_get_int(mproc_array_t *a, size_t i, int64_t *out);
MPROC_API int mproc_array_set_int(mproc_array_t *a, size_t i, int64_t v);
MPROC_API int mproc_array_get_float(mproc_array_t *a, size_t i, double *out);
MPROC_API int mproc_array_set_float(mproc_array_t *a, size_t i, double v);

/* Releases this process's view. NULL is ignored. */
MPROC_API void mproc_array_free(mproc_array_t *a);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SHM_H */
