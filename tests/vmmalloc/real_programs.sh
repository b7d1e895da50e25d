#!/bin/bash
# real_programs.sh LIB DIR [--quick] -- unmodified programs under
# LD_PRELOAD=libvmmalloc: each must print exactly what it prints with glibc's
# malloc (stdout and stderr compared byte for byte, same exit status), and
# keep its heap in the pool (the anonymous memory of sort and python3 stays
# small).  Programs: sort, sqlite3, python3 (plain, with threads and fork),
# gcc, bash scripts that fork under every VMMALLOC_FORK mode (pipelines,
# subshells, fork followed by exec), perl, gawk, awk, git, xz -T2, tar,
# make -j2, a C++ std::thread program, node with worker threads, tclsh.
# A program that is not installed is skipped with a "skip" line.
# --quick (the unit label) uses smaller inputs; the full run is "long".
# Cannot catch: differences that only show in output a program does not
# print (e.g. a leak), or in code paths these inputs do not reach.
lib=$(realpath "$1") dir=$2
n=1000000 rows=300000 quick=0
[ "$3" = --quick ] && n=200000 rows=100000 quick=1
set -u
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
VM="VMMALLOC_POOL_DIR=$dir VMMALLOC_POOL_SIZE=1G"
PY=/usr/bin/python3
[ -x $PY ] || PY=$(command -v python3)
T0=$(date +%s)
section() { echo "--- $1 ($(($(date +%s) - T0)) s)"; }
have() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "skip $1: not installed"
	return 1
}

