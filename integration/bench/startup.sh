#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions called from traps and via "$fn" look unreachable
# integration/bench/startup.sh — container start cost of the hardened runtime against the stock
# runc shim, measured interleaved in one run of the lab.
#
# Usage (as root, with the lab up: `make lab-up` or `integration/lab/lab.sh up`):
#
#   integration/bench/startup.sh [-n RUNS] [-o REPORT.json] [-w WARMUP] [-t TIMEOUT] [-m ctr,cri]
#
#   -n RUNS     counted runs per variant and measurement (default 25)
#   -o FILE     also write the samples and statistics as JSON to FILE
#   -w WARMUP   uncounted warm-up runs per variant before each measurement (default 2)
#   -t SECONDS  timeout of every single command (default 60; image pulls get 3x)
#   -m LIST     measurements to run, comma separated: ctr, cri (default ctr,cri)
#
# Measurements (each variant pair runs back to back, the order inside a pair alternates:
# stock,hardened / hardened,stock / ... so slow drift of the machine cancels out):
#
#   ctr   `ctr -n bench run --rm IMAGE ID true`, start to exit, in the private containerd
#         namespace `bench`;
#           stock:    --runtime io.containerd.runc.v2 --runc-binary $LAB_RUNC --runc-root $LAB_RUNC_ROOT
#           hardened: --runtime io.containerd.hardened.v2   (no options: the shim reads its node
#                     class file from $LAB_HARDENED_CLASS_DIR)
#         always with --fifo-dir under $LAB_RUN (never /run/containerd/fifo).
#   cri   crictl runp --runtime HANDLER + create + start of one busybox container running
#         `sleep 300`, timed from before runp until start returns (handlers `runc` and
#         `hardened`); the pod is then removed (not timed). crictl runs inside the lab netns.
#
# Output: one line per measurement (medians, p10/p90 in ms, n = successful counted runs, ratio of
# the medians hardened/stock), e.g.
#   ctr run --rm true      runc 131.2 ms (n=25 p10 125.0 p90 140.3)   hardened 133.0 ms (n=25 p10 127.9 p90 143.2)   ratio 1.014   errors runc=0 hardened=0
# ("errors" counts failed runs, warm-up included).
# Percentiles interpolate linearly between order statistics (numpy's default). Times come from
# `date +%s%N` around each run: the ~1 ms cost of forking `date` is in both variants alike (the
# JSON reports it as timer_overhead_ms). Errors of failed runs go to stderr verbatim; a variant
# that fails more than max(3, RUNS/4) times ends that measurement. Exit status: 0 if every
# run succeeded, 1 otherwise, 2 on usage errors or when the lab is not up. The table goes to
# stdout, progress and errors to stderr. One run at a time per lab ($LAB_RUN/bench.lock).
#
# Cleanup (also on Ctrl-C / failure): containers, tasks and snapshots of this run, pods (found by
# the label hardened-bench.run=<run tag>), the busybox image and the `bench` namespace, the images
# it pulled into the CRI (k8s.io) namespace unless they were there before, the cgroup parents of
# the `bench` namespace if this run created them, and its work directory under $LAB_RUN.
#
# Environment: LAB_NAME / LAB_RUN select the lab like lab.sh does; BENCH_IMAGE overrides the image
# (default docker.io/library/busybox:latest, served by the lab registry).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)

RUNS=25
WARMUP=2
TMO=60
OUT=
MEAS=ctr,cri
IMAGE=${BENCH_IMAGE:-docker.io/library/busybox:latest}
NS=bench                      # containerd namespace of the ctr measurement
POD_NS=bench                  # CRI pod metadata namespace
LABEL=hardened-bench.run

