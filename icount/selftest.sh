#!/bin/sh
# allcounts-selftest: the harness must catch every seeded bug and pass the
# clean build.  Usage: selftest.sh BUILD-DIR BUG...
# Each run gets its own work directory under /dev/shm (removed after).
dir=$1; shift
scen="pmalloc publish tx_commit tx_alloc tx_abort recover_publish"
fail=0
run() { # exe log
	wd=$(mktemp -d /dev/shm/icount-selftest.XXXXXX) || exit 2
	ICOUNT_DIR=$wd "$1" --quick $scen >"$2" 2>&1
	rc=$?
	rm -rf "$wd"
	return $rc
}
printf '%-10s %s\n' build verdict
if run "$dir/icount" "$dir/selftest-clean.log"; then
	printf '%-10s %s\n' clean "clean (no failure)"
else
	printf '%-10s %s\n' clean "FAILED: the clean build does not pass (see $dir/selftest-clean.log)"; fail=1
fi
for n in "$@"; do
	what=$(sed -n "s/^#define PM_BUG_[A-Z_]* *$n *\/\* \(.*\) \*\//\1/p" "$(dirname "$0")/../src/base/seeded_bugs.h")
	if run "$dir/icount_bug$n" "$dir/selftest-bug$n.log"; then
		printf '%-10s %s\n' "bug $n" "NOT CAUGHT: $what"; fail=1
	else
		first=$(grep -m1 'FAIL ' "$dir/selftest-bug$n.log" | sed 's/^ *FAIL //')
		printf '%-10s %s\n' "bug $n" "caught: $what"
		printf '%-10s   %s\n' "" "$first"
	fi
done
[ $fail = 0 ] && echo "self-test passed: every seeded bug caught, clean build clean" || echo "self-test FAILED"
exit $fail
