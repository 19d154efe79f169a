#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions called from traps and via "$fn" look unreachable
# integration/bench/startup.sh — container start cost of the hardened runtime against the stock
# runc shim, with and without seccomp on either side, measured interleaved in one run of the lab.
#
# Usage (as root, with the lab up: `make lab-up` or `integration/lab/lab.sh up`):
#
#   integration/bench/startup.sh [-n RUNS] [-o REPORT.json] [-w WARMUP] [-t TIMEOUT] [-m ctr,cri]
#                                [-V VARIANTS]
#
#   -n RUNS     counted runs per variant and measurement (default 25)
#   -o FILE     also write the samples and statistics as JSON to FILE
#   -w WARMUP   uncounted warm-up rounds before each measurement (default 2)
#   -t SECONDS  timeout of every single command (default 60; image pulls get 3x)
#   -m LIST     measurements to run, comma separated: task, ctr, cri (default ctr,cri)
#   -V LIST     variants to run, comma separated (default: the first five below); the word
#               `ablation` stands for the ablation ladder below (runc, runc+seccomp,
#               runc+userns, the ab-* steps, hardened-nouserns, hardened, gvisor)
#
# Variants (the hardened class installs a seccomp filter, plain `ctr run` with the stock shim
# none: the two seccomp variants separate the filter from the rest of the hardening):
#
#   runc                stock shim, no seccomp profile
#   runc+seccomp        stock shim with containerd's RuntimeDefault profile
#   runc+userns         stock shim, no seccomp profile, the pod in a user namespace the way
#                       kubelet's `hostUsers: false` asks for one (CRI userns_options, mode POD,
#                       65536 IDs from host ID $USERNS_BASE): cri only — what Kubernetes' own
#                       user namespaces cost on this node
#   hardened            hardened shim with the lab's node class ($LAB_HARDENED_CLASS_DIR)
#   hardened-noseccomp  hardened shim with the lab's hardened-noseccomp class (the node class
#                       with `[seccomp] profile = "none"`)
#   hardened-nouserns   hardened shim with the lab's hardened-nouserns class (the node class
#                       with user_namespace = "off": no user namespace, no ID range)
#   delegate            hardened shim with the lab's hardened-delegate class (the node class
#                       with runtime = "kata" and containerd-shim-runc-v2 as the delegate): the
#                       same checks and hardening as `hardened`, run by the delegate shim behind
#                       the hardened shim (delegate/hardened is the cost of the hop)
#   gvisor              hardened shim with the lab's hardened-gvisor class (runtime = "runsc")
#   runsc               stock runc shim running runsc (the lab's runsc handler), no seccomp
#                       profile: ctr only (CRI app containers under it never start: runsc
#                       reports the sandbox's PID for them)
#
# The ablation ladder: the hardened shim with the lab's hardened-ab-* classes (lab.sh
# ABLATION_STEPS), each step adding one protection to the one before:
#
#   ab-checks           the checks only: no seccomp, no_new_privileges off, rootfs read-write,
#                       no writable tmpfs paths, /sys as the spec has it, no user namespace
#   ab-seccomp          + the class's seccomp profile and no_new_privileges
#   ab-rofs             + read-only root file system (no writable paths)
#   ab-tmp              + the /tmp tmpfs (64Mi)
#   ab-run              + the /run tmpfs (16Mi)
#   ab-varrun           + the /var/run tmpfs (16Mi): the class's default writable paths
#   hardened-nouserns   + read-only /sys and /sys/fs/cgroup (and the /proc masks, which
#                       containerd's specs have already): the node class without its user
#                       namespace
#   hardened            + the user namespace: the node class
#   gvisor              + runsc instead of runc
#
# The ablation table (stdout, "ablation" lines) gives each step's median, its ratio to runc,
# and its cost over the step before: the difference of the medians and the median of the
# per-round differences.
#
# Each round runs every variant once; the order changes every round (the rows of a Williams
# Latin square over the n variants: base order 0, 1, n-1, 2, n-2, … rotated by one per round):
# over n rounds each variant takes every position once (and, for even n, follows every other
# variant once), so slow drift of the machine and carry-over from the previous run cancel out.
#
# Measurements:
#
#   ctr   `ctr -n bench run --rm IMAGE ID true`, start to exit, in the private containerd
#         namespace `bench`;
#           runc:               --runtime io.containerd.runc.v2 --runc-binary $LAB_RUNC --runc-root $LAB_RUNC_ROOT
#           runc+seccomp:       the same plus --seccomp
#           hardened:           --runtime io.containerd.hardened.v2   (no options: the shim reads
#                               its node class file from $LAB_HARDENED_CLASS_DIR)
#           hardened-noseccomp: --runtime $LAB_HARDENED_NOSECCOMP_SHIM (its node class file)
#           hardened-nouserns:  --runtime $LAB_HARDENED_NOUSERNS_SHIM (its node class file)
#         always with --fifo-dir under $LAB_RUN (never /run/containerd/fifo).
#   task  create→exit of a task: `ctr -n bench task start ID` of a container made beforehand
#         (`ctr -n bench container create … IMAGE ID true`, not timed), which creates the task,
#         starts it, waits for its exit and deletes it; the container is then removed (not
#         timed). Same runtime flags as ctr.
#   cri   crictl runp --runtime HANDLER + create + start of one busybox container running
#         `sleep 300`, timed from before runp until start returns; the pod is then removed (not
#         timed). crictl runs inside the lab netns. Handlers: runc (runc, runc+seccomp), and
#         the variant's name for the hardened ones. runc+seccomp sets
#         linux.security_context.seccomp = {profile_type: 0} (RuntimeDefault) in the container
#         AND the pod config: the hardened class puts its filter on the pod's pause container
#         too.
#   runp  (with cri) the RunPodSandbox part of each cri run: before runp until runp returns.
#
# Before the warm-up of each measurement, one container per variant shows the Seccomp mode of
# its processes (/proc/PID/status: 0 = none, 2 = filter), expected 0 for runc and
# hardened-noseccomp and 2 for the others: ctr prints the container's /proc/self/status; cri
# reads it via `crictl exec` (exec-self) and from the host for the container's init and the
# pod's sandbox (pause). A mismatch makes the exit status 1.
#
# Output (stdout, one line each, first word = measurement; medians, p10/p90 in ms, n = successful
# counted runs, errors = failed runs, warm-up included), e.g.
#   seccomp-check ctr  runc+seccomp        self Seccomp=2 filters=1   want 2  ok
#   ctr  variant       runc                median 131.2 ms  p10 125.0  p90 140.3  n=25  errors=0
#   ctr  ratio         hardened/runc          1.014
#   ctr  ratio         hardened/runc+seccomp  1.005
#   ctr  seccomp-cost  hardened  +1.1 ms  (median hardened - median hardened-noseccomp; ...)
#   ctr  seccomp-cost  runc      +0.6 ms  (median runc+seccomp - median runc; ...)
# seccomp-cost is the difference of the medians; in parentheses also the median of the
# per-round differences (rounds where both variants succeeded), which drift affects less.
# Percentiles interpolate linearly between order statistics (numpy's default). Times come from
# `date +%s%N` around each run: the ~1 ms cost of forking `date` is in all variants alike (the
# JSON reports it as timer_overhead_ms). Errors of failed runs go to stderr verbatim; a variant
# that fails more than max(3, RUNS/4) times ends that measurement. Exit status: 0 if every
# run succeeded and every seccomp check matched, 1 otherwise, 2 on usage errors or when the lab
# is not up. The table goes to stdout, progress and errors to stderr. One run at a time per lab
# ($LAB_RUN/bench.lock).
#
# Cleanup (also on Ctrl-C / failure): containers, tasks and snapshots of this run, pods (found by
# the label hardened-bench.run=<run tag>), the busybox image and the `bench` namespace, the images
# it pulled into the CRI (k8s.io) namespace unless they were there before, the cgroup parents of
# the `bench` namespace if this run created them, and its work and FIFO directories under $LAB_RUN.
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
ABLATION=(ab-checks ab-seccomp ab-rofs ab-tmp ab-run ab-varrun hardened-nouserns hardened gvisor)
ALL_VARIANTS=(runc runc+seccomp hardened hardened-noseccomp hardened-nouserns delegate gvisor runsc
	ab-checks ab-seccomp ab-rofs ab-tmp ab-run ab-varrun runc+userns)