die() { printf 'startup.sh: ERROR: %s\n' "$*" >&2; exit 2; }
warn() { printf 'startup.sh: WARNING: %s\n' "$*" >&2; }
info() { printf '# %s\n' "$*" >&2; }
usage() { sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

while getopts ':n:o:w:t:m:h' opt; do
	case $opt in
	n) RUNS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	w) WARMUP=$OPTARG ;;
	t) TMO=$OPTARG ;;
	m) MEAS=$OPTARG ;;
	h) usage; exit 0 ;;
	:) usage >&2; die "-$OPTARG needs an argument" ;;
	*) usage >&2; die "unknown option -$OPTARG" ;;
	esac
done
shift $((OPTIND - 1))
(($# == 0)) || { usage >&2; die "unexpected arguments: $*"; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive integer, got '$RUNS'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "-w wants a non-negative integer, got '$WARMUP'"
[[ $TMO =~ ^[1-9][0-9]*$ ]] || die "-t wants a positive number of seconds, got '$TMO'"
DO_CTR=0 DO_CRI=0
IFS=, read -ra _m <<<"$MEAS"
for m in "${_m[@]}"; do
	case $m in ctr) DO_CTR=1 ;; cri) DO_CRI=1 ;; *) die "-m: unknown measurement '$m' (ctr, cri)" ;; esac
done
if [[ -n $OUT ]]; then
	OUT=$(realpath -m -- "$OUT")
	[[ -d $(dirname "$OUT") ]] || die "-o: directory $(dirname "$OUT") does not exist"
fi
MAX_FAIL=$((RUNS / 4 > 3 ? RUNS / 4 : 3))

# ---------------------------------------------------------------------------------------------
# the lab
# ---------------------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "must run as root (nsenter into the lab netns, containerd socket)"
command -v jq >/dev/null || die "jq is missing (integration/lab/lab.sh install)"
ENV_FILE=$("$REPO/integration/lab/lab.sh" env-file)
NOT_UP="the lab is not up ($ENV_FILE): run 'make lab-up' or 'integration/lab/lab.sh up' first"
[[ -f $ENV_FILE ]] || die "$NOT_UP"
# shellcheck disable=SC1090
. "$ENV_FILE"
for v in LAB_BIN LAB_RUN LAB_NETNS_PATH LAB_HOSTS_DIR LAB_RUNC LAB_RUNC_ROOT CONTAINERD_ADDRESS CRI_CONFIG_FILE; do
	[[ -n ${!v:-} ]] || die "$ENV_FILE does not set $v (lab.sh and this script out of step?)"
done
CTR_BIN=$LAB_BIN/ctr
CRICTL_BIN=$LAB_BIN/crictl

# lab_problem: prints why the lab is not usable, nothing if it is.
lab_problem() {
	local pid exe
	pid=$(tr -dc '0-9' <"${LAB_CONTAINERD_PID_FILE:-$LAB_RUN/containerd.pid}" 2>/dev/null || true)
	exe=$(readlink "/proc/${pid:-0}/exe" 2>/dev/null || true)
	if [[ -z $pid || ${exe% (deleted)} != "$LAB_BIN/containerd" ]]; then
		echo "containerd of the lab is not running (pid file ${LAB_CONTAINERD_PID_FILE:-$LAB_RUN/containerd.pid}: '${pid}', exe '${exe}')"
	elif [[ ! -e $LAB_NETNS_PATH ]]; then
		echo "the lab netns $LAB_NETNS_PATH is missing"
	elif [[ ! -S $CONTAINERD_ADDRESS ]]; then
		echo "no containerd socket at $CONTAINERD_ADDRESS"
	elif ! timeout 10 "$CTR_BIN" --address "$CONTAINERD_ADDRESS" version >/dev/null 2>&1; then
		echo "containerd at $CONTAINERD_ADDRESS does not answer"
	fi
}
p=$(lab_problem)
[[ -z $p ]] || die "$NOT_UP — $p"
for b in "$CTR_BIN" "$CRICTL_BIN" "$LAB_RUNC"; do [[ -x $b ]] || die "$b is missing (integration/lab/lab.sh build)"; done
HARDENED_SHIM=${LAB_HARDENED_SHIM:-$LAB_BIN/containerd-shim-hardened-v2}
[[ -x $HARDENED_SHIM ]] || die "$HARDENED_SHIM is missing (integration/lab/lab.sh build)"

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
TAG=$(date +%H%M%S)-$$
WORK=                         # set below, right before the traps
ERRF=/dev/null

