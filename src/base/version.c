/*
 * version.c -- layer 0: pmstore_version(), the running library's version.
 *
 * The string is made from the PMSTORE_VERSION_* macros of include/pmstore.h,
 * the one place the version is written (CMakeLists.txt reads it from there
 * for the SONAME, pmstore.pc and the CMake package), so the header, the
 * library and the packages cannot disagree.  What a program compiled
 * against an older header sees: the macros it was compiled with, and this
 * function's answer for the library it runs with.
 */
#include "pmstore.h"

#define PM_STR_(x) #x
#define PM_STR(x) PM_STR_(x)

PM_API const char *pmstore_version(void)
{
	return PM_STR(PMSTORE_VERSION_MAJOR) "." PM_STR(PMSTORE_VERSION_MINOR) "." PM_STR(
		PMSTORE_VERSION_PATCH);
}