# runc+userns: the host IDs of its pods' mapping (kubelet's default range is 65536 up; far from
# the lab allocator's window)
USERNS_BASE=3000000000
VARIANTS=(runc runc+seccomp hardened hardened-noseccomp hardened-nouserns)

die() { printf 'startup.sh: ERROR: %s\n' "$*" >&2; exit 2; }
warn() { printf 'startup.sh: WARNING: %s\n' "$*" >&2; }
info() { printf '# %s\n' "$*" >&2; }
usage() { sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

while getopts ':n:o:w:t:m:V:h' opt; do
	case $opt in
	n) RUNS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	w) WARMUP=$OPTARG ;;
	t) TMO=$OPTARG ;;
	m) MEAS=$OPTARG ;;
	V) IFS=, read -ra VARIANTS <<<"$OPTARG"
		[[ $OPTARG == ablation ]] && VARIANTS=(runc runc+seccomp runc+userns "${ABLATION[@]}") ;;
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
for v in "${VARIANTS[@]}"; do
	[[ " ${ALL_VARIANTS[*]} " == *" $v "* ]] || die "-V: unknown variant '$v' (${ALL_VARIANTS[*]})"
done
((${#VARIANTS[@]} >= 2)) || die "-V: at least two variants"
has_variant() { [[ " ${VARIANTS[*]} " == *" $1 "* ]]; }
DO_CTR=0 DO_CRI=0 DO_TASK=0
IFS=, read -ra _m <<<"$MEAS"
for m in "${_m[@]}"; do
	case $m in ctr) DO_CTR=1 ;; cri) DO_CRI=1 ;; task) DO_TASK=1 ;; *) die "-m: unknown measurement '$m' (task, ctr, cri)" ;; esac
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
for v in LAB_BIN LAB_RUN LAB_NETNS_PATH LAB_HOSTS_DIR LAB_RUNC LAB_RUNC_ROOT CONTAINERD_ADDRESS CRI_CONFIG_FILE \
	LAB_HARDENED_CLASS_DIR; do
	[[ -n ${!v:-} ]] || die "$ENV_FILE does not set $v (lab.sh and this script out of step?)"
done
((DO_CRI == 0)) || [[ -n ${LAB_FILE_CLASS_CONFIG:-} ]] ||
	die "$ENV_FILE does not set LAB_FILE_CLASS_CONFIG (lab.sh and this script out of step?)"
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
NODE_CLASS=$LAB_HARDENED_CLASS_DIR/containerd-shim-hardened-v2.toml
[[ -f $NODE_CLASS ]] || die "the hardened node class file $NODE_CLASS is missing (lab.sh up writes it)"
for v in "${VARIANTS[@]}"; do
	case $v in
	hardened-nouserns) [[ -x ${LAB_HARDENED_NOUSERNS_SHIM:-} ]] || die "variant $v needs the lab's hardened-nouserns shim (lab.sh up)" ;;
	hardened-noseccomp) [[ -x ${LAB_HARDENED_NOSECCOMP_SHIM:-} ]] || die "variant $v needs the lab's hardened-noseccomp shim (lab.sh up)" ;;
	delegate) [[ -x ${LAB_HARDENED_DELEGATE_SHIM:-} ]] || die "variant $v needs the lab's hardened-delegate shim (lab.sh up)" ;;
	gvisor) [[ -x ${LAB_HARDENED_GVISOR_SHIM:-} ]] || die "variant $v needs the lab's hardened-gvisor shim (lab.sh up)" ;;
	runsc) [[ -x $LAB_BIN/runsc-lab ]] || die "variant $v needs the lab's runsc wrapper $LAB_BIN/runsc-lab (lab.sh up)" ;;
	ab-*) [[ " ${LAB_ABLATION_STEPS:-} " == *" $v "* && -x $LAB_BIN/containerd-shim-hardened-$v-v2 ]] ||
		die "variant $v needs the lab's hardened-$v class and shim (lab.sh up with this checkout's lab.sh)" ;;
	runc | runc+seccomp | runc+userns | hardened) ;;
	*) die "unknown variant $v (known: ${ALL_VARIANTS[*]})" ;;
	esac
