#!/usr/bin/env bash
# integration/bench/memory.sh — resident memory of the shim process serving one pod (pause +
# busybox app containers), the stock runc shim against the hardened shim, measured in the same
# lab run with N pods of each running at once (shared pages count 1/N in each shim's Pss).
#
# Usage (as root, lab up): integration/bench/memory.sh [-n PODS] [-c COUNT] [-w SECONDS]...
#   -n PODS     pods per handler (default 5)
#   -c COUNT    app containers per pod (default 1)
#   -w SECONDS  when to read, counted from the last container's start; repeatable
#               (default -w 3 -w 35: right after the starts, and after the shim library's
#               30-second debug.FreeOSMemory has run once)
#
# Output per reading and handler: mean VmRSS, Pss, and Pss split into anonymous memory (heap,
# stacks, the binary's written data: each shim's own) and file pages (the binary's text and
# read-only data, shared by the shims of one binary), in KiB; then hardened/runc ratios.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=5
CTRS=1
WAITS=()
while getopts ':n:c:w:h' opt; do
	case $opt in
	n) N=$OPTARG ;;
	c) CTRS=$OPTARG ;;
	w) WAITS+=("$OPTARG") ;;
	h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "memory.sh: bad option (-h for help)" >&2; exit 2 ;;
	esac
done
((${#WAITS[@]})) || WAITS=(3 35)
[[ $N =~ ^[1-9][0-9]*$ && $CTRS =~ ^[1-9][0-9]*$ ]] || { echo "memory.sh: -n and -c want positive integers" >&2; exit 2; }
# shellcheck disable=SC1090
. "$("$REPO/integration/lab/lab.sh" env-file)"
crictl() { timeout -k 5 60 nsenter --net="$LAB_NETNS_PATH" -- "$LAB_BIN/crictl" --config "$CRI_CONFIG_FILE" "$@"; }
work=$(mktemp -d "$LAB_RUN/memory.XXXXXX")
pods=()
cleanup() {
	local p
	for p in "${pods[@]}"; do crictl rmp -f "$p" >/dev/null 2>&1 || echo "memory.sh: cannot remove pod $p" >&2; done
	rm -rf "$work"
}
trap cleanup EXIT
crictl pull docker.io/library/busybox:latest >/dev/null
printf '{"metadata":{"name":"app"},"image":{"image":"docker.io/library/busybox:latest"},"command":["sleep","600"],"log_path":"app.log","linux":{}}\n' >"$work/app.json"
# shim_of POD: the pid of the shim process serving the pod
shim_of() {
	local p
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-id $1 "; then basename "$p"; return; fi
	done
}
declare -A PODS
# pods of both handlers interleaved, all running while memory is read
for i in $(seq "$N"); do
	for handler in runc hardened; do
		printf '{"metadata":{"name":"mem-%s-%d","namespace":"mem","uid":"mem-%s-%d-%s","attempt":1},"log_directory":"%s","linux":{}}\n' \
			"$handler" "$i" "$handler" "$i" "$$" "$work" >"$work/pod-$handler-$i.json"
		pod=$(crictl runp --runtime "$handler" "$work/pod-$handler-$i.json")
		pods+=("$pod")
		PODS[$handler]+="$pod "
		for j in $(seq "$CTRS"); do
			sed "s/\"name\":\"app\"/\"name\":\"app-$j\"/" "$work/app.json" >"$work/app-$j.json"
			c=$(crictl create "$pod" "$work/app-$j.json" "$work/pod-$handler-$i.json")
			crictl start "$c" >/dev/null
		done
	done
done
t0=$SECONDS
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/$3"; }
for w in $(printf '%s\n' "${WAITS[@]}" | sort -n); do
	((SECONDS - t0 < w)) && sleep $((w - (SECONDS - t0)))
	declare -A PSS=()
	for handler in runc hardened; do
		rss=0 pss=0 anon=0 file=0
		for pod in ${PODS[$handler]}; do
			pid=$(shim_of "$pod")
			[[ -n $pid ]] || { echo "memory.sh: no shim process for pod $pod" >&2; exit 1; }
			rss=$((rss + $(kb "$pid" VmRSS status)))
			pss=$((pss + $(kb "$pid" Pss smaps_rollup)))
			anon=$((anon + $(kb "$pid" Pss_Anon smaps_rollup)))
			file=$((file + $(kb "$pid" Pss_File smaps_rollup)))
		done
		PSS[$handler]="$((pss / N)) $((anon / N)) $((file / N))"
		printf 'after %3ss  %-9s shim per pod: VmRSS %6d KiB  Pss %6d KiB  (anonymous %6d, file %6d)  mean of %d pods, %d app containers each\n' \
			"$w" "$handler" $((rss / N)) $((pss / N)) $((anon / N)) $((file / N)) "$N" "$CTRS"
	done
	read -r hp ha hf <<<"${PSS[hardened]}"
	read -r rp ra rf <<<"${PSS[runc]}"
	awk -v w="$w" -v hp="$hp" -v rp="$rp" -v ha="$ha" -v ra="$ra" -v hf="$hf" -v rf="$rf" \
		'BEGIN { printf "after %3ss  ratio     hardened/runc Pss %.3f  (anonymous %.3f, file %.3f)\n", w, hp / rp, ha / ra, hf / rf }'
done
