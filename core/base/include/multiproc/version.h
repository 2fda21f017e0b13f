/* multiproc — the library's version.
 *
 * MPROC_VERSION_* say which headers a program was compiled with;
 * mproc_version() says which library it runs with (the shared library may
 * have been replaced since). While the major version is 0, any minor
 * version may change the API and the ABI.
 */
#ifndef MPROC_VERSION_H
#define MPROC_VERSION_H

#include "multiproc/error.h" /* MPROC_API */

#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 3
#define MPROC_VERSION_PATCH 0
/* "MAJOR.MINOR.PATCH" of the numbers above (also the pkg-config
 * file's Version, which tools/dist.bzl reads from this line). */
#define MPROC_VERSION_STRING "0.3.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version as "MAJOR.MINOR.PATCH" (a static string). Never
 * fails. */
MPROC_API const char *mproc_version(void);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_VERSION_H */
