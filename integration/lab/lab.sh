#!/usr/bin/env bash
# lab.sh — a private containerd + CRI lab for containerd-shim-hardened-v2.
#
# Everything the lab starts lives in its own network namespace and under two
# private directories; it never touches /run/containerd or /var/lib/containerd.
#
#   lab.sh install                 install the Debian packages the lab needs
#   lab.sh build                   build pinned tools + project binaries into $LAB_DIR/bin
#   lab.sh up                      netns + CNI + registry + containerd, writes $LAB_RUN/lab.env
#   lab.sh down                    stop everything, unmount, remove netns/cgroups/$LAB_RUN
#   lab.sh status                  what runs, where
#   lab.sh critest HANDLER [args]  run critest against the lab with -runtime-handler HANDLER
#   lab.sh env                     print lab.env (source it: `. "$(lab.sh env-file)"`)
#   lab.sh env-file                print the path of lab.env
#   lab.sh exec CMD [ARGS]         run CMD inside the lab netns with the lab environment
#   lab.sh crictl|ctr [ARGS]       crictl / ctr against the lab (inside the netns)
#   lab.sh config-check            containerd config dump + check that no default path is used
#   lab.sh classes                 rewrite the hardened classes' node class files (a running lab)
#
# Environment knobs (all optional):
#   LAB_NAME (hlab)  LAB_DIR (<repo>/.lab)  LAB_RUN (/run/$LAB_NAME)  LAB_NETNS ($LAB_NAME)
#   LAB_BRIDGE (${LAB_NAME}br0)  LAB_SUBNET (10.88.0.0/16)  LAB_REGISTRY (127.0.0.1:5000)
#   LAB_SANDBOX_IMAGE (registry.k8s.io/pause:3.10.2)  LAB_NO_REGISTRY=1 (do not start labimages)
#   LAB_CRITEST_PARALLEL (4)  LAB_STRICT=0 (build: only warn when a project binary does not build)
#   LAB_LOG_LEVEL (info)  LAB_UP_TIMEOUT (60 s)
set -euo pipefail

# ---------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)

LAB_NAME=${LAB_NAME:-hlab}
LAB_DIR=${LAB_DIR:-$REPO/.lab}
LAB_RUN=${LAB_RUN:-/run/$LAB_NAME}
LAB_NETNS=${LAB_NETNS:-$LAB_NAME}
LAB_NETNS_PATH=/run/netns/$LAB_NETNS
LAB_BRIDGE=${LAB_BRIDGE:-${LAB_NAME}br0}
LAB_SUBNET=${LAB_SUBNET:-10.88.0.0/16}
LAB_REGISTRY=${LAB_REGISTRY:-127.0.0.1:5000}
LAB_SANDBOX_IMAGE=${LAB_SANDBOX_IMAGE:-registry.k8s.io/pause:3.10.2}
LAB_CRITEST_PARALLEL=${LAB_CRITEST_PARALLEL:-4}
LAB_LOG_LEVEL=${LAB_LOG_LEVEL:-info}
LAB_UP_TIMEOUT=${LAB_UP_TIMEOUT:-60}

BIN=$LAB_DIR/bin
CNI_BIN=$LAB_DIR/cni/bin
STAMPS=$LAB_DIR/stamps
BUILD=$LAB_DIR/build
LOGS=$LAB_DIR/logs
REPORTS=$LAB_DIR/reports
CTRD_ROOT=$LAB_DIR/containerd          # persistent: keeps pulled images for warm runs
CTRD_STATE=$LAB_RUN/state
CTRD_SOCK=$LAB_RUN/containerd.sock
CTRD_TTRPC=$LAB_RUN/containerd.sock.ttrpc
CTRD_PID=$LAB_RUN/containerd.pid
CTRD_CONFIG=$LAB_RUN/etc/containerd.toml
SHIM_SOCK_DIR=$LAB_RUN/s
NRI_SOCK=$LAB_RUN/nri.sock
RUNC_ROOT=$LAB_RUN/runc
RUNSC_ROOT=$LAB_RUN/runsc
FIFO_DIR=$LAB_RUN/fifo
# a read-write host directory the hardened class allowlists (the symlink-race test)
ALLOWLISTED_DIR=$LAB_RUN/allowlisted
USERNS_DIR=$LAB_RUN/userns
LAB_TMP=$LAB_RUN/tmp
CNI_CONF_DIR=$LAB_RUN/etc/cni/net.d
CNI_DATA_DIR=$LAB_RUN/cni
CERTS_DIR=$LAB_RUN/etc/certs.d
REG_PID=$LAB_RUN/registry.pid
REG_READY=$LAB_RUN/registry.ready
LAB_ENV=$LAB_RUN/lab.env
CRICTL_YAML=$LAB_RUN/crictl.yaml
HOST_STATE=$LAB_RUN/host-state          # what the host looked like before `up`
CRI_ENDPOINT=unix://$CTRD_SOCK
HARDENED_SHIM=$BIN/containerd-shim-hardened-v2
HARDENED_CLASS_DIR=$LAB_RUN/etc/hardened
# a ConfigPath must lie in the node class directory
FILE_CLASS_CONFIG=$HARDENED_CLASS_DIR/hardened-file.toml
HARDENED_AUDIT_SHIM=$BIN/containerd-shim-hardened-audit-v2
# the hardened class without its user namespace (user_namespace = "off"): the
# startup benchmark's baseline for the namespace's cost
HARDENED_NOUSERNS_SHIM=$BIN/containerd-shim-hardened-nouserns-v2
# ... and without its seccomp profile ([seccomp] profile = "none"): the
# benchmark's baseline for the filter's cost
HARDENED_NOSECCOMP_SHIM=$BIN/containerd-shim-hardened-noseccomp-v2
HARDENED_GVISOR_SHIM=$BIN/containerd-shim-hardened-gvisor-v2
HARDENED_DELEGATE_SHIM=$BIN/containerd-shim-hardened-delegate-v2
RUNSC_WRAPPER=$BIN/runsc-lab

# ---------------------------------------------------------------------------
# pinned versions (see /work/shared/RECIPES.md)
# ---------------------------------------------------------------------------
CONTAINERD_VERSION=v2.4.2
CONTAINERD_TAGS="no_btrfs no_devmapper no_zfs"
RUNC_VERSION=v1.5.2
RUNC_TAGS="seccomp urfave_cli_no_docs"
CRITOOLS_VERSION=v1.37.0
CNI_PLUGINS_VERSION=v1.10.0
GVISOR_VERSION=v0.0.0-20260905035102-160fafc42237

APT_PACKAGES=(
	libseccomp-dev   # runc with the seccomp tag (CGO)
	pkg-config       # libseccomp discovery for the runc build
	gcc libc6-dev    # CGO
	busybox          # dynamic busybox for the image builder (labimages)
	iptables         # CNI bridge/portmap (inside the lab netns only)
	iproute2         # ip netns / ip link
	util-linux       # nsenter, unshare, findmnt
	mount            # mount/umount
	e2fsprogs        # chattr/lsattr used by some cleanup paths
	procps           # ps for status
	jq               # report parsing (critest summary, critest-compare)
	ca-certificates  # Go module proxy over https
	uidmap           # getsubids: the lab kubelet's subordinate IDs (k8s.sh)
	openssl          # the lab Kubernetes node's PKI (k8s.sh)
)

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
if [[ -t 1 ]]; then C_B=$'\e[1m'; C_R=$'\e[31m'; C_Y=$'\e[33m'; C_G=$'\e[32m'; C_0=$'\e[0m'; else C_B='' C_R='' C_Y='' C_G='' C_0=''; fi
log()  { printf '%s[lab]%s %s\n' "$C_B" "$C_0" "$*"; }
ok()   { printf '%s[lab]%s %s%s%s\n' "$C_B" "$C_0" "$C_G" "$*" "$C_0"; }
warn() { printf '%s[lab] WARNING:%s %s\n' "$C_Y" "$C_0" "$*" >&2; }
die()  { printf '%s[lab] ERROR:%s %s\n' "$C_R" "$C_0" "$*" >&2; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

# timed NAME CMD...: run CMD (in a subshell with errexit in force) and print how long it took.
timed() {
	local name=$1 t0 rc; shift
	t0=$(now)
	set +e
	(set -e; "$@")
	rc=$?
	set -e
	if [[ $rc -eq 0 ]]; then log "  ${name}: ok ($(elapsed "$t0"))"; else warn "${name}: FAILED (rc=$rc) after $(elapsed "$t0")"; fi
	return $rc
}

# pid_alive PID [EXE]: PID exists (and its executable is EXE, if given).
pid_alive() {
	local pid=$1 want=${2:-} exe
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -d /proc/$pid ]] || return 1
	if [[ -n $want ]]; then
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
		exe=${exe% (deleted)}
		[[ $exe == "$want" ]] || return 1
	fi
	# zombies count as gone
	[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]
}

# stop_pid PID NAME [TIMEOUT]: TERM, wait, KILL, wait.
stop_pid() {
	local pid=$1 name=$2 t=${3:-15} i
	pid_alive "$pid" || return 0
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < t * 10; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
	warn "$name (pid $pid) did not exit after ${t}s, sending KILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
	warn "$name (pid $pid) still alive after KILL"
}

