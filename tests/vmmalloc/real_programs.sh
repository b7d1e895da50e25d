#!/bin/bash
# real_programs.sh LIB DIR [--quick] -- unmodified programs under
# LD_PRELOAD=libvmmalloc: each must print exactly what it prints with glibc's
# malloc, print nothing extra on stderr, and keep its heap in the pool (the
# anonymous memory of sort and python3 stays small).
lib=$1 dir=$2
n=1000000 rows=300000
[ "$3" = --quick ] && n=200000 rows=100000
set -u
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
VM="VMMALLOC_POOL_DIR=$dir VMMALLOC_POOL_SIZE=1G"
PY=/usr/bin/python3

# same NAME CMD...: run CMD under glibc and under libvmmalloc, compare.
same() {
	name=$1; shift
	"$@" >"$tmp/$name.glibc" 2>"$tmp/$name.glibc.err"
	rc1=$?
	env $VM LD_PRELOAD="$lib" "$@" >"$tmp/$name.vm" 2>"$tmp/$name.vm.err"
	rc2=$?
	if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ] || ! cmp -s "$tmp/$name.glibc" "$tmp/$name.vm" ||
		! cmp -s "$tmp/$name.glibc.err" "$tmp/$name.vm.err"; then
		echo "FAIL $name: rc glibc=$rc1 vmmalloc=$rc2"
		head -5 "$tmp/$name.vm.err"
		fails=$((fails + 1))
	else
		echo "ok   $name ($(wc -c <"$tmp/$name.vm") bytes of identical output)"
	fi
}

# 1. sort of a large file (~$n lines).
awk -v n=$n 'BEGIN { srand(42); for (i = 0; i < n; i++)
	printf "%08x %d some text to sort\n", int(rand() * 4e9), i }' >"$tmp/in.txt"
same sort sort "$tmp/in.txt"
same sort_u sort -u -k2,2n "$tmp/in.txt"

# 2. sqlite3 with a few hundred thousand rows.
cat >"$tmp/q.sql" <<SQL
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows)
INSERT INTO t SELECT x, printf('key%07d', (x * 7919) % 1000003), x % 977 FROM c;
CREATE INDEX tk ON t(k);
SELECT count(*), sum(v), min(k), max(k) FROM t;
SELECT v, count(*), group_concat(id % 10, '') FROM t GROUP BY v ORDER BY 2 DESC, 1 LIMIT 20;
SELECT k FROM t WHERE k > 'key05' ORDER BY k LIMIT 5;
SELECT length(group_concat(k)) FROM (SELECT k FROM t ORDER BY v, k);
SQL
same sqlite3 sh -c "rm -f $tmp/db.sqlite && sqlite3 $tmp/db.sqlite '.read $tmp/q.sql'"
same sqlite3_mem sqlite3 :memory: ".read $tmp/q.sql"

# 3. python3 with PYTHONMALLOC=malloc (every object through malloc).
cat >"$tmp/p.py" <<'PYEOF'
import collections, json, sys
n = int(sys.argv[1])
words = [("w%d" % ((i * 2654435761) % 50021)) * (1 + i % 7) for i in range(n)]
c = collections.Counter(words)
d = {k: [v, k[::-1]] for k, v in c.most_common(2000)}
s = json.dumps(d, sort_keys=True)
print(len(words), len(c), len(s), sum(len(w) for w in words))
print(sorted(c.items())[:5])
print(hash(s) if False else s[:200])
PYEOF
same python3 env PYTHONMALLOC=malloc $PY "$tmp/p.py" $n

# 4. gcc -c (gcc forks and execs cc1 and as, all under the preload).
cat >"$tmp/c.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *l, *r; int k; };
static struct node *ins(struct node *t, int k) {
	if (!t) { t = calloc(1, sizeof(*t)); t->k = k; return t; }
	if (k < t->k) t->l = ins(t->l, k); else t->r = ins(t->r, k);
	return t;
}
static int depth(const struct node *t) {
	if (!t) return 0;
	int a = depth(t->l), b = depth(t->r);
	return 1 + (a > b ? a : b);
}
int main(void) {
	struct node *t = NULL;
	for (int i = 0; i < 1000; i++) t = ins(t, (i * 7919) % 1009);
	printf("%d\n", depth(t));
	return 0;
}
CEOF
gcc -O2 -c "$tmp/c.c" -o "$tmp/c.glibc.o" &&
	env $VM LD_PRELOAD="$lib" gcc -O2 -c "$tmp/c.c" -o "$tmp/c.vm.o" 2>"$tmp/gcc.err"
if cmp -s "$tmp/c.glibc.o" "$tmp/c.vm.o" && [ ! -s "$tmp/gcc.err" ]; then
	echo "ok   gcc -c (identical object file)"
else
	echo "FAIL gcc -c"; cat "$tmp/gcc.err"; fails=$((fails + 1))
fi

# 5. a shell script that forks: subshells, pipes, $(), background jobs.
cat >"$tmp/s.sh" <<'SHEOF'
total=0
for i in $(seq 1 150); do
	x=$(echo "$i" | tr 0-9 a-j | (read y; echo "${y}_$((i * i))"))
	total=$((total + ${#x}))
done
echo "total $total"
( for j in 1 2 3; do (echo "sub $j" | sed 's/sub/nested/') & done; wait ) | sort
seq 1 2000 | paste -sd+ | bc 2>/dev/null || seq 1 2000 | awk '{s+=$1} END {print s}'
SHEOF
for mode in 1 2 3; do
	VMMALLOC_FORK=$mode same "bash_fork$mode" bash "$tmp/s.sh"
done

# 6. The heap lives in the pool: anonymous memory of sort and python3.
# anon_kb CMD...: run CMD with output into a FIFO; once it has started to
# write (sort has sorted everything; python has built its objects), read
# Anonymous from its smaps_rollup.
anon_kb() {
	rm -f "$tmp/fifo"; mkfifo "$tmp/fifo"
	"$@" >"$tmp/fifo" &
	pid=$!
	exec 3<"$tmp/fifo"
	head -c 1 <&3 >/dev/null
	kb=$(awk '/^Anonymous:/ { print $2 }' /proc/$pid/smaps_rollup)
	cat <&3 >/dev/null
	exec 3<&-
	wait $pid
	echo "$kb"
}
check_anon() {
	name=$1; shift
	g=$(anon_kb "$@")
	v=$(anon_kb env $VM LD_PRELOAD="$lib" "$@")
	if [ -n "$g" ] && [ -n "$v" ] && [ "$v" -lt 16384 ] && [ "$v" -lt $((g / 4)) ]; then
		echo "ok   $name anonymous memory: glibc ${g} kB, vmmalloc ${v} kB"
	else
		echo "FAIL $name anonymous memory: glibc ${g} kB, vmmalloc ${v} kB"
		fails=$((fails + 1))
	fi
}
check_anon sort sort "$tmp/in.txt"
cat >"$tmp/a.py" <<'PYEOF'
import sys
x = [str(i) * 5 for i in range(int(sys.argv[1]))]
sys.stdout.write(("%d\n" % len(x)) * 300000)  # > a pipe buffer: blocks alive
PYEOF
check_anon python3 env PYTHONMALLOC=malloc $PY "$tmp/a.py" $n

echo "$fails failure(s)"
[ $fails -eq 0 ]
