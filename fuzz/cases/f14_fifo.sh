#!/bin/sh
# f14_fifo.sh PMSTORE_TOOL -- F14: `pmstore check` on a FIFO must fail at
# once ("not a regular file"), not block in open(2) waiting for a writer.
# Exit 0 if it returned within 5 s, 1 if it hung (timeout killed it).
# Cannot catch: other special files (a tty, a socket) -- only a FIFO.
set -u
TOOL=${1:?usage: f14_fifo.sh path/to/pmstore}
D=$(mktemp -d /dev/shm/pmfuzz-f14.$$.XXXXXX)
trap 'rm -rf "$D"' EXIT
mkfifo "$D/fifo"
timeout 5 "$TOOL" check "$D/fifo"
rc=$?
if [ $rc -eq 124 ]; then
	echo "F14: '$TOOL check FIFO' hung (killed after 5 s)"
	exit 1
fi
echo "F14: returned with status $rc"
exit 0