# read_pidfile FILE: prints the pid in FILE or nothing.
read_pidfile() { [[ -f $1 ]] && tr -dc '0-9' <"$1" || true; }

netns_exists() { [[ -e $LAB_NETNS_PATH ]] && ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$LAB_NETNS"; }

# in_netns CMD...: run CMD in the lab netns (host mount namespace) with the lab PATH.
in_netns() {
	nsenter --net="$LAB_NETNS_PATH" -- env PATH="$BIN:$CNI_BIN:$PATH" "$@"
}

lab_crictl() { in_netns "$BIN/crictl" --config "$CRICTL_YAML" "$@"; }
lab_ctr() { "$BIN/ctr" --address "$CTRD_SOCK" "$@"; }

containerd_pid() {
	local pid
	pid=$(read_pidfile "$CTRD_PID")
	if [[ -n $pid ]] && pid_alive "$pid" "$BIN/containerd"; then echo "$pid"; fi
}
registry_pid() {
	local pid
	pid=$(read_pidfile "$REG_PID")
	if [[ -n $pid ]] && pid_alive "$pid" "$BIN/labimages"; then echo "$pid"; fi
}

# lab_lock: serialise up/down of this lab. Daemons are started with fd 9 closed (9>&-),
# otherwise they would hold the lock for their whole life.
lab_lock() {
	exec 9>"$LAB_DIR/.lock"
	flock -w 120 9 || die "another lab.sh up/down holds $LAB_DIR/.lock"
}

go_env_check() {
	command -v go >/dev/null || die "go is not on PATH (need Go >= 1.24; /usr/local/go/bin?)"
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------
cmd_install() {
	need_root
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		ok "all Debian packages present: ${APT_PACKAGES[*]}"
	else
		log "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
		ok "installed: ${missing[*]}"
	fi
	go_env_check
	log "go: $(go version)"
}

# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------
GOVER=
stamp_want() { echo "$1 $GOVER"; }
# stamp_ok NAME WANT BINARY...: NAME was built as WANT and its binaries exist.
stamp_ok() {
	local name=$1 want=$2 b; shift 2
	[[ -f $STAMPS/$name && "$(cat "$STAMPS/$name")" == "$want" ]] || return 1
	for b in "$@"; do [[ -x $b ]] || return 1; done
}
stamp_write() { mkdir -p "$STAMPS"; echo "$2" >"$STAMPS/$1"; }

# goinst GOBIN ARGS...: `go install` from a neutral directory (never the project module).
goinst() {
	local gobin=$1; shift
	(cd "$BUILD" && GOWORK=off GOTOOLCHAIN=local GOBIN="$gobin" go install "$@")
}

build_containerd() {
	local want
	want=$(stamp_want "$CONTAINERD_VERSION tags=$CONTAINERD_TAGS")
	if stamp_ok containerd "$want" "$BIN/containerd" "$BIN/ctr" "$BIN/containerd-shim-runc-v2"; then
		log "  containerd $CONTAINERD_VERSION: up to date"; return 0
	fi
	CGO_ENABLED=1 goinst "$BIN" -tags "$CONTAINERD_TAGS" \
		github.com/containerd/containerd/v2/cmd/containerd@"$CONTAINERD_VERSION" \
		github.com/containerd/containerd/v2/cmd/ctr@"$CONTAINERD_VERSION" \
		github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@"$CONTAINERD_VERSION"
	stamp_write containerd "$want"
}

build_runc() {
	local want
	want=$(stamp_want "$RUNC_VERSION tags=$RUNC_TAGS")
	if stamp_ok runc "$want" "$BIN/runc"; then log "  runc $RUNC_VERSION: up to date"; return 0; fi
	pkg-config --exists libseccomp || die "libseccomp-dev is missing: run '$0 install'"
	CGO_ENABLED=1 goinst "$BIN" -trimpath -buildmode=pie -tags "$RUNC_TAGS" \
		github.com/opencontainers/runc@"$RUNC_VERSION"
	stamp_write runc "$want"
}

build_crictl() {
	local want
	want=$(stamp_want "$CRITOOLS_VERSION")
	if stamp_ok crictl "$want" "$BIN/crictl"; then log "  crictl $CRITOOLS_VERSION: up to date"; return 0; fi
	goinst "$BIN" sigs.k8s.io/cri-tools/cmd/crictl@"$CRITOOLS_VERSION"
	stamp_write crictl "$want"
}

# critest is a test binary: build it in a scratch module; ginkgo at the version
# cri-tools' go.mod selects (critest -parallel=N execs `ginkgo`).
build_critest() {
	local want dir=$BUILD/critest gv
	want=$(stamp_want "$CRITOOLS_VERSION")
	if stamp_ok critest "$want" "$BIN/critest" "$BIN/ginkgo"; then log "  critest/ginkgo $CRITOOLS_VERSION: up to date"; return 0; fi
	mkdir -p "$dir"
	(
		cd "$dir"
		export GOWORK=off GOTOOLCHAIN=local
		[[ -f go.mod ]] || go mod init lab.local/critest >/dev/null 2>&1
		go get -t sigs.k8s.io/cri-tools/cmd/critest@"$CRITOOLS_VERSION" 2>"$dir/go-get.log" ||
			{ cat "$dir/go-get.log" >&2; exit 1; }
		go test -c -o "$BIN/critest" sigs.k8s.io/cri-tools/cmd/critest
		gv=$(go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)
		echo "$gv" >"$dir/ginkgo.version"
		GOBIN="$BIN" go install github.com/onsi/ginkgo/v2/ginkgo@"$gv"
	)
	log "  ginkgo $(cat "$dir/ginkgo.version") (from cri-tools $CRITOOLS_VERSION go.mod)"
	stamp_write critest "$want"
}

build_cni() {
	local want p=github.com/containernetworking/plugins/plugins
	want=$(stamp_want "$CNI_PLUGINS_VERSION")
	if stamp_ok cni "$want" "$CNI_BIN/bridge" "$CNI_BIN/loopback" "$CNI_BIN/host-local" "$CNI_BIN/portmap"; then
		log "  CNI plugins $CNI_PLUGINS_VERSION: up to date"; return 0
	fi
	mkdir -p "$CNI_BIN"
	CGO_ENABLED=0 goinst "$CNI_BIN" \
		"$p/main/bridge@$CNI_PLUGINS_VERSION" "$p/main/loopback@$CNI_PLUGINS_VERSION" \
		"$p/ipam/host-local@$CNI_PLUGINS_VERSION" "$p/meta/portmap@$CNI_PLUGINS_VERSION"
	stamp_write cni "$want"
}

build_runsc() {
	local want
	want=$(stamp_want "$GVISOR_VERSION")
	if stamp_ok runsc "$want" "$BIN/runsc"; then log "  runsc $GVISOR_VERSION: up to date"; return 0; fi
	CGO_ENABLED=0 goinst "$BIN" -trimpath gvisor.dev/gvisor/runsc@"$GVISOR_VERSION"
	stamp_write runsc "$want"
}

# write_runsc_wrapper: runsc behind the stock runc shim (RECIPES "gVisor through containerd").
# The runc shim passes its own --root (from the runtime's Root option) after these flags; the
# last --root wins, so the one here is only a fallback that still stays inside $LAB_RUN.
write_runsc_wrapper() {
	mkdir -p "$BIN"
	cat >"$RUNSC_WRAPPER.tmp" <<EOF
#!/bin/sh
# generated by integration/lab/lab.sh — runsc as an OCI runtime behind containerd-shim-runc-v2
set -- --platform=systrap --oci-seccomp --root="$RUNSC_ROOT" "\$@"
case " \$* " in
*" kill "*)
	# runsc says "sandbox is not running" where runc says "container not running"; the runc
	# shim only takes the latter for "already exited", and CRI's StopPodSandbox then fails
	# forever. Add runc's wording to runsc's error.
	err=\$("$BIN/runsc" "\$@" 2>&1 >/dev/null) && exit 0
	rc=\$?
	printf '%s\n' "\$err" >&2
	case \$err in *"is not running"*) echo "container not running" >&2 ;; esac
	exit \$rc
	;;
esac
exec "$BIN/runsc" "\$@"
EOF
	chmod 0755 "$RUNSC_WRAPPER.tmp"
	mv -f "$RUNSC_WRAPPER.tmp" "$RUNSC_WRAPPER"
}

# build_project NAME PKG: project binaries are always rebuilt (the Go build cache makes it cheap).
PROJECT_FAILURES=()
build_project() {
	local name=$1 pkg=$2 out=$BIN/$1 logf=$LOGS/build-$1.log t0
	t0=$(now)
	if [[ ! -d $REPO/$pkg ]]; then
		warn "$name: $pkg does not exist yet — not built"
		PROJECT_FAILURES+=("$name (missing $pkg)")
		return 0
	fi
	# SHIM_LDFLAGS (from the Makefile) stamps version and commit into the binaries.
	if (cd "$REPO" && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "${SHIM_LDFLAGS:-}" -o "$out.new" "./$pkg") >"$logf" 2>&1; then
		mv -f "$out.new" "$out"
		log "  $name: built ./$pkg in $(elapsed "$t0")"
	else
		rm -f "$out.new"
		PROJECT_FAILURES+=("$name (build failed, see $logf)")
		warn "$name: 'go build ./$pkg' failed (log: $logf):"
		sed 's/^/    /' "$logf" | head -20 >&2
		if [[ -x $out ]]; then warn "$name: keeping the STALE binary $out from $(date -r "$out" '+%F %T')"; fi
	fi
}

