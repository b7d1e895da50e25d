/*
 * error.c -- layer 0: error codes, their names, and the thread-local
 * message that says what went wrong and where.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

static _Thread_local char tls_msg[512];
static _Thread_local int tls_err;

PM_API const char *pm_strerror(int err)
{
	switch (err) {
	case PM_OK: return "success";
	case PM_EINVAL: return "invalid argument";
	case PM_ENOSPC: return "pool is full";
	case PM_ENOMEM: return "out of memory (DRAM)";
	case PM_ESYS: return "system call failed";
	case PM_EEXIST: return "file already exists";
	case PM_ENOENT: return "no such file";
	case PM_EFOREIGN: return "not a pmstore pool";
	case PM_EVERSION: return "unsupported pool layout version";
	case PM_ECORRUPT: return "pool is corrupt";
	case PM_EBUSY: return "pool is open in another process";
	case PM_ETOOSMALL: return "pool size too small";
	case PM_ETX: return "wrong transaction stage";
	case PM_ECANCELED: return "transaction aborted";
	case PM_ERANGE: return "range not inside the pool";
	case PM_ENOLOG: return "too many actions for one publish";
	case PM_EFORKED: return "pool handle inherited across fork (read only in the child)";
	case PM_EIO: return "a fence failed; the pool handle is in a failed state";
	default: return "unknown error";
	}
}

PM_API const char *pm_errormsg(void)
{
	return tls_msg[0] ? tls_msg : pm_strerror(tls_err);
}

PM_API int pm_last_error(void)
{
	return tls_err;
}

static int errno_for(int err)
{
	switch (err) {
	case PM_ENOSPC: return ENOSPC;
	case PM_ENOMEM: return ENOMEM;
	case PM_EEXIST: return EEXIST;
	case PM_ENOENT: return ENOENT;
	case PM_EBUSY: return EWOULDBLOCK;
	case PM_ECANCELED: return ECANCELED;
	case PM_ERANGE: return ERANGE;
	case PM_ESYS: return errno ? errno : EIO;
	default: return EINVAL;
	}
}

int pm_seterr(int err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tls_msg, sizeof(tls_msg), fmt, ap);
	va_end(ap);
	if (err == PM_ESYS && n >= 0 && (size_t)n < sizeof(tls_msg))
		snprintf(tls_msg + n, sizeof(tls_msg) - (size_t)n, ": %s",
		         strerror(saved));
	tls_err = err;
	errno = err == PM_ESYS ? saved : errno_for(err);
	return err;
}
