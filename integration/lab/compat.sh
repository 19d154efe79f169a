#!/usr/bin/env bash
# integration/lab/compat.sh — the shim under every containerd line a fleet runs, side by side
# with the lab's own containerd (v2.4.2), in the same network namespace and registry.
#
#   compat.sh build [VER...]   build containerd, ctr and containerd-shim-runc-v2 of each version
#                              from the Go module proxy into $LAB_DIR/compat/VER/bin (containerd
#                              and ctr for 1.x), and a second build of the shim (another version
#                              string) for the upgrade test
#   compat.sh up VER           containerd VER on the running lab (its own root, state, sockets,
#                              runc root and class files under $LAB_RUN/cNN), in a mount namespace
#                              of its own whose /run/containerd is $LAB_RUN/cNN/rc (containerd
#                              <= 2.2 and its runc shim put shim sockets in /run/containerd/s);
#                              writes $LAB_RUN/cNN/lab.env for the integration tests
#   compat.sh restart [--kill] VER   stop that containerd (SIGTERM, or SIGKILL: a crash) and
#                              start it again in the same mount namespace (its shims keep running)
#   compat.sh down VER         remove its pods and tasks, stop it and its namespace; fails when a
#                              process of it had to be killed
#   compat.sh test [VER...]    the matrix: per version up, the compatibility tests, critest
#                              (runc vs hardened-audit) on the oldest and the newest, down
#   compat.sh versions         the matrix's versions
#
# The lab must be up (make lab-up). Nothing here touches the host's /run/containerd: the
# mount namespace gives containerd a /run of its own (a tmpfs holding binds of the host's /run
# entries, and /run/containerd bound to the lab directory).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB="$REPO/integration/lab/lab.sh"
LAB_DIR=${LAB_DIR:-$REPO/.lab}
export LAB_DIR
# the containerd 2.x lines (newest patch of each the proxy serves) and the 1.x daemon that
# must get a clear refusal
COMPAT_VERSIONS=${COMPAT_VERSIONS:-v2.0.14 v2.1.9 v2.2.9 v2.3.7 v2.4.2}
COMPAT_OLD=v1.7.35
CONTAINERD_TAGS="no_btrfs no_devmapper no_zfs"
CB=$LAB_DIR/compat
BIN=$LAB_DIR/bin
LOGS=$LAB_DIR/logs
REPORTS=$LAB_DIR/reports

log() { printf '[compat] %s\n' "$*" >&2; }
die() { printf '[compat] ERROR: %s\n' "$*" >&2; exit 1; }