cmd_build() {
	go_env_check
	GOVER=$(go env GOVERSION)
	mkdir -p "$BIN" "$CNI_BIN" "$STAMPS" "$BUILD" "$LOGS"
	local t0 t1
	t0=$(now)
	log "building pinned tools into $BIN (go $GOVER)"
	timed "containerd/ctr/containerd-shim-runc-v2 $CONTAINERD_VERSION" build_containerd
	timed "runc $RUNC_VERSION" build_runc
	timed "crictl $CRITOOLS_VERSION" build_crictl
	timed "critest + ginkgo $CRITOOLS_VERSION" build_critest
	timed "CNI plugins $CNI_PLUGINS_VERSION" build_cni
	timed "gVisor runsc" build_runsc
	write_runsc_wrapper
	log "building project binaries"
	build_project containerd-shim-hardened-v2 cmd/containerd-shim-hardened-v2
	build_project labimages integration/cmd/labimages
	# Build the image tools (pgrep/ipcs stand-ins, ...) now, while the Go module proxy is
	# reachable: `labimages serve` runs inside the netns. The tarballs serve `ctr images import`.
	if [[ -x $BIN/labimages ]]; then
		t1=$(now)
		if (cd "$REPO" && "$BIN/labimages" save --out "$LAB_DIR/images" --cache "$LAB_DIR/images-cache") >"$LOGS/labimages-save.log" 2>&1; then
			log "  lab images: $(find "$LAB_DIR/images" -name '*.tar' | wc -l) tarballs in $LAB_DIR/images, tools cached, in $(elapsed "$t1")"
		else
			warn "labimages save failed (log: $LOGS/labimages-save.log)"
			tail -5 "$LOGS/labimages-save.log" >&2
		fi
	fi
	log "build finished in $(elapsed "$t0")"
	if ((${#PROJECT_FAILURES[@]})); then
		warn "project binaries not (re)built: ${PROJECT_FAILURES[*]}"
		[[ ${LAB_STRICT:-1} == 1 ]] && die "a project binary did not build (LAB_STRICT=0 keeps going with stale binaries)"
	fi
	return 0
}

# ---------------------------------------------------------------------------
# config generation
# ---------------------------------------------------------------------------
write_cni_config() {
	mkdir -p "$CNI_CONF_DIR" "$CNI_DATA_DIR"
	# No route out exists: the lab netns has only lo and this bridge. ipMasq is off.
	cat >"$CNI_CONF_DIR/10-$LAB_NAME.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$LAB_NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$LAB_BRIDGE",
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CNI_DATA_DIR/networks",
        "ranges": [[{ "subnet": "$LAB_SUBNET" }]]
      }
    },
    {
      "type": "portmap",
      "capabilities": { "portMappings": true }
    }
  ]
}
EOF
}

write_registry_hosts() {
	mkdir -p "$CERTS_DIR/_default"
	# Every registry host (registry.k8s.io, docker.io, ...) resolves to the lab registry.
	cat >"$CERTS_DIR/_default/hosts.toml" <<EOF
server = "http://$LAB_REGISTRY"

[host."http://$LAB_REGISTRY"]
  capabilities = ["pull", "resolve", "push"]
  skip_verify = true
EOF
}

# containerd_config: a containerd 2.x config (version 3) that uses no default path, for the
# lab's containerd and for any other instance (k8s.sh's node: `lab.sh containerd-config`). The
# instance is described by C_* variables (defaults: the lab's); its runtime handlers' TOML
# comes on stdin.
# version = 3: containerd 2.4.2 accepts it (with a "migrated" log line). With version = 4 a
# top-level [grpc] address is silently ignored and the DEFAULT socket is bound (RECIPES), so
# the address is also set on the grpc plugin; `config-check` verifies no default path is used.
containerd_config() {
	local root=${C_ROOT:-$CTRD_ROOT} state=${C_STATE:-$CTRD_STATE} temp=${C_TEMP:-$LAB_TMP}
	local sock=${C_SOCK:-$CTRD_SOCK} shims=${C_SHIM_SOCKETS:-$SHIM_SOCK_DIR} cdi=${C_CDI:-$LAB_RUN/etc/cdi}
	local opt=${C_OPT:-$LAB_DIR} port=${C_STREAM_PORT:-10010} nri=${C_NRI_SOCK:-$NRI_SOCK}
	local imports runtimes
	imports=${C_IMPORTS-'# no imports: only this file'"'"'s imports are resolved (the dump still lists the built-in
# /etc/containerd/conf.d/*.toml default, which is never loaded: see config-check)
imports = []'}
	runtimes=$(cat)
	cat <<EOF
# generated by integration/lab/lab.sh${C_WHAT:+ for $C_WHAT} — do not edit
version = 3
root = "$root"
state = "$state"
temp = "$temp"
$imports

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  level = "$LAB_LOG_LEVEL"

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "$LAB_SANDBOX_IMAGE"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "$CERTS_DIR"

  [plugins.'io.containerd.cri.v1.runtime']
    # root here lacks CAP_SYS_RESOURCE: without this every pod fails with
    # "can't get final child's PID from pipe: EOF" (RECIPES).
    restrict_oom_score_adj = true
    # pod netns bind mounts under \$state/netns instead of /var/run/netns
    netns_mounts_under_state_dir = true
    cdi_spec_dirs = ["$cdi"]
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
$runtimes
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["$CNI_BIN"]
      conf_dir = "$CNI_CONF_DIR"
      max_conf_num = 1

  [plugins.'io.containerd.grpc.v1.cri']
    # streaming server (exec/attach/port-forward) listens inside the lab netns
    stream_server_address = "127.0.0.1"
    stream_server_port = "$port"

  [plugins.'io.containerd.grpc.v1.grpc']
    address = "$sock"

  [plugins.'io.containerd.shim.v1.manager']
    # must be <= 42 characters
    socket_dir = "$shims"

  [plugins.'io.containerd.nri.v1.nri']
    socket_path = "$nri"
    plugin_path = "$opt/nri/plugins"
    plugin_config_path = "$opt/nri/conf.d"

  [plugins.'io.containerd.internal.v1.opt']
    path = "$opt/opt"

  [plugins.'io.containerd.transfer.v1.local']
    config_path = "$CERTS_DIR"

  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = "$opt/image-verifier/bin"

# the built-in ocicrypt stream processors point at /etc/containerd/ocicrypt: relocate them
[stream_processors]
  [stream_processors.'io.containerd.ocicrypt.decoder.v1.tar']
    accepts = ['application/vnd.oci.image.layer.v1.tar+encrypted']
    returns = 'application/vnd.oci.image.layer.v1.tar'
    path = 'ctd-decoder'
    args = ['--decryption-keys-path', '$opt/ocicrypt/keys']
    env = ['OCICRYPT_KEYPROVIDER_CONFIG=$opt/ocicrypt/ocicrypt_keyprovider.conf']
  [stream_processors.'io.containerd.ocicrypt.decoder.v1.tar.gzip']
    accepts = ['application/vnd.oci.image.layer.v1.tar+gzip+encrypted']
    returns = 'application/vnd.oci.image.layer.v1.tar+gzip'
    path = 'ctd-decoder'
    args = ['--decryption-keys-path', '$opt/ocicrypt/keys']
    env = ['OCICRYPT_KEYPROVIDER_CONFIG=$opt/ocicrypt/ocicrypt_keyprovider.conf']
EOF
}

write_containerd_config() {
	mkdir -p "$(dirname "$CTRD_CONFIG")" "$LAB_RUN/etc/cdi" "$LAB_DIR/nri/plugins" "$LAB_DIR/nri/conf.d"
	write_file_class_config
	containerd_config >"$CTRD_CONFIG" <<EOF
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$BIN/runc"
          Root = "$RUNC_ROOT"
          SystemdCgroup = false
      # Hardened classes. "hardened" and "hardened-audit" send no options: each shim binary
      # name reads its node class file from \$CONTAINERD_SHIM_HARDENED_CONFIG_DIR (containerd's
      # CRI must send runc-style options for user-namespaced pods, which excludes inline
      # options). "hardened-inline" (ConfigBody) and "hardened-file" (ConfigPath) test the other
      # two ways to configure a class.
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_SHIM"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-audit]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_AUDIT_SHIM"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-gvisor]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_GVISOR_SHIM"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-gvisor-audit]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$BIN/containerd-shim-hardened-gvisor-audit-v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-delegate]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_DELEGATE_SHIM"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-delegate-audit]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$BIN/containerd-shim-hardened-delegate-audit-v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-nouserns]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_NOUSERNS_SHIM"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-noseccomp]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_NOSECCOMP_SHIM"
$(ablation_handlers)
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-inline]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_SHIM"
        options = { class_name = "hardened-inline", binary_name = "$BIN/runc", root = "$RUNC_ROOT", containerd_root = "$CTRD_ROOT", kubelet_root = "$LAB_DIR/kubelet", audit_log = "$LOGS/hardened-audit.log" }
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-file]
        runtime_type = "io.containerd.hardened.v2"
        runtime_path = "$HARDENED_SHIM"
        options = { ConfigPath = "$FILE_CLASS_CONFIG" }
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc.options]
          BinaryName = "$RUNSC_WRAPPER"
          Root = "$RUNSC_ROOT"
          SystemdCgroup = false
