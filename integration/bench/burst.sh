#!/usr/bin/env bash
# integration/bench/burst.sh — many pods at once through CRI, the hardened handler against the
# stock runc shim in the same run of the lab; then the shims' memory with many pods running.
#
# Usage (as root, with the lab up):
#
#   integration/bench/burst.sh [-p PODS] [-r ROUNDS] [-m MEMPODS] [-t TIMEOUT]
#
#   -p PODS     pods started at once in a burst (default 50): each `crictl runp`, then a
#               container created and started in it, timed from before runp to after start
#   -r ROUNDS   bursts per handler, interleaved runc, hardened, hardened, runc, … (default 2)
#   -m MEMPODS  pods running at once for the memory figure (default 100; 0 skips it): the
#               proportional set size (Pss, /proc/PID/smaps_rollup) of every shim serving them
#   -t SECONDS  timeout of every crictl command (default 120)
#
# Prints, per handler, p50/p99/max start latency over every pod of its bursts and the
# hardened/runc ratios, and the shims' Pss per pod. Everything it starts is removed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PODS=50 ROUNDS=2 MEMPODS=100 TIMEOUT=120
while getopts "p:r:m:t:" o; do
	case $o in
	p) PODS=$OPTARG ;; r) ROUNDS=$OPTARG ;; m) MEMPODS=$OPTARG ;; t) TIMEOUT=$OPTARG ;;
	*) sed -n '2,17p' "$0" >&2; exit 2 ;;
	esac
done
ENV_FILE=$("$REPO/integration/lab/lab.sh" env-file)
[[ -f $ENV_FILE ]] || { echo "burst: the lab is not up (make lab-up)" >&2; exit 1; }
# shellcheck disable=SC1090
. "$ENV_FILE"
WORK=$(mktemp -d "$LAB_RUN/burst.XXXXXX")
cleanup_pods() {
	local ids
	ids=$(crictl pods -q --label bench=burst 2>/dev/null || true)
	[[ -n $ids ]] && { crictl stopp $ids >/dev/null 2>&1 || true; crictl rmp $ids >/dev/null 2>&1 || true; }
	return 0
}
trap 'cleanup_pods; rm -rf "$WORK"' EXIT
crictl() { timeout "$TIMEOUT" nsenter --net="$LAB_NETNS_PATH" -- "$LAB_BIN/crictl" --config "$CRI_CONFIG_FILE" "$@" 2>>"$WORK/crictl.err"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

crictl pull docker.io/library/busybox:latest >/dev/null

# one_pod HANDLER NAME: prints the ms from before runp to after the container's start
one_pod() {
	local handler=$1 name=$2 t0 pod ctr
	mkdir -p "$WORK/logs/$name"
	cat >"$WORK/$name-pod.json" <<EOF
{"metadata":{"name":"$name","namespace":"bench","uid":"$name-uid","attempt":1},"log_directory":"$WORK/logs/$name","labels":{"bench":"burst"},"linux":{}}
EOF
	cat >"$WORK/$name-ctr.json" <<EOF
{"metadata":{"name":"app"},"image":{"image":"docker.io/library/busybox:latest"},"command":["sleep","3600"],"log_path":"app.log","linux":{}}
EOF
	t0=$(now_ms)
	pod=$(crictl runp --runtime "$handler" "$WORK/$name-pod.json") || { echo "FAIL runp $name" >&2; return 1; }
	ctr=$(crictl create "$pod" "$WORK/$name-ctr.json" "$WORK/$name-pod.json") || { echo "FAIL create $name" >&2; return 1; }
	crictl start "$ctr" >/dev/null || { echo "FAIL start $name" >&2; return 1; }
	echo $(($(now_ms) - t0))
}

# burst HANDLER ROUND: PODS pods at once; their times appended to $WORK/times-HANDLER
burst() {
	local handler=$1 round=$2 i pids=() failed=0
	for ((i = 0; i < PODS; i++)); do
		one_pod "$handler" "burst-$handler-$round-$i" >"$WORK/t-$handler-$round-$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || failed=$((failed + 1)); done
	cat "$WORK"/t-"$handler"-"$round"-* >>"$WORK/times-$handler"
	cleanup_pods
	((failed == 0)) || { echo "burst: $failed of $PODS pods of $handler failed (see $WORK/crictl.err)" >&2; cat "$WORK/crictl.err" >&2; exit 1; }
}

# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE
pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {r=int((p*NR+99)/100); if (r<1) r=1; print a[r]}'; }

for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then order="runc hardened"; else order="hardened runc"; fi
	for h in $order; do
		t0=$(now_ms)
		burst "$h" "$r"
		echo "round $((r + 1)): $PODS $h pods at once in $(($(now_ms) - t0)) ms (removal included)"
	done
done
echo
printf '%-10s %6s %8s %8s %8s\n' handler pods p50_ms p99_ms max_ms
for h in runc hardened; do
	printf '%-10s %6d %8d %8d %8d\n' "$h" "$(wc -l <"$WORK/times-$h")" "$(pct "$WORK/times-$h" 50)" "$(pct "$WORK/times-$h" 99)" "$(pct "$WORK/times-$h" 100)"
done
awk -v a="$(pct "$WORK/times-hardened" 50)" -v b="$(pct "$WORK/times-runc" 50)" -v c="$(pct "$WORK/times-hardened" 99)" -v d="$(pct "$WORK/times-runc" 99)" \
	'BEGIN {printf "ratio hardened/runc: p50 %.2f, p99 %.2f\n", a/b, c/d}'

# shim memory with MEMPODS pods running, per handler
shim_pss() { # HANDLER: total Pss (kB) of the shims serving the bench pods, and their count
	local handler=$1 total=0 n=0 pid id
	for id in $(crictl pods -q --label bench=burst); do
		for pid in $(pgrep -f -- "-id $id" || true); do
			case $(tr '\0' ' ' <"/proc/$pid/cmdline") in
			*containerd-shim-*"-address $CONTAINERD_ADDRESS "*)
				total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")))
				n=$((n + 1)) ;;
			esac
		done
	done
	echo "$total $n"
}
if ((MEMPODS > 0)); then
	echo
	for h in runc hardened; do
		for ((i = 0; i < MEMPODS; i += 10)); do
			for ((j = i; j < i + 10 && j < MEMPODS; j++)); do one_pod "$h" "mem-$h-$j" >/dev/null & done
			wait
		done
		read -r total n < <(shim_pss "$h")
		echo "$h: $MEMPODS pods running, $n shim processes, Pss $((total / 1024)) MiB in all, $((total / (n > 0 ? n : 1))) kB per shim"
		cleanup_pods
	done
fi
