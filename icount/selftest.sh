#!/bin/sh
# allcounts-selftest: the harness must catch every seeded bug and pass the
# clean build.  Usage: selftest.sh BUILD-DIR BUG...
dir=$1; shift
scen="pmalloc publish tx_commit tx_alloc tx_abort recover_publish"
fail=0
printf '%-10s %s\n' build verdict
if "$dir/icount" --quick $scen >"$dir/selftest-clean.log" 2>&1; then
	printf '%-10s %s\n' clean "clean (no failure)"
else
	printf '%-10s %s\n' clean "FAILED: the clean build does not pass (see $dir/selftest-clean.log)"; fail=1
fi
for n in "$@"; do
	what=$(sed -n "s/^#define PM_BUG_[A-Z_]* *$n *\/\* \(.*\) \*\//\1/p" "$(dirname "$0")/../src/pool/seeded_bugs.h")
	if "$dir/icount_bug$n" --quick $scen >"$dir/selftest-bug$n.log" 2>&1; then
		printf '%-10s %s\n' "bug $n" "NOT CAUGHT: $what"; fail=1
	else
		first=$(grep -m1 'FAIL ' "$dir/selftest-bug$n.log" | sed 's/^ *FAIL //')
		printf '%-10s %s\n' "bug $n" "caught: $what"
		printf '%-10s   %s\n' "" "$first"
	fi
done
[ $fail = 0 ] && echo "self-test passed: every seeded bug caught, clean build clean" || echo "self-test FAILED"
exit $fail
