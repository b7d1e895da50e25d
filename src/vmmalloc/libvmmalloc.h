/*
 * libvmmalloc.h -- constants of libvmmalloc, the drop-in volatile heap.
 *
 * libvmmalloc replaces malloc(3) and friends of an unmodified program
 * (LD_PRELOAD=libvmmalloc.so.1, or link with -lvmmalloc) with allocations
 * from a pool built on a memory-mapped, unlinked file.  See libvmmalloc(7)
 * and docs/VMMALLOC.md.
 */
#ifndef LIBVMMALLOC_H
#define LIBVMMALLOC_H 1

#include <stddef.h>

#define VMMALLOC_MAJOR_VERSION 1
#define VMMALLOC_MINOR_VERSION 1

/* Smallest VMMALLOC_POOL_SIZE accepted (same value as PMDK's). */
#define VMMALLOC_MIN_POOL ((size_t)(1024 * 1024 * 14))

#endif