done

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
	[[ -n ${FIFO_DIR:-} ]] && rm -rf --one-file-system "$FIFO_DIR"
	rm -f "$LAB_RUN/bench.lock"
	return 0
}
# one benchmark at a time per lab (a second one would share the bench namespace and skew both);
# taken before the traps, so a refused run cleans up nothing of the running one
exec 7>>"$LAB_RUN/bench.lock"
flock -n 7 || die "another integration/bench/startup.sh is running against this lab ($LAB_RUN/bench.lock)"
# a backup left by a run that could not restore it: the file may still be the no-seccomp one
((DO_CRI == 0)) || [[ ! -e $LAB_FILE_CLASS_CONFIG.bench-orig ]] || {
	rm -f "$LAB_RUN/bench.lock"
	die "$LAB_FILE_CLASS_CONFIG.bench-orig exists: an earlier run could not restore $LAB_FILE_CLASS_CONFIG; check and restore it by hand, then remove the .bench-orig file"
}
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
# stdio FIFOs where the lab's classes allow them (policy.allowed_log_dirs)
FIFO_DIR=${LAB_FIFO_DIR:-$LAB_RUN/fifo}/$(basename "$WORK")
mkdir -p "$FIFO_DIR" "$WORK/logs" "$WORK/samples"
ERRF=$WORK/last.err


# ---------------------------------------------------------------------------------------------
# the variants
# ---------------------------------------------------------------------------------------------
# seccomp mode expected in the variant's containers (/proc/PID/status Seccomp: 0 none, 2 filter)
want_seccomp() { case $1 in runc | runc+userns | hardened-noseccomp | runsc | ab-checks) echo 0 ;; *) echo 2 ;; esac; }
# variant_in KEY VARIANT: whether the measurement runs the variant
variant_in() {
	case $2 in
	runsc) [[ $1 != cri && $1 != runp ]] ;;
	runc+userns) [[ $1 == cri || $1 == runp ]] ;;
	*) true ;;
	esac
}

# ctr_runtime_args VARIANT: sets RT to the ctr run flags of VARIANT.
RT=()
ctr_runtime_args() {
	case $1 in
	runc) RT=(--runtime io.containerd.runc.v2 --runc-binary "$LAB_RUNC" --runc-root "$LAB_RUNC_ROOT") ;;
	runc+seccomp) RT=(--runtime io.containerd.runc.v2 --runc-binary "$LAB_RUNC" --runc-root "$LAB_RUNC_ROOT" --seccomp) ;;
	hardened) RT=(--runtime io.containerd.hardened.v2) ;;
	hardened-noseccomp) RT=(--runtime "$LAB_HARDENED_NOSECCOMP_SHIM") ;;
	hardened-nouserns) RT=(--runtime "$LAB_HARDENED_NOUSERNS_SHIM") ;;
	delegate) RT=(--runtime "$LAB_HARDENED_DELEGATE_SHIM") ;;
	gvisor) RT=(--runtime "$LAB_HARDENED_GVISOR_SHIM") ;;
	runsc) RT=(--runtime io.containerd.runc.v2 --runc-binary "$LAB_BIN/runsc-lab" --runc-root "$LAB_RUNSC_ROOT") ;;
	ab-*) RT=(--runtime "$LAB_BIN/containerd-shim-hardened-$1-v2") ;;
	*) die "internal: unknown variant $1" ;;
	esac
}
cri_handler() { case $1 in runc | runc+seccomp | runc+userns) echo runc ;; hardened) echo hardened ;; hardened-noseccomp) echo hardened-noseccomp ;; hardened-nouserns) echo hardened-nouserns ;; delegate) echo hardened-delegate ;; gvisor) echo hardened-gvisor ;; ab-*) echo "hardened-$1" ;; esac; }

# runtime/options of a variant, for the JSON report
variant_runtime() {
	case $1/$2 in
	ctr/runc | ctr/runc+seccomp) echo io.containerd.runc.v2 ;;
	ctr/hardened-nouserns) echo "$LAB_HARDENED_NOUSERNS_SHIM" ;;
	ctr/hardened-noseccomp) echo "$LAB_HARDENED_NOSECCOMP_SHIM" ;;
	ctr/delegate) echo "$LAB_HARDENED_DELEGATE_SHIM" ;;
	ctr/gvisor) echo "$LAB_HARDENED_GVISOR_SHIM" ;;
	ctr/runsc) echo "io.containerd.runc.v2 (runc binary $LAB_BIN/runsc-lab)" ;;
	ctr/ab-*) echo "$LAB_BIN/containerd-shim-hardened-$2-v2" ;;
	ctr/hardened*) echo io.containerd.hardened.v2 ;;
	cri/* | runp/*) cri_handler "$2" ;;
	esac
}
variant_options() {
	case $1/$2 in
	*/runc) echo "no seccomp profile" ;;
	ctr/runc+seccomp) echo "ctr run --seccomp (containerd RuntimeDefault)" ;;
	cri/runc+seccomp) echo "seccomp {profile_type: 0} (RuntimeDefault) in pod and container config" ;;
	cri/runc+userns | runp/runc+userns) echo "userns_options {mode: POD, 65536 IDs from host ID $USERNS_BASE} in pod and container config (kubelet's hostUsers: false)" ;;
	ctr/hardened) echo "no runtime options: node class $NODE_CLASS" ;;
	cri/hardened) echo "handler hardened: node class $NODE_CLASS" ;;
	*/hardened-noseccomp) echo "node class of containerd-shim-hardened-noseccomp-v2: the node class with [seccomp] profile = \"none\"" ;;
	*/hardened-nouserns) echo "node class of containerd-shim-hardened-nouserns-v2: the node class with user_namespace = \"off\"" ;;
	*/delegate) echo "node class of containerd-shim-hardened-delegate-v2: runtime = \"kata\", [kata] shim = containerd-shim-runc-v2" ;;
	*/gvisor) echo "node class of containerd-shim-hardened-gvisor-v2: runtime = \"runsc\"" ;;
	ctr/runsc) echo "stock runc shim with runsc as its runc binary, no seccomp profile" ;;
	*/ab-*) echo "ablation step $2: node class $LAB_HARDENED_CLASS_DIR/containerd-shim-hardened-$2-v2.toml" ;;
	esac
}