EOF
}

# The hardened-file handler reads its class from this file (ConfigPath); tests
# overwrite it to check how a broken file is reported, then restore it.
write_file_class_config() {
	mkdir -p "$HARDENED_CLASS_DIR"
	lab_class_config hardened-file >"$FILE_CLASS_CONFIG"
	{
		lab_class_config hardened
		printf '%s\n' "[[policy.allowed_host_paths]]" "path_prefix = \"$ALLOWLISTED_DIR\""
	} >"$HARDENED_CLASS_DIR/containerd-shim-hardened-v2.toml"
	{
		lab_class_config hardened-nouserns 'user_namespace = "off"'
		printf '%s\n' "[[policy.allowed_host_paths]]" "path_prefix = \"$ALLOWLISTED_DIR\""
	} >"$HARDENED_CLASS_DIR/containerd-shim-hardened-nouserns-v2.toml"
	ln -sfn containerd-shim-hardened-v2 "$HARDENED_NOUSERNS_SHIM"
	{
		lab_class_config hardened-noseccomp
		printf '%s\n' "[[policy.allowed_host_paths]]" "path_prefix = \"$ALLOWLISTED_DIR\"" "[seccomp]" "profile = \"none\""
	} >"$HARDENED_CLASS_DIR/containerd-shim-hardened-noseccomp-v2.toml"
	ln -sfn containerd-shim-hardened-v2 "$HARDENED_NOSECCOMP_SHIM"
	mkdir -p "$ALLOWLISTED_DIR"
	lab_class_config hardened-audit 'mode = "audit"' >"$HARDENED_CLASS_DIR/containerd-shim-hardened-audit-v2.toml"
	# gVisor: the hardened class with runsc as its backend
	CLASS_BINARY=$BIN/runsc CLASS_ROOT=$RUNSC_ROOT lab_class_config hardened-gvisor 'runtime = "runsc"' \
		>"$HARDENED_CLASS_DIR/containerd-shim-hardened-gvisor-v2.toml"
	ln -sfn containerd-shim-hardened-v2 "$HARDENED_GVISOR_SHIM"
	CLASS_BINARY=$BIN/runsc CLASS_ROOT=$RUNSC_ROOT lab_class_config hardened-gvisor-audit 'runtime = "runsc"' 'mode = "audit"' \
		>"$HARDENED_CLASS_DIR/containerd-shim-hardened-gvisor-audit-v2.toml"
	ln -sfn containerd-shim-hardened-v2 "$BIN/containerd-shim-hardened-gvisor-audit-v2"
	# delegation: the hardened class handing its containers to containerd's own runc shim
	# (the stand-in for Kata's, which cannot run here)
	lab_class_config hardened-delegate 'runtime = "kata"' '[kata]' "shim = \"$BIN/containerd-shim-runc-v2\"" 'user_namespaces = true' \
		>"$HARDENED_CLASS_DIR/containerd-shim-hardened-delegate-v2.toml"
	ln -sfn containerd-shim-hardened-v2 "$HARDENED_DELEGATE_SHIM"
	lab_class_config hardened-delegate-audit 'runtime = "kata"' 'mode = "audit"' '[kata]' "shim = \"$BIN/containerd-shim-runc-v2\"" 'user_namespaces = true' \
		>"$HARDENED_CLASS_DIR/containerd-shim-hardened-delegate-audit-v2.toml"
	ln -sfn containerd-shim-hardened-v2 "$BIN/containerd-shim-hardened-delegate-audit-v2"
	# a second binary name for the audit class (its node class file is named after it)
	ln -sfn containerd-shim-hardened-v2 "$HARDENED_AUDIT_SHIM"
	write_ablation_classes
}

# The start benchmark's ablation ladder (integration/bench/startup.sh -V ablation): the node
# class with every protection off but the checks, then one protection added per step.
# hardened-nouserns (+ read-only /sys) and hardened (+ user namespace) are its last two steps.
ABLATION_STEPS=(ab-checks ab-seccomp ab-rofs ab-tmp ab-run ab-varrun)
# ablation_class STEP: the extra lines of STEP's class (cumulative).
ablation_class() {
	local seccomp='profile = "none"' nnp=false ro=false paths='[]'
	case $1 in
	ab-checks) ;;
	ab-seccomp) seccomp='profile = "hardened"' nnp=true ;;&
	ab-rofs | ab-tmp | ab-run | ab-varrun) seccomp='profile = "hardened"' nnp=true ro=true ;;&
	ab-tmp) paths='[{ path = "/tmp", size = "64Mi" }]' ;;
	ab-run) paths='[{ path = "/tmp", size = "64Mi" }, { path = "/run", size = "16Mi" }]' ;;
	ab-varrun) paths='[{ path = "/tmp", size = "64Mi" }, { path = "/run", size = "16Mi" }, { path = "/var/run", size = "16Mi" }]' ;;
	ab-seccomp | ab-rofs) ;;
	*) die "internal: unknown ablation step $1" ;;
	esac
	printf '%s\n' 'user_namespace = "off"' "no_new_privileges = $nnp" '[seccomp]' "$seccomp" \
		'[rootfs]' "read_only = $ro" 'read_only_sys = false' "writable_paths = $paths"
}
write_ablation_classes() {
	local step
	for step in "${ABLATION_STEPS[@]}"; do
		mapfile -t extra < <(ablation_class "$step")
		lab_class_config "hardened-$step" "${extra[@]}" >"$HARDENED_CLASS_DIR/containerd-shim-hardened-$step-v2.toml"
		ln -sfn containerd-shim-hardened-v2 "$BIN/containerd-shim-hardened-$step-v2"
	done
}
ablation_handlers() {
	local step
	for step in "${ABLATION_STEPS[@]}"; do
		printf '%s\n' "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-$step]" \
			'        runtime_type = "io.containerd.hardened.v2"' \
			"        runtime_path = \"$BIN/containerd-shim-hardened-$step-v2\""
	done
}

# lab_class_config NAME [EXTRA-LINE...]: a class config with the lab's paths.
lab_class_config() {
	local name=$1
	shift
	printf '%s\n' "class_name = \"$name\"" "binary_name = \"${CLASS_BINARY:-$BIN/runc}\"" "root = \"${CLASS_ROOT:-$RUNC_ROOT}\"" \
		"containerd_root = \"${CLASS_CONTAINERD_ROOT:-$CTRD_ROOT}\"" "kubelet_root = \"$LAB_DIR/kubelet\"" \
		"audit_log = \"$LOGS/hardened-audit.log\"" "$@" \
		"[userns]" "# the lab's pods draw user namespace IDs from an allocator of its own" \
		"state_dir = \"$USERNS_DIR\"" \
		"[policy]" "# the lab's clients create their stdio FIFOs here (ctr/cio --fifo-dir)" \
		"allowed_log_dirs = [\"$FIFO_DIR\"]"
}

write_crictl_yaml() {
	cat >"$CRICTL_YAML" <<EOF
runtime-endpoint: $CRI_ENDPOINT
image-endpoint: $CRI_ENDPOINT
timeout: 30
debug: false
pull-image-on-create: false
EOF
}

