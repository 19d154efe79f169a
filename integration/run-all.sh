#!/usr/bin/env bash
# make test: unit tests, then the lab comes up and the integration tests, the
# critest comparison and the Kubernetes smoke (a real kubelet) run in it; the
# lab is torn down whatever happens.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
start=$(date +%s)
results=()
run() {
	local name=$1
	shift
	echo
	echo "######## $name"
	local t0=$(date +%s)
	if "$@"; then
		results+=("PASS $name ($(($(date +%s) - t0)) s)")
		return 0
	fi
	results+=("FAIL $name ($(($(date +%s) - t0)) s)")
	return 1
}
summary() {
	echo
	echo "######## summary ($(($(date +%s) - start)) s)"
	printf '  %s\n' "${results[@]}"
	local p f
	p=$(printf '%s\n' "${results[@]}" | grep -c '^PASS')
	f=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL')
	echo "suites: $p passed, $f failed"
}
cleanup() {
	echo
	echo "######## lab down"
	make --no-print-directory lab-down || echo "lab down failed" >&2
}

ok=0
run "unit tests" make --no-print-directory unit || ok=1
run "fuzzing (15 s a target)" make --no-print-directory fuzz || ok=1
trap 'cleanup; summary' EXIT
if run "lab up" make --no-print-directory lab-up; then
	# the compatibility matrix's containerd builds run meanwhile, at the lowest CPU priority
	mkdir -p .lab/logs
	nice -n 19 make --no-print-directory compat-build >.lab/logs/compat-build.log 2>&1 &
	compat_build=$!
	run "integration tests" make --no-print-directory integration || ok=1
	run "critest comparison" make --no-print-directory critest || ok=1
	run "Kubernetes node (kubelet smoke)" make --no-print-directory k8s-smoke || ok=1
	if wait "$compat_build"; then
		run "containerd compatibility matrix" integration/lab/compat.sh test || ok=1
	else
		tail -20 .lab/logs/compat-build.log
		results+=("FAIL containerd compatibility matrix (build: .lab/logs/compat-build.log)")
		ok=1
	fi
else
	ok=1
fi
exit $ok