# ---------------------------------------------------------------------------------------------
# one run of each measurement; on success DUR_NS holds the time
# ---------------------------------------------------------------------------------------------
DUR_NS=0

# ctr_rm ID: removes what a failed `ctr run --rm` left.
ctr_rm() {
	ctr -n "$NS" tasks kill -a -s SIGKILL "$1" >/dev/null 2>&1 || true
	ctr -n "$NS" tasks rm -f "$1" >/dev/null 2>&1 || true
	ctr -n "$NS" containers rm "$1" >/dev/null 2>&1 || true
}

# ctr_once VARIANT ID
ctr_once() {
	local v=$1 id=$2 t0 t1 rc=0
	ctr_runtime_args "$v"
	t0=$(now_ns)
	ctr -n "$NS" run --rm --fifo-dir "$FIFO_DIR" "${RT[@]}" "$IMAGE" "$id" true </dev/null >"$ERRF" 2>&1 || rc=$?
	t1=$(now_ns)
	if ((rc != 0)); then
		((rc == 124 || rc == 137)) && echo "(timed out after ${TMO}s: rc $rc)" >>"$ERRF"
		ctr_rm "$id"
		return 1
	fi
	DUR_NS=$((t1 - t0))
}

# task_once VARIANT ID: create→exit of a task in a container made beforehand (not timed)
task_once() {
	local v=$1 id=$2 t0 t1 rc=0
	ctr_runtime_args "$v"
	ctr -n "$NS" container create "${RT[@]}" "$IMAGE" "$id" true </dev/null >"$ERRF" 2>&1 || { ctr_rm "$id"; return 1; }
	t0=$(now_ns)
	ctr -n "$NS" task start --fifo-dir "$FIFO_DIR" "$id" </dev/null >"$ERRF" 2>&1 || rc=$?
	t1=$(now_ns)
	ctr_rm "$id"
	if ((rc != 0)); then
		((rc == 124 || rc == 137)) && echo "(timed out after ${TMO}s: rc $rc)" >>"$ERRF"
		return 1
	fi
	DUR_NS=$((t1 - t0))
}

