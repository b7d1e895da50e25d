/*
 * vmmalloc.c -- the libvmmalloc interposer: malloc(3) and friends served
 * from one pool file (the "heap pool"), configured by environment variables.
 *
 * Layer: top of libvmmalloc; below it are the pool file (pool_file.c) and
 * the jemalloc arenas over the pool (src/alloc/vmem_arena.c).
 *
 * Life of the heap
 *   1. The first allocation call of the process (often from ld.so or libc,
 *      before any constructor has run) initialises everything under
 *      g_init_lock: reads the variables, registers our fork handlers (before
 *      jemalloc's, see fork section), creates and maps the pool file, and
 *      creates one jemalloc arena per CPU over it.
 *   2. Each thread, on its first allocation, is bound to one of those arenas
 *      (mallctl thread.arena), round robin.  From then on malloc/free are
 *      jemalloc's own fast paths with the thread's automatic cache.
 *   3. Allocation calls made while (1) or (2) run in the same thread -- libc
 *      and jemalloc's own set-up may allocate -- are served from a static
 *      bootstrap buffer, never freed (see boot_alloc).
 *
 * Why the automatic thread cache is safe here: it caches freed objects by
 * size class and hands them to any later malloc of the thread regardless of
 * arena.  In this library's private jemalloc every object that malloc/free
 * ever see comes from a heap-pool arena (jemalloc's internal metadata uses
 * arena 0 without a cache), so a cached object is always a pool object.
 * (The volatile-pools API, with several pools, uses no caches at all.)
 *
 * Invariants
 *   V1  g_ready is set only after g_heap exists; never cleared.
 *   V2  A thread in state TL_BOUND is bound to a heap-pool arena.
 *   V3  Pointers in [boot_buf, boot_buf + sizeof) are never passed to
 *       jemalloc; every other non-NULL pointer we are given came from it.
 */
#include "libvmmalloc.h"
#include "pool_file.h"
#include "pool_backing.h"
#include "alloc/vmem_arena.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define TLS_IE __attribute__((tls_model("initial-exec")))

enum { TL_NEW = 0, TL_BOUND = 1, TL_INIT = 2 };

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_ready;		  /* V1 */
static __thread int tl_state TLS_IE; /* TL_NEW / TL_BOUND / TL_INIT */
static atomic_uint g_next_arena;	  /* round robin of thread binding */

static struct vmem_arena *g_heap;
static struct vm_backing *g_backing; /* reserves the sparse file's blocks */
static void *g_base;
static size_t g_size;
static int g_fd = -1;

static struct {
	char dir[4096];
	int fork_mode;	/* VMMALLOC_FORK, default 1 */
	int log_level;	/* VMMALLOC_LOG_LEVEL, default 0 */
	int log_fd;	/* VMMALLOC_LOG_FILE or stderr, see keep_log_fd */
	dev_t log_dev;	/* what log_fd was when we made it (keep_log_fd) */
	ino_t log_ino;
	bool log_checked; /* log_fd is our duplicate: check it before use */
	bool log_stats; /* VMMALLOC_LOG_STATS=1 */
} cfg = {.fork_mode = 1, .log_fd = 2};

/*
 * Where messages go.  Many programs (ls, sort, wc, cat, tar: gnulib's
 * close_stdout) close stderr in an atexit handler, which runs before our
 * destructor prints the statistics.  So when anything may be logged, the
 * descriptor (stderr, or the VMMALLOC_LOG_FILE) is duplicated at start-up
 * to a high number, close-on-exec, and messages go there.  Its device and
 * inode are remembered: if the program later closes that number and it is
 * reused for another file (dup2 onto it), we write nothing rather than
 * write into the program's file.
 */
static void keep_log_fd(void)
{
	struct rlimit rl;
	int lo = 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur <= (rlim_t)lo)
		lo = rl.rlim_cur > 64 ? (int)rl.rlim_cur / 2 : 3;
	int fd = fcntl(cfg.log_fd, F_DUPFD_CLOEXEC, lo);
	struct stat st;
	if (fd < 0 && errno == EBADF) {
		cfg.log_fd = -1; /* started without stderr: log nowhere, never
				  * into whatever file gets number 2 later */
		return;
	}
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return; /* keep logging to the original descriptor */
	}
	if (cfg.log_fd != 2)
		close(cfg.log_fd); /* our log file: only the high copy stays */
	cfg.log_fd = fd;
	cfg.log_dev = st.st_dev;
	cfg.log_ino = st.st_ino;
	cfg.log_checked = true;
}