# tag VER: the short name of a version's instance (c20 for v2.0.14, c17 for v1.7.35)
tag() { local v=${1#v}; echo "c${v%%.*}$(cut -d. -f2 <<<"$v")"; }
# vbin VER: where that version's binaries are (the lab's own for its version)
vbin() { if [[ $1 == "$(lab_version)" ]]; then echo "$BIN"; else echo "$CB/$1/bin"; fi; }
lab_version() { sed -n 's/^CONTAINERD_VERSION=//p' "$LAB"; }
major() { local v=${1#v}; echo "${v%%.*}"; }

# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------
build_version() {
	local ver=$1 out mod dir stamp want cmds
	out=$(vbin "$ver")
	[[ $out == "$BIN" ]] && { log "containerd $ver: the lab's own (lab.sh build)"; return 0; }
	if [[ $(major "$ver") == 1 ]]; then
		mod=github.com/containerd/containerd
		cmds=(containerd ctr)
	else
		mod=github.com/containerd/containerd/v2
		cmds=(containerd ctr containerd-shim-runc-v2)
	fi
	stamp=$CB/$ver/stamp
	want="$ver tags=$CONTAINERD_TAGS $(go env GOVERSION)"
	if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && for c in "${cmds[@]}"; do [[ -x $out/$c ]] || exit 1; done; then
		log "containerd $ver: up to date"
		return 0
	fi
	# a scratch module: `go install pkg@version` refuses containerd's go.mod (exclude directives)
	dir=$LAB_DIR/build/containerd-$ver
	mkdir -p "$dir" "$out"
	local t0=$SECONDS
	(
		cd "$dir"
		export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
		[[ -f go.mod ]] || go mod init lab.local/containerd-compat >/dev/null 2>&1
		go get "$mod@$ver" >go-get.log 2>&1 || { cat go-get.log >&2; exit 1; }
		local pkgs=()
		for c in "${cmds[@]}"; do pkgs+=("$mod/cmd/$c"); done
		CGO_ENABLED=1 go build -tags "$CONTAINERD_TAGS" -o "$out/" "${pkgs[@]}"
	)
	echo "$want" >"$stamp"
	log "containerd $ver: built ${cmds[*]} in $((SECONDS - t0)) s"
}

# the shim again, with another version string: the build the upgrade test installs over the
# running one
build_next_shim() {
	local out=$CB/shim-next ver
	ver="$(cd "$REPO" && git describe --tags --always --dirty 2>/dev/null || echo dev)-next"
	mkdir -p "$out"
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X github.com/hardened-runtime/containerd-shim-hardened-v2/version.Version=$ver" \
		-o "$out/containerd-shim-hardened-v2" ./cmd/containerd-shim-hardened-v2)
	echo "$ver" >"$out/version"
	log "shim $ver (the upgrade test's second build): $out/containerd-shim-hardened-v2"
}

cmd_build() {
	local v
	(($#)) || set -- $COMPAT_VERSIONS $COMPAT_OLD
	for v in "$@"; do build_version "$v"; done
	build_next_shim
}

# ---------------------------------------------------------------------------
# an instance: containerd VER beside the lab's
# ---------------------------------------------------------------------------
need_lab() {
	ENV_FILE=$("$LAB" env-file)
	[[ -f $ENV_FILE ]] || die "the lab is not up: make lab-up"
	# shellcheck disable=SC1090
	. "$ENV_FILE"
}

# instance VER: the variables of VER's instance
instance() {
	VER=$1
	[[ $VER == v* ]] || die "a version looks like v2.0.14, not '$VER'"
	T=$(tag "$VER")
	VB=$(vbin "$VER")
	CD=$LAB_RUN/$T
	C_CFG=$CD/config.toml
	C_SOCK=$CD/containerd.sock
	C_PID=$CD/containerd.pid
	C_HOLDER=$CD/holder.pid
	C_RUNC=$CD/runc
	C_CLASSES=$CD/etc/hardened
	C_SHIMS=$CD/bin
	C_LOG=$LOGS/containerd-$T.log
	C_ROOT=$CB/$VER/root
	C_CRICTL=$CD/crictl.yaml
}

pidfile() { [[ -f $1 ]] && tr -dc '0-9' <"$1" || true; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
# stop PID NAME SECONDS: TERM, then KILL after SECONDS
stop() {
	local pid=$1 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < $3 * 10; i++)); do alive "$pid" || return 0; sleep 0.1; done
	log "$2 (pid $pid) did not stop on TERM: KILL"
	kill -KILL "$pid" 2>/dev/null || true
}
inns() { nsenter --net="$LAB_NETNS_PATH" --mount="/proc/$(pidfile "$C_HOLDER")/ns/mnt" -- "$@"; }
# explicit endpoints: the environment (the lab's lab.env) names the lab's own containerd
c_crictl() { nsenter --net="$LAB_NETNS_PATH" -- "$BIN/crictl" --config "$C_CRICTL" --runtime-endpoint "unix://$C_SOCK" --image-endpoint "unix://$C_SOCK" "$@"; }
c_ctr() { nsenter --net="$LAB_NETNS_PATH" -- timeout 30 "$VB/ctr" --address "$C_SOCK" "$@"; }

# write_instance: config, class files, shim binaries, crictl config
write_instance() {
	mkdir -p "$CD"/{state,tmp,rc,s,fifo} "$C_RUNC" "$C_CLASSES" "$C_SHIMS" "$C_ROOT" "$CD/cdi"
	# the shim as a node installs it: a file of its own (the upgrade test replaces it), and
	# the audit class as a second name
	cp -f "$BIN/containerd-shim-hardened-v2" "$C_SHIMS/containerd-shim-hardened-v2"
	ln -sfn containerd-shim-hardened-v2 "$C_SHIMS/containerd-shim-hardened-audit-v2"
	local common=(CLASS_ROOT="$C_RUNC" CLASS_CONTAINERD_ROOT="$C_ROOT")
	env "${common[@]}" "$LAB" class-config hardened "[[policy.allowed_host_paths]]" "path_prefix = \"$LAB_ALLOWLISTED_DIR\"" \
		>"$C_CLASSES/containerd-shim-hardened-v2.toml"
	env "${common[@]}" "$LAB" class-config hardened-audit 'mode = "audit"' >"$C_CLASSES/containerd-shim-hardened-audit-v2.toml"
	env "${common[@]}" "$LAB" class-config hardened-file >"$C_CLASSES/hardened-file.toml"
	C_WHAT="containerd $VER (compat.sh)" C_ROOT=$C_ROOT C_STATE=$CD/state C_TEMP=$CD/tmp C_SOCK=$C_SOCK \
		C_SHIM_SOCKETS=$CD/s C_CDI=$CD/cdi C_OPT=$CD/opt C_STREAM_PORT=$((10020 + ${T#c})) \
		C_NRI_SOCK=$CD/nri.sock "$LAB" containerd-config >"$C_CFG" <<CFG
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$LAB_RUNC"
          Root = "$C_RUNC"
          SystemdCgroup = false
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$C_SHIMS/containerd-shim-hardened-v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-audit]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$C_SHIMS/containerd-shim-hardened-audit-v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-inline]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$C_SHIMS/containerd-shim-hardened-v2"
        options = { class_name = "hardened-inline", binary_name = "$LAB_RUNC", root = "$C_RUNC", containerd_root = "$C_ROOT", kubelet_root = "$LAB_KUBELET_ROOT", audit_log = "$LAB_HARDENED_AUDIT_LOG" }
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-file]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$C_SHIMS/containerd-shim-hardened-v2"
        options = { ConfigPath = "$C_CLASSES/hardened-file.toml" }
CFG
	# containerd 2.0 has one CNI bin_dir (bin_dirs came later)
	if ! "$VB/containerd" config default 2>/dev/null | grep -q bin_dirs; then
		sed -i -E 's/^( *)bin_dirs = \["([^"]*)"\]/\1bin_dir = "\2"/' "$C_CFG"
	fi
	cat >"$C_CRICTL" <<YAML
runtime-endpoint: unix://$C_SOCK
image-endpoint: unix://$C_SOCK
timeout: 30
YAML
}

# a containerd 1.x config (version 2): no CRI, only what ctr needs
write_instance_v1() {
	mkdir -p "$CD"/{state,tmp,rc,fifo} "$C_SHIMS" "$C_ROOT"
	cp -f "$BIN/containerd-shim-hardened-v2" "$C_SHIMS/containerd-shim-hardened-v2"
	cat >"$C_CFG" <<CFG
# generated by integration/lab/compat.sh for containerd $VER — do not edit
version = 2
root = "$C_ROOT"
state = "$CD/state"
temp = "$CD/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.nri.v1.nri"]
[grpc]
  address = "$C_SOCK"
[ttrpc]
  address = "$C_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
CFG
}

# start_holder: a process in a mount namespace of its own whose /run is a tmpfs holding binds
# of every entry of the host's /run but containerd, and /run/containerd bound to $CD/rc
start_holder() {
	local pid hostrun=$CB/.hostrun-$T i
	pid=$(pidfile "$C_HOLDER")
	alive "$pid" && return 0
	mkdir -p "$hostrun"
	rm -f "$CD/holder.ready"
	setsid unshare --mount --propagation private -- bash -c '
		set -e
		hostrun=$1 rc=$2 ready=$3
		mount --rbind /run "$hostrun"
		mount -t tmpfs -o mode=0755 compat-run /run
		for e in "$hostrun"/* "$hostrun"/.[!.]*; do
			[ -e "$e" ] || [ -L "$e" ] || continue
			n=${e##*/}
			[ "$n" = containerd ] && continue
			if [ -L "$e" ]; then cp -P "$e" "/run/$n"
			elif [ -d "$e" ]; then mkdir -p "/run/$n"; mount --rbind "$e" "/run/$n"
			else [ -e "/run/$n" ] || touch "/run/$n"; mount --bind "$e" "/run/$n"; fi
		done
		mkdir -p /run/containerd
		mount --bind "$rc" /run/containerd
		umount -l "$hostrun"
		echo $$ >"$ready"
		exec sleep infinity
	' compat-holder "$hostrun" "$CD/rc" "$CD/holder.ready" </dev/null >>"$C_LOG" 2>&1 9>&- &
	for ((i = 0; i < 100; i++)); do [[ -s $CD/holder.ready ]] && break; sleep 0.1; done
	[[ -s $CD/holder.ready ]] || { tail -5 "$C_LOG" >&2; die "the mount namespace of $VER did not come up"; }
	cp "$CD/holder.ready" "$C_HOLDER"
}

start_containerd() {
	local pid i
	echo "===== $(date '+%F %T') compat.sh: containerd $VER" >>"$C_LOG"
	# CONTAINERD_SHIM_HARDENED_CONFIG_DIR: the instance's node class files; PATH: the
	# instance's shim binaries first, then the version's own runc shim
	setsid nsenter --net="$LAB_NETNS_PATH" --mount="/proc/$(pidfile "$C_HOLDER")/ns/mnt" -- \
		env PATH="$C_SHIMS:$VB:$BIN:$PATH" TMPDIR="$CD/tmp" CONTAINERD_SHIM_HARDENED_CONFIG_DIR="$C_CLASSES" \
		"$VB/containerd" --config "$C_CFG" </dev/null >>"$C_LOG" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$C_PID"
	for ((i = 0; i < 600; i++)); do
		alive "$pid" || { tail -30 "$C_LOG" >&2; die "containerd $VER exited (log $C_LOG)"; }
		if [[ $(major "$VER") == 1 ]]; then
			c_ctr version >/dev/null 2>&1 && return 0
		elif c_crictl info 2>/dev/null | jq -e '[.status.conditions[] | select(.type=="RuntimeReady" or .type=="NetworkReady") | .status] | length == 2 and all' >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	tail -30 "$C_LOG" >&2
	die "containerd $VER not ready after 60 s (log $C_LOG)"
}

write_env() {
	{
		cat "$ENV_FILE"
		cat <<ENV
# containerd $VER (compat.sh up $VER): the same lab, another daemon
export LAB_COMPAT_VERSION='$VER'
export LAB_CONTAINERD_VERSION='$VER'
export LAB_CONTAINERD_CONFIG='$C_CFG'
export LAB_CONTAINERD_ROOT='$C_ROOT'
export LAB_CONTAINERD_STATE='$CD/state'
export LAB_STATE='$CD/state'
export CONTAINERD_STATE='$CD/state'
export LAB_CONTAINERD_PID_FILE='$C_PID'
export LAB_CONTAINERD_LOG='$C_LOG'
export LAB_SHIM_SOCKET_DIR='$CD/s'
export LAB_RUNC_ROOT='$C_RUNC'
export RUNC_ROOT='$C_RUNC'
export LAB_HARDENED_SHIM='$C_SHIMS/containerd-shim-hardened-v2'
export LAB_HARDENED_CLASS_DIR='$C_CLASSES'
export LAB_FILE_CLASS_CONFIG='$C_CLASSES/hardened-file.toml'
export LAB_RUNTIME_HANDLERS='runc hardened hardened-audit hardened-inline hardened-file'
export LAB_CTR='$VB/ctr'
export LAB_CTR_RUN_FLAGS='--fifo-dir $LAB_FIFO_DIR --runc-binary $LAB_RUNC --runc-root $C_RUNC'
export LAB_NRI_SOCKET='$CD/nri.sock'
export LAB_MOUNT_NS_PID='$(pidfile "$C_HOLDER")'
export LAB_RESTART_CONTAINERD='$REPO/integration/lab/compat.sh restart $VER'
export LAB_KILL_RESTART_CONTAINERD='$REPO/integration/lab/compat.sh restart --kill $VER'
export LAB_SHIM_NEXT='$CB/shim-next/containerd-shim-hardened-v2'
export CONTAINERD_ADDRESS='$C_SOCK'
export CONTAINERD_TTRPC_ADDRESS='$C_SOCK.ttrpc'
export CRI_ENDPOINT='unix://$C_SOCK'
export CONTAINER_RUNTIME_ENDPOINT='unix://$C_SOCK'
export IMAGE_SERVICE_ENDPOINT='unix://$C_SOCK'
export CRI_CONFIG_FILE='$C_CRICTL'
ENV
	} >"$CD/lab.env.tmp"
	mv -f "$CD/lab.env.tmp" "$CD/lab.env"
}

cmd_up() {
	(($# == 1)) || die "usage: compat.sh up VER"
	need_lab
	instance "$1"
	[[ -x $VB/containerd ]] || die "$VB/containerd missing: compat.sh build $VER"
	if alive "$(pidfile "$C_PID")"; then log "containerd $VER already up"; write_env; return 0; fi
	local t0=$SECONDS
	if [[ $(major "$VER") == 1 ]]; then write_instance_v1; else write_instance; fi
	start_holder
	start_containerd
	write_env
	log "containerd $VER up in $((SECONDS - t0)) s: $C_SOCK (env $CD/lab.env, log $C_LOG)"
}

cmd_restart() {
	local kill=0
	[[ ${1:-} == --kill ]] && { kill=1; shift; }
	(($# == 1)) || die "usage: compat.sh restart [--kill] VER"
	need_lab
	instance "$1"
	alive "$(pidfile "$C_HOLDER")" || die "containerd $VER is not up"
	if ((kill)); then
		# a crash: SIGKILL, no shutdown of its own
		local pid i
		pid=$(pidfile "$C_PID")
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
	else
		stop "$(pidfile "$C_PID")" "containerd $VER" 20
	fi
	start_containerd
	log "containerd $VER restarted (pid $(pidfile "$C_PID"))"
}

# processes in the instance's mount namespace besides its holder and containerd
ns_processes() {
	local holder=$1 ns p
	ns=$(readlink "/proc/$holder/ns/mnt" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$holder" || $p == "$(pidfile "$C_PID")" ]] && continue
		[[ $(readlink "/proc/$p/ns/mnt" 2>/dev/null) == "$ns" ]] && echo "$p"
	done
	return 0
}

cmd_down() {
	(($# == 1)) || die "usage: compat.sh down VER"
	need_lab
	instance "$1"
	local pid holder ns id left=0 p
	pid=$(pidfile "$C_PID")
	holder=$(pidfile "$C_HOLDER")
	if alive "$pid"; then
		if [[ $(major "$VER") != 1 ]]; then
			c_crictl rmp -af >/dev/null 2>&1 || log "crictl rmp -af failed"
		fi
		for ns in $(c_ctr namespaces ls -q 2>/dev/null || true); do
			for id in $(c_ctr -n "$ns" tasks ls -q 2>/dev/null || true); do
				c_ctr -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
				c_ctr -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true
			done
			for id in $(c_ctr -n "$ns" containers ls -q 2>/dev/null || true); do
				c_ctr -n "$ns" containers rm "$id" >/dev/null 2>&1 || log "cannot remove container $ns/$id"
			done
		done
	fi
	stop "$pid" "containerd $VER" 20
	if alive "$holder"; then
		# anything still in the namespace (a shim, a container) is a leftover: say so, end it
		for p in $(ns_processes "$holder"); do
			log "LEFT BEHIND by containerd $VER: pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
			left=1
		done
		if [[ -d $C_RUNC ]]; then
			for ns in "$C_RUNC"/*/; do
				[[ -d $ns ]] || continue
				for id in $(inns "$LAB_RUNC" --root "${ns%/}" list -q 2>/dev/null || true); do
					log "LEFT BEHIND: runc container $id: runc delete -f"
					left=1
					inns "$LAB_RUNC" --root "${ns%/}" delete -f "$id" >/dev/null 2>&1 || true
				done
			done
		fi
		for p in $(ns_processes "$holder"); do kill -KILL "$p" 2>/dev/null || true; done
		stop "$holder" "namespace holder" 5
	fi
	rm -rf "$CD"
	log "containerd $VER down"
	return $left
}

# ---------------------------------------------------------------------------
# the matrix
# ---------------------------------------------------------------------------
# the tests each version runs: the compatibility tests, and the ones that drive each way a
# class is configured (none, ConfigPath, inline, runc options), ctr, CRI pods with and without
# kubelet's user namespace, and exec
COMPAT_TESTS='^(TestCompat.*|TestCtrRun|TestCtrHardened|TestCtrBadConfigRefused|TestCtrHostRootRefused|TestRuncStyleOptions|TestExec|TestExitCodes|TestCRIClassFromEveryConfigSource|TestCRIBrokenClassFileRefused|TestCRIPodSharesOneShim|TestHostUsersFalsePodKeepsKubeletMapping|TestCtrContainerUserNamespace)$'
# critest runc vs hardened-audit on this version (the newest, the lab's own, is compared by
# make critest)
COMPAT_CRITEST=${COMPAT_CRITEST:-v2.0.14}

# run_tests VER: the Go tests against VER's instance
run_tests() {
	(cd "$REPO/integration" && LAB_ENV=$CD/lab.env nsenter --net="$LAB_NETNS_PATH" -- \
		"$CB/integration.test" -test.run "$COMPAT_TESTS" -test.count=1 -test.timeout=20m -test.v) \
		>"$REPORTS/compat-$T.log" 2>&1
}

# run_critest VER: critest with runc and hardened-audit on VER's instance: the same specs pass
# (run-critest.sh: a difference must reproduce in a focused re-run to count)
run_critest() {
	local known=
	# containerd 2.0/2.1 report no features of a non-runc handler: critest skips some specs
	case $VER in v2.0.* | v2.1.*) known=$REPO/integration/critest-compat-differences.tsv ;; esac
	CRITEST_HANDLERS=hardened-audit CRITEST_SUFFIX=-$T CRITEST_EXTRA_REFUSALS=$known \
		LAB_CRITEST_ENDPOINT=unix://$C_SOCK LAB_CRITEST_NRI=$CD/nri.sock \
		"$REPO/integration/run-critest.sh" >"$REPORTS/compat-critest-$T.txt" 2>&1
}

# test_v1: containerd 1.x refuses the shim at once, with the minimum version, leaving nothing
test_v1() {
	local out rc=0 t0=$SECONDS id=compat-v1-$$
	c_ctr -n compat images pull --hosts-dir "$LAB_HOSTS_DIR" docker.io/library/busybox:latest >/dev/null 2>&1 ||
		{ log "containerd $VER: cannot pull busybox"; return 1; }
	out=$(nsenter --net="$LAB_NETNS_PATH" -- timeout 60 "$VB/ctr" --address "$C_SOCK" -n compat run --rm --runtime io.containerd.hardened.v2 \
		--fifo-dir "$CD/fifo" docker.io/library/busybox:latest "$id" true 2>&1) && rc=1
	echo "$out" >"$REPORTS/compat-$T.log"
	if ((SECONDS - t0 >= 60)); then log "containerd $VER: ctr run hung (60 s)"; rc=1; fi
	if ! grep -q "needs containerd 2.0 or newer" <<<"$out"; then
		log "containerd $VER: the error does not name the minimum version: $out"
		rc=1
	fi
	c_ctr -n compat containers rm "$id" >/dev/null 2>&1 || true
	if [[ -n $(ns_processes "$(pidfile "$C_HOLDER")") ]]; then log "containerd $VER: processes left: $(ns_processes "$(pidfile "$C_HOLDER")")"; rc=1; fi
	if [[ -e $CD/state/io.containerd.runtime.v2.task/compat/$id ]]; then log "containerd $VER: bundle left"; rc=1; fi
	echo "ctr run under containerd $VER: $(tail -1 <<<"$out")" >>"$REPORTS/compat-$T.log"
	return $rc
}

cmd_test() {
	need_lab
	(($#)) || set -- $COMPAT_VERSIONS $COMPAT_OLD
	local v rc=0 t0 result pass fail failed rows=()
	mkdir -p "$REPORTS"
	(cd "$REPO" && go test -c -tags integration -o "$CB/integration.test" ./integration/) || die "building the integration tests failed"
	for v in "$@"; do
		instance "$v"
		t0=$SECONDS
		result=PASS
		log "=== containerd $v"
		if ! "$0" up "$v"; then
			result="FAIL (up)"
		elif [[ $(major "$v") == 1 ]]; then
			test_v1 || result="FAIL (see $REPORTS/compat-$T.log)"
		else
			run_tests || result="FAIL (see $REPORTS/compat-$T.log)"
			pass=$(grep -c '^--- PASS' "$REPORTS/compat-$T.log" || true)
			fail=$(grep -c '^--- FAIL' "$REPORTS/compat-$T.log" || true)
			failed=$(grep '^--- FAIL' "$REPORTS/compat-$T.log" | awk '{print $3}' | paste -sd' ' || true)
			result="$result: $pass tests passed, $fail failed${failed:+ ($failed)}"
			if [[ " $COMPAT_CRITEST " == *" $v "* ]]; then
				if run_critest; then
					result="$result; critest runc vs hardened-audit: $(grep -E '^ +(runc|hardened-audit) +[0-9]' "$REPORTS/compat-critest-$T.txt" | awk '{printf "%s %s/%s/%s, ", $1, $2, $3, $4}')no reproducible difference"
				else
					result="FAIL critest ($REPORTS/compat-critest-$T.txt); $result"
				fi
			fi
		fi
		"$0" down "$v" || result="FAIL (left processes behind); $result"
		[[ $result == PASS* ]] || rc=1
		rows+=("$(printf '%-9s %4d s  %s' "$v" $((SECONDS - t0)) "$result")")
		log "containerd $v: $result"
	done
	echo
	echo "######## containerd compatibility matrix"
	printf '  %s\n' "${rows[@]}"
	return $rc
}

main() {
	local cmd=${1:-help}
	(($#)) && shift
	case $cmd in
	build) cmd_build "$@" ;;
	up) cmd_up "$@" ;;
	restart) cmd_restart "$@" ;;
	down) cmd_down "$@" ;;
	test) cmd_test "$@" ;;
	versions) echo "$COMPAT_VERSIONS" ;;
	help | -h | --help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
	*) die "unknown subcommand '$cmd' (see compat.sh help)" ;;
	esac
}
main "$@"