# cri_configs VARIANT NAME PODF CTRF: the pod and container configs of VARIANT.
cri_configs() {
	local v=$1 name=$2 sc='{}'
	[[ $v == runc+seccomp ]] && sc='{security_context: {seccomp: {profile_type: 0}}}'
	[[ $v == runc+userns ]] && sc="{security_context: {namespace_options: {userns_options: {mode: 0,
		uids: [{host_id: $USERNS_BASE, container_id: 0, length: 65536}], gids: [{host_id: $USERNS_BASE, container_id: 0, length: 65536}]}}}}"
	mkdir -p "$WORK/logs/$name" || return 1
	jq -n --arg name "$name" --arg ns "$POD_NS" --arg lkey "$LABEL" --arg tag "$TAG" --arg logdir "$WORK/logs/$name" "{
		metadata: {name: \$name, namespace: \$ns, uid: (\$name + \"-uid\"), attempt: 0},
		labels: {(\$lkey): \$tag}, log_directory: \$logdir, linux: $sc}" >"$3" || return 1
	jq -n --arg image "$IMAGE" --arg lkey "$LABEL" --arg tag "$TAG" "{
		metadata: {name: \"sleeper\"}, image: {image: \$image}, command: [\"sleep\", \"300\"],
		labels: {(\$lkey): \$tag}, log_path: \"sleeper.log\", linux: $sc}" >"$4" || return 1
}

# cri_rmp POD NAME: removes the pod (a pod runp failed to report is found by name).
cri_rmp() {
	local pod=$1
	[[ -n $pod ]] || pod=$(crictl pods --name "^$2\$" -q 2>/dev/null | head -1)
	if [[ -n $pod ]]; then
		crictl rmp -f "$pod" >/dev/null 2>"$WORK/rmp.err" || { warn "crictl rmp -f $pod failed:"; cat "$WORK/rmp.err" >&2; }
	fi
}

# cri_once VARIANT NAME
cri_once() {
	local v=$1 name=$2 t0 t1 pod='' c rc=0 podf=$WORK/$2.pod.json ctrf=$WORK/$2.ctr.json h
	h=$(cri_handler "$v")
	cri_configs "$v" "$name" "$podf" "$ctrf" || return 1
	t0=$(now_ns)
	RUNP_NS=0
	pod=$(crictl runp --runtime "$h" "$podf" 2>"$ERRF") &&
		RUNP_NS=$(($(now_ns) - t0)) &&
		c=$(crictl create "$pod" "$ctrf" "$podf" 2>"$ERRF") &&
		crictl start "$c" >/dev/null 2>"$ERRF" || rc=$?
	t1=$(now_ns)
	((rc == 124 || rc == 137)) && echo "(timed out after ${TMO}s: rc $rc)" >>"$ERRF"
	# not timed: remove the pod (and its container)
	cri_rmp "$pod" "$name"
	rm -f "$podf" "$ctrf"
	((rc == 0)) || return 1
	DUR_NS=$((t1 - t0))
}

# ---------------------------------------------------------------------------------------------
# seccomp check: one container per variant, untimed; results in CHECK_LINE / CHECK_JSON
# ---------------------------------------------------------------------------------------------
CHECK_LINES=()
CHECK_FAILED=0

# seccomp_of: "MODE FILTERS" from a /proc/PID/status on stdin ("?" when absent)
seccomp_of() { awk '/^Seccomp:/ {s = $2} /^Seccomp_filters:/ {f = $2} END {print (s == "" ? "?" : s), (f == "" ? "?" : f)}'; }

# check_record KEY VARIANT WANT ERROR "WHERE MODE FILTERS"...
check_record() {
	local key=$1 v=$2 want=$3 err=$4 verdict=ok text="" w s f j
	shift 4
	local -a procs=()
	for w in "$@"; do
		read -r w s f <<<"$w"
		text+="$w Seccomp=$s filters=$f   "
		procs+=("$(jq -nc --arg w "$w" --arg s "$s" --arg f "$f" '{process: $w, seccomp: ($s | tonumber? // null), filters: ($f | tonumber? // null)}')")
		[[ $s == "$want" ]] || verdict=MISMATCH
	done
	[[ -n $err ]] && verdict=ERROR text="($err)   "
	[[ $verdict == ok ]] || CHECK_FAILED=1
	CHECK_LINES+=("$(printf 'seccomp-check %-4s %-19s %s want %s  %s' "$key" "$v" "$text" "$want" "$verdict")")
	info "${CHECK_LINES[-1]}"
	j=$(printf '%s\n' "${procs[@]}" | jq -sc --arg v "$v" --argjson want "$want" --arg verdict "$verdict" --arg err "$err" \
		'{variant: $v, want: $want, result: $verdict, processes: ., error: (if $err == "" then null else $err end)}')
	echo "$j" >>"$WORK/check.$key.jsonl"
}

# ctr_check VARIANT: the container prints its own /proc/self/status.
ctr_check() {
	local v=$1 id=bench-$TAG-ctr-check-${1//+/-} rc=0 out=$WORK/check.out
	ctr_runtime_args "$v"
	ctr -n "$NS" run --rm --fifo-dir "$FIFO_DIR" "${RT[@]}" "$IMAGE" "$id" cat /proc/self/status </dev/null >"$out" 2>"$ERRF" || rc=$?
	if ((rc != 0)); then
		cat "$out" >>"$ERRF"
		report_error "seccomp check ctr ($v)"
		ctr_rm "$id"
		check_record ctr "$v" "$(want_seccomp "$v")" "ctr run failed: rc $rc"
		return 0
	fi
	check_record ctr "$v" "$(want_seccomp "$v")" "" "self $(seccomp_of <"$out")"
}

# cri_check VARIANT: crictl exec cat /proc/self/status in the container, plus the container's
# init and the pod's sandbox from the host.
cri_check() {
	local v=$1 name=bench-$TAG-cri-check-${1//+/-} pod='' c='' err="" pid spid self init sbx
	local podf=$WORK/$name.pod.json ctrf=$WORK/$name.ctr.json
	cri_configs "$v" "$name" "$podf" "$ctrf" || err="cannot write the configs"
	if [[ -z $err ]]; then
		if ! pod=$(crictl runp --runtime "$(cri_handler "$v")" "$podf" 2>"$ERRF"); then err="runp failed"
		elif ! c=$(crictl create "$pod" "$ctrf" "$podf" 2>"$ERRF"); then err="create failed"
		elif ! crictl start "$c" >/dev/null 2>"$ERRF"; then err="start failed"
		elif ! self=$(crictl exec "$c" cat /proc/self/status 2>"$ERRF" | seccomp_of) || [[ $self == "? ?" ]]; then err="exec failed"
		else
			pid=$(crictl inspect "$c" 2>/dev/null | jq -r '.info.pid // empty')
			spid=$(crictl inspectp "$pod" 2>/dev/null | jq -r '.info.pid // empty')
			init=$(seccomp_of 2>/dev/null <"/proc/${pid:-0}/status" || echo '? ?')
			sbx=$(seccomp_of 2>/dev/null <"/proc/${spid:-0}/status" || echo '? ?')
		fi
	fi
	[[ -z $err ]] || report_error "seccomp check cri ($v)"
	cri_rmp "$pod" "$name"
	rm -f "$podf" "$ctrf"
	if [[ -n $err ]]; then
		check_record cri "$v" "$(want_seccomp "$v")" "$err"
	elif [[ $v == gvisor ]]; then
		# the host's processes are gVisor's (its sandbox, the container's stand-in): the
		# filter applies inside gVisor's kernel (--oci-seccomp)
		check_record cri "$v" "$(want_seccomp "$v")" "" "exec-self $self"
	else
		check_record cri "$v" "$(want_seccomp "$v")" "" "exec-self $self" "init $init" "sandbox $sbx"
	fi
}

# ---------------------------------------------------------------------------------------------
# measure KEY LABEL FUNC: seccomp check, warm-up, then RUNS rounds of all variants;
# samples ("ROUND NS" lines) in $WORK/samples/KEY.VARIANT
# ---------------------------------------------------------------------------------------------
# round_order R: the variants in the order of round R (R may be negative: warm-up). Rows of a
# balanced (Williams) Latin square: base order 0, 1, n-1, 2, n-2, ... with every index + R mod n.
round_order() {
	local r=$1 n=${#VARIANTS[@]} j b
	ORDER=()
	for ((j = 0; j < n; j++)); do
		if ((j == 0)); then b=0; elif ((j % 2)); then b=$(((j + 1) / 2)); else b=$((n - j / 2)); fi
		ORDER+=("${VARIANTS[((b + r) % n + n) % n]}")
	done
}

declare -A FAILS
PROGRESS=0
[[ -t 2 ]] && PROGRESS=1
measure() {
	local key=$1 label=$2 fn=$3 check=$4 i v total=$((WARMUP + RUNS)) counted name f
	local -a ORDER ALL=("${VARIANTS[@]}")
	local -a VARIANTS=()
	for v in "${ALL[@]}"; do variant_in "$key" "$v" && VARIANTS+=("$v"); done
	for v in "${VARIANTS[@]}"; do
		: >"$WORK/samples/$key.$v"
		FAILS[$key.$v]=0
		[[ $key == cri ]] && : >"$WORK/samples/runp.$v"
	done
	if [[ $check != - ]]; then
		info "$label: seccomp check, one container per variant"
		for v in "${VARIANTS[@]}"; do "$check" "$v"; done
	fi
	round_order 0
	info "$label: $WARMUP warm-up + $RUNS counted rounds of ${#VARIANTS[@]} variants, order rotating (first round: ${ORDER[*]})"
	for ((i = 0; i < total; i++)); do
		round_order $((i - WARMUP))
		counted=$((i >= WARMUP))
		for v in "${ORDER[@]}"; do
			name=bench-$TAG-$key-$v-$i
			name=${name//+/-}
			if "$fn" "$v" "$name"; then
				((counted)) && echo "$((i - WARMUP)) $DUR_NS" >>"$WORK/samples/$key.$v"
				((counted)) && [[ $key == cri ]] && echo "$((i - WARMUP)) $RUNP_NS" >>"$WORK/samples/runp.$v"
			else
				report_error "$label ($v, round $((i + 1))/$total$( ((counted)) || echo ', warm-up'))"
				f=$((${FAILS[$key.$v]} + 1))
				FAILS[$key.$v]=$f
				[[ -z $(lab_problem) ]] || { warn "stopping: the lab went away"; return 1; }
				if ((f > MAX_FAIL)); then
					warn "$label: $v failed $f times (> $MAX_FAIL), ending this measurement"
					return 1
				fi
			fi
		done
		((PROGRESS)) && printf '\r# %s: %d/%d rounds ' "$label" $((i + 1)) "$total" >&2
	done
	((PROGRESS)) && printf '\n' >&2
	local s=""
	for v in "${VARIANTS[@]}"; do s+=" $v ${FAILS[$key.$v]},"; done
	info "$label: done (failures:${s%,})"
}

# stats FILE [COLUMN]: n median p10 p90 mean min max (ms) of the ns values in COLUMN (default 2),
# linear interpolation between order statistics
stats() {
	awk -v c="${2:-2}" '{print $c}' "$1" | sort -g | awk '
		function q(p,   h, lo) { h = (n - 1) * p; lo = int(h); return (lo + 1 < n) ? x[lo] + (h - lo) * (x[lo + 1] - x[lo]) : x[lo] }
		{ x[n++] = $1 / 1e6; s += $1 / 1e6 }
		END {
			if (n == 0) { print "0 null null null null null null"; exit }
			printf "%d %.3f %.3f %.3f %.3f %.3f %.3f\n", n, q(0.5), q(0.1), q(0.9), s / n, x[0], x[n - 1]
		}'
}

# paired A B: "ROUND NS" lines of B - A for the rounds where both succeeded
paired() { awk 'NR == FNR { a[$1] = $2; next } ($1 in a) { print $1, $2 - a[$1] }' "$1" "$2"; }

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
T_START=$(date -u +%FT%TZ)
info "lab $LAB_NAME ($ENV_FILE), containerd $CONTAINERD_ADDRESS, run tag $TAG, work dir $WORK"
info "hardened shim $HARDENED_SHIM ($(date -r "$HARDENED_SHIM" '+%F %T')); class files: $(find "$LAB_HARDENED_CLASS_DIR" -maxdepth 1 -name '*.toml' 2>/dev/null | tr '\n' ' ')"

# timer overhead: back-to-back `date` pairs
for i in $(seq 21); do a=$(now_ns); b=$(now_ns); echo "$i $((b - a))"; done >"$WORK/timer"
TIMER_MS=$(stats "$WORK/timer" | awk '{print $2}')

MEAS_KEYS=()
declare -A MEAS_LABEL
if ((DO_CTR || DO_TASK)); then
	info "pulling $IMAGE into containerd namespace $NS (via $LAB_HOSTS_DIR, inside the lab netns)"
	timeout --foreground -k 5 $((3 * TMO)) nsenter --net="$LAB_NETNS_PATH" -- "$CTR_BIN" --address "$CONTAINERD_ADDRESS" \
		-n "$NS" images pull --hosts-dir "$LAB_HOSTS_DIR" "$IMAGE" >"$ERRF" 2>&1 ||
		{ report_error "ctr images pull $IMAGE"; exit 1; }
	((DO_TASK)) && MEAS_KEYS+=(task)
	((DO_CTR)) && MEAS_KEYS+=(ctr)
	MEAS_LABEL[task]='task create→exit (ctr task start)'
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
	MEAS_KEYS+=(cri runp)
	MEAS_LABEL[cri]='cri runp+create+start'
	MEAS_LABEL[runp]='cri RunPodSandbox (runp, part of cri)'
fi

rc=0
((DO_TASK)) && { measure task "${MEAS_LABEL[task]}" task_once "$( ((DO_CTR)) && echo - || echo ctr_check)" || rc=1; }
((DO_CTR)) && { measure ctr "${MEAS_LABEL[ctr]}" ctr_once ctr_check || rc=1; }
if ((DO_CRI)) && [[ -z $(lab_problem) ]]; then
	measure cri "${MEAS_LABEL[cri]}" cri_once cri_check || rc=1
fi
T_END=$(date -u +%FT%TZ)

# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
((CHECK_FAILED)) && rc=1
echo "# container start cost per variant: median ms (p10, p90, n = successful counted runs, errors = failed runs incl. warm-up)"
echo "# $RUNS counted rounds (+$WARMUP warm-up), ${#VARIANTS[@]} variants interleaved, order rotated each round (balanced Latin square); $(nproc) CPUs, kernel $(uname -r); timer overhead ${TIMER_MS} ms"
echo "# runc = stock shim, no seccomp | runc+seccomp = stock shim, containerd RuntimeDefault | hardened = hardened shim, node class | hardened-noseccomp = hardened shim, node class + [seccomp] profile=\"none\" | hardened-nouserns = hardened shim, node class + user_namespace=\"off\""
echo "# runc+userns = stock shim, no seccomp, the pod in a user namespace as kubelet's hostUsers: false asks (cri only)"
echo "# ab-* = the ablation ladder (startup.sh -h): each step adds one protection to the step before, from the checks alone (ab-checks) up to hardened-nouserns, hardened and gvisor"
for key in "${MEAS_KEYS[@]}"; do echo "# $key = ${MEAS_LABEL[$key]}"; done
printf '%s\n' "${CHECK_LINES[@]}"
JSON_MEAS=$WORK/meas.jsonl
: >"$JSON_MEAS"
# shellcheck disable=SC2059  # the format is the first argument
fmt_num() { if [[ $2 == null ]]; then echo n/a; else printf "$1" "$2"; fi; }
for key in "${MEAS_KEYS[@]}"; do
	declare -A MED=()
	vjson=$WORK/variants.$key.jsonl
	: >"$vjson"
	for v in "${VARIANTS[@]}"; do
		variant_in "$key" "$v" || continue
		read -r n med p10 p90 mean min max < <(stats "$WORK/samples/$key.$v")
		f=${FAILS[$key.$v]:-0}
		((n == RUNS && f == 0)) || rc=1
		MED[$v]=$med
		if [[ $med == null ]]; then
			printf '%-4s variant       %-19s n/a  n=0  errors=%d\n' "$key" "$v" "$f"
		else
			printf '%-4s variant       %-19s median %6.1f ms  p10 %6.1f  p90 %6.1f  n=%d  errors=%d\n' "$key" "$v" "$med" "$p10" "$p90" "$n" "$f"
		fi
		jq -nc --arg v "$v" --arg rt "$(variant_runtime "${key/task/ctr}" "$v")" --arg opts "$(variant_options "${key/task/ctr}" "$v")" \
			--rawfile raw "$WORK/samples/$key.$v" --argjson s "[$n,$med,$p10,$p90,$mean,$min,$max,$f]" '
			($raw | split("\n") | map(select(length > 0) | split(" ") | map(tonumber))) as $rows |
			{variant: $v, runtime: $rt, options: $opts, n: $s[0], failures: $s[7], median_ms: $s[1], p10_ms: $s[2],
			 p90_ms: $s[3], mean_ms: $s[4], min_ms: $s[5], max_ms: $s[6],
			 samples_ms: [$rows[] | .[1] / 1e6], rounds: [$rows[] | .[0]]}' >>"$vjson"
	done
	ratio() { if [[ ${MED[$1]:-null} != null && ${MED[$2]:-null} != null ]]; then awk -v a="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN{printf "%.3f", a / b}'; else echo null; fi; }
	diffm() { if [[ ${MED[$1]:-null} != null && ${MED[$2]:-null} != null ]]; then awk -v a="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN{printf "%.3f", a - b}'; else echo null; fi; }
	for v in "${ALL_VARIANTS[@]}"; do [[ -f $WORK/samples/$key.$v ]] || : >"$WORK/samples/$key.$v"; done
	r_hr=$(ratio hardened runc)
	r_hs=$(ratio hardened runc+seccomp)
	d_h=$(diffm hardened hardened-noseccomp)
	d_r=$(diffm runc+seccomp runc)
	r_hu=$(ratio hardened hardened-nouserns)
	d_u=$(diffm hardened hardened-nouserns)
	paired "$WORK/samples/$key.hardened-nouserns" "$WORK/samples/$key.hardened" >"$WORK/paired.$key.userns"
	read -r pn_u pd_u pl_u ph_u _ < <(stats "$WORK/paired.$key.userns")
	paired "$WORK/samples/$key.hardened-noseccomp" "$WORK/samples/$key.hardened" >"$WORK/paired.$key.hardened"
	paired "$WORK/samples/$key.runc" "$WORK/samples/$key.runc+seccomp" >"$WORK/paired.$key.runc"
	read -r pn_h pd_h pl_h ph_h _ < <(stats "$WORK/paired.$key.hardened")
	read -r pn_r pd_r pl_r ph_r _ < <(stats "$WORK/paired.$key.runc")
	printf '%-4s ratio         %-22s %7s\n' "$key" hardened/runc "$(fmt_num %.3f "$r_hr")"
	printf '%-4s ratio         %-22s %7s\n' "$key" hardened/runc+seccomp "$(fmt_num %.3f "$r_hs")"
	printf '%-4s ratio         %-22s %7s\n' "$key" hardened/hardened-nouserns "$(fmt_num %.3f "$r_hu")"
	# the other backends, when measured
	for pair in delegate/hardened delegate/runc gvisor/hardened gvisor/runsc; do
		[[ -s $WORK/samples/$key.${pair%/*} && -s $WORK/samples/$key.${pair#*/} ]] || continue
		printf '%-4s ratio         %-22s %7s\n' "$key" "$pair" "$(fmt_num %.3f "$(ratio "${pair%/*}" "${pair#*/}")")"
	done
	printf '%-4s userns-cost   %-9s %7s ms  (median hardened - median hardened-nouserns; per-round differences: median %s, p10 %s, p90 %s ms, n=%d)\n' \
		"$key" hardened "$(fmt_num %+.1f "$d_u")" "$(fmt_num %+.1f "$pd_u")" "$(fmt_num %+.1f "$pl_u")" "$(fmt_num %+.1f "$ph_u")" "$pn_u"
	# Kubernetes' own user namespace on the stock shim, when measured
	if [[ -s $WORK/samples/$key.runc+userns ]]; then
		paired "$WORK/samples/$key.runc" "$WORK/samples/$key.runc+userns" >"$WORK/paired.$key.kubeuserns"
		read -r pn_k pd_k pl_k ph_k _ < <(stats "$WORK/paired.$key.kubeuserns")
		printf '%-4s userns-cost   %-9s %7s ms  (median runc+userns - median runc: kubelet'"'"'s hostUsers: false on the stock shim; per-round differences: median %s, p10 %s, p90 %s ms, n=%d)\n' \
			"$key" runc "$(fmt_num %+.1f "$(diffm runc+userns runc)")" "$(fmt_num %+.1f "$pd_k")" "$(fmt_num %+.1f "$pl_k")" "$(fmt_num %+.1f "$ph_k")" "$pn_k"
		printf '%-4s ratio         %-22s %7s\n' "$key" hardened/runc+userns "$(fmt_num %.3f "$(ratio hardened runc+userns)")"
	fi
	printf '%-4s seccomp-cost  %-9s %7s ms  (median hardened - median hardened-noseccomp; per-round differences: median %s, p10 %s, p90 %s ms, n=%d)\n' \
		"$key" hardened "$(fmt_num %+.1f "$d_h")" "$(fmt_num %+.1f "$pd_h")" "$(fmt_num %+.1f "$pl_h")" "$(fmt_num %+.1f "$ph_h")" "$pn_h"
	printf '%-4s seccomp-cost  %-9s %7s ms  (median runc+seccomp - median runc; per-round differences: median %s, p10 %s, p90 %s ms, n=%d)\n' \
		"$key" runc "$(fmt_num %+.1f "$d_r")" "$(fmt_num %+.1f "$pd_r")" "$(fmt_num %+.1f "$pl_r")" "$(fmt_num %+.1f "$ph_r")" "$pn_r"
	# the ablation ladder: each step against runc and against the step before it
	ajson=$WORK/ablation.$key.jsonl
	: >"$ajson"
	prev=runc
	for v in "${ABLATION[@]}"; do
		has_variant "$v" && variant_in "$key" "$v" || continue
		paired "$WORK/samples/$key.$prev" "$WORK/samples/$key.$v" >"$WORK/paired.$key.step.$v"
		read -r sn sd sl sh _ < <(stats "$WORK/paired.$key.step.$v")
		ar=$(ratio "$v" runc) as=$(ratio "$v" runc+seccomp) ad=$(diffm "$v" "$prev")
		printf '%-4s ablation      %-19s median %7s ms  /runc %6s  /runc+seccomp %6s  step %7s ms over %-17s (per-round median %s, p10 %s, p90 %s ms, n=%d)\n' \
			"$key" "$v" "$(fmt_num %.1f "${MED[$v]:-null}")" "$(fmt_num %.3f "$ar")" "$(fmt_num %.3f "$as")" \
			"$(fmt_num %+.1f "$ad")" "$prev" "$(fmt_num %+.1f "$sd")" "$(fmt_num %+.1f "$sl")" "$(fmt_num %+.1f "$sh")" "$sn"
		jq -nc --arg v "$v" --arg prev "$prev" --argjson med "${MED[$v]:-null}" --argjson ar "$ar" --argjson asc "$as" \
			--argjson ad "$ad" --argjson p "[$sn,$sd,$sl,$sh]" \
			'{step: $v, over: $prev, median_ms: $med, "ratio_runc": $ar, "ratio_runc+seccomp": $asc,
			  step_cost_ms: $ad, step_cost_paired_ms: {n: $p[0], median_ms: $p[1], p10_ms: $p[2], p90_ms: $p[3]}}' >>"$ajson"
		prev=$v
	done
	[[ -f $WORK/check.$key.jsonl ]] || : >"$WORK/check.$key.jsonl"
	jq -nc --arg key "$key" --arg mlabel "${MEAS_LABEL[$key]}" \
		--slurpfile vs "$vjson" --slurpfile checks "$WORK/check.$key.jsonl" --slurpfile ablation "$ajson" \
		--argjson r_hr "$r_hr" --argjson r_hs "$r_hs" --argjson d_h "$d_h" --argjson d_r "$d_r" \
		--argjson r_dh "$(ratio delegate hardened)" --argjson r_dr "$(ratio delegate runc)" \
		--argjson r_gh "$(ratio gvisor hardened)" --argjson r_gr "$(ratio gvisor runsc)" \
		--argjson r_hu "$r_hu" --argjson d_u "$d_u" --argjson p_u "[$pn_u,$pd_u,$pl_u,$ph_u]" \
		--argjson r_hk "$(ratio hardened runc+userns)" --argjson r_kr "$(ratio runc+userns runc)" \
		--argjson p_h "[$pn_h,$pd_h,$pl_h,$ph_h]" --argjson p_r "[$pn_r,$pd_r,$pl_r,$ph_r]" '
		def v($name): $vs | map(select(.variant == $name)) | .[0];
		def pd($p): {n: $p[0], median_ms: $p[1], p10_ms: $p[2], p90_ms: $p[3]};
		{key: $key, label: $mlabel,
		 stock: v("runc"), stock_seccomp: v("runc+seccomp"), hardened: v("hardened"), hardened_noseccomp: v("hardened-noseccomp"),
		 hardened_nouserns: v("hardened-nouserns"), delegate: v("delegate"), gvisor: v("gvisor"), runsc: v("runsc"),
		 stock_userns: v("runc+userns"),
		 ratio_median: $r_hr,
		 ratios: {"hardened/runc": $r_hr, "hardened/runc+seccomp": $r_hs, "hardened/hardened-nouserns": $r_hu,
		          "hardened/runc+userns": $r_hk, "runc+userns/runc": $r_kr,
		          "delegate/hardened": $r_dh, "delegate/runc": $r_dr, "gvisor/hardened": $r_gh, "gvisor/runsc": $r_gr},
		 userns_cost_ms: {"hardened - hardened-nouserns": $d_u}, userns_cost_paired_ms: pd($p_u),
		 seccomp_cost_ms: {"hardened - hardened-noseccomp": $d_h, "runc+seccomp - runc": $d_r},
		 seccomp_cost_paired_ms: {"hardened - hardened-noseccomp": pd($p_h), "runc+seccomp - runc": pd($p_r)},
		 ablation: $ablation, seccomp_check: $checks}' >>"$JSON_MEAS"
	unset MED
done

if [[ -n $OUT ]]; then
	jq -s --arg t_start "$T_START" --arg t_end "$T_END" --argjson runs "$RUNS" --argjson warmup "$WARMUP" \
		--arg host "$(hostname)" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
		--argjson timer "${TIMER_MS:-null}" --arg image "$IMAGE" --arg lab "$LAB_NAME" \
		--arg shim "$HARDENED_SHIM" --arg shim_mtime "$(date -r "$HARDENED_SHIM" -u +%FT%TZ)" \
		--arg shim_sha "$(sha256sum "$HARDENED_SHIM" | cut -d' ' -f1)" \
		--arg runc "$("$LAB_RUNC" --version 2>/dev/null | head -1)" \
		--arg variants "${VARIANTS[*]}" \
		--arg containerd "$("$CTR_BIN" --address "$CONTAINERD_ADDRESS" version 2>/dev/null | awk '/^Server:/{s=1} s && /Version:/{print $2; exit}')" '{
		tool: "integration/bench/startup.sh", start: $t_start, end: $t_end, runs: $runs, warmup: $warmup,
		variants: ($variants | split(" ")),
		order: "rounds of all variants; round r runs the variants in the order of row r of a Williams Latin square over them (base order 0, 1, n-1, 2, n-2, ... with every index + r mod n): each variant once in every position per n rounds",
		image: $image, host: $host, kernel: $kernel, cpus: $cpus, timer_overhead_ms: $timer,
		lab: {name: $lab, containerd: $containerd, runc: $runc, hardened_shim: $shim,
		      hardened_shim_mtime: $shim_mtime, hardened_shim_sha256: $shim_sha},
		measurements: .}' "$JSON_MEAS" >"$WORK/report.json" || die "cannot assemble the JSON report"
	cp "$WORK/report.json" "$OUT" || die "cannot write $OUT"
	info "JSON report: $OUT"
fi
exit $rc
