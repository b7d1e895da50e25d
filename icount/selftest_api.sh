#!/bin/sh
# selftest_api.sh BUILD-DIR -- issue 12's and 19's scenarios must catch their
# seeded bugs (src/base/seeded_bugs.h 31-33, 45) and pass the clean build:
#   31 pm_realloc's copy not flushed, not covered      -> realloc_used
#   32 pm_realloc frees the old object in a 2nd publish -> realloc_used
#   33 the in-place root growth's zeroes not covered    -> root_grow_inplace
#   45 growth publishes the heap size before the header -> grow_pmalloc
# (cmake --build build --target allcounts-api-selftest)
dir=$1
fail=0
run() { # exe scenario log
	wd=$(mktemp -d /dev/shm/icount-apiself.XXXXXX) || exit 2
	ICOUNT_DIR=$wd "$1" --quick $2 >"$3" 2>&1 # $2: one or more scenario names
	rc=$?
	rm -rf "$wd"
	return $rc
}
if run "$dir/icount" "realloc_used root_grow_move root_grow_inplace grow_pmalloc" "$dir/apiself-clean.log"; then
	echo "clean: passes"
else
	echo "clean: FAILED (see $dir/apiself-clean.log)"; fail=1
fi
for pair in 31:realloc_used 32:realloc_used 33:root_grow_inplace 45:grow_pmalloc; do
	n=${pair%%:*} sc=${pair#*:}
	if run "$dir/icount_apibug$n" "$sc" "$dir/apiself-bug$n.log"; then
		echo "bug $n: NOT CAUGHT by $sc"; fail=1
	else
		echo "bug $n: caught by $sc: $(grep -m1 'FAIL ' "$dir/apiself-bug$n.log" | sed 's/^ *FAIL //' | cut -c1-200)"
	fi
done
exit $fail
