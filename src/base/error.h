/*
 * error.h -- layer 0: the thread-local error every layer reports through
 * (error.c; pm_errormsg / pm_last_error in the public API).
 */
#ifndef PM_BASE_ERROR_H
#define PM_BASE_ERROR_H

#include "pmstore.h"

int pm_seterr(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define PM_ERR(err, ...) pm_seterr((err), __VA_ARGS__)

#endif
