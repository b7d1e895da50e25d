#!/bin/sh
# rename-jemalloc.sh IN.a OUT.a NM OBJCOPY
# Make a private copy of jemalloc: every global symbol the archive defines
# (malloc, mallctl, je_* internals, malloc_conf...) gets the prefix vmjem_,
# in definitions and references alike, so nothing in it can bind to -- or be
# bound by -- a program's own malloc or another jemalloc in the process.
set -e
in=$1 out=$2 nm=${3:-nm} objcopy=${4:-objcopy}
map=$out.syms
"$nm" -g --defined-only "$in" 2>/dev/null |
	awk 'NF == 3 && $3 !~ /^(DW\.ref|_GLOBAL_)/ { print $3 " vmjem_" $3 }' |
	sort -u >"$map"
test -s "$map"
"$objcopy" --redefine-syms="$map" "$in" "$out.tmp"
mv "$out.tmp" "$out"
