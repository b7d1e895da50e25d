/*
 * vmem_consumer.c -- an outside program using an installed libvmem through
 * pkg-config (cmake/test-install.sh): a pool in DIR, an allocation, a free.
 * Cannot catch: anything about libvmmalloc's preloading (tests/vmmalloc/).
 *
 *   vmem_consumer DIR
 */
#include <stdio.h>
#include <string.h>

#include <libvmem.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	VMEM *v = vmem_create(argv[1], VMEM_MIN_POOL);
	if (!v) {
		fprintf(stderr, "vmem_consumer: vmem_create: %s\n", vmem_errormsg());
		return 1;
	}
	char *s = vmem_strdup(v, "hello");
	int ok = s && strcmp(s, "hello") == 0 && vmem_malloc_usable_size(v, s) >= 6;
	vmem_free(v, s);
	vmem_delete(v);
	printf("vmem_consumer: %s\n", ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
