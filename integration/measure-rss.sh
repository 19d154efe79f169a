#!/usr/bin/env bash
# Prints the resident memory (VmRSS and Pss) of the shim process serving one
# pod with one busybox container, for the stock runc handler and the hardened
# handler, N pods each (default 3), measured in the same lab run.
# Needs the lab up (make lab-up).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-3}
# shellcheck disable=SC1090
. "$("$REPO/integration/lab/lab.sh" env-file)"
crictl() { nsenter --net="$LAB_NETNS_PATH" -- "$LAB_BIN/crictl" --config "$CRI_CONFIG_FILE" "$@" 2>/dev/null; }
work=$(mktemp -d "$LAB_RUN/rss.XXXXXX")
pods=()
trap 'for p in "${pods[@]}"; do crictl stopp "$p" >/dev/null || true; crictl rmp "$p" >/dev/null || true; done; rm -rf "$work"' EXIT
crictl pull docker.io/library/busybox:latest >/dev/null
printf '{"metadata":{"name":"app"},"image":{"image":"docker.io/library/busybox:latest"},"command":["sleep","600"],"log_path":"app.log","linux":{}}\n' >"$work/app.json"
shim_of() { # the pid of the shim process serving pod $1
	local p
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-id $1 "; then basename "$p"; return; fi
	done
}
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/${3:-status}"; }
for handler in runc hardened; do
	rss=0 pss=0
	for i in $(seq "$N"); do
		printf '{"metadata":{"name":"rss-%s-%d","namespace":"rss","uid":"rss-%s-%d","attempt":1},"log_directory":"%s","linux":{}}\n' \
			"$handler" "$i" "$handler" "$i" "$work" >"$work/pod-$handler-$i.json"
		pod=$(crictl runp --runtime "$handler" "$work/pod-$handler-$i.json")
		pods+=("$pod")
		c=$(crictl create "$pod" "$work/app.json" "$work/pod-$handler-$i.json")
		crictl start "$c" >/dev/null
	done
	sleep 3
	for pod in "${pods[@]: -$N}"; do
		pid=$(shim_of "$pod")
		rss=$((rss + $(kb "$pid" VmRSS)))
		pss=$((pss + $(kb "$pid" Pss smaps_rollup)))
	done
	printf '%-9s shim per pod: VmRSS %5d KiB  Pss %5d KiB  (mean of %d pods, 1 container each)\n' "$handler" $((rss / N)) $((pss / N)) "$N"
done
