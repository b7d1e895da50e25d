/* vm_hello.c -- allocates, prints "hello <n>", for the LD_PRELOAD tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char *p = malloc(100);
	strcpy(p, "hello");
	printf("%s %zu\n", p, strlen(p));
	free(p);
	return 0;
}