# ctr/crictl with a hard timeout (KILL 5 s after TERM; --foreground: Ctrl-C reaches them too).
# crictl runs inside the lab netns (CRI's streaming server and CNI live there); ctr only needs
# the socket.
ctr() { timeout --foreground -k 5 "$TMO" "$CTR_BIN" --address "$CONTAINERD_ADDRESS" "$@"; }
ctr_long() { timeout --foreground -k 5 $((3 * TMO)) "$CTR_BIN" --address "$CONTAINERD_ADDRESS" "$@"; }
crictl() { timeout --foreground -k 5 "$TMO" nsenter --net="$LAB_NETNS_PATH" -- "$CRICTL_BIN" --config "$CRI_CONFIG_FILE" "$@"; }
crictl_long() { timeout --foreground -k 5 $((3 * TMO)) nsenter --net="$LAB_NETNS_PATH" -- "$CRICTL_BIN" --config "$CRI_CONFIG_FILE" "$@"; }

now_ns() { date +%s%N; }

# report_error WHAT: the failed command's output, verbatim, on stderr.
report_error() {
	printf 'startup.sh: FAILED %s:\n' "$1" >&2
	sed 's/^/    | /' "$ERRF" >&2
	local p
	p=$(lab_problem)
	[[ -z $p ]] || printf 'startup.sh: the lab looks broken now: %s\n' "$p" >&2
}

# cgroup parents named after the containerd namespace (cgroupfs: /<namespace>/<id>) that exist
# before this run; cleanup removes the ones the run created, if empty.
cgroup_mounts() { awk '$0 ~ / - cgroup2? / {print $5}' /proc/self/mountinfo | sort -u; }
CG_BEFORE=$(for m in $(cgroup_mounts); do [[ -d $m/$NS ]] && echo "$m/$NS"; done || true)
RUNC_NS_DIR_EXISTED=0
[[ -d $LAB_RUNC_ROOT/$NS ]] && RUNC_NS_DIR_EXISTED=1

# images in the CRI namespace before this run (only the ones it pulls itself are removed)
cri_has_image() { crictl inspecti "$1" >/dev/null 2>&1; }
CRI_PULLED=()

