/*
 * replay.c -- runs the fuzz target (fuzz_pool.c) on every file of the given
 * directories (fuzz/corpus, fuzz/crashers), without libFuzzer, built with
 * the normal compiler: the ctest fuzz_replay.  Each input runs in a forked
 * child with an alarm (a hang is a failure, not a stuck test); an input
 * that crashes, aborts (an oracle) or hangs fails the run.  Files named in
 * a directory's KNOWN list (first word of each line; '#' comments) are
 * known failures the library has not fixed yet: they are skipped, each with
 * a printed line saying so.
 *
 * What it can NOT catch: anything the target does not (fuzz_pool.c); it
 * finds nothing new, it only replays what was found.
 * Usage: pmfuzz_replay [-v] DIR|FILE...   (PMFUZZ_REPLAY_ALARM: seconds, 20)
 *        pmfuzz_replay --serial [-v] DIR|FILE...   every input in this one
 *        process, in order, as libFuzzer runs them (the target's state --
 *        its image buffer, its work file -- carries from one to the next),
 *        with PMFUZZ_VERIFY_SYNC=1: an abort is the first failure
 *        pmfuzz_replay --pool INPUT OUT    writes the pool file INPUT makes
 *        (the hand-made cases of fuzz/cases/ as files, for regression tests)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz_pool.h"

static char known[256][128];
static unsigned nknown;

static void load_known(const char *dir)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/KNOWN", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f) && nknown < 256) {
		char w[128];
		if (line[0] == '#' || sscanf(line, "%127s", w) != 1)
			continue;
		snprintf(known[nknown++], sizeof(known[0]), "%s", w);
	}
	fclose(f);
}

static int is_known(const char *name)
{
	for (unsigned i = 0; i < nknown; i++)
		if (strcmp(known[i], name) == 0)
			return 1;
	return 0;
}

static unsigned runs, fails, skipped;

static int serial; /* --serial: every input in one process (as libFuzzer runs them) */

static void run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "FAIL %s: cannot read\n", path);
		fails++;
		return;
	}
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	fflush(NULL);
	if (serial) { /* in this process: state carries to the next input */
		if (getenv("PMFUZZ_VERBOSE"))
			fprintf(stderr, "serial: %s\n", path);
		pmfuzz_one(buf, n);
		runs++;
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		const char *a = getenv("PMFUZZ_REPLAY_ALARM");
		alarm(a ? (unsigned)atoi(a) : 20);
		pmfuzz_one(buf, n);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	runs++;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	fails++;
	if (WIFSIGNALED(st))
		fprintf(stderr, "FAIL %s: %s\n", path,
		        WTERMSIG(st) == SIGALRM ? "hang (alarm)" : strsignal(WTERMSIG(st)));
	else
		fprintf(stderr, "FAIL %s: exit status %d\n", path, WEXITSTATUS(st));
}

static void run_dir(const char *dir)
{
	nknown = 0;
	load_known(dir);
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "FAIL %s: cannot list\n", dir);
		fails++;
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, nm);
		struct stat st;
		if (nm[0] == '.' || strcmp(nm, "KNOWN") == 0 || strstr(nm, ".md") || strstr(nm, ".py") || strstr(nm, ".sh") ||
		    stat(path, &st) || !S_ISREG(st.st_mode)) {
			free(ents[i]);
			continue;
		}
		if (is_known(nm)) {
			printf("SKIP %s: listed in %s/KNOWN (a known library bug, not fixed yet)\n", path, dir);
			skipped++;
		} else {
			run_file(path);
		}
		free(ents[i]);
	}
	free(ents);
}

int main(int argc, char **argv)
{
	int i = 1;
	if (i < argc && strcmp(argv[i], "--serial") == 0) {
		serial = 1;
		setenv("PMFUZZ_VERIFY_SYNC", "1", 1);
		i++;
	}
	if (i < argc && strcmp(argv[i], "-v") == 0) {
		setenv("PMFUZZ_VERBOSE", "1", 1);
		i++;
	}
	pmfuzz_init(); /* once, inherited by every child */
	if (i + 2 < argc + 0 && strcmp(argv[i], "--pool") == 0) {
		FILE *f = fopen(argv[i + 1], "rb");
		static unsigned char in[1 << 20];
		size_t n = f ? fread(in, 1, sizeof(in), f) : 0, size;
		if (f)
			fclose(f);
		const uint8_t *img = pmfuzz_image(in, n, &size);
		FILE *o = fopen(argv[i + 2], "wb");
		if (!f || !o || fwrite(img, 1, size, o) != size || fclose(o))
			return 2;
		return 0;
	}
	for (; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			run_dir(argv[i]);
		} else {
			run_file(argv[i]);
		}
	}
	printf("pmfuzz_replay: %u inputs run, %u failed, %u known failures skipped\n", runs, fails,
	       skipped);
	return fails ? 1 : 0;
}