# same NAME CMD...: run CMD under glibc and under libvmmalloc, compare.
same() {
	name=$1; shift
	t1=$(date +%s.%N)
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
		echo "ok   $name ($(wc -c <"$tmp/$name.vm") bytes of identical output, $(awk -v a=$t1 -v b=$(date +%s.%N) 'BEGIN { printf "%.1f", b - a }') s)"
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
for i in $(seq 1 $1); do
	x=$(echo "$i" | tr 0-9 a-j | (read y; echo "${y}_$((i * i))"))
	total=$((total + ${#x}))
done
echo "total $total"
( for j in 1 2 3; do (echo "sub $j" | sed 's/sub/nested/') & done; wait ) | sort
seq 1 2000 | paste -sd+ | bc 2>/dev/null || seq 1 2000 | awk '{s+=$1} END {print s}'
SHEOF
# Fork followed by exec in a real shell, each mode: pipelines of external
# programs, a subshell that runs one, $(...), background jobs, xargs.
# (VMMALLOC_FORK=0 crashed bash here on the base commit.)
cat >"$tmp/p.sh" <<'SHEOF'
ls / | wc -l
(cd /etc && ls passwd group | sort -r)
echo "$(seq 1 100 | tail -3 | tr '\n' ' ')"
for i in 1 2 3 4; do (printf '%s\n' "job $i" | cat) & done | sort
wait
seq 1 300 | xargs -n 50 echo | awk '{ print NF, $1 }'
x=$(bash -c 'echo nested $$' | cut -d' ' -f1); echo "$x"
SHEOF
for mode in 0 1 2 3; do
	VMMALLOC_FORK=$mode same "bash_fork$mode" bash "$tmp/s.sh" $((quick ? 30 : 150))
	VMMALLOC_FORK=$mode same "bash_exec$mode" bash "$tmp/p.sh"
done

# 6. The programs of issue 14.
section "issue 14 programs"
m=$((n / 10))
if have perl; then
	same perl perl -e 'my $n = shift; my %h;
		for my $i (1 .. $n) { $h{"k" . ($i * 7919 % 100003)} .= chr(97 + $i % 26) }
		my $s = 0; $s += length $h{$_} for sort keys %h;
		my @a = map { sprintf "%x", $_ * $_ } 1 .. $n / 4;
		my $t = join "", @a; my @m = ($t =~ /(a[0-9]+b)/g);
		print scalar(keys %h), " $s ", scalar(@m), " ", join(",", @a[0 .. 4]), "\n";' $n
fi
if have gawk; then
	same gawk gawk -v n=$n 'BEGIN { for (i = 0; i < n; i++) a[i % 50021] = a[i % 50021] i;
		PROCINFO["sorted_in"] = "@ind_num_asc"; k = 0; for (j in a) { s += length(a[j]); if (k++ < 3) print j, substr(a[j], 1, 20) }
		print length(a), s }'
fi
same awk awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) a[i % 50021] = a[i % 50021] i;
	for (j = 0; j < 50021; j++) s += length(a[j]); print length(a), s }'
if have git; then
	cat >"$tmp/git.sh" <<'GITEOF'
set -e
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=$1
export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@x GIT_COMMITTER_NAME=c GIT_COMMITTER_EMAIL=c@x
rm -rf "$1/r"; git init -q -b main "$1/r"; cd "$1/r"
for i in $(seq 1 $2); do
	seq $i $((i * 37)) >"f$((i % 7)).txt"
	git add -A
	GIT_AUTHOR_DATE="@$((1700000000 + i)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + i)) +0000" \
		git commit -q -m "commit $i"
done
git log --oneline | head -3
git rev-list --count HEAD
git diff --stat HEAD~5 HEAD | tail -1
git gc -q
git fsck --no-progress 2>&1
git count-objects -v | grep -v size
GITEOF
	mkdir -p "$tmp/g1" "$tmp/g2"
	gn=$([ $quick = 1 ] && echo 12 || echo 40)
	bash "$tmp/git.sh" "$tmp/g1" $gn >"$tmp/git.glibc" 2>&1; rc1=$?
	env $VM LD_PRELOAD="$lib" bash "$tmp/git.sh" "$tmp/g2" $gn >"$tmp/git.vm" 2>&1; rc2=$?
	if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && cmp -s "$tmp/git.glibc" "$tmp/git.vm"; then
		echo "ok   git ($gn commits, gc, fsck: identical output)"
	else
		echo "FAIL git: rc glibc=$rc1 vmmalloc=$rc2"; diff "$tmp/git.glibc" "$tmp/git.vm" | head -5
		fails=$((fails + 1))
	fi
fi
if have xz; then
	head -c $((n * (quick ? 6 : 20))) "$tmp/in.txt" >"$tmp/xzin"
	same xz_T2 xz -T2 -3 --block-size=1MiB -c "$tmp/xzin"
	xz -T2 -3 --block-size=1MiB -c "$tmp/xzin" >"$tmp/xzin.xz"
	same xz_d_T2 xz -T2 -d -c "$tmp/xzin.xz"
fi
if have tar; then
	mkdir -p "$tmp/tree"
	for i in $(seq 1 40); do head -c $((i * 997)) "$tmp/in.txt" >"$tmp/tree/f$i"; done
	same tar_c tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$tmp" -cf - tree
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp" -cf "$tmp/t.tar" tree
	same tar_t tar -tvf "$tmp/t.tar"
fi
if have make; then
	mkdir -p "$tmp/mk"
	{
		printf 'N := $(shell seq 1 24)\nall: total\n'
		printf 'part%%.txt:\n\t@seq $* $$(($* * 300)) | sort -r | head -50 > $@\n'
		printf 'total: $(N:%%=part%%.txt)\n\t@cat $^ | sort -n | md5sum; rm -f $^\n'
	} >"$tmp/mk/Makefile"
	same make_j2 make -s -j2 -C "$tmp/mk"
fi
if [ -n "$PY" ]; then
	cat >"$tmp/pt.py" <<'PYEOF'
import hashlib, os, sys, threading, subprocess
n = int(sys.argv[1])
res = {}
lock = threading.Lock()
def work(t):
    d = {}
    for i in range(n):
        k = "%d-%d" % (t, i % 997)
        d[k] = d.get(k, "") + str(i)
    h = hashlib.sha256("".join(sorted(d)).encode()).hexdigest()
    with lock:
        res[t] = (len(d), sum(len(v) for v in d.values()), h[:16])
ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(res.items()))
r, w = os.pipe()
pids = []
for c in range(3):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        s = sum(len(str(x)) for x in range(c * n, (c + 1) * n))
        os.write(w, ("%d %d\n" % (c, s)).encode())
        os._exit(0)
    pids.append(pid)