# ---------------------------------------------------------------------------------------------
# cleanup (EXIT/INT/TERM)
# ---------------------------------------------------------------------------------------------
CLEANED=0
cleanup() {
	((CLEANED)) && return 0
	CLEANED=1
	set +e
	local id pod left=() m
	info "cleanup"
	# CRI pods of this run (rmp -f stops and removes their containers)
	for pod in $(crictl pods --label "$LABEL=$TAG" -q 2>/dev/null); do
		crictl rmp -f "$pod" >/dev/null 2>&1 || warn "cannot remove pod $pod"
	done
	# ctr containers/tasks of this run
	for id in $(ctr -n "$NS" containers ls -q 2>/dev/null | grep -E "^bench-$TAG-"); do
		ctr -n "$NS" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1
		ctr -n "$NS" tasks rm -f "$id" >/dev/null 2>&1
		ctr -n "$NS" containers rm "$id" >/dev/null 2>&1 || warn "cannot remove container $NS/$id"
	done
	for id in $(ctr -n "$NS" snapshots ls 2>/dev/null | awk -v p="bench-$TAG-" 'index($1, p) == 1 {print $1}'); do
		ctr -n "$NS" snapshots rm "$id" >/dev/null 2>&1 || warn "cannot remove snapshot $NS/$id"
	done
	# the bench namespace: images (--sync waits for the garbage collector), leases, namespace
	if ctr namespaces ls -q 2>/dev/null | grep -qx "$NS"; then
		if [[ -z $(ctr -n "$NS" containers ls -q 2>/dev/null) ]]; then
			for m in $(ctr -n "$NS" images ls -q 2>/dev/null); do
				ctr_long -n "$NS" images rm --sync "$m" >/dev/null 2>&1 || warn "cannot remove image $NS/$m"
			done
			for m in $(ctr -n "$NS" leases ls -q 2>/dev/null); do ctr -n "$NS" leases rm "$m" >/dev/null 2>&1; done
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				ctr namespaces rm "$NS" >/dev/null 2>"$ERRF" && break
				sleep 0.5
			done
			ctr namespaces ls -q 2>/dev/null | grep -qx "$NS" &&
				warn "namespace $NS not removed: $(tr '\n' ' ' <"$ERRF")"
		else
			warn "namespace $NS holds containers of someone else: kept"
		fi
	fi
	# images this run pulled into the CRI namespace
	for m in "${CRI_PULLED[@]}"; do
		crictl_long rmi "$m" >/dev/null 2>&1 || warn "cannot remove CRI image $m"
	done
	# cgroup parents /bench created by this run (runc leaves them), and runc's state dir
	for m in $(cgroup_mounts); do
		[[ -d $m/$NS ]] && ! grep -qxF "$m/$NS" <<<"$CG_BEFORE" && { rmdir "$m/$NS" 2>/dev/null || left+=("$m/$NS"); }
	done
	((${#left[@]} == 0)) || warn "cgroups not removed (not empty?): ${left[*]}"
	((RUNC_NS_DIR_EXISTED)) || rmdir "$LAB_RUNC_ROOT/$NS" 2>/dev/null
	[[ -n $WORK ]] && rm -rf --one-file-system "$WORK"
	rm -f "$LAB_RUN/bench.lock"
	return 0
}
# one benchmark at a time per lab (a second one would share the bench namespace and skew both);
# taken before the traps, so a refused run cleans up nothing of the running one
exec 7>>"$LAB_RUN/bench.lock"
flock -n 7 || die "another integration/bench/startup.sh is running against this lab ($LAB_RUN/bench.lock)"
# Traps run in the context of the interrupted command, whose output may be redirected to a
# file: they write to the script's own stdout/stderr, saved as fds 9 and 8.
exec 8>&2 9>&1
on_signal() {
	trap '' INT TERM HUP
	exec 1>&9 2>&8
	printf '\nstartup.sh: interrupted (%s), cleaning up\n' "$1" >&2
	cleanup
	exit $((128 + $2))
}
trap 'exec 1>&9 2>&8; cleanup' EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

WORK=$(mktemp -d "$LAB_RUN/bench.XXXXXX")
FIFO_DIR=$WORK/fifo
mkdir -p "$FIFO_DIR" "$WORK/logs" "$WORK/samples"
ERRF=$WORK/last.err

# ---------------------------------------------------------------------------------------------
# one run of each measurement; on success DUR_NS holds the time
# ---------------------------------------------------------------------------------------------
DUR_NS=0

# ctr_once VARIANT ID
ctr_once() {
	local v=$1 id=$2 t0 t1 rc=0
	local -a rt
	case $v in
	runc) rt=(--runtime io.containerd.runc.v2 --runc-binary "$LAB_RUNC" --runc-root "$LAB_RUNC_ROOT") ;;
	hardened) rt=(--runtime io.containerd.hardened.v2) ;;
	esac
	t0=$(now_ns)
	ctr -n "$NS" run --rm --fifo-dir "$FIFO_DIR" "${rt[@]}" "$IMAGE" "$id" true </dev/null >"$ERRF" 2>&1 || rc=$?
	t1=$(now_ns)
	if ((rc != 0)); then
		((rc == 124 || rc == 137)) && echo "(timed out after ${TMO}s: rc $rc)" >>"$ERRF"
		ctr -n "$NS" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
		ctr -n "$NS" tasks rm -f "$id" >/dev/null 2>&1 || true
		ctr -n "$NS" containers rm "$id" >/dev/null 2>&1 || true
		return 1
	fi
	DUR_NS=$((t1 - t0))
}

# cri_once HANDLER NAME
cri_once() {
	local h=$1 name=$2 t0 t1 pod c rc=0 podf=$WORK/$2.pod.json ctrf=$WORK/$2.ctr.json
	mkdir -p "$WORK/logs/$name" || return 1
	jq -n --arg name "$name" --arg ns "$POD_NS" --arg lkey "$LABEL" --arg tag "$TAG" --arg logdir "$WORK/logs/$name" '{
		metadata: {name: $name, namespace: $ns, uid: ($name + "-uid"), attempt: 0},
		labels: {($lkey): $tag}, log_directory: $logdir, linux: {}}' >"$podf" || return 1
	jq -n --arg image "$IMAGE" --arg lkey "$LABEL" --arg tag "$TAG" '{
		metadata: {name: "sleeper"}, image: {image: $image}, command: ["sleep", "300"],
		labels: {($lkey): $tag}, log_path: "sleeper.log", linux: {}}' >"$ctrf" || return 1
	t0=$(now_ns)
	pod=$(crictl runp --runtime "$h" "$podf" 2>"$ERRF") &&
		c=$(crictl create "$pod" "$ctrf" "$podf" 2>"$ERRF") &&
		crictl start "$c" >/dev/null 2>"$ERRF" || rc=$?
	t1=$(now_ns)
	((rc == 124 || rc == 137)) && echo "(timed out after ${TMO}s: rc $rc)" >>"$ERRF"
	# not timed: remove the pod (and its container); a pod runp failed to report is found by name
	[[ -n ${pod:-} ]] || pod=$(crictl pods --name "^$name\$" -q 2>/dev/null | head -1)
	if [[ -n ${pod:-} ]]; then
		crictl rmp -f "$pod" >/dev/null 2>"$WORK/rmp.err" || { warn "crictl rmp -f $pod failed:"; cat "$WORK/rmp.err" >&2; }
	fi
	((rc == 0)) || return 1
	DUR_NS=$((t1 - t0))
}

