#!/bin/sh
# test-man.sh MAN-DIR VERSION HEADER PAGE:COMPONENT... -- every manual page
# renders with `man -l` without a single troff/man warning, has NAME,
# SYNOPSIS (or DESCRIPTION) and SEE ALSO sections, a .TH whose section is
# its file's and whose source is "pmstore VERSION" (the header's version),
# and a NAME line whatis/apropos can parse (lexgrog, where installed); and
# pmstore(3) names every PM_API function of HEADER (so a new or renamed
# function cannot go undocumented).
# Cannot catch: wrong content; a page that renders but reads badly.
set -u
dir=$1 version=$2 hdr=$3; shift 3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmstore-man.$$.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
bad=0
for entry in "$@"; do
	page=${entry%%:*}
	f=$dir/$page
	sec=${page##*.}
	MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc = 0 ] || { echo "FAIL: $page: man -l exit $rc"; bad=1; }
	[ -s "$tmp/err" ] && { echo "FAIL: $page: warnings:"; sed 's/^/    /' "$tmp/err"; bad=1; }
	for s in NAME "SEE ALSO"; do
		grep -q "^$s" "$tmp/out" || { echo "FAIL: $page: no $s section"; bad=1; }
	done
	grep -q '^SYNOPSIS\|^DESCRIPTION' "$tmp/out" || { echo "FAIL: $page: no SYNOPSIS/DESCRIPTION"; bad=1; }
	th=$(sed -n 's/^\.TH [^ ]* \([0-9]\).*/\1/p' "$f")
	[ "$th" = "$sec" ] || { echo "FAIL: $page: .TH section '$th'"; bad=1; }
	grep -q "^\.TH .* \"pmstore $version\"" "$f" ||
		{ echo "FAIL: $page: .TH does not say \"pmstore $version\""; bad=1; }
	if command -v lexgrog >/dev/null 2>&1; then
		lexgrog "$f" >/dev/null 2>&1 || { echo "FAIL: $page: lexgrog cannot parse its NAME"; bad=1; }
	fi
	echo "$page: $(wc -l < "$tmp/out") lines rendered"
done
n=0
for fn in $(sed -n 's/^PM_API[^(]*[^A-Za-z0-9_(]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$hdr"); do
	n=$((n + 1))
	grep -qw -- "$fn" "$dir/pmstore.3" || { echo "FAIL: pmstore.3 does not name $fn"; bad=1; }
done
[ $n -gt 20 ] || { echo "FAIL: only $n PM_API functions parsed from $hdr"; bad=1; }
echo "pmstore.3: checked against the $n PM_API functions of $hdr"
exit $bad
