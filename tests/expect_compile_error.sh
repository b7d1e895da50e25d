#!/bin/sh
# expect_compile_error.sh CC SRC INCDIR CASE PATTERN -- compile SRC with
# -DPM_TYPED_CASE=CASE (-Wall -Wextra -Werror) and pass only if the compiler
# fails AND its diagnostics match PATTERN (grep -E): the mistake is caught
# for the reason the case is there for.  CASE 0 must compile cleanly.
cc=$1 src=$2 inc=$3 case=$4 pat=$5
out=$("$cc" -std=gnu11 -fsyntax-only -Wall -Wextra -Werror -I"$inc" -DPM_TYPED_CASE="$case" "$src" 2>&1)
rc=$?
if [ "$case" = 0 ]; then
	[ $rc -eq 0 ] && { echo "the correct use compiles"; exit 0; }
	echo "the correct use does NOT compile:"; echo "$out"; exit 1
fi
if [ $rc -eq 0 ]; then
	echo "NOT CAUGHT: case $case compiled"
	exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq "$pat"; then
	echo "case $case failed to compile, but not with /$pat/:"
	echo "$out"
	exit 1
fi
echo "caught: case $case: $(printf '%s\n' "$out" | grep -E "$pat" | head -1)"
exit 0
