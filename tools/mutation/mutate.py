#!/usr/bin/env python3
"""
mutate.py -- mutation testing of pmstore's crash-consistency checks (issue 11).

What it checks: for every mutant in tools/mutation/mutants.txt (a one-place
edit of the persistence protocol: a fence, a flush, a store moved across a
fence, a recovery step...), whether the check sets named on the command
line notice it.  A mutant is KILLED by a set if any check of the set fails
on the mutated library (a timeout counts as a failure; the first failing
check is recorded).  A SURVIVING mutant is either equivalent (it cannot
change any crash outcome: argued in tools/mutation/equivalent.md) or a hole
in the checks.

The model: the source tree is copied once to a run-unique directory under
build-mut/ (tracked and untracked-but-not-ignored files of the worktree, so
unmerged work is included), configured and built once; then for each mutant
the file is patched in place, the needed targets rebuilt incrementally
(-j2), the checks run one at a time, and the file restored.  Check sets:
  old  the crash checks that existed at 451e4ba: test_tx, test_alloc,
       test_kill, test_crash_tx, icount_quick (their sources are unchanged
       since 451e4ba, so the current binaries are the old checks)
  new  every ctest test labelled unit or crash (not long) of the tree as it
       is now -- so checkers merged later are picked up -- minus the
       seeded-bug self-tests (they test the checkers against their own
       seeded libraries, not the library under mutation) and vmmalloc
       (does not link the mutated files), plus `icount --quick` (every
       icount scenario, quick tiers).
Sets are evaluated in the order given; a check's result is shared between
sets, and a set stops at its first failing check.

What it can NOT catch / limits: a mutant that survives may still be caught
by a longer run (multi-threaded checks are timing dependent: a kill is a
proof, a survival is not); the random seeds of test_kill_model are fixed
(PMSTORE_KM_SEED, default 1; MUT_SEED overrides) but thread timing is not,
and test_kill's seeds come from pids.  Mutants outside src/ are not
expressible.  --quick shortens the loops (fewer rounds), so it may let
mutants survive that the full run kills.

Usage: see run.sh.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OLD_CHECKS = ["test_tx", "test_alloc", "test_kill", "test_crash_tx", "icount_quick"]
NEW_EXCLUDE = re.compile(r"selftest|vmmalloc|^testpools_dir$")
# cheap, high-yield checks first (a set stops at its first failure)
ORDER_HINT = ["test_log", "test_pool", "test_regress", "test_tx", "test_alloc",
              "test_kill", "test_tx_pmem", "test_alloc_pmem", "test_kill_pmem",
              "icount_quick", "test_kill_model_noa4", "test_kill_model",
              "test_kill_model_pmem", "test_kill_model_polite", "test_crash_tx"]


def unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(n, "\\" + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_mutants(path):
    muts = []
    for ln, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) != 6:
            sys.exit(f"{path}:{ln}: expected 6 TAB-separated fields, got {len(f)}")
        muts.append(dict(id=f[0], file=f[1], cat=f[2], match=unescape(f[3]),
                         repl=unescape(f[4]), desc=f[5]))
    ids = [m["id"] for m in muts]
    if len(set(ids)) != len(ids):
        sys.exit(f"{path}: duplicate mutant ids")
    return muts


def apply_mutant(tree, m):
    """Patch in place; returns the original text.  Fails loudly unless the
    pattern occurs exactly once."""
    p = os.path.join(tree, m["file"])
    text = open(p, encoding="utf-8").read()
    n = text.count(m["match"])
    if n != 1:
        raise RuntimeError(f"{m['id']}: pattern found {n} times in {m['file']} (need exactly 1)")
    open(p, "w", encoding="utf-8").write(text.replace(m["match"], m["repl"], 1))
    return text


def restore(tree, m, text):
    open(os.path.join(tree, m["file"]), "w", encoding="utf-8").write(text)


def sh(cmd, **kw):
    return subprocess.run(cmd, **kw)


def copy_tree(src, dst):
    files = subprocess.run(["git", "-C", src, "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                           check=True, capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        f = f.decode()
        s, d = os.path.join(src, f), os.path.join(dst, f)
        if not os.path.isfile(s):
            continue
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d)


def discover_checks(build, extra):
    js = json.loads(subprocess.run(["ctest", "--show-only=json-v1", "-L", "unit|crash", "-LE", "long"],
                                   cwd=build, check=True, capture_output=True).stdout)
    checks = {}
    for t in js.get("tests", []):
        if not t.get("command"):
            continue  # not available in this configuration
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        checks[t["name"]] = dict(name=t["name"], cmd=t["command"],
                                 env=props.get("ENVIRONMENT", []),
                                 timeout=float(props.get("TIMEOUT", 300)),
                                 cwd=props.get("WORKING_DIRECTORY", build))
    for name, cmd in extra:
        checks[name] = dict(name=name, cmd=cmd, env=[], timeout=600.0, cwd=build)
    return checks


def targets_for(checks, build):
    helptxt = subprocess.run(["cmake", "--build", build, "--target", "help"],
                             capture_output=True, text=True).stdout
    known = set(l[4:].strip() for l in helptxt.splitlines() if l.startswith("... "))
    alias = {"pmstore": "pmstore_tool"}
    tg = {"pmstore_static"}
    for c in checks.values():
        for a in c["cmd"]:
            b = os.path.basename(a)
            b = alias.get(b, b)
            if b in known and "bug" not in b:
                tg.add(b)
    return sorted(tg)


def run_check(c, rundir, quick, seed, cap):
    """0 pass, else a short reason (failed rc=N / timeout)."""
    env = dict(os.environ)
    for kv in c["env"]:
        k, _, v = kv.partition("=")
        env[k] = v
    env.setdefault("PMSTORE_KM_SEED", str(seed))
    # pools on tmpfs (as ctest's defaults): a run-unique directory
    tmp = tempfile.mkdtemp(prefix=f"pmmut-{os.getpid()}-", dir=os.environ.get("MUT_POOL_DIR", "/dev/shm"))
    env["PMSTORE_TEST_DIR_DEFAULT"] = tmp
    if "PMSTORE_TEST_DIR" not in env:
        env["PMSTORE_TEST_DIR"] = tmp
    env["ICOUNT_DIR"] = os.path.join(tmp, "icount")
    cmd = list(c["cmd"])
    if quick:
        # shorter loops (ctest ENVIRONMENT / `cmake -E env` values are
        # lowered, never raised)
        env["PMSTORE_CRASH_OPS"] = "25"
        cmd = [re.sub(r"^PMSTORE_KM_ROUNDS=(\d+)$", lambda mm: "PMSTORE_KM_ROUNDS=%d" % min(int(mm.group(1)), 30), a)
               for a in cmd]
        if "PMSTORE_KM_ROUNDS" in env:
            env["PMSTORE_KM_ROUNDS"] = str(min(int(env["PMSTORE_KM_ROUNDS"]), 30))
    timeout = min(c["timeout"], cap) if cap else c["timeout"]
    t0 = time.time()
    outp = os.path.join(tmp, "out.txt")
    try:
        with open(outp, "wb") as out:
            p = subprocess.Popen(cmd, cwd=c["cwd"], env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
                res = 0 if rc == 0 else f"failed rc={rc}"
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                res = f"timeout {int(timeout)}s"
        if res != 0:
            # name the failing cmocka cases / icount scenarios / checker kinds
            txt = open(outp, "rb").read().decode("utf-8", "replace")
            names = re.findall(r"\[  FAILED  \] (\w+)", txt)
            names += re.findall(r"^\s*FAIL (\w+):", txt, re.M)
            names = [n for n in dict.fromkeys(names) if not re.fullmatch(r"\d+", n)]
            if names:
                res += ": " + ",".join(names[:4])
            with open(os.path.join(rundir, "fail-" + c["name"] + ".log"), "ab") as f:
                f.write(txt[-4000:].encode())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res, time.time() - t0


def order_checks(names):
    def key(n):
        return (ORDER_HINT.index(n) if n in ORDER_HINT else len(ORDER_HINT), n)
    return sorted(names, key=key)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ids", default="", help="comma-separated mutant ids (default: all)")
    ap.add_argument("--mutants", default=os.path.join(HERE, "mutants.txt"))
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--workdir", default="")
    ap.add_argument("--reuse", default="", help="run dir of an earlier run: reuse its tree and build")
    ap.add_argument("--results", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the clean run of every check (then --baseline-times gives the caps)")
    ap.add_argument("--baseline-times", default="",
                    help="JSON {check: seconds} of a clean run, for the hang caps with --no-baseline")
    ap.add_argument("--cap", type=float, default=0, help="cap on any check's timeout (s)")
    ap.add_argument("--extra", action="append", default=[],
                    help="NAME=COMMAND added to the new set (COMMAND relative to the build dir)")
    ap.add_argument("--verify", action="store_true", help="only check that every pattern matches once")
    ap.add_argument("--report", nargs="+", default=None, metavar="JSONL",
                    help="only write --results from these results.jsonl files (merged)")
    ap.add_argument("sets", nargs="*", default=["old", "new"])
    a = ap.parse_args()
    if a.report:
        report(a.report, a.results, a.mutants)
        return 0

    muts = load_mutants(a.mutants)
    if a.ids:
        by = {m["id"]: m for m in muts}
        bad = [i for i in a.ids.split(",") if i not in by]
        if bad:
            sys.exit(f"unknown mutant ids: {bad}")
        muts = [by[i] for i in a.ids.split(",")]  # in the order given
    if a.verify:
        bad = 0
        for m in muts:
            n = open(os.path.join(a.src, m["file"]), encoding="utf-8").read().count(m["match"])
            if n != 1:
                print(f"{m['id']}: {m['file']}: pattern found {n} times")
                bad += 1
        print(f"{len(muts)} mutants, {bad} bad patterns")
        return 1 if bad else 0

    seed = int(os.environ.get("MUT_SEED", "1"))
    base = a.workdir or os.path.join(a.src, "build-mut")
    os.makedirs(base, exist_ok=True)
    if a.reuse:
        rundir = os.path.abspath(a.reuse)
    else:
        rundir = tempfile.mkdtemp(prefix=time.strftime("run-%H%M%S-"), dir=base)
    tree, build = os.path.join(rundir, "tree"), os.path.join(rundir, "build")
    print(f"run dir {rundir}; seed {seed} (MUT_SEED); sets {a.sets}; quick={a.quick}", flush=True)
    if a.reuse:
        # an interrupted run may have left a file mutated: rewrite every file
        # that differs from the source (a fresh mtime, so it is rebuilt)
        for m in load_mutants(a.mutants):
            s_ = open(os.path.join(a.src, m["file"]), encoding="utf-8").read()
            d_ = os.path.join(tree, m["file"])
            if open(d_, encoding="utf-8").read() != s_:
                open(d_, "w", encoding="utf-8").write(s_)
                print(f"restored {m['file']} in the reused tree", flush=True)
    else:
        copy_tree(a.src, tree)
    for m in muts:  # all patterns must match before anything is run
        n = open(os.path.join(tree, m["file"]), encoding="utf-8").read().count(m["match"])
        if n != 1:
            sys.exit(f"{m['id']}: pattern found {n} times in {m['file']} (need exactly 1)")
    if not a.reuse:
        sh(["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
           check=True, stdout=subprocess.DEVNULL)
    # a first full build: ctest names a test's command only once it exists
    with open(os.path.join(rundir, "build-all.log"), "a") as f:
        if not a.reuse and sh(["cmake", "--build", build, "-j2"], stdout=f, stderr=subprocess.STDOUT).returncode:
            sys.exit(f"the unmutated tree does not build: {rundir}/build-all.log")
    extra = []
    for e in a.extra + ["icount_all_quick=icount/icount --quick"]:
        n, _, c = e.partition("=")
        argv = c.split()
        argv[0] = os.path.join(build, argv[0])
        extra.append((n, argv))
    checks = discover_checks(build, extra)
    os.makedirs(os.path.join(build, "testpools"), exist_ok=True)
    sets = {}
    for s in a.sets:
        if s == "old":
            sets[s] = [n for n in OLD_CHECKS if n in checks]
        elif s == "new":
            sets[s] = order_checks([n for n in checks if not NEW_EXCLUDE.search(n)])
        else:  # a regex over check names
            sets[s] = order_checks([n for n in checks if re.search(s, n)])
        print(f"set {s}: {' '.join(sets[s])}", flush=True)
    needed = sorted(set(n for s in sets.values() for n in s))
    targets = targets_for({n: checks[n] for n in needed}, build)
    print(f"targets: {' '.join(targets)}", flush=True)

    def build_targets(log):
        with open(log, "w") as f:
            r = sh(["cmake", "--build", build, "-j2", "--target"] + targets, stdout=f, stderr=subprocess.STDOUT)
        return r.returncode == 0

    if not build_targets(os.path.join(rundir, "build-base.log")):
        sys.exit(f"the unmutated tree does not build: {rundir}/build-base.log")
    base_time = json.load(open(a.baseline_times)) if a.baseline_times else {}
    if not a.no_baseline:
        for n in needed:
            res, dt = run_check(checks[n], rundir, a.quick, seed, a.cap)
            base_time[n] = dt
            print(f"baseline {n}: {'pass' if res == 0 else res} {dt:.1f}s", flush=True)
            if res != 0:
                sys.exit(f"check {n} fails on the unmutated tree ({res}): fix or exclude it first")

    jname = "results.jsonl" if not a.reuse else time.strftime("results-%H%M%S.jsonl")
    jl = open(os.path.join(rundir, jname), "w")
    jl.write(json.dumps({"header": 1, "sets": sets, "quick": a.quick, "seed": seed}) + "\n")
    rows = []
    for m in muts:
        t0 = time.time()
        orig = apply_mutant(tree, m)
        try:
            ok = build_targets(os.path.join(rundir, f"build-{m['id']}.log"))
            row = dict(id=m["id"], cat=m["cat"], file=m["file"], desc=m["desc"], built=ok, sets={}, ran={})
            if ok:
                cache = {}
                for s, names in sets.items():
                    killer = None
                    for n in names:
                        if n not in cache:
                            cap = a.cap
                            if n in base_time:  # a hang: far beyond the clean run's time
                                cap = min(cap or 1e9, max(60.0, 6 * base_time[n]))
                            cache[n] = run_check(checks[n], rundir, a.quick, seed, cap)
                            row["ran"][n] = [cache[n][0], round(cache[n][1], 1)]
                        if cache[n][0] != 0:
                            killer = f"{n} ({cache[n][0]})"
                            break
                    row["sets"][s] = killer
        finally:
            restore(tree, m, orig)
        row["secs"] = round(time.time() - t0, 1)
        rows.append(row)
        jl.write(json.dumps(row) + "\n")
        jl.flush()
        st = "NO BUILD" if not row["built"] else "  ".join(
            f"{s}:{'KILLED by ' + k if k else 'survived'}" for s, k in row["sets"].items())
        print(f"{m['id']:5} {m['cat']:10} {st}  [{row['secs']}s]", flush=True)
    jl.close()
    write_results(a.results, rows, sets, a.quick, seed)
    if not os.environ.get("MUT_KEEP"):
        shutil.rmtree(os.path.join(rundir, "tree"), ignore_errors=True)
        shutil.rmtree(build, ignore_errors=True)
    print(f"results: {a.results} (raw: {rundir}/{jname})")
    return 0


def report(paths, out, mutfile):
    """Merge results.jsonl files (later ones win per mutant) into results.md."""
    rows, sets, quick, seed = {}, {}, False, None
    for p in paths:
        for line in open(p):
            r = json.loads(line)
            if r.get("header"):
                for k, v in r["sets"].items():
                    sets.setdefault(k, v)
                quick = quick or r["quick"]
                seed = r["seed"]
            else:
                rows[r["id"]] = r
    order = [m["id"] for m in load_mutants(mutfile)]
    rl = sorted(rows.values(), key=lambda r: order.index(r["id"]) if r["id"] in order else 1e9)
    write_results(out, rl, sets, quick, seed, [i for i in order if i not in rows])


def write_results(path, rows, sets, quick, seed, notrun=()):
    eq = {}
    eqf = os.path.join(HERE, "equivalent.md")
    if os.path.exists(eqf):
        cur = None
        for line in open(eqf, encoding="utf-8"):
            mm = re.match(r"^### (M\d+)", line)
            if mm:
                cur = mm.group(1)
                eq[cur] = ""
            elif cur:
                eq[cur] += line
    built = [r for r in rows if r["built"]]
    out = []
    out.append("# Mutation testing of the crash-consistency checks (issue 11)\n\n")
    out.append("Generated by `tools/mutation/run.sh` (mutate.py); the arguments for surviving\n"
               "mutants come from `tools/mutation/equivalent.md`.  Mutants: "
               "`tools/mutation/mutants.txt`.\n\n")
    out.append("Re-run: `tools/mutation/run.sh [--quick] [--ids M01,...] old new` (all mutants, both\n"
               "sets; `new` is read from ctest, so checkers merged later count); merge partial\n"
               "runs with `tools/mutation/run.sh --report build-mut/run-*/results*.jsonl`.\n"
               "A kill is a failing check on the mutated library (timeouts count); \"killed: X\"\n"
               "names the first check of that set that failed, with its failing cases.\n\n")
    out.append(f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"{'--quick' if quick else 'full'}, seed {seed}, "
               f"{len(rows)} mutants run ({len(rows) - len(built)} did not build), sets: "
               + "; ".join(f"**{s}** = {' '.join(n)}" for s, n in sets.items()) + "\n\n")
    for s in sets:
        k = sum(1 for r in built if r["sets"].get(s))
        eqs = [r for r in built if not r["sets"].get(s) and r["id"] in eq and eq[r["id"]].lstrip().startswith("EQUIVALENT")]
        ne = len(built) - len(eqs)
        out.append(f"* **{s}**: killed {k} of {len(built)} built ({100.0 * k / max(1, len(built)):.0f}%); "
                   f"{len(eqs)} survivors argued equivalent; killed {k} of {ne} non-equivalent "
                   f"({100.0 * k / max(1, ne):.0f}%)\n")
    def cell(k):
        if not k:
            return "**survived**"
        return "killed: " + (k if len(k) < 140 else k[:137] + "...")
    out.append("\n| mutant | category | file | what | " + " | ".join(sets) + " |\n")
    out.append("|---|---|---|---|" + "---|" * len(sets) + "\n")
    for r in rows:
        if not r["built"]:
            out.append(f"| {r['id']} | {r['cat']} | {r['file']} | {r['desc']} |" + " n/a |" * len(sets)
                       + " (did not build: excluded)\n")
            continue
        cells = " | ".join(cell(r["sets"].get(s)) for s in sets)
        out.append(f"| {r['id']} | {r['cat']} | {r['file']} | {r['desc']} | {cells} |\n")
    names = list(sets)
    for s in names[:-1]:
        missed = [r["id"] for r in built if not r["sets"].get(s) and r["sets"].get(names[-1])]
        out.append(f"\nMissed by **{s}**, killed by **{names[-1]}** ({len(missed)}): {', '.join(missed) or 'none'}\n")
    last = names[-1]
    surv = [r for r in built if not r["sets"].get(last)]
    out.append(f"\n## Mutants that survive **{last}**: equivalent, or a hole\n\n")
    if not surv:
        out.append("None.\n")
    for r in surv:
        out.append(f"### {r['id']} ({r['desc']})\n\n")
        out.append((eq.get(r["id"]) or "No argument written yet.\n").strip() + "\n\n")
    if notrun:
        out.append(f"\n## Not run yet ({len(notrun)})\n\n{', '.join(notrun)}\n")
    open(path, "w", encoding="utf-8").write("".join(out))


if __name__ == "__main__":
    sys.exit(main())
