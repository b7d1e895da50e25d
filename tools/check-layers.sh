#!/bin/sh
# check-layers.sh SRC-DIR -- fail when a lower layer of src/ includes a
# higher one.  The layers, lowest first (docs/DESIGN.md §1):
#   base flush log lane alloc tx pool vmmalloc
# A file in src/L/ may include "M/..." only when M is L or below it.
# Seeded bugs (base/seeded_bugs.h) sit in base, so they add no arrow.
src=${1:?usage: check-layers.sh SRC-DIR}
order="base flush log lane alloc tx pool vmmalloc"
rank() {
	i=0
	for l in $order; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo -1
}
bad=0 n=0
for f in $(cd "$src" && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
	layer=${f%%/*}
	lr=$(rank "$layer")
	[ "$lr" -lt 0 ] && { echo "unknown layer for src/$f"; bad=1; continue; }
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z]*\)\/.*/\1/p' "$src/$f"); do
		ir=$(rank "$inc")
		[ "$ir" -lt 0 ] && continue # not a layer of src/ (e.g. a private path)
		n=$((n + 1))
		if [ "$ir" -gt "$lr" ]; then
			echo "layer violation: src/$f ($layer) includes $inc/ (above it)"
			bad=1
		fi
	done
done
echo "check-layers: $n includes between layers checked, order: $order"
exit $bad