write_lab_env() {
	cat >"$LAB_ENV.tmp" <<EOF
# generated by integration/lab/lab.sh up — source me
export LAB_NAME='$LAB_NAME'
export LAB_DIR='$LAB_DIR'
export LAB_RUN='$LAB_RUN'
export LAB_BIN='$BIN'
export LAB_NETNS='$LAB_NETNS'
export LAB_NETNS_PATH='$LAB_NETNS_PATH'
export NETNS='$LAB_NETNS_PATH'
export LAB_REGISTRY='$LAB_REGISTRY'
export LAB_SUBNET='$LAB_SUBNET'
export LAB_BRIDGE='$LAB_BRIDGE'
export LAB_SANDBOX_IMAGE='$LAB_SANDBOX_IMAGE'
export LAB_CONTAINERD_CONFIG='$CTRD_CONFIG'
export LAB_CONTAINERD_ROOT='$CTRD_ROOT'
export LAB_CONTAINERD_STATE='$CTRD_STATE'
export LAB_STATE='$CTRD_STATE'
export CONTAINERD_STATE='$CTRD_STATE'
export LAB_HOSTS_DIR='$CERTS_DIR'
export LAB_CONTAINERD_PID_FILE='$CTRD_PID'
export LAB_CONTAINERD_LOG='$LOGS/containerd.log'
export LAB_SHIM_SOCKET_DIR='$SHIM_SOCK_DIR'
export LAB_RUNC='$BIN/runc'
export LAB_RUNC_ROOT='$RUNC_ROOT'
export RUNC_ROOT='$RUNC_ROOT'
export LAB_RUNSC_ROOT='$RUNSC_ROOT'
export LAB_HARDENED_SHIM='$HARDENED_SHIM'
export LAB_HARDENED_NOUSERNS_SHIM='$HARDENED_NOUSERNS_SHIM'
export LAB_HARDENED_NOSECCOMP_SHIM='$HARDENED_NOSECCOMP_SHIM'
export LAB_HARDENED_GVISOR_SHIM='$HARDENED_GVISOR_SHIM'
export LAB_HARDENED_DELEGATE_SHIM='$HARDENED_DELEGATE_SHIM'
export LAB_RUNC_SHIM='$BIN/containerd-shim-runc-v2'
export LAB_CONTAINERD_VERSION='$CONTAINERD_VERSION'
export LAB_HARDENED_AUDIT_LOG='$LOGS/hardened-audit.log'
export LAB_KUBELET_ROOT='$LAB_DIR/kubelet'
export LAB_RUNTIME_HANDLERS='runc hardened hardened-audit hardened-nouserns hardened-noseccomp hardened-inline hardened-file runsc hardened-gvisor hardened-gvisor-audit hardened-delegate hardened-delegate-audit'
export LAB_HARDENED_CLASS_DIR='$HARDENED_CLASS_DIR'
# the start benchmark's ablation steps: handler hardened-STEP, shim \$LAB_BIN/containerd-shim-hardened-STEP-v2
export LAB_ABLATION_STEPS='${ABLATION_STEPS[*]}'
export LAB_FILE_CLASS_CONFIG='$FILE_CLASS_CONFIG'
export LAB_FIFO_DIR='$FIFO_DIR'
export LAB_ALLOWLISTED_DIR='$ALLOWLISTED_DIR'
export LAB_USERNS_DIR='$USERNS_DIR'
export LAB_IMAGES_DIR='$LAB_DIR/images'
# ctr run/create without these falls back to /run/containerd/fifo and /run/containerd/runc
export LAB_CTR_RUN_FLAGS='--fifo-dir $FIFO_DIR --runc-binary $BIN/runc --runc-root $RUNC_ROOT'
export LAB_TMP='$LAB_TMP'
export LAB_CNI_BIN_DIR='$CNI_BIN'
export LAB_CNI_CONF_DIR='$CNI_CONF_DIR'
export LAB_NRI_SOCKET='$NRI_SOCK'
export CONTAINERD_ADDRESS='$CTRD_SOCK'
export CONTAINERD_TTRPC_ADDRESS='$CTRD_TTRPC'
export CONTAINERD_NAMESPACE='default'
export CRI_ENDPOINT='$CRI_ENDPOINT'
export CONTAINER_RUNTIME_ENDPOINT='$CRI_ENDPOINT'
export IMAGE_SERVICE_ENDPOINT='$CRI_ENDPOINT'
export CRI_CONFIG_FILE='$CRICTL_YAML'
export LAB_PATH='$BIN:$CNI_BIN'
export PATH="\$LAB_PATH:\$PATH"
EOF
	mv -f "$LAB_ENV.tmp" "$LAB_ENV"
}

# config_check: containerd must not use any default path (RECIPES: version 3 vs 4 pitfalls).
cmd_config_check() {
	[[ -f $CTRD_CONFIG ]] || die "no config at $CTRD_CONFIG (run 'lab.sh up')"
	local dump=$LAB_RUN/etc/containerd.dump.toml bad
	"$BIN/containerd" --config "$CTRD_CONFIG" config dump >"$dump" 2>"$LOGS/config-dump.err" ||
		{ cat "$LOGS/config-dump.err" >&2; die "containerd config dump failed"; }
	# any absolute path in the dump must lie under $LAB_DIR or $LAB_RUN
	# Exception: `imports` shows the built-in default /etc/containerd/conf.d/*.toml merged in,
	# but containerd 2.4.2 resolves only the imports of the files it loads (ours has none).
	bad=$(grep -noE "['\"]/[^'\"]*" "$dump" | grep -vE ":['\"]($LAB_DIR|$LAB_RUN)(/|\$)" |
		grep -vxE "[0-9]+:'/etc/containerd/conf\.d/\*\.toml" || true)
	if [[ -n $bad ]]; then
		printf '  %s\n' $bad >&2
		die "containerd config uses paths outside the lab (full dump: $dump)"
	fi
	local p
	for p in "address = '$CTRD_SOCK'" "address = '$CTRD_TTRPC'" "socket_dir = '$SHIM_SOCK_DIR'" \
		"restrict_oom_score_adj = true" "socket_path = '$NRI_SOCK'"; do
		grep -qF "$p" "$dump" || die "config dump lacks \"$p\" (full dump: $dump)"
	done
	ok "containerd config uses only lab paths (dump: $dump)"
}

# ---------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------
record_host_state() {
	mkdir -p "$HOST_STATE"
	# /run/netns: `ip netns add` turns it into a (shared) mount point; down undoes that only if
	# it was not a mount point before the lab's first up.
	if [[ ! -f $HOST_STATE/run-netns ]]; then
		if [[ ! -e /run/netns ]]; then echo absent
		elif mountpoint -q /run/netns; then echo mounted
		else echo dir; fi >"$HOST_STATE/run-netns"
	fi
	# libcni caches ADD results in /var/lib/cni/results (hard-coded in libcni; containerd 2.4.2
	# has no setting for it). down removes the lab's entries and, if the lab created them, the dirs.
	if [[ ! -f $HOST_STATE/var-lib-cni ]]; then
		if [[ -d /var/lib/cni/results ]]; then echo results; elif [[ -d /var/lib/cni ]]; then echo dir; else echo absent; fi >"$HOST_STATE/var-lib-cni"
	fi
	# cgroup directories that existed before the lab (down removes only new, empty ones
	# under containerd-namespace-named parents).
	if [[ ! -f $HOST_STATE/cgroups ]]; then
		local m
		for m in $(cgroup_mounts); do find "$m" -maxdepth 3 -type d 2>/dev/null; done | sort -u >"$HOST_STATE/cgroups"
	fi
}

cgroup_mounts() { awk '$0 ~ / - cgroup2? / {print $5}' /proc/self/mountinfo | sort -u; }

start_registry() {
	if [[ ${LAB_NO_REGISTRY:-0} == 1 ]]; then
		warn "LAB_NO_REGISTRY=1: not starting the image registry (pulls will fail)"
		return 0
	fi
	local pid i
	pid=$(registry_pid)
	if [[ -n $pid ]]; then log "registry already running (pid $pid)"; return 0; fi
	[[ -x $BIN/labimages ]] || die "$BIN/labimages is missing (integration/cmd/labimages not built: run 'lab.sh build'; or LAB_NO_REGISTRY=1)"
	rm -f "$REG_READY" "$REG_PID"
	log "starting registry labimages on $LAB_REGISTRY (netns $LAB_NETNS, log $LOGS/registry.log)"
	{ echo "===== $(date '+%F %T') lab.sh up"; } >>"$LOGS/registry.log"
	# --cache: labimages builds small Go stand-ins (pgrep, ipcs, ...) once and keeps them there.
	# It runs inside the netns (no network): the Go module/build caches must already hold them.
	(cd "$REPO" && exec setsid nsenter --net="$LAB_NETNS_PATH" -- env PATH="$BIN:$PATH" \
		"$BIN/labimages" serve --addr "$LAB_REGISTRY" --cache "$LAB_DIR/images-cache" \
		--pidfile "$REG_PID" --ready-file "$REG_READY" </dev/null >>"$LOGS/registry.log" 2>&1 9>&-) &
	pid=$!
	for ((i = 0; i < 1200; i++)); do
		[[ -e $REG_READY ]] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -20 "$LOGS/registry.log" >&2
			die "registry exited before becoming ready (log: $LOGS/registry.log)"
		fi
		sleep 0.1
	done
	[[ -e $REG_READY ]] || { tail -20 "$LOGS/registry.log" >&2; stop_pid "$pid" registry 5; die "registry not ready after 120s"; }
	[[ -s $REG_PID ]] || echo "$pid" >"$REG_PID"
	ok "registry ready (pid $(read_pidfile "$REG_PID"))"
}

start_containerd() {
	local pid i
	pid=$(containerd_pid)
	if [[ -n $pid ]]; then log "containerd already running (pid $pid)"; return 0; fi
	rm -f "$CTRD_PID"
	log "starting containerd $CONTAINERD_VERSION (netns $LAB_NETNS, log $LOGS/containerd.log)"
	{ echo "===== $(date '+%F %T') lab.sh up"; } >>"$LOGS/containerd.log"
	# setsid: its own session, so the lab survives the shell that ran `up`.
	# TMPDIR: containerd's temporary mounts land under $LAB_RUN too.
	# CONTAINERD_SHIM_HARDENED_CONFIG_DIR: where the hardened shims find their node class files.
	setsid nsenter --net="$LAB_NETNS_PATH" -- env PATH="$BIN:$PATH" TMPDIR="$LAB_TMP" \
		CONTAINERD_SHIM_HARDENED_CONFIG_DIR="$HARDENED_CLASS_DIR" \
		"$BIN/containerd" --config "$CTRD_CONFIG" </dev/null >>"$LOGS/containerd.log" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$CTRD_PID"
	for ((i = 0; i < 50; i++)); do
		pid_alive "$pid" "$BIN/containerd" && break
		sleep 0.1
	done
	pid_alive "$pid" "$BIN/containerd" || { tail -30 "$LOGS/containerd.log" >&2; die "containerd did not start"; }
}

