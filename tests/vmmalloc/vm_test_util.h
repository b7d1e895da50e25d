/*
 * vm_test_util.h -- helpers shared by the libvmmalloc tests: where is the
 * heap pool mapping, and is a pointer inside it?
 */
#ifndef VM_TEST_UTIL_H
#define VM_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vm_map {
	uintptr_t start, end;
	char perms[8];
	unsigned long inode;
	char path[512];
};

/* The /proc/self/maps line that contains p; 0 if found. (The stdio and the
 * buffer it uses come from the heap under test, which is fine.) */
static inline int vm_find_map(const void *p, struct vm_map *m)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int ret = -1;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e, off, ino;
		char perms[8], dev[16];
		int n = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &s, &e, perms,
			   &off, dev, &ino, &n) < 6)
			continue;
		if ((uintptr_t)p < s || (uintptr_t)p >= e)
			continue;
		m->start = s;
		m->end = e;
		strcpy(m->perms, perms);
		m->inode = ino;
		snprintf(m->path, sizeof(m->path), "%s", line + n);
		m->path[strcspn(m->path, "\n")] = '\0';
		ret = 0;
		break;
	}
	if (f)
		fclose(f);
	return ret;
}

/* Is p inside the heap pool: an unlinked file in VMMALLOC_POOL_DIR? */
static inline int vm_in_pool(const void *p)
{
	struct vm_map m;
	const char *dir = getenv("VMMALLOC_POOL_DIR");
	if (vm_find_map(p, &m) || !dir)
		return 0;
	return m.inode != 0 && strncmp(m.path, dir, strlen(dir)) == 0 &&
	       strstr(m.path, "(deleted)") != NULL;
}

/* A field of /proc/self/smaps_rollup in KiB, or -1. */
static inline long vm_rollup_kb(const char *field)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = atol(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

#endif
