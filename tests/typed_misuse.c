/*
 * typed_misuse.c -- compiled, never run, by the test_typed_* ctests
 * (tests/api.cmake, tests/expect_compile_error.sh): PM_TYPED_CASE=0 is
 * the correct use of the typed offsets (PM_TOID) and must compile with
 * -Wall -Wextra -Werror; each case 1..7 is one mistake the macros exist to
 * catch, and must FAIL to compile with the diagnostic the script expects
 * (so a case that fails for another reason -- a typo here -- does not
 * count as caught).  Can NOT catch: mistakes made through raw pm_off or
 * PM_TOID_FROM_OFF (the explicit escape), or at run time.
 */
#include "pmstore.h"

struct a { int x; };
struct b { double y; };
PM_TOID_DECLARE(struct a);
PM_TOID_DECLARE(struct b);

static int take_a(PM_TOID(struct a) o) { return PM_TOID_IS_NULL(o); }

int typed_misuse(pm_pool *pool, pm_off raw);
int typed_misuse(pm_pool *pool, pm_off raw)
{
	PM_TOID(struct a) a = PM_TOID_FROM_OFF(struct a, raw);
	PM_TOID(struct b) b = PM_TOID_NULL(struct b);
	int r = take_a(a) + (int)PM_TOID_EQUALS(a, a) + PM_D_RO(pool, a)->x;
	struct a *pa = PM_D_RW(pool, a);
	r += pa->x + (int)PM_D_RW(pool, b)->y + (PM_TOID_OFF(b) != 0);
#if PM_TYPED_CASE == 1
	a = b;                         /* one type's offset stored as another's */
#elif PM_TYPED_CASE == 2
	r += take_a(b);                /* passed as another type */
#elif PM_TYPED_CASE == 3
	r += (int)PM_D_RW(pool, a)->y; /* a member of the other type */
#elif PM_TYPED_CASE == 4
	PM_TOID(struct a) c = raw;     /* a raw offset, no PM_TOID_FROM_OFF */
	r += take_a(c);
#elif PM_TYPED_CASE == 5
	pm_off o = a;                  /* a typed offset as a raw one, no PM_TOID_OFF */
	r += (int)o;
#elif PM_TYPED_CASE == 6
	struct b *pb = PM_D_RW(pool, a); /* the object read as another type */
	r += (int)pb->y;
#elif PM_TYPED_CASE == 7
	r += (int)PM_TOID_EQUALS(a, b); /* two types compared */
#endif
	return r;
}