wait_cri_ready() {
	local deadline=$((SECONDS + LAB_UP_TIMEOUT)) info=""
	log "waiting for the CRI (timeout ${LAB_UP_TIMEOUT}s)"
	while ((SECONDS < deadline)); do
		if [[ -z $(containerd_pid) ]]; then
			tail -30 "$LOGS/containerd.log" >&2
			die "containerd exited (log: $LOGS/containerd.log)"
		fi
		if info=$(lab_crictl info 2>/dev/null); then
			if jq -e '.status.conditions[] | select(.type=="NetworkReady") | .status == true' <<<"$info" >/dev/null 2>&1 &&
				jq -e '.status.conditions[] | select(.type=="RuntimeReady") | .status == true' <<<"$info" >/dev/null 2>&1; then
				ok "CRI ready: RuntimeReady and NetworkReady"
				return 0
			fi
		fi
		sleep 0.5
	done
	[[ -n $info ]] && jq '.status' <<<"$info" >&2 || true
	tail -30 "$LOGS/containerd.log" >&2
	die "CRI not ready after ${LAB_UP_TIMEOUT}s"
}

# purge_stale: containerd's root is persistent (images stay for warm runs), but a fresh `up`
# has an empty state dir, so every pod/container record in the metadata is stale (left by a
# crash or a test that did not clean up). Remove them all; images stay.
purge_stale() {
	local n ns id
	n=$(lab_crictl pods -q 2>/dev/null | wc -l || true)
	if ((n > 0)); then
		log "removing $n stale pod record(s) left in $CTRD_ROOT by an earlier run"
		timeout 120 nsenter --net="$LAB_NETNS_PATH" -- "$BIN/crictl" --config "$CRICTL_YAML" rmp -af >/dev/null 2>&1 ||
			warn "crictl rmp -af failed or timed out"
	fi
	for ns in $(timeout 10 "$BIN/ctr" --address "$CTRD_SOCK" namespaces ls -q 2>/dev/null || true); do
		for id in $(timeout 10 "$BIN/ctr" --address "$CTRD_SOCK" -n "$ns" containers ls -q 2>/dev/null || true); do
			log "removing stale container record $ns/$id"
			timeout 20 "$BIN/ctr" --address "$CTRD_SOCK" -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true
			timeout 20 "$BIN/ctr" --address "$CTRD_SOCK" -n "$ns" containers rm "$id" >/dev/null 2>&1 ||
				warn "cannot remove stale container $ns/$id"
		done
	done
}

