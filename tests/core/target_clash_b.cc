// The other file defining a target named "clashing".
#include "multiproc.h"

MPROC_TARGET(clashing) { return mproc_call_return(call, "s", "from b"); }
