/* probe.c -- compiles only if pmstore.h is reachable and pmstore's
 * internal headers (src/) are not (cmake/consumer/CMakeLists.txt). */
#include <pmstore.h>
#if __has_include("pool/pool.h") || __has_include("base/error.h") || __has_include("tx/tx.h")
#error "pmstore's internal src/ headers leak into the consumer's include path"
#endif
int probe(void) { return PMSTORE_VERSION_MAJOR; }