cmd_up() {
	need_root
	local t0 b
	t0=$(now)
	for b in containerd ctr containerd-shim-runc-v2 runc crictl; do
		[[ -x $BIN/$b ]] || die "$BIN/$b missing: run '$0 build' first"
	done
	for b in bridge loopback host-local portmap; do
		[[ -x $CNI_BIN/$b ]] || die "$CNI_BIN/$b missing: run '$0 build' first"
	done
	((${#LAB_BRIDGE} <= 15)) || die "bridge name $LAB_BRIDGE is longer than 15 characters: set LAB_BRIDGE"
	((${#SHIM_SOCK_DIR} <= 42)) || die "shim socket dir $SHIM_SOCK_DIR is longer than 42 characters: use a shorter LAB_RUN"

	lab_lock

	# Already up? Then only check it answers.
	if [[ -n $(containerd_pid) ]] && netns_exists && [[ -f $LAB_ENV ]]; then
		log "lab '$LAB_NAME' is already up"
		[[ ${LAB_NO_REGISTRY:-0} == 1 || -n $(registry_pid) ]] || start_registry
		wait_cri_ready
		ok "lab up (env: $LAB_ENV)"
		return 0
	fi
	# Anything half-started by a crashed run goes first.
	if [[ -d $LAB_RUN ]] || netns_exists; then
		log "cleaning leftovers of a previous run"
		cmd_down
	fi

	mkdir -p "$LAB_RUN" "$LOGS" "$REPORTS" "$CTRD_ROOT" "$LAB_TMP" "$FIFO_DIR" "$RUNC_ROOT" "$RUNSC_ROOT"
	chmod 0711 "$LAB_RUN"
	record_host_state

	# network namespace: lo only + the CNI bridge containerd creates. No route out.
	if ! netns_exists; then
		ip netns add "$LAB_NETNS"
	fi
	ip -n "$LAB_NETNS" link set lo up
	log "netns $LAB_NETNS ($LAB_NETNS_PATH): $(ip -n "$LAB_NETNS" -o link | awk -F': ' '{printf "%s ", $2}')"

	write_cni_config
	write_registry_hosts
	write_runsc_wrapper
	write_containerd_config
	write_crictl_yaml
	cmd_config_check

	if [[ ! -x $HARDENED_SHIM ]]; then
		warn "hardened runtime binary $HARDENED_SHIM is missing: the 'hardened' handler will fail; 'runc' and 'runsc' work"
	fi
	[[ -x $BIN/runsc ]] || warn "$BIN/runsc is missing: the 'runsc' handler will fail"

	start_registry
	start_containerd
	wait_cri_ready
	purge_stale
	write_lab_env

	# smoke check: pull an image critest uses through the lab registry
	if [[ ${LAB_NO_REGISTRY:-0} != 1 ]]; then
		local img=registry.k8s.io/e2e-test-images/busybox:1.29-2 t1
		t1=$(now)
		if lab_crictl pull "$img" >/dev/null 2>"$LOGS/smoke-pull.err"; then
			log "smoke: pulled $img in $(elapsed "$t1")"
		else
			warn "smoke: 'crictl pull $img' failed: $(tr '\n' ' ' <"$LOGS/smoke-pull.err")"
		fi
	fi
	ok "lab '$LAB_NAME' up in $(elapsed "$t0")"
	log "  source $LAB_ENV   (or: $0 exec|crictl|ctr ...)"
	log "  CRI endpoint $CRI_ENDPOINT, handlers: runc (default), hardened, hardened-audit, hardened-nouserns, hardened-noseccomp, hardened-inline, hardened-file, runsc, hardened-gvisor, hardened-gvisor-audit, hardened-delegate, hardened-delegate-audit, hardened-ab-* (the start benchmark's ablation steps: ${ABLATION_STEPS[*]})"
}

# ---------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------
# Container ids this lab knows: runc/runsc state, bundles, CRI dirs, and the ids containerd
# listed at the start of `down` (saved in $HOST_STATE/ids).
lab_known_ids() {
	{
		local d
		for d in "$RUNC_ROOT"/*/* "$RUNSC_ROOT"/*/* "$CTRD_STATE"/io.containerd.runtime.v2.task/*/* \
			"$CTRD_ROOT"/io.containerd.grpc.v1.cri/sandboxes/* "$CTRD_ROOT"/io.containerd.grpc.v1.cri/containers/*; do
			[[ -d $d ]] && echo "${d##*/}"
		done
		cat "$HOST_STATE/ids" 2>/dev/null || true
	} | grep -E '^[A-Za-z0-9][A-Za-z0-9_.-]*$' | sort -u || true
}

# containerd namespaces: their names are cgroup parents (/<namespace>/<id>: containerd's
# cgroupfs layout when CRI gets no cgroup parent, which critest sends with cgroupfs).
lab_namespaces() {
	{
		echo k8s.io; echo default
		cat "$HOST_STATE/namespaces" 2>/dev/null || true
		# also when containerd is gone: namespaces of bundles and runc/runsc state
		local d
		for d in "$CTRD_STATE"/io.containerd.runtime.v2.task/* "$RUNC_ROOT"/* "$RUNSC_ROOT"/*; do
			[[ -d $d ]] && echo "${d##*/}"
		done
	} |
		grep -E '^[A-Za-z0-9][A-Za-z0-9_.-]*$' | sort -u || true
}

# Cgroups of the lab's containers: <hierarchy>/<namespace>/<known id> and everything below.
# Printed deepest first. Another lab's containers (other ids) are never listed.
lab_container_cgroups() {
	local m ns id
	local -a nss ids
	mapfile -t nss < <(lab_namespaces)
	mapfile -t ids < <(lab_known_ids)
	((${#ids[@]})) || return 0
	for m in $(cgroup_mounts); do
		for ns in "${nss[@]}"; do
			[[ -d $m/$ns ]] || continue
			for id in "${ids[@]}"; do
				[[ -d $m/$ns/$id ]] && find "$m/$ns/$id" -depth -type d 2>/dev/null
			done
		done
	done | awk '{print length($0) "\t" $0}' | sort -rn | cut -f2- || true
}

# The /<namespace> parents the lab created (absent from the snapshot taken at up).
lab_parent_cgroups() {
	local snap=$HOST_STATE/cgroups m ns
	[[ -f $snap ]] || return 0
	for m in $(cgroup_mounts); do
		while read -r ns; do
			[[ -d $m/$ns ]] && ! grep -qxF "$m/$ns" "$snap" && echo "$m/$ns"
		done < <(lab_namespaces)
	done
}

lab_cgroups() { lab_container_cgroups; lab_parent_cgroups; }

kill_lab_cgroup_procs() {
	local cg pid n=0 fz
	while read -r cg; do
		[[ -f $cg/cgroup.procs ]] || continue
		# thaw frozen (paused) containers so KILL is delivered
		fz=$cg/freezer.state
		if [[ -f $fz && $(cat "$fz" 2>/dev/null) != THAWED ]]; then echo THAWED >"$fz" 2>/dev/null || true; fi
		if [[ -f $cg/cgroup.freeze ]]; then echo 0 >"$cg/cgroup.freeze" 2>/dev/null || true; fi
		while read -r pid; do
			[[ -n $pid ]] || continue
			if kill -KILL "$pid" 2>/dev/null; then n=$((n + 1)); fi
		done <"$cg/cgroup.procs"
	done < <(lab_container_cgroups)
	((n == 0)) || log "killed $n leftover container process(es) in the lab's container cgroups"
}

# Shims started for this lab: found by the pid files in the lab's bundles and by their argv
# (-address $CTRD_SOCK, or $CTRD_SOCK.hardened-delegate for the shims the hardened shim
# delegates to); only pids whose argv or cwd points inside $LAB_RUN are signalled.
lab_shim_pids() {
	local f pid p cwd
	{
		for f in "$CTRD_STATE"/io.containerd.runtime.v2.task/*/*/shim.pid; do
			[[ -f $f ]] && read_pidfile "$f" && echo
		done
		for p in /proc/[0-9]*; do
			tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qE "^[^ ]*containerd-shim[^ ]* .*-address $CTRD_SOCK(\.hardened-delegate)?( |$)" && echo "${p#/proc/}"
		done
	} | sort -un | while read -r pid; do
		[[ -n $pid && -d /proc/$pid ]] || continue
		cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
		if [[ $cwd == "$LAB_RUN"/* ]] || tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "-address $CTRD_SOCK"; then
			echo "$pid"
		fi
	done
}

# runsc sandbox/gofer processes of this lab (argv carries --root=$RUNSC_ROOT...).
lab_runsc_pids() {
	local p
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/exe" 2>/dev/null) == "$BIN/runsc"* ]] || continue
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$RUNSC_ROOT" && echo "${p#/proc/}"
	done
}

lab_mounts() {
	# mount points under the lab's private paths, most recent (deepest) first
	awk -v a="$LAB_RUN/" -v b="$CTRD_ROOT/" -v c="$LAB_RUN" '
		{ mp=$5; gsub(/\\040/, " ", mp); if (index(mp, a)==1 || index(mp, b)==1 || mp==c) print mp }' /proc/self/mountinfo | tac
}

unmount_lab() {
	local pass mp n
	for pass in 1 2 3 4 5; do
		n=0
		while read -r mp; do
			[[ -n $mp ]] || continue
			umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || warn "cannot unmount $mp"
			n=$((n + 1))
		done < <(lab_mounts)
		((n == 0)) && return 0
		log "unmounted $n mount(s) under $LAB_RUN and $CTRD_ROOT (pass $pass)"
	done
	[[ -z $(lab_mounts) ]] || warn "mounts left: $(lab_mounts | tr '\n' ' ')"
}

# cleanup_cni_cache: libcni's result cache entries of the lab's pods (their JSON names a netns
# under $LAB_RUN, or the lab's network name), then the dirs if the lab created them.
cleanup_cni_cache() {
	local d=/var/lib/cni/results f n=0 before
	if [[ -d $d ]]; then
		for f in "$d"/*; do
			[[ -f $f ]] || continue
			if grep -qF "\"$LAB_RUN/" "$f" 2>/dev/null || [[ ${f##*/} == "$LAB_NAME"-* ]]; then
				rm -f "$f" && n=$((n + 1))
			fi
		done
	fi
	((n == 0)) || log "removed $n lab entr$( ((n == 1)) && echo y || echo ies) from $d"
	before=$(cat "$HOST_STATE/var-lib-cni" 2>/dev/null || echo unknown)
	case $before in
	absent) rmdir "$d" 2>/dev/null && rmdir /var/lib/cni 2>/dev/null || true ;;
	dir) rmdir "$d" 2>/dev/null || true ;;
	esac
}

cmd_down() {
	need_root
	mkdir -p "$LAB_DIR"
	lab_lock   # (re-taking it inside `up` is fine: same process)
	local pid t0 cg n
	t0=$(now)
	log "bringing lab '$LAB_NAME' down"
	# a Kubernetes node on top of the lab (k8s.sh up) goes first: its kubelet
	# and control plane, by PID
	if [[ (-d $LAB_RUN/k8s || -d $LAB_RUN/node) && -f $LAB_ENV ]]; then
		"$REPO/integration/lab/k8s.sh" down || warn "k8s.sh down failed"
	fi
	# other containerd versions on the lab (compat.sh up), by their pid files
	local cdir cv
	for cdir in "$LAB_RUN"/c[0-9]*/; do
		[[ -d $cdir ]] || continue
		cv=$(sed -n "s/^export LAB_COMPAT_VERSION='\(.*\)'\$/\1/p" "$cdir/lab.env" 2>/dev/null || true)
		if [[ -n $cv && -f $LAB_ENV ]]; then
			"$REPO/integration/lab/compat.sh" down "$cv" || warn "compat.sh down $cv failed"
		else
			for pid in $(read_pidfile "$cdir/containerd.pid") $(read_pidfile "$cdir/holder.pid"); do
				stop_pid "$pid" "compat instance $cdir" 10
			done
		fi
	done

	pid=$(containerd_pid)
	if [[ -n $pid && -S $CTRD_SOCK && -d $HOST_STATE ]]; then
		local ns id
		# remember namespaces (cgroup parents) and container ids (cgroup names) for cleanup
		if timeout 10 "$BIN/ctr" --address "$CTRD_SOCK" namespaces ls -q >"$HOST_STATE/namespaces.new" 2>/dev/null; then
			mv -f "$HOST_STATE/namespaces.new" "$HOST_STATE/namespaces"
		fi
		while read -r ns; do
			timeout 10 "$BIN/ctr" --address "$CTRD_SOCK" -n "$ns" containers ls -q 2>/dev/null || true
		done < <(lab_namespaces) >>"$HOST_STATE/ids"
		# graceful: CRI pods first (tears down CNI), then plain containerd tasks
		if [[ -f $CRICTL_YAML ]] && netns_exists; then
			n=$(lab_crictl pods -q 2>/dev/null | wc -l || true)
			if ((n > 0)); then
				log "removing $n pod(s) via CRI"
				timeout 120 nsenter --net="$LAB_NETNS_PATH" -- "$BIN/crictl" --config "$CRICTL_YAML" rmp -af >/dev/null 2>&1 ||
					warn "crictl rmp -af failed or timed out"
			fi
		fi
		while read -r ns; do
			while read -r id; do
				[[ -n $id ]] || continue
				log "killing task $ns/$id"
				timeout 20 "$BIN/ctr" --address "$CTRD_SOCK" -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
				timeout 20 "$BIN/ctr" --address "$CTRD_SOCK" -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true
			done < <(timeout 10 "$BIN/ctr" --address "$CTRD_SOCK" -n "$ns" tasks ls -q 2>/dev/null || true)
		done < <(lab_namespaces)
	fi
	[[ -n $pid ]] && stop_pid "$pid" containerd 20
	pid=$(registry_pid)
	[[ -n $pid ]] && stop_pid "$pid" registry 10

	# containers whose shim or containerd is gone: runc/runsc state under the lab roots
	local root
	for root in "$RUNC_ROOT"/*/; do
		[[ -d $root && -x $BIN/runc ]] || continue
		for id in $("$BIN/runc" --root "${root%/}" list -q 2>/dev/null || true); do
			log "runc delete -f $id (root ${root%/})"
			timeout 20 "$BIN/runc" --root "${root%/}" delete -f "$id" >/dev/null 2>&1 || warn "runc delete $id failed"
		done
	done
	for root in "$RUNSC_ROOT"/*/; do
		[[ -d $root && -x $BIN/runsc ]] || continue
		for id in $("$BIN/runsc" --root "${root%/}" list -q 2>/dev/null || true); do
			log "runsc delete -force $id (root ${root%/})"
			timeout 20 "$BIN/runsc" --root "${root%/}" delete -force "$id" >/dev/null 2>&1 || warn "runsc delete $id failed"
		done
	done
	kill_lab_cgroup_procs
	for pid in $(lab_shim_pids); do stop_pid "$pid" "shim $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-60)" 5; done
	for pid in $(lab_runsc_pids); do kill -KILL "$pid" 2>/dev/null || true; done

	unmount_lab

	# netns: deleting it removes the CNI bridge and the host ends of the pod veths
	if netns_exists; then
		ip netns del "$LAB_NETNS" && log "deleted netns $LAB_NETNS"
	fi
	[[ -e $LAB_NETNS_PATH ]] && { umount "$LAB_NETNS_PATH" 2>/dev/null || true; rm -f "$LAB_NETNS_PATH"; }
	if [[ -f $HOST_STATE/run-netns ]] && [[ -d /run/netns ]] && [[ -z $(ls -A /run/netns 2>/dev/null) ]]; then
		case $(cat "$HOST_STATE/run-netns") in
		absent) umount /run/netns 2>/dev/null || true; rmdir /run/netns 2>/dev/null || true ;;
		dir) umount /run/netns 2>/dev/null || true ;;
		esac
	fi

	cleanup_cni_cache

	# cgroups the lab's containers created (new since up, empty), deepest first
	n=0
	for _ in 1 2 3; do
		while read -r cg; do
			[[ -n $cg ]] || continue
			rmdir "$cg" 2>/dev/null && n=$((n + 1)) || true
		done < <(lab_cgroups)
		[[ -z $(lab_cgroups) ]] && break
		sleep 0.5
	done
	((n == 0)) || log "removed $n lab cgroup(s)"
	[[ -z $(lab_cgroups) ]] || warn "cgroups left (not empty?): $(lab_cgroups | tr '\n' ' ')"

	if [[ -d $LAB_RUN ]]; then
		if [[ -n $(lab_mounts) ]]; then
			warn "not removing $LAB_RUN: mounts remain under it"
		else
			rm -rf --one-file-system "$LAB_RUN"
			log "removed $LAB_RUN"
		fi
	fi
	ok "lab '$LAB_NAME' down in $(elapsed "$t0")"
}

# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------
cmd_status() {
	local pid n
	echo "lab '$LAB_NAME'  LAB_DIR=$LAB_DIR  LAB_RUN=$LAB_RUN"
	if netns_exists; then
		echo "  netns       $LAB_NETNS_PATH: $(ip -n "$LAB_NETNS" -o -4 addr 2>/dev/null | awk '{printf "%s=%s ", $2, $4}')"
	else
		echo "  netns       $LAB_NETNS: absent"
	fi
	pid=$(registry_pid)
	if [[ -n $pid ]]; then echo "  registry    pid $pid on $LAB_REGISTRY"; else echo "  registry    not running"; fi
	pid=$(containerd_pid)
	if [[ -n $pid ]]; then echo "  containerd  pid $pid, $CRI_ENDPOINT"; else echo "  containerd  not running"; fi
	if [[ -n $pid ]]; then
		lab_crictl version 2>/dev/null | sed 's/^/              /' || true
		n=$(lab_crictl pods -q 2>/dev/null | wc -l || true)
		echo "  pods        $n"
		lab_crictl pods 2>/dev/null | sed 's/^/              /' | head -20 || true
		echo "  containers  $(lab_crictl ps -aq 2>/dev/null | wc -l || true)"
		echo "  images      $(lab_crictl images -q 2>/dev/null | wc -l || true)"
	fi
	echo "  shims       $(lab_shim_pids | wc -l) $(lab_shim_pids | tr '\n' ' ')"
	echo "  mounts      $(lab_mounts | wc -l) under $LAB_RUN and $CTRD_ROOT"
	echo "  cgroups     $(lab_cgroups | wc -l) created by the lab"
	echo "  env         $([[ -f $LAB_ENV ]] && echo "$LAB_ENV" || echo 'absent')"
	echo "  logs        $LOGS"
	local b
	for b in containerd runc crictl critest ginkgo runsc labimages containerd-shim-hardened-v2; do
		printf '  bin %-28s %s\n' "$b" "$([[ -x $BIN/$b ]] && date -r "$BIN/$b" '+%F %T' || echo MISSING)"
	done
	ls "$REPORTS"/critest-*.json 2>/dev/null | sed 's/^/  report      /' || true
}

# ---------------------------------------------------------------------------
# critest
# ---------------------------------------------------------------------------
ACCEPTED_KNOWN_FAILURE='Image Manager public image with digest should be pulled and removed'

critest_summary() {
	local json=$1
	jq -r --arg known "$ACCEPTED_KNOWN_FAILURE" '
		[ .[].SpecReports[]? | select(.LeafNodeType == "It") ] as $s
		| ($s | map(select(.State == "passed")) | length) as $p
		| ($s | map(select(.State == "skipped" or .State == "pending")) | length) as $k
		| ($s | map(select(.State != "passed" and .State != "skipped" and .State != "pending"))) as $f
		| "passed=\($p) failed=\($f|length) skipped=\($k) total=\($s|length)",
		  ($f[] | "  FAILED [\(.State)] " + ((.ContainerHierarchyTexts + [.LeafNodeText]) | join(" ") | sub("^\\[k8s.io\\] "; ""))
		        + (if (((.ContainerHierarchyTexts + [.LeafNodeText]) | join(" ") | sub("( \\[[^]]*\\])+$"; "")) | endswith($known)) then "   (accepted: cannot pass offline)" else "" end))
	' "$json"
}

cmd_critest() {
	need_root
	local handler=${1:-}
	[[ -n $handler ]] || die "usage: lab.sh critest HANDLER [extra critest/ginkgo args]"
	shift
	# LAB_CRITEST_ENDPOINT/LAB_CRITEST_NRI: another containerd on the lab (compat.sh)
	local endpoint=${LAB_CRITEST_ENDPOINT:-$CRI_ENDPOINT} nri=${LAB_CRITEST_NRI:-$NRI_SOCK}
	[[ -n ${LAB_CRITEST_ENDPOINT:-} || -n $(containerd_pid) ]] || die "the lab is not up: run 'lab.sh up'"
	[[ -x $BIN/critest && -x $BIN/ginkgo ]] || die "critest/ginkgo missing: run 'lab.sh build'"
	mkdir -p "$REPORTS"
	# LAB_CRITEST_REPORT_SUFFIX: reports of a re-run go beside the main ones
	local base=$REPORTS/critest-$handler${LAB_CRITEST_REPORT_SUFFIX:-} tmp=$LAB_TMP/critest-$handler rc=0 t0 par=()
	rm -f "$base.xml" "$base.json" "$base.log"
	# a failed mount-propagation spec leaves its bind mount behind (critest's cleanup stops at
	# the first unmount that fails): unmount what is under the directory before removing it
	local mp
	while read -r mp; do
		umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || warn "cannot unmount $mp"
	done < <(awk -v d="$tmp/" '{ mp=$5; gsub(/\\040/, " ", mp); if (index(mp, d)==1) print mp }' /proc/self/mountinfo | tac)
	rm -rf "$tmp"; mkdir -p "$tmp"
	# -parallel=1 aborts in critest v1.37.0: only pass it for N > 1
	((LAB_CRITEST_PARALLEL > 1)) && par=(-parallel="$LAB_CRITEST_PARALLEL")
	log "critest $CRITOOLS_VERSION, handler '$handler', ${par[*]:-serial} (log $base.log)"
	t0=$(now)
	# TMPDIR: critest's host-path temp dirs and pod log dirs land in $LAB_RUN (removed by down)
	(cd "$tmp" && nsenter --net="$LAB_NETNS_PATH" -- env PATH="$BIN:$CNI_BIN:$PATH" TMPDIR="$tmp" \
		"$BIN/critest" -runtime-endpoint="$endpoint" -image-endpoint="$endpoint" \
		-runtime-handler="$handler" -nri-socket="$nri" "${par[@]}" \
		-ginkgo.junit-report="$base.xml" -ginkgo.json-report="$base.json" -ginkgo.no-color \
		"$@") 2>&1 | tee "$base.log" || rc=${PIPESTATUS[0]}
	log "critest exited $rc after $(elapsed "$t0")"
	if [[ ! -s $base.json ]]; then
		die "no JSON report at $base.json (critest exit $rc; see $base.log)"
	fi
	local summary unexpected
	summary=$(critest_summary "$base.json")
	printf '%s\n' "$summary" | sed "s/^/[critest $handler] /"
	log "reports: $base.json $base.xml $base.log"
	unexpected=$(printf '%s\n' "$summary" | grep -c '^  FAILED' || true)
	unexpected=$((unexpected - $(printf '%s\n' "$summary" | grep -c 'accepted: cannot pass offline' || true)))
	if ((unexpected > 0)); then
		warn "$unexpected unexpected failure(s)"
		return 1
	fi
	ok "no failures besides the accepted offline digest spec"
}

# ---------------------------------------------------------------------------
# small helpers for users
# ---------------------------------------------------------------------------
cmd_exec() {
	[[ -f $LAB_ENV ]] || die "the lab is not up (no $LAB_ENV)"
	(($#)) || die "usage: lab.sh exec CMD [ARGS]"
	# shellcheck disable=SC1090
	. "$LAB_ENV"
	exec nsenter --net="$LAB_NETNS_PATH" -- "$@"
}

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
	local cmd=${1:-help}
	(($#)) && shift
	case $cmd in
	install) cmd_install "$@" ;;
	build) cmd_build "$@" ;;
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status "$@" ;;
	critest) cmd_critest "$@" ;;
	config-check) need_root; cmd_config_check ;;
	containerd-config) containerd_config ;;
	class-config) lab_class_config "$@" ;;
	classes) [[ -f $LAB_ENV ]] || die "the lab is not up"; write_file_class_config ;;
	env) [[ -f $LAB_ENV ]] || die "the lab is not up (no $LAB_ENV)"; cat "$LAB_ENV" ;;
	env-file) echo "$LAB_ENV" ;;
	exec) cmd_exec "$@" ;;
	crictl) [[ -f $CRICTL_YAML ]] || die "the lab is not up"; lab_crictl "$@" ;;
	ctr) lab_ctr "$@" ;;
	help | -h | --help) usage ;;
	*) usage >&2; die "unknown subcommand '$cmd'" ;;
	esac
}

# keep `exit` on this line: bash reads scripts lazily, so an edit to this file while it runs
# must not make the shell read on past main.
main "$@"; exit $?
