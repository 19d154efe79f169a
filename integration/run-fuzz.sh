#!/usr/bin/env bash
# The fuzz targets (go test -fuzz), each for FUZZTIME (default 15s): make fuzz.
# Prints each target's executions and new corpus entries; a crash, hang (one input over 10 s)
# or property violation fails the run, and Go writes the input to the package's
# testdata/fuzz/<target>/ (commit it: it then runs in every `go test` as a regression test).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
FUZZTIME=${FUZZTIME:-15s}
TARGETS=${FUZZ_TARGETS:-shim:FuzzCheckAndHarden shim:FuzzParseSpec runtimeclass:FuzzParseClass runtimeclass:FuzzResolveOptions}
LOGS=${LAB_DIR:-$REPO/.lab}/logs
mkdir -p "$LOGS"
rc=0
for t in $TARGETS; do
	pkg=${t%%:*} fn=${t#*:} log=$LOGS/fuzz-$fn.log
	go test "./$pkg" -run '^$' -fuzz "^$fn\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s -parallel 2 >"$log" 2>&1
	r=$?
	last=$(grep '^fuzz: elapsed' "$log" | tail -1 | sed 's/^fuzz: //')
	if ((r == 0)); then
		echo "PASS $fn ($pkg, $FUZZTIME): $last"
	else
		echo "FAIL $fn ($pkg): $last"
		grep -v '^fuzz: elapsed' "$log" | head -40
		rc=1
	fi
done
exit $rc