os.close(w)
for pid in pids: os.waitpid(pid, 0)
print(sorted(os.read(r, 4096).decode().split("\n")))
print(subprocess.run(["sort", "-r"], input="b\na\nc\n", capture_output=True, text=True).stdout)
PYEOF
	same python3_threads_fork env PYTHONMALLOC=malloc $PY "$tmp/pt.py" $m
fi
if command -v g++ >/dev/null 2>&1; then
	cat >"$tmp/t.cc" <<'CCEOF'
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	std::vector<std::pair<size_t, size_t>> out(4);
	std::vector<std::thread> ts;
	for (int t = 0; t < 4; t++)
		ts.emplace_back([&, t] {
			std::map<std::string, std::vector<long>> m;
			std::vector<std::shared_ptr<std::string>> keep;
			for (long i = 0; i < n; i++) {
				m[std::to_string((i * 7919 + t) % 5003)].push_back(i);
				if (i % 7 == 0) keep.push_back(std::make_shared<std::string>(i % 100, 'x'));
				if (keep.size() > 1000) keep.erase(keep.begin(), keep.begin() + 500);
			}
			size_t s = 0;
			for (auto &kv : m) s += kv.first.size() * kv.second.size();
			out[t] = {m.size(), s};
		});
	for (auto &t : ts) t.join();
	for (auto &o : out) printf("%zu %zu\n", o.first, o.second);
	return 0;
}
CCEOF
	if g++ -O2 -pthread -o "$tmp/tcc" "$tmp/t.cc"; then
		same cxx_threads "$tmp/tcc" $n
	else
		echo "FAIL g++ could not build the std::thread program"; fails=$((fails + 1))
	fi
else
	echo "skip g++: not installed"
fi
if have node; then
	cat >"$tmp/w.js" <<'JSEOF'
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
if (isMainThread) {
	const n = Number(process.argv[2]);
	const ps = [0, 1].map(id => new Promise((res, rej) => {
		const w = new Worker(__filename, { workerData: { id, n } });
		w.on('message', res); w.on('error', rej);
	}));
	Promise.all(ps).then(r => console.log(JSON.stringify(r)));
} else {
	const { id, n } = workerData;
	const m = new Map();
	for (let i = 0; i < n; i++) { const k = 'k' + ((i * 7919 + id) % 5003); m.set(k, (m.get(k) || '') + (i % 10)); }
	let s = 0; for (const v of m.values()) s += v.length;
	const buf = Buffer.alloc(1 << 20, id); // malloc-backed
	parentPort.postMessage([id, m.size, s, buf.reduce((a, b) => a + b, 0)]);
}
JSEOF
	same node_workers node "$tmp/w.js" $m
fi
if have tclsh; then
	cat >"$tmp/t.tcl" <<'TCLEOF'
set n [lindex $argv 0]
set d [dict create]
for {set i 0} {$i < $n} {incr i} { dict append d [expr {($i * 7919) % 5003}] [expr {$i % 10}] }
set s 0
dict for {k v} $d { incr s [string length $v] }
puts "[dict size $d] $s"
puts [lrange [lsort -integer [dict keys $d]] 0 4]
puts [exec sort -r << "b\na\nc"]
TCLEOF
	same tclsh tclsh "$tmp/t.tcl" $m
fi
section "anonymous memory"

# 7. The heap lives in the pool: anonymous memory of sort and python3.
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
