#!/bin/sh
# deb-report.sh DIR -- after `make deb`: list the packages in DIR with their
# Depends, run lintian on them (when installed) and a simulated
# `apt-get install ./*.deb` (when apt-get is there: resolves every
# dependency against the configured archives, installs nothing).
# Exit status: 1 if the simulation fails; lintian's findings are printed,
# not fatal (see README: what it still reports and why).
set -u
dir=${1:?usage: deb-report.sh DIR}
cd "$dir" || exit 1
rc=0
for f in *.deb; do
	printf '%-40s Depends: %s\n' "$f" "$(dpkg-deb -f "$f" Depends)"
done
if command -v lintian >/dev/null 2>&1; then
	echo "lintian:"
	lintian --tag-display-limit 0 *.deb 2>&1 | grep -v 'running with root privileges' | sed 's/^/  /'
else
	echo "lintian: not installed (apt-get install lintian)"
fi
if command -v apt-get >/dev/null 2>&1; then
	set -- $(for f in *.deb; do printf './%s ' "$f"; done)
	if out=$(apt-get install -s "$@" 2>&1); then
		echo "apt-get install -s: would install: $(printf '%s\n' "$out" | sed -n 's/^Inst \([^ ]*\).*/\1/p' | tr '\n' ' ')"
	else
		printf '%s\n' "$out"; echo "apt-get install -s FAILED"; rc=1
	fi
fi
echo "packages in $(pwd)"
exit $rc