static bool log_fd_ok(void)
{
	struct stat st;
	if (!cfg.log_checked)
		return true;
	return fstat(cfg.log_fd, &st) == 0 && st.st_dev == cfg.log_dev &&
	       st.st_ino == cfg.log_ino;
}

/* ---- messages (never through stdio or the heap) --------------------- */

__attribute__((format(printf, 2, 3))) static void vlog(int level,
							const char *fmt, ...)
{
	if (level > cfg.log_level)
		return;
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "<libvmmalloc>: <%d> [%d] ", level,
			 (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (log_fd_ok() && write(cfg.log_fd, buf, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}

/* Configuration errors: one line on stderr, then the process ends with
 * status 1 (libvmmalloc(7): "prints an appropriate error message and
 * terminates the process").  _exit: atexit handlers would allocate. */
__attribute__((noreturn, format(printf, 1, 2))) static void fatal(
	const char *fmt, ...)
{
	char buf[768];
	int n = snprintf(buf, sizeof(buf), "libvmmalloc: ");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(2, buf, (size_t)n) < 0) {
		/* the exit status still says it */
	}
	_exit(1);
}

/* ---- configuration --------------------------------------------------- */

/* "<digits>[KMGT]" (either case) -> bytes; false on garbage or overflow. */
static bool parse_size(const char *s, size_t *out)
{
	if (*s < '0' || *s > '9')
		return false;
	size_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(*s - '0');
	}
	unsigned shift = 0;
	switch (*s) {
	case 'k': case 'K': shift = 10; s++; break;
	case 'm': case 'M': shift = 20; s++; break;
	case 'g': case 'G': shift = 30; s++; break;
	case 't': case 'T': shift = 40; s++; break;
	}
	if (*s != '\0' || (shift && v > (SIZE_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}

/* Small integer variable in [lo, hi], or def when unset. */
static int env_int(const char *name, int lo, int hi, int def)
{
	const char *s = getenv(name);
	if (!s)
		return def;
	if (s[0] < '0' || s[0] > '9' || s[1] != '\0' || s[0] - '0' < lo ||
	    s[0] - '0' > hi)
		fatal("%s=\"%s\" is invalid (expected %d..%d)", name, s, lo, hi);
	return s[0] - '0';
}

static void open_log_file(const char *name)
{
	char path[4096 + 16];
	size_t len = strlen(name);
	if (len >= 4096)
		fatal("VMMALLOC_LOG_FILE is too long");
	if (len && name[len - 1] == '-') /* trailing '-': append the pid */
		snprintf(path, sizeof(path), "%s%d", name, (int)getpid());
	else
		snprintf(path, sizeof(path), "%s", name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fatal("VMMALLOC_LOG_FILE=\"%s\": cannot open: %s", path,
		      strerror(errno));
	cfg.log_fd = fd;
}

static size_t read_config(void)
{
	const char *dir = getenv("VMMALLOC_POOL_DIR");
	const char *size_s = getenv("VMMALLOC_POOL_SIZE");
	size_t size;
	if (!dir || !*dir)
		fatal("VMMALLOC_POOL_DIR is not set (it must name an existing "
		      "writable directory for the pool file)");
	if (strlen(dir) >= sizeof(cfg.dir))
		fatal("VMMALLOC_POOL_DIR is too long");
	strcpy(cfg.dir, dir);
	if (!size_s)
		fatal("VMMALLOC_POOL_SIZE is not set (pool size in bytes, "
		      "K/M/G suffixes accepted, at least %zu)",
		      VMMALLOC_MIN_POOL);
	if (!parse_size(size_s, &size))
		fatal("VMMALLOC_POOL_SIZE=\"%s\" is not a size (bytes, "
		      "optionally with a K, M or G suffix)", size_s);
	if (size < VMMALLOC_MIN_POOL)
		fatal("VMMALLOC_POOL_SIZE=\"%s\" is below the minimum of %zu "
		      "bytes (VMMALLOC_MIN_POOL)", size_s, VMMALLOC_MIN_POOL);
	cfg.fork_mode = env_int("VMMALLOC_FORK", 0, 3, 1);
	cfg.log_level = env_int("VMMALLOC_LOG_LEVEL", 0, 4, 0);
	cfg.log_stats = env_int("VMMALLOC_LOG_STATS", 0, 1, 0) == 1;
	const char *log_file = getenv("VMMALLOC_LOG_FILE");
	if (log_file && *log_file)
		open_log_file(log_file);
	if (cfg.log_level > 0 || cfg.log_stats)
		keep_log_fd();
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	return size / ps * ps;
}

/* ---- bootstrap buffer (V3) ------------------------------------------- */

/*
 * Allocations made by libc or jemalloc while this thread initialises the
 * heap or binds to an arena (tl_state == TL_INIT) cannot recurse into
 * jemalloc.  They come from this buffer: a 16-byte header holds the size
 * (for realloc and malloc_usable_size); free is a no-op.  Only a few
 * hundred bytes are used in practice (dlsym's error buffer, pthread key
 * pages), so a static 256 KiB in .bss, untouched otherwise, is plenty.
 */
#define BOOT_SIZE (256 * 1024)
static _Alignas(4096) char boot_buf[BOOT_SIZE];
static atomic_size_t boot_used;

static bool is_boot(const void *p)
{
	return (const char *)p >= boot_buf && (const char *)p < boot_buf + BOOT_SIZE;
}

static void *boot_alloc(size_t size, size_t align)
{
	if (align < 16)
		align = 16;
	if (size > BOOT_SIZE)
		goto oom;
	size_t need = (size + 15) / 16 * 16 + align;
	size_t off = atomic_fetch_add(&boot_used, need);
	if (off + need > BOOT_SIZE)
		goto oom;
	uintptr_t p = (uintptr_t)boot_buf + off + 16;
	p = (p + align - 1) & ~(uintptr_t)(align - 1);
	((size_t *)p)[-1] = size;
	return (void *)p;
oom:
	errno = ENOMEM;
	return NULL;
}

static size_t boot_size(const void *p)
{
	return ((const size_t *)p)[-1];
}

/* ---- fork (VMMALLOC_FORK) -------------------------------------------- */

/*
 * Registered with pthread_atfork before jemalloc initialises, so that
 * prepare runs after jemalloc's own prefork handler (handlers run in reverse
 * order) -- every arena lock is held, no extent is being created -- and our
 * child/parent handlers run before jemalloc releases its locks.
 */
static bool g_private;	  /* the heap mapping has been remapped private */
static int g_copy_fd = -1; /* mode 2/3: the child's pool, made in prepare */
static int g_copy_errno;  /* mode 2: why the copy failed */
static size_t g_copy_used; /* mode 2/3: bytes the copy holds */
static void *g_snap = MAP_FAILED; /* mode 0: RAM copy of [base, base+used) */
static size_t g_snap_len;

static bool remap_private(void)
{
	if (g_private)
		return true;
	void *p = mmap(g_base, g_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED, g_fd, 0);
	if (p == MAP_FAILED)
		return false;
	g_private = true;
	return true;
}

static void fork_prepare(void)
{
	if (!atomic_load(&g_ready))
		return;
	vmem_arena_fork_lock(g_heap); /* no extent moves until fork is done */
	g_copy_fd = -1;
	g_copy_errno = 0;
	if (cfg.fork_mode >= 2) {
		/* Snapshot now: writes racing with fork() are unordered with
		 * it anyway; used bytes only (the rest is still zero). */
		g_copy_used = vm_backing_clip(g_backing,
					      vmem_arena_high_water(g_heap));
		g_copy_fd = vm_pool_file_copy(cfg.dir, g_base, g_size,
					      g_copy_used);
		if (g_copy_fd < 0)
			g_copy_errno = errno;
	}
	if (cfg.fork_mode == 0 && !g_private) {
		/*
		 * Mode 0 keeps the parent's pool shared and in the file; the
		 * child gets a snapshot of the used part in private anonymous
		 * memory (fork shares it copy-on-write; the child moves it
		 * over the pool, see fork_child).  Cost: one copy of the high
		 * water per fork.  An already private mapping needs nothing:
		 * fork itself snapshots it.
		 */
		g_snap_len = vm_backing_clip(g_backing,
					     vmem_arena_high_water(g_heap));
		g_snap = g_snap_len ? mmap(NULL, g_snap_len,
					   PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
				    : MAP_FAILED;
		if (g_snap != MAP_FAILED)
			memcpy(g_snap, g_base, g_snap_len);
		else if (g_snap_len)
			vlog(1, "fork: no memory for the child's snapshot of "
				"%zu bytes: %s", g_snap_len, strerror(errno));
	}
	if (cfg.fork_mode == 1 || (cfg.fork_mode == 3 && g_copy_fd < 0)) {
		/* Copy-on-write for parent and child from now on. */
		if (!remap_private())
			vlog(1, "fork: cannot remap the pool private: %s",
			     strerror(errno));
	}
}

static void fork_parent(void)
{
	if (!atomic_load(&g_ready))
		return;
	if (g_copy_fd >= 0)
		close(g_copy_fd);
	g_copy_fd = -1;
	if (g_snap != MAP_FAILED)
		munmap(g_snap, g_snap_len);
	g_snap = MAP_FAILED;
	vmem_arena_fork_unlock(g_heap, false);
	vlog(2, "fork: parent continues (mode %d)", cfg.fork_mode);
}

static void fork_child(void)
{
	if (!atomic_load(&g_ready))
		return;
	if (cfg.fork_mode == 2 && g_copy_fd < 0)
		fatal("VMMALLOC_FORK=2: cannot copy the pool for the child: %s",
		      strerror(g_copy_errno));
	if (g_copy_fd >= 0) {
		/* Replace the mapping by the copy, at the same address. */
		if (!vm_pool_file_map(g_copy_fd, g_size, g_base))
			fatal("fork: cannot map the child's pool copy: %s",
			      strerror(errno));
		close(g_fd);
		g_fd = g_copy_fd;
		g_copy_fd = -1;
		g_private = false;
		vm_backing_set_file(g_backing, g_fd, g_copy_used);
	} else if (cfg.fork_mode == 0 && !g_private) {
		/*
		 * Mode 0: the parent keeps its shared mapping, but this child
		 * must neither write into it nor read what the parent writes
		 * after the fork.  A shell's "fork then exec" runs code in
		 * between -- bash frees the parent's job and pipeline records
		 * and allocates new ones, reusing their memory -- and with a
		 * shared pool those stores landed in the parent's live
		 * objects (bash crashed in wait_for).  So the child maps the
		 * pool private and moves the parent's snapshot (prepare) over
		 * its used part.  Above it, pages the child has not written
		 * still show the file, i.e. the parent's later stores: fresh
		 * extents are no longer known to be zero.
		 */
		if (!remap_private()) {
			vlog(1, "fork: cannot remap the pool private in the "
				"child: %s", strerror(errno));
		} else {
			vm_backing_distrust_zero(g_backing);
			if (g_snap != MAP_FAILED &&
			    mremap(g_snap, g_snap_len, g_snap_len,
				   MREMAP_MAYMOVE | MREMAP_FIXED, g_base) ==
				    MAP_FAILED)
				fatal("fork: cannot move the pool snapshot in "
				      "the child: %s", strerror(errno));
			if (g_snap == MAP_FAILED && g_snap_len)
				vlog(1, "fork: child without a snapshot: it "
					"sees the parent's later stores");
		}
		g_snap = MAP_FAILED;
	}
	vmem_arena_fork_unlock(g_heap, true);
	vlog(2, "fork: child %s", g_private ? "uses a private mapping"
					    : "uses its own pool file");
}

/* ---- initialisation --------------------------------------------------- */

static void init_heap(void)
{
	size_t size = read_config();
	/* Before jemalloc's first call, so its handlers nest inside ours. */
	if (pthread_atfork(fork_prepare, fork_parent, fork_child))
		fatal("pthread_atfork failed");

	const char *what = NULL;
	int fd = vm_pool_file_create(cfg.dir, size, &what);
	if (fd < 0)
		fatal("VMMALLOC_POOL_DIR=\"%s\": %s: %s", cfg.dir, what,
		      strerror(errno));
	void *base = vm_pool_file_map(fd, size, NULL);
	if (!base)
		fatal("cannot map a pool of %zu bytes: %s", size,
		      strerror(errno));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned narenas = ncpu < 1 ? 1 : ncpu > VMEM_ARENA_MAX
						  ? VMEM_ARENA_MAX
						  : (unsigned)ncpu;
	struct vmem_arena *heap = vmem_arena_create(base, size, narenas, true);
	if (!heap)
		fatal("cannot create the jemalloc arenas over the pool: %s",
		      strerror(errno));
	g_backing = vm_backing_attach(heap, fd, base, size);
	if (!g_backing)
		fatal("cannot install the pool's extent hooks: %s",
		      strerror(errno));
	g_fd = fd;
	g_base = base;
	g_size = size;
	g_heap = heap;
	vlog(2, "pool of %zu bytes at %p in %s, %u arenas, fork mode %d", size,
	     base, cfg.dir, narenas, cfg.fork_mode);
}

/*
 * Slow path of every entry point: make this thread able to use jemalloc.
 * Returns false when the caller must use the bootstrap buffer instead
 * (we are inside initialisation or binding on this very thread).
 */
static __attribute__((noinline)) bool thread_enter(void)
{
	if (tl_state == TL_BOUND)
		return true;
	if (tl_state == TL_INIT)
		return false;
	tl_state = TL_INIT;
	if (!atomic_load_explicit(&g_ready, memory_order_acquire)) {
		pthread_mutex_lock(&g_init_lock);
		if (!atomic_load(&g_ready)) {
			init_heap();
			atomic_store_explicit(&g_ready, 1, memory_order_release);
		}
		pthread_mutex_unlock(&g_init_lock);
	}
	unsigned k = atomic_fetch_add(&g_next_arena, 1);
	unsigned ind = vmem_arena_index(g_heap, k);
	int err = vmjem_mallctl("thread.arena", NULL, NULL, &ind, sizeof(ind));
	if (err)
		fatal("cannot bind a thread to pool arena %u: %s", ind,
		      strerror(err));
	vlog(3, "thread bound to pool arena %u", ind);
	tl_state = TL_BOUND; /* V2 */
	return true;
}

#define ENTER(boot_expr)                                                      \
	do {                                                                  \
		if (unlikely(tl_state != TL_BOUND) && !thread_enter())        \
			return boot_expr;                                     \
	} while (0)

/* ---- entry points ------------------------------------------------------ */

/* Slow path after jemalloc said ENOMEM: purge, retry once (see
 * vmem_arena_purge for why a retry can succeed). */
static void *retry_alloc(size_t size, int flags)
{
	vlog(2, "out of pool memory for %zu bytes: purging and retrying", size);
	vmem_arena_purge(g_heap);
	void *p = vmjem_mallocx(size ? size : 1, flags);
	if (!p) {
		vlog(1, "out of pool memory for %zu bytes", size);
		errno = ENOMEM;
	}
	return p;
}

EXPORT void *malloc(size_t size)
{
	ENTER(boot_alloc(size, 16));
	void *p = vmjem_malloc(size);
	if (unlikely(!p))
		p = retry_alloc(size, 0);
	if (unlikely(cfg.log_level >= 4))
		vlog(4, "malloc(%zu) = %p", size, p);
	return p;
}

EXPORT void free(void *ptr)
{
	if (unlikely(cfg.log_level >= 4))
		vlog(4, "free(%p)", ptr);
	if (unlikely(!ptr || is_boot(ptr)))
		return;
	vmjem_free(ptr);
}

EXPORT void cfree(void *ptr)
{
	free(ptr);
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	/* The bootstrap buffer is .bss that is never reused: already zero. */
	ENTER(boot_alloc(total, 16));
	void *p = vmjem_calloc(1, total);
	if (unlikely(!p))
		p = retry_alloc(total, VMEM_MALLOCX_ZERO);
	if (unlikely(cfg.log_level >= 4))
		vlog(4, "calloc(%zu, %zu) = %p", n, size, p);
	return p;
}

static void *realloc_from_boot(void *ptr, size_t size)
{
	void *p = malloc(size);
	if (p) {
		size_t old = boot_size(ptr);
		memcpy(p, ptr, old < size ? old : size);
	}
	return p;
}

EXPORT void *realloc(void *ptr, size_t size)
{
	if (!ptr)
		return malloc(size);
	if (size == 0) { /* glibc's behaviour: free, return NULL */
		free(ptr);
		return NULL;
	}
	if (unlikely(is_boot(ptr)))
		return realloc_from_boot(ptr, size);
	ENTER(NULL); /* unreachable: ptr came from a bound thread's jemalloc */
	void *p = vmjem_realloc(ptr, size);
	if (unlikely(!p)) {
		vmem_arena_purge(g_heap);
		p = vmjem_realloc(ptr, size);
		if (!p) {
			vlog(1, "realloc: out of pool memory for %zu bytes", size);
			errno = ENOMEM;
		}
	}
	if (unlikely(cfg.log_level >= 4))
		vlog(4, "realloc(%p, %zu) = %p", ptr, size, p);
	return p;
}

EXPORT void *reallocarray(void *ptr, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, total);
}

/* Common body of the aligned entry points; align is a power of two. */
static void *alloc_aligned(size_t align, size_t size)
{
	ENTER(boot_alloc(size, align));
	int flags = VMEM_MALLOCX_LG_ALIGN(__builtin_ctzl(align));
	void *p = vmjem_mallocx(size ? size : 1, flags);
	if (unlikely(!p))
		p = retry_alloc(size, flags);
	if (unlikely(cfg.log_level >= 4))
		vlog(4, "aligned(%zu, %zu) = %p", align, size, p);
	return p;
}

static bool pow2(size_t x)
{
	return x && !(x & (x - 1));
}

EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
	if (!pow2(align) || align % sizeof(void *))
		return EINVAL; /* errno untouched, *memptr untouched (POSIX) */
	int saved = errno;
	void *p = alloc_aligned(align, size);
	if (!p)
		return ENOMEM;
	errno = saved;
	*memptr = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (!pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return alloc_aligned(align, size);
}

EXPORT void *memalign(size_t align, size_t size)
{
	return aligned_alloc(align, size);
}

EXPORT void *valloc(size_t size)
{
	return alloc_aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

EXPORT void *pvalloc(size_t size)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	if (size > SIZE_MAX - ps) {
		errno = ENOMEM;
		return NULL;
	}
	size = size ? (size + ps - 1) / ps * ps : ps;
	return alloc_aligned(ps, size);
}

EXPORT size_t malloc_usable_size(void *ptr)
{
	if (!ptr)
		return 0;
	if (is_boot(ptr))
		return boot_size(ptr);
	return vmjem_malloc_usable_size(ptr);
}

/* ---- statistics at exit (VMMALLOC_LOG_STATS=1) ------------------------ */

__attribute__((destructor)) static void vmmalloc_fini(void)
{
	if (!atomic_load(&g_ready) || !cfg.log_stats)
		return;
	struct vmem_arena_stats st;
	vmem_arena_get_stats(g_heap, &st);
	int saved = cfg.log_level;
	cfg.log_level = 1; /* stats are printed whatever the log level */
	vlog(1, "stats: pool %zu bytes, %u arenas, fork mode %d", st.pool_size,
	     vmem_arena_count(g_heap), cfg.fork_mode);
	vlog(1, "stats: allocated %zu bytes in live objects", st.allocated);
	vlog(1, "stats: extents in use %zu bytes, high water %zu bytes, "
		"%zu free ranges below it", st.extents_used, st.high_water,
	     st.free_ranges);
	vlog(1, "stats: extent hook allocs %zu (refused %zu), purge-and-retry "
		"rounds %zu, bootstrap buffer %zu bytes", st.hook_allocs,
	     st.hook_fails, st.purge_retries, atomic_load(&boot_used));
	vlog(1, "stats: file blocks reserved %zu bytes, extents refused for "
		"lack of file space %zu", vm_backing_backed(g_backing),
	     vm_backing_refused(g_backing));
	cfg.log_level = saved;
	/* The pool stays mapped: later destructors may still free. */
}