# measure KEY LABEL FUNC: warm-up, then RUNS interleaved pairs; samples (ns) in $WORK/samples/KEY.VARIANT
declare -A FAILS
PROGRESS=0
[[ -t 2 ]] && PROGRESS=1
measure() {
	local key=$1 label=$2 fn=$3 i v total=$((WARMUP + RUNS)) counted name
	local -a order
	: >"$WORK/samples/$key.runc"
	: >"$WORK/samples/$key.hardened"
	FAILS[$key.runc]=0 FAILS[$key.hardened]=0
	info "$label: $WARMUP warm-up + $RUNS counted runs per variant, pairs alternate runc/hardened"
	for ((i = 0; i < total; i++)); do
		if ((i % 2 == 0)); then order=(runc hardened); else order=(hardened runc); fi
		counted=$((i >= WARMUP))
		for v in "${order[@]}"; do
			name=bench-$TAG-$key-$v-$i
			if "$fn" "$v" "$name"; then
				((counted)) && echo "$DUR_NS" >>"$WORK/samples/$key.$v"
			else
				report_error "$label ($v, run $((i + 1))/$total$( ((counted)) || echo ', warm-up'))"
				FAILS[$key.$v]=$((FAILS[$key.$v] + 1))
				[[ -z $(lab_problem) ]] || { warn "stopping: the lab went away"; return 1; }
				if ((FAILS[$key.$v] > MAX_FAIL)); then
					warn "$label: $v failed ${FAILS[$key.$v]} times (> $MAX_FAIL), ending this measurement"
					return 1
				fi
			fi
		done
		((PROGRESS)) && printf '\r# %s: %d/%d pairs ' "$label" $((i + 1)) "$total" >&2
	done
	((PROGRESS)) && printf '\n' >&2
	info "$label: done (failures: runc ${FAILS[$key.runc]}, hardened ${FAILS[$key.hardened]})"
}

