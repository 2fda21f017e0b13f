/* The version the library was built as (multiproc/version.h;
 * tests/build:version_test checks the string against the numbers). */
#include "multiproc/version.h"

const char *mproc_version(void) { return MPROC_VERSION_STRING; }