# stats FILE: n median p10 p90 mean min max (ms), linear interpolation between order statistics
stats() {
	sort -n "$1" | awk '
		function q(p,   h, lo) { h = (n - 1) * p; lo = int(h); return (lo + 1 < n) ? x[lo] + (h - lo) * (x[lo + 1] - x[lo]) : x[lo] }
		{ x[n++] = $1 / 1e6; s += $1 / 1e6 }
		END {
			if (n == 0) { print "0 null null null null null null"; exit }
			printf "%d %.3f %.3f %.3f %.3f %.3f %.3f\n", n, q(0.5), q(0.1), q(0.9), s / n, x[0], x[n - 1]
		}'
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
T_START=$(date -u +%FT%TZ)
info "lab $LAB_NAME ($ENV_FILE), containerd $CONTAINERD_ADDRESS, run tag $TAG, work dir $WORK"
info "hardened shim $HARDENED_SHIM ($(date -r "$HARDENED_SHIM" '+%F %T')); class files: $(find "${LAB_HARDENED_CLASS_DIR:-/nonexistent}" -maxdepth 1 -name '*.toml' 2>/dev/null | tr '\n' ' ')"

# timer overhead: back-to-back `date` pairs
for i in $(seq 21); do a=$(now_ns); b=$(now_ns); echo $((b - a)); done >"$WORK/timer"
TIMER_MS=$(stats "$WORK/timer" | awk '{print $2}')

MEAS_KEYS=()
declare -A MEAS_LABEL
if ((DO_CTR)); then
	info "pulling $IMAGE into containerd namespace $NS (via $LAB_HOSTS_DIR, inside the lab netns)"
	timeout --foreground -k 5 $((3 * TMO)) nsenter --net="$LAB_NETNS_PATH" -- "$CTR_BIN" --address "$CONTAINERD_ADDRESS" \
		-n "$NS" images pull --hosts-dir "$LAB_HOSTS_DIR" "$IMAGE" >"$ERRF" 2>&1 ||
		{ report_error "ctr images pull $IMAGE"; exit 1; }
	MEAS_KEYS+=(ctr)
	MEAS_LABEL[ctr]='ctr run --rm true'
fi
if ((DO_CRI)); then
	for m in "$IMAGE" ${LAB_SANDBOX_IMAGE:+"$LAB_SANDBOX_IMAGE"}; do
		if ! cri_has_image "$m"; then
			info "pulling $m into the CRI (k8s.io) namespace"
			CRI_PULLED+=("$m")
			crictl_long pull "$m" >"$ERRF" 2>&1 || { report_error "crictl pull $m"; exit 1; }
		fi
	done
	MEAS_KEYS+=(cri)
	MEAS_LABEL[cri]='cri runp+create+start'
fi

rc=0
((DO_CTR)) && { measure ctr "${MEAS_LABEL[ctr]}" ctr_once || rc=1; }
((DO_CRI)) && { [[ -n $(lab_problem) ]] || measure cri "${MEAS_LABEL[cri]}" cri_once || rc=1; }
T_END=$(date -u +%FT%TZ)

# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
echo "# container start cost, hardened vs stock runc shim: median ms (n, p10, p90); ratio = hardened/stock median"
echo "# $RUNS counted runs per variant (+$WARMUP warm-up), pairs interleaved with alternating order; $(nproc) CPUs, kernel $(uname -r); timer overhead ${TIMER_MS} ms"
JSON_MEAS=$WORK/meas.jsonl
: >"$JSON_MEAS"
for key in "${MEAS_KEYS[@]}"; do
	read -r rn rmed rp10 rp90 rmean rmin rmax < <(stats "$WORK/samples/$key.runc")
	read -r hn hmed hp10 hp90 hmean hmin hmax < <(stats "$WORK/samples/$key.hardened")
	rf=${FAILS[$key.runc]:-0} hf=${FAILS[$key.hardened]:-0}
	((rn == RUNS && hn == RUNS && rf == 0 && hf == 0)) || rc=1
	ratio=null
	if [[ $rmed != null && $hmed != null ]]; then ratio=$(awk -v a="$hmed" -v b="$rmed" 'BEGIN{printf "%.3f", a / b}'); fi
	fmt() { if [[ $2 == null ]]; then printf '%s n/a (n=0)' "$1"; else printf '%s %.1f ms (n=%d p10 %.1f p90 %.1f)' "$1" "$2" "$3" "$4" "$5"; fi; }
	printf '%-22s %s   %s   ratio %s   errors runc=%d hardened=%d\n' "${MEAS_LABEL[$key]}" \
		"$(fmt runc "$rmed" "$rn" "$rp10" "$rp90")" "$(fmt hardened "$hmed" "$hn" "$hp10" "$hp90")" \
		"${ratio/null/n/a}" "$rf" "$hf"
	jq -nc --arg key "$key" --arg mlabel "${MEAS_LABEL[$key]}" --argjson ratio "$ratio" \
		--rawfile rs "$WORK/samples/$key.runc" --rawfile hs "$WORK/samples/$key.hardened" \
		--argjson rstat "[$rn,$rmed,$rp10,$rp90,$rmean,$rmin,$rmax,$rf]" \
		--argjson hstat "[$hn,$hmed,$hp10,$hp90,$hmean,$hmin,$hmax,$hf]" '
		def st($s; $raw; $variant; $handler):
			{variant: $variant, runtime: $handler, n: $s[0], failures: $s[7], median_ms: $s[1], p10_ms: $s[2],
			 p90_ms: $s[3], mean_ms: $s[4], min_ms: $s[5], max_ms: $s[6],
			 samples_ms: [$raw | split("\n")[] | select(length > 0) | tonumber / 1e6]};
		{key: $key, label: $mlabel,
		 stock: st($rstat; $rs; "runc"; (if $key == "ctr" then "io.containerd.runc.v2" else "runc" end)),
		 hardened: st($hstat; $hs; "hardened"; (if $key == "ctr" then "io.containerd.hardened.v2" else "hardened" end)),
		 ratio_median: $ratio}' >>"$JSON_MEAS"
done

if [[ -n $OUT ]]; then
	jq -s --arg t_start "$T_START" --arg t_end "$T_END" --argjson runs "$RUNS" --argjson warmup "$WARMUP" \
		--arg host "$(hostname)" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
		--argjson timer "${TIMER_MS:-null}" --arg image "$IMAGE" --arg lab "$LAB_NAME" \
		--arg shim "$HARDENED_SHIM" --arg shim_mtime "$(date -r "$HARDENED_SHIM" -u +%FT%TZ)" \
		--arg shim_sha "$(sha256sum "$HARDENED_SHIM" | cut -d' ' -f1)" \
		--arg runc "$("$LAB_RUNC" --version 2>/dev/null | head -1)" \
		--arg containerd "$("$CTR_BIN" --address "$CONTAINERD_ADDRESS" version 2>/dev/null | awk '/^Server:/{s=1} s && /Version:/{print $2; exit}')" '{
		tool: "integration/bench/startup.sh", start: $t_start, end: $t_end, runs: $runs, warmup: $warmup,
		order: "pairs interleaved, order alternating runc,hardened / hardened,runc", image: $image,
		host: $host, kernel: $kernel, cpus: $cpus, timer_overhead_ms: $timer,
		lab: {name: $lab, containerd: $containerd, runc: $runc, hardened_shim: $shim,
		      hardened_shim_mtime: $shim_mtime, hardened_shim_sha256: $shim_sha},
		measurements: .}' "$JSON_MEAS" >"$WORK/report.json" || die "cannot assemble the JSON report"
	cp "$WORK/report.json" "$OUT" || die "cannot write $OUT"
	info "JSON report: $OUT"
fi
exit $rc
