#!/usr/bin/env bash
# integration/lab/k8s.sh — a single-node Kubernetes on top of the running lab, and the node
# installer's tests.
#
#   k8s.sh build       build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl
#                      (k8s.io/kubernetes v1.37.2, through the wrapper module integration/k8s/build/
#                      kubernetes) and etcd (v3.7.3, integration/k8s/build/etcd) into the lab's bin
#   k8s.sh up          the node: a containerd of its own (runc only, no hardened handler; its
#                      "host" files under $LAB_RUN/node), etcd, the control plane and kubelet, all
#                      in the lab's network namespace on loopback; waits for the node to be Ready
#   k8s.sh install     build the installer image, push it to the lab registry and apply
#                      deploy/installer (a lab overlay) to the node; waits until it is installed
#   k8s.sh smoke       the workload tests (needs `install`)
#   k8s.sh uninstall   delete the installer and check that the node is as before
#   k8s.sh test        install + smoke + uninstall (make k8s-smoke)
#   k8s.sh demo        a workload owner's view: apply, get pods, a refusal event (make demo-k8s)
#   k8s.sh ready-times [N]   pod-Ready time, hardened and runc interleaved, N each (default 20)
#   k8s.sh down        stop everything `up` started (by PID), unmount, remove what it made
#   k8s.sh kubectl ARGS...   kubectl against the lab's cluster
#
# Nothing of the host's is touched: the node's containerd, runc state, kubelet root, installed
# shim and class files live under $LAB_RUN/node (what the installer sees as the host's /etc,
# /opt and /var); kubelet runs in a mount namespace of its own, where its host sysctl writes
# land on files, /etc/passwd, /etc/subuid and /etc/subgid give it a `kubelet` user with
# subordinate IDs below 2^31, and its hard-coded /var/lib/kubelet and /var/log paths are on
# tmpfs/overlay (../shared/KUBERNETES.md).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB="$REPO/integration/lab/lab.sh"
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3

log() { printf '[k8s] %s\n' "$*" >&2; }
die() { printf '[k8s] ERROR: %s\n' "$*" >&2; exit 1; }

ENV_FILE=$("$LAB" env-file)
if [[ ${1:-} == build ]]; then
	BIN=${LAB_DIR:-$REPO/.lab}/bin
	LAB_RUN=${LAB_RUN:-/run/hlab}
else
	[[ -f $ENV_FILE ]] || die "the lab is not up: make lab-up"
	# shellcheck disable=SC1090
	. "$ENV_FILE"
	BIN=$LAB_BIN
fi
K=$LAB_RUN/k8s
PKI=$K/pki
NODE=localhost
# the node's host paths
N=$LAB_RUN/node
NR=$N/run                                   # containerd's state, sockets, supervisor files
NSOCK=$NR/containerd/containerd.sock
NCFG=$N/etc/containerd/config.toml
NODE_RUNC_ROOT=$NR/runc
KUBELET_ROOT=$N/var/lib/kubelet
NODE_SHIM_SOCKETS=$LAB_RUN/ns               # <= 42 characters
INSTALL_DIR=$N/opt/hardened-runtime
inlab() { nsenter --net="$LAB_NETNS_PATH" -- "$@"; }
kubectl_() { inlab "$BIN/kubectl" --kubeconfig "$K/admin.kubeconfig" "$@"; }
node_crictl() { inlab "$BIN/crictl" --runtime-endpoint "unix://$NSOCK" --image-endpoint "unix://$NSOCK" --timeout 30s "$@"; }
since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.1f", a-b}'; }

cmd_build() {
	local t0 ldf
	t0=$(date +%s)
	ldf="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldf+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitTreeState=clean"
	done
	mkdir -p "$BIN"
	(cd "$REPO/integration/k8s/build/kubernetes" && GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 \
		go build -trimpath -ldflags "$ldf" -o "$BIN/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet)
	(cd "$REPO/integration/k8s/build/etcd" && GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 \
		go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
	log "built Kubernetes $K8S_VERSION and etcd $ETCD_VERSION in $(($(date +%s) - t0)) s"
}

# ---------------------------------------------------------------------------
# the node's containerd: a config like a fresh node's (runc only, no imports), run by a
# supervisor that restarts it when it exits (the lab's stand-in for the node's service manager)
# ---------------------------------------------------------------------------
write_node_config() {
	mkdir -p "${NCFG%/*}" "$N/etc/cdi" "$N/tmp" "$N/var/lib/containerd" "$NR"
	C_WHAT="the lab Kubernetes node's containerd (k8s.sh up): runc only; the node installer adds the hardened classes through imports" \
		C_ROOT=$N/var/lib/containerd C_STATE=$NR/containerd C_TEMP=$N/tmp C_SOCK=$NSOCK \
		C_SHIM_SOCKETS=$NODE_SHIM_SOCKETS C_CDI=$N/etc/cdi C_OPT=$N/opt/containerd C_STREAM_PORT=10011 \
		C_NRI_SOCK=$NR/nri.sock C_IMPORTS="" "$LAB" containerd-config >"$NCFG" <<EOF
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$LAB_RUNC"
          Root = "$NODE_RUNC_ROOT"
          SystemdCgroup = false
EOF
	# the lab node's `systemctl restart containerd`, for the installer (RESTART_COMMAND): it runs
	# in the installer's container (hostPID, the host's / at $HOST_ROOT), stops containerd and
	# waits until the supervisor has started and checked a new one
	cat >"$N/restart-containerd" <<EOF
#!/bin/sh
r=\${HOST_ROOT:-}$NR
old=\$(cat "\$r/containerd.pid")
kill -TERM "\$old" || exit 1
i=0
while [ \$i -lt 600 ]; do
	new=\$(cat "\$r/containerd.ready" 2>/dev/null || true)
	[ -n "\$new" ] && [ "\$new" != "\$old" ] && exit 0
	sleep 0.1
	i=\$((i + 1))
done
echo "containerd did not come back within 60 s (log: $K/node-containerd.log)" >&2
exit 1
EOF
	chmod +x "$N/restart-containerd"
}

# supervise: the node's containerd, started again whenever it exits, until $NR/stop exists.
# $NR/containerd.pid names the running one; $NR/containerd.ready the one that answers.
cmd_supervise() {
	local pid i
	while :; do
		rm -f "$NR/containerd.ready"
		echo "===== $(date '+%F %T') supervisor: starting containerd" >>"$K/node-containerd.log"
		env PATH="$BIN:$PATH" TMPDIR="$N/tmp" CONTAINERD_SHIM_HARDENED_CONFIG_DIR="$N/etc/containerd" \
			"$BIN/containerd" --config "$NCFG" </dev/null >>"$K/node-containerd.log" 2>&1 &
		pid=$!
		echo "$pid" >"$NR/containerd.pid"
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			if "$BIN/ctr" --address "$NSOCK" version >/dev/null 2>&1; then
				echo "$pid" >"$NR/containerd.ready"
				break
			fi
			sleep 0.1
		done
		wait "$pid" || true
		[[ -e $NR/stop ]] && break
		sleep 0.2
	done
	rm -f "$NR/containerd.pid" "$NR/containerd.ready"
}

# pki: a throwaway CA and the certificates the components present.
cert() { # NAME SUBJECT [SANS]
	local name=$1 subj=$2 sans=${3:-}
	openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
	local ext=$PKI/$name.ext
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=serverAuth,clientAuth"
		[[ -z $sans ]] || echo "subjectAltName=$sans"
	} >"$ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 2 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
}

kubeconfig() { # NAME USER
	cat >"$K/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$PKI/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$PKI/$1.crt", client-key: "$PKI/$1.key"}
contexts:
- name: lab
  context: {cluster: lab, user: $2}
current-context: lab
EOF
}

start() { # NAME CMD... (in the lab netns, detached, logs in $K/NAME.log, pid in $K/NAME.pid)
	local name=$1
	shift
	setsid nsenter --net="$LAB_NETNS_PATH" -- "$@" >"$K/$name.log" 2>&1 </dev/null &
	echo $! >"$K/$name.pid"
}

wait_for() { # WHAT SECONDS CMD...
	local what=$1 n=$2
	shift 2
	for ((i = 0; i < n * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "$what not ready after $n s"
}

node_ready() { [[ $(kubectl_ get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; }

cmd_up() {
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl containerd; do
		[[ -x $BIN/$b ]] || die "$BIN/$b missing: run 'k8s.sh build'"
	done
	command -v getsubids >/dev/null || die "getsubids missing (Debian package uidmap): make lab-install"
	[[ ! -e $K/up ]] || die "already up (k8s.sh down first)"
	local t0
	t0=$(date +%s.%N)
	mkdir -p "$PKI" "$K/etcd" "$K/logs" "$K/volume-plugins"
	touch "$K/up"

	# the node's containerd
	write_node_config
	setsid nsenter --net="$LAB_NETNS_PATH" -- "${BASH_SOURCE[0]}" supervise </dev/null >>"$K/supervisor.log" 2>&1 &
	echo $! >"$K/supervisor.pid"
	wait_for "the node's containerd" 30 test -s "$NR/containerd.ready"

	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=lab-ca" -days 2 -out "$PKI/ca.crt" 2>/dev/null
	cert apiserver "/CN=kube-apiserver" "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1"
	cert admin "/O=system:masters/CN=admin"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE" "DNS:$NODE,IP:127.0.0.1"
	cert apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
	cert controller-manager "/CN=system:kube-controller-manager"
	cert scheduler "/CN=system:kube-scheduler"
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	kubeconfig admin admin
	kubeconfig kubelet "system:node:$NODE"
	kubeconfig controller-manager system:kube-controller-manager
	kubeconfig scheduler system:kube-scheduler

	start etcd "$BIN/etcd" --name lab --data-dir "$K/etcd" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster lab=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
	start apiserver "$BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port 6443 \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" --authorization-mode Node,RBAC \
		--service-account-issuer https://kubernetes.default.svc --service-account-key-file "$PKI/sa.pub" \
		--service-account-signing-key-file "$PKI/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
		--kubelet-client-certificate "$PKI/apiserver-kubelet.crt" --kubelet-client-key "$PKI/apiserver-kubelet.key" \
		--kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types Hostname,InternalIP \
		--endpoint-reconciler-type none --allow-privileged=true
	wait_for "kube-apiserver" 60 kubectl_ get --raw /readyz
	log "kube-apiserver ready after $(since "$t0") s"
	start controller-manager "$BIN/kube-controller-manager" --kubeconfig "$K/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --use-service-account-credentials=true \
		--service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
		--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
		--flex-volume-plugin-dir "$K/volume-plugins"
	start scheduler "$BIN/kube-scheduler" --kubeconfig "$K/scheduler.kubeconfig" --bind-address 127.0.0.1

	# the CNI bridge with its gateway address, which kubelet's --node-ip names, before the first
	# pod creates it (the installer's pod uses the host network)
	if ! ip -n "$LAB_NETNS" link show "$LAB_BRIDGE" >/dev/null 2>&1; then
		ip -n "$LAB_NETNS" link add "$LAB_BRIDGE" type bridge
		ip -n "$LAB_NETNS" addr add 10.88.0.1/16 dev "$LAB_BRIDGE"
		ip -n "$LAB_NETNS" link set "$LAB_BRIDGE" up
	fi
	# kubelet: its root a shared mount, so that containerd sees the volumes kubelet mounts
	mkdir -p "$KUBELET_ROOT"
	mount --bind "$KUBELET_ROOT" "$KUBELET_ROOT"
	mount --make-shared "$KUBELET_ROOT"
	# a cgroupRoot that exists in every v1 hierarchy
	local cg
	for cg in /sys/fs/cgroup/*/; do
		[[ -d $cg && ! -L ${cg%/} ]] && mkdir -p "${cg}lab-kubepods"
	done
	printf '1\n' >"$K/sysctl-overcommit"
	printf '10\n' >"$K/sysctl-panic"
	printf '1\n' >"$K/sysctl-panic-on-oops"
	# a `kubelet` user with subordinate IDs below the shim's window (2^31 up): kubelet places
	# hostUsers: false pods there (README, Install)
	{ cat /etc/passwd; echo "kubelet:x:64998:64998:lab kubelet:/nonexistent:/usr/sbin/nologin"; } >"$K/passwd"
	echo "kubelet:65536:2147418112" >"$K/subuid"
	cat >"$K/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /lab-kubepods
oomScoreAdj: 0
makeIPTablesUtilChains: false
failSwapOn: false
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
podLogsDir: $K/logs
volumePluginDir: $K/volume-plugins
resolvConf: ""
authentication:
  x509: {clientCAFile: "$PKI/ca.crt"}
  webhook: {enabled: false}
  anonymous: {enabled: false}
authorization: {mode: AlwaysAllow}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
containerRuntimeEndpoint: unix://$NSOCK
EOF
	# kubelet's own mount namespace: host sysctls it writes land on files, its user and
	# subordinate IDs come from lab files, its hard-coded /var/lib/kubelet and /var/log/containers
	# are on an overlay and a tmpfs
	mkdir -p "$K/varlib-upper" "$K/varlib-work"
	cat >"$K/kubelet-ns.sh" <<EOF
#!/bin/sh
set -e
mount --bind $K/sysctl-overcommit /proc/sys/vm/overcommit_memory
mount --bind $K/sysctl-panic /proc/sys/kernel/panic
mount --bind $K/sysctl-panic-on-oops /proc/sys/kernel/panic_on_oops
mount --bind $K/passwd /etc/passwd
mount --bind $K/subuid /etc/subuid
mount --bind $K/subuid /etc/subgid
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$K/varlib-upper,workdir=$K/varlib-work /var/lib
mount -t tmpfs tmpfs /var/log
exec "\$@"
EOF
	chmod +x "$K/kubelet-ns.sh"
	start kubelet unshare --mount --propagation unchanged "$K/kubelet-ns.sh" "$BIN/kubelet" \
		--config "$K/kubelet.yaml" --kubeconfig "$K/kubelet.kubeconfig" --root-dir "$KUBELET_ROOT" \
		--hostname-override "$NODE" --node-ip 10.88.0.1
	wait_for "node $NODE" 120 node_ready
	log "node Ready after $(since "$t0") s"
	kubectl_ apply -f "$REPO/deploy/runtimeclasses.yaml" >/dev/null
}

# stop_group NAME: the session leader in $K/NAME.pid and its process group.
stop_group() {
	local pid
	[[ -f $K/$1.pid ]] || return 0
	pid=$(cat "$K/$1.pid")
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL -- "-$pid" 2>/dev/null || true
	rm -f "$K/$1.pid"
}

# node_mounts: mount points under the node's paths, deepest first.
node_mounts() { awk -v a="$N/" -v b="$N" '{mp=$5; gsub(/\\040/, " ", mp); if (index(mp, a)==1 || mp==b) print mp}' /proc/self/mountinfo | tac; }

# node_shims: shims of the node's containerd (their argv names its socket).
node_shims() {
	local p
	for p in /proc/[0-9]*; do
		[[ $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") =~ ^[^\ ]*containerd-shim[^\ ]*\ .*-address\ $NSOCK(\ |$) ]] && echo "${p#/proc/}"
	done
	return 0
}

cmd_down() {
	local n pid cg mp root id
	[[ -d $K || -d $N ]] || { log "not up"; return 0; }
	if [[ -f $K/apiserver.pid ]] && kill -0 "$(cat "$K/apiserver.pid")" 2>/dev/null; then
		kubectl_ delete pods --all --all-namespaces --wait=true --timeout=60s >/dev/null 2>&1 || true
	fi
	for n in kubelet scheduler controller-manager apiserver etcd; do stop_group "$n"; done
	# pods kubelet left, through the node's CRI; then its containerd and supervisor
	if [[ -S $NSOCK ]]; then
		timeout 120 nsenter --net="$LAB_NETNS_PATH" -- "$BIN/crictl" --runtime-endpoint "unix://$NSOCK" rmp -af >/dev/null 2>&1 || true
	fi
	if [[ -d $NR ]]; then
		touch "$NR/stop"
		pid=$(cat "$NR/containerd.pid" 2>/dev/null || true)
		[[ -z $pid ]] || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		[[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true
	fi
	stop_group supervisor
	# containers and shims the node's containerd left (a crash or a failed test)
	for root in "$NODE_RUNC_ROOT"/*/ "$NR"/containerd/runc/*/; do
		[[ -d $root ]] || continue
		for id in $("$LAB_RUNC" --root "${root%/}" list -q 2>/dev/null || true); do
			log "runc delete -f $id (root ${root%/})"
			timeout 20 "$LAB_RUNC" --root "${root%/}" delete -f "$id" >/dev/null 2>&1 || true
		done
	done
	for pid in $(node_shims); do kill -KILL "$pid" 2>/dev/null || true; done
	for _ in 1 2 3; do
		while read -r mp; do
			[[ -n $mp ]] && { umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true; }
		done < <(node_mounts)
		[[ -z $(node_mounts) ]] && break
	done
	[[ -z $(node_mounts) ]] || die "mounts left under $N: $(node_mounts | tr '\n' ' ')"
	for cg in /sys/fs/cgroup/*/lab-kubepods; do
		[[ -d $cg ]] || continue
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done
		find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	rm -rf "$K" "$N" "$NODE_SHIM_SOCKETS"
	log "down"
}

# ---------------------------------------------------------------------------
# the node installer (deploy/installer) through a lab overlay
# ---------------------------------------------------------------------------
# lab_class NAME [LINES...]: a node class file for the lab node (its paths under $N).
lab_class() {
	local name=$1
	shift
	printf '%s\n' "# the lab node's class $name (integration/lab/k8s.sh)" "class_name = \"$name\"" "$@" \
		"audit_log = \"$N/var/log/containerd-shim-hardened/audit.log\"" \
		"kubelet_root = \"$KUBELET_ROOT\"" "containerd_root = \"$N/var/lib/containerd\"" \
		"[userns]" "state_dir = \"$N/var/lib/containerd-shim-hardened-v2/userns\""
}

write_overlay() {
	local ov=$K/installer base
	mkdir -p "$ov"
	base=$(realpath --relative-to="$ov" "$REPO/deploy/installer")
	lab_class hardened 'mode = "enforce"' >"$ov/hardened.toml"
	lab_class hardened-audit 'mode = "audit"' >"$ov/hardened-audit.toml"
	cat >"$ov/kustomization.yaml" <<EOF
# the lab's overlay of deploy/installer (integration/lab/k8s.sh install)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $base
configMapGenerator:
- name: hardened-runtime-classes
  namespace: hardened-runtime-system
  behavior: replace
  files:
  - hardened.toml
  - hardened-audit.toml
patches:
- patch: |-
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: hardened-node-installer, namespace: hardened-runtime-system}
    spec:
      template:
        spec:
          # the lab has no kube-proxy: the API is at 127.0.0.1:6443 in the node's network
          hostNetwork: true
          containers:
          - name: installer
            env:
            - {name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}
            - {name: KUBERNETES_SERVICE_PORT, value: "6443"}
            # the lab node's host paths, and how the lab restarts its containerd
            - {name: INSTALL_DIR, value: $INSTALL_DIR}
            - {name: SHIM_CONFIG_DIR, value: $N/etc/containerd}
            - {name: CONTAINERD_CONFIG, value: $NCFG}
            - {name: DROPIN, value: $N/etc/containerd/conf.d/hardened-runtime.toml}
            - {name: RESTART_COMMAND, value: /host$N/restart-containerd}
EOF
	echo "$ov"
}

node_label() { kubectl_ get node "$NODE" -o jsonpath="{.metadata.labels.hardened-runtime\\.io/$1}"; }
installed() { [[ $(node_label ready) == true ]]; }
not_installed() { [[ -z $(node_label ready) && ! -e $INSTALL_DIR ]]; }

cmd_install() {
	local t0 ov
	t0=$(date +%s.%N)
	# the image, pushed to the lab registry: kubelet pulls it like any other
	[[ ! -e $INSTALL_DIR ]] || die "$INSTALL_DIR exists: the node already has an install"
	inlab "$BIN/labimages" installer --shim "$BIN/containerd-shim-hardened-v2" --kubectl "$BIN/kubectl" \
		--script "$REPO/deploy/installer/hardened-node-installer.sh" --push "$LAB_REGISTRY" \
		--cache "$LAB_DIR/images-cache" >"$K/installer-image.out" 2>"$K/installer-image.log" ||
		{ cat "$K/installer-image.log" >&2; die "building the installer image failed"; }
	log "installer image: $(cut -f2 "$K/installer-image.out")"
	ov=$(write_overlay)
	sha256sum "$NCFG" >"$K/config.sha256"
	kubectl_ apply -k "$REPO/deploy/installer/access" >/dev/null
	apply -k "$ov"
	kubectl_ label node "$NODE" hardened-runtime.io/install=true --overwrite >/dev/null
	for _ in $(seq 600); do installed && break; sleep 0.2; done
	installed || { kubectl_ -n hardened-runtime-system logs ds/hardened-node-installer >&2 || true; die "the installer did not label the node ready"; }
	log "installed by the DaemonSet in $(since "$t0") s (image built and pushed, pod started, containerd restarted, node labelled)"
	kubectl_ -n hardened-runtime-system logs ds/hardened-node-installer | sed 's/^/[installer] /' >&2
	# what it changed on the node
	cmp -s "$BIN/containerd-shim-hardened-v2" "$INSTALL_DIR/bin/containerd-shim-hardened-v2" || die "the installed shim is not the lab's build"
	[[ $(readlink "$INSTALL_DIR/bin/containerd-shim-hardened-audit-v2") == containerd-shim-hardened-v2 ]] || die "no binary name for hardened-audit"
	cmp -s "$ov/hardened.toml" "$N/etc/containerd/containerd-shim-hardened-v2.toml" || die "class file hardened not installed"
	cmp -s "$ov/hardened-audit.toml" "$N/etc/containerd/containerd-shim-hardened-audit-v2.toml" || die "class file hardened-audit not installed"
	grep -qxF "imports = [\"$N/etc/containerd/conf.d/hardened-runtime.toml\"] # managed by hardened-node-installer" "$NCFG" || die "containerd's config does not import the drop-in"
	node_crictl info | jq -e '.config.containerd.runtimes | has("hardened") and has("hardened-audit")' >/dev/null ||
		die "containerd (restarted) does not list the hardened handlers"
	# a rollout (a new installer version, a restart) replaces the pod but keeps the shim
	# installed, without restarting containerd again
	local restarts old
	restarts=$(grep -c 'supervisor: starting' "$K/node-containerd.log")
	old=$(kubectl_ -n hardened-runtime-system get pods -l app=hardened-node-installer -o jsonpath='{.items[0].metadata.name}')
	kubectl_ -n hardened-runtime-system rollout restart ds/hardened-node-installer >/dev/null
	kubectl_ -n hardened-runtime-system rollout status ds/hardened-node-installer --timeout=120s >/dev/null
	kubectl_ -n hardened-runtime-system wait --for=delete "pod/$old" --timeout=120s >/dev/null 2>&1 ||
		die "the rollout did not replace the installer pod $old"
	[[ -n $(kubectl_ -n hardened-runtime-system get pods -l app=hardened-node-installer --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}') ]] ||
		die "no installer pod runs after the rollout"
	installed && [[ -e $INSTALL_DIR/bin/containerd-shim-hardened-v2 ]] || die "a rollout of the installer uninstalled the shim"
	[[ $(grep -c 'supervisor: starting' "$K/node-containerd.log") == "$restarts" ]] || die "a rollout of the installer restarted containerd"
	log "a rollout restart of the installer kept the shim installed and did not restart containerd"
}

cmd_uninstall() {
	local t0 ov=$K/installer pod
	t0=$(date +%s.%N)
	kubectl_ delete -k "$ov" --wait=true --timeout=180s >/dev/null
	for _ in $(seq 600); do not_installed && break; sleep 0.2; done
	not_installed || die "after deleting the installer: label ready='$(node_label ready)', $(ls -R "$INSTALL_DIR" 2>&1 | tr '\n' ' ')"
	log "uninstalled by deleting the DaemonSet in $(since "$t0") s"
	sha256sum -c --quiet "$K/config.sha256" || die "containerd's config differs from before the install"
	for f in "$N"/etc/containerd/containerd-shim-* "$N/etc/containerd/conf.d"; do
		[[ ! -e $f ]] || die "left on the node: $f"
	done
	for _ in $(seq 100); do
		node_crictl info 2>/dev/null | jq -e '.config.containerd.runtimes | has("hardened") | not' >/dev/null && break
		sleep 0.3
	done
	node_crictl info | jq -e '.config.containerd.runtimes | has("hardened") | not' >/dev/null || die "containerd still lists the hardened handler"
	kubectl_ delete -k "$REPO/deploy/installer/access" --wait=true --timeout=120s >/dev/null
	kubectl_ label node "$NODE" hardened-runtime.io/install- >/dev/null
	# a pod of the class now has no node
	apply -f "$REPO/integration/k8s/manifests/after-uninstall.yaml"
	for _ in $(seq 50); do
		[[ $(kubectl_ -n after-uninstall get pod app -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}') == Unschedulable ]] && break
		sleep 0.2
	done
	[[ $(kubectl_ -n after-uninstall get pod app -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}') == Unschedulable ]] ||
		die "a hardened pod after the uninstall is not Unschedulable"
	log "after the uninstall: config.toml as before, no shim, class files or drop-in, a hardened pod is $(kubectl_ -n after-uninstall get pod app -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')"
	kubectl_ delete namespace after-uninstall --wait=true --timeout=60s >/dev/null
}

# apply -f FILE | -k DIR: kubectl apply, again while a new namespace's default service account
# does not exist yet (bounded).
apply() {
	for _ in $(seq 30); do
		kubectl_ apply "$1" "$2" >/dev/null 2>"$K/apply.err" && return 0
		grep -q 'not found' "$K/apply.err" || break
		sleep 1
	done
	cat "$K/apply.err" >&2
	die "kubectl apply $1 $2"
}

# node_inventory: what the node's containerd, runc, shims, kubelet and the shim's allocator
# hold, one "kind item" per line, sorted. Nothing in a later inventory that an earlier one did
# not hold means nothing was left behind in between.
node_inventory() {
	local st=$NR/containerd f
	{
		node_shims | sed 's/^/shim /'
		ls "$st/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null | sed 's/^/bundle /'
		ls "$st/runc/k8s.io" "$NODE_RUNC_ROOT/k8s.io" 2>/dev/null | grep -v -e : -e '^$' | sed 's/^/runc-state /'
		node_mounts | grep -v "^$KUBELET_ROOT\$" | sed 's/^/mount /'
		find /sys/fs/cgroup/memory/lab-kubepods -mindepth 1 -type d 2>/dev/null | sed 's/^/cgroup /'
		f=$N/var/lib/containerd-shim-hardened-v2/userns/ranges.json
		[[ ! -f $f ]] || jq -r '.entries[] | "userns-range \(.base) \(.key)"' "$f"
		node_crictl pods -q 2>/dev/null | sed 's/^/cri-pod /'
		node_crictl ps -aq 2>/dev/null | sed 's/^/cri-container /'
	} | sort
}

# refusal_events NAMESPACE POD: the messages of the pod's refusal events, one per line, each
# with the number of times kubelet reported it.
refusal_events() {
	kubectl_ -n "$1" get events --field-selector "involvedObject.name=$2" \
		-o jsonpath='{range .items[*]}{.count}{"\t"}{.message}{"\n"}{end}' | grep 'refused by' || true
}

# pods the class refuses, in a namespace at Pod Security "privileged" so that admission lets
# them through; the same pods without runtimeClassName run under runc. kubelet retries each
# refused pod: every retry gets the same refusal, and nothing is left behind.
smoke_refused() {
	local before after pod want ev n t0 sandbox
	before=$(node_inventory)
	apply -f "$REPO/integration/k8s/manifests/refused.yaml"
	kubectl_ -n smoke-privileged wait --for=condition=Ready pod/privileged-runc pod/hostpath-runc pod/hostnetwork-runc --timeout=120s >/dev/null ||
		{ kubectl_ -n smoke-privileged describe pods >&2; die "the runc counterparts of the refused pods do not run"; }
	log "without runtimeClassName the same pods run under runc: privileged, hostPath /etc ($(kubectl_ -n smoke-privileged logs hostpath-runc | head -1)), hostNetwork"
	t0=$(date +%s.%N)
	for want in "privileged-hardened:refused by privileged" "hostpath-hardened:refused by hostPathVolumes" "hostnetwork-hardened:refused by hostNamespaces"; do
		pod=${want%%:*}
		# kubelet retries with a back-off: wait for a second identical refusal (bounded)
		for _ in $(seq 300); do
			ev=$(refusal_events smoke-privileged "$pod")
			n=$(awk -F'\t' '{s += $1} END {print s + 0}' <<<"$ev")
			((n >= 2)) && break
			sleep 0.5
		done
		((n >= 2)) || { kubectl_ -n smoke-privileged describe pod "$pod" >&2; die "$pod: $n refusal event(s) after $(since "$t0") s, want a retry"; }
		[[ $(cut -f2 <<<"$ev" | sed 's/.*\(refused by .*\) (runtime class.*/\1/' | sort -u | wc -l) -eq 1 ]] || die "$pod: the retries got different refusals: $ev"
		grep -q "${want#*:}" <<<"$ev" || die "$pod: want '${want#*:}', got: $ev"
		[[ $(kubectl_ -n smoke-privileged get pod "$pod" -o jsonpath='{.status.containerStatuses[0].state.running}') == "" ]] || die "$pod runs"
		# during the retries: no container of the pod exists, and a pod refused at sandbox start has no sandbox
		sandbox=$(node_crictl pods --label io.kubernetes.pod.name="$pod" -q)
		if [[ $pod != hostpath-hardened ]]; then
			[[ -z $sandbox ]] || die "$pod: a sandbox record is left between retries: $sandbox"
		else
			# refused at task create (StartContainer): the CRI record stays for kubelet's
			# garbage collection, as after any failed start; the task's bundle, runc state and
			# rootfs mount do not
			local cid
			for cid in $(node_crictl ps -a --label io.kubernetes.pod.name="$pod" -q); do
				[[ $(node_crictl inspect -o go-template --template '{{.status.state}}' "$cid") != CONTAINER_RUNNING ]] || die "$pod: container $cid runs"
				[[ ! -e $NR/containerd/io.containerd.runtime.v2.task/k8s.io/$cid && ! -e $NR/containerd/runc/k8s.io/$cid ]] ||
					die "$pod: refused container $cid left its bundle or runc state"
				[[ $(node_mounts) != *"$cid"* ]] || die "$pod: refused container $cid left a mount"
			done
		fi
		log "$pod: refused $n times, each '$(cut -f2 <<<"$ev" | head -1 | sed 's/.*\(refused by .*\) (runtime class.*/\1/')'"
	done
	kubectl_ delete namespace smoke-privileged --wait=true --timeout=120s >/dev/null
	for _ in $(seq 120); do
		after=$(comm -13 <(echo "$before") <(node_inventory))
		[[ -z $after ]] && break
		sleep 0.5
	done
	[[ -z $after ]] || die "the refused pods and their retries left: $after"
	log "after the refused pods' retries and their deletion the node holds nothing it did not hold before ($(echo "$before" | wc -l) items: shims, bundles, runc state, mounts, cgroups, ID ranges, CRI records)"
}

# pod_ready_times N: N pods under the hardened class and N under runc, interleaved, each
# from `kubectl apply` to Ready (a watch), one at a time; medians and the ratio.
pod_ready_times() {
	local n=$1 i class t0 f=$K/ready-times
	: >"$f"
	kubectl_ create namespace ready-times >/dev/null
	kubectl_ label namespace ready-times pod-security.kubernetes.io/enforce=restricted >/dev/null
	for ((i = 0; i < n; i++)); do
		for class in hardened runc; do
			sed -e "s/NAME/$class-$i/" -e "s/CLASS/$class/" "$REPO/integration/k8s/manifests/ready-time.yaml" >"$K/ready-time.yaml"
			[[ $class == runc ]] && sed -i '/runtimeClassName/d' "$K/ready-time.yaml"
			t0=$(date +%s.%N)
			kubectl_ apply -f "$K/ready-time.yaml" >/dev/null
			kubectl_ -n ready-times wait --for=condition=Ready "pod/$class-$i" --timeout=120s >/dev/null || die "pod $class-$i not Ready"
			echo "$class $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.3f", a-b}')" >>"$f"
			kubectl_ -n ready-times delete pod "$class-$i" --wait=true --timeout=60s >/dev/null
		done
	done
	kubectl_ delete namespace ready-times --wait=true --timeout=60s >/dev/null
	awk -v n="$n" '
		function median(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
		{ if ($1 == "hardened") h[++nh] = $2; else r[++nr] = $2 }
		END { mh = median(h, nh); mr = median(r, nr)
			printf "pod Ready (kubectl apply -> Ready, N=%d each, interleaved): hardened median %.3f s, runc median %.3f s, ratio %.3f\n", n, mh, mr, mh / mr }' "$f"
}

cmd_smoke() {
	local t0 uidmap pod ip out
	installed || die "the hardened runtime is not installed on the node: k8s.sh install"
	t0=$(date +%s.%N)
	apply -f "$REPO/integration/k8s/manifests/smoke.yaml"
	kubectl_ -n smoke wait --for=condition=Ready pod/app-hardened pod/app-runc pod/app-hostusers-false --timeout=120s >/dev/null ||
		{ kubectl_ -n smoke describe pods >&2; die "pods not Ready"; }
	log "pods under hardened (own and kubelet's user namespace) and runc Ready after $(since "$t0") s"
	# the hardened pod runs through the shim the installer put on the node
	out=$(for p in $(node_shims); do readlink "/proc/$p/exe"; done | sort | uniq -c | tr -s ' ')
	grep -q "$INSTALL_DIR/bin/containerd-shim-hardened-v2" <<<"$out" || die "no shim runs from the installed binary: $out"
	uidmap=$(kubectl_ -n smoke exec app-hardened -- cat /proc/self/uid_map | tr -s ' ')
	log "uid_map: hardened '$uidmap'; runc '$(kubectl_ -n smoke exec app-runc -- cat /proc/self/uid_map | tr -s ' ')'; hostUsers: false '$(kubectl_ -n smoke exec app-hostusers-false -- cat /proc/self/uid_map | tr -s ' ')'"
	[[ $uidmap =~ ^\ ?0\ ([0-9]+)\ 65536$ && ${BASH_REMATCH[1]} -ge 2147483648 ]] || die "the hardened pod is not in a user namespace of its own: $uidmap"
	out=$(kubectl_ -n smoke exec app-hostusers-false -- cat /proc/self/uid_map | tr -s ' ')
	[[ $out =~ ^\ ?0\ ([0-9]+)\ 65536$ && ${BASH_REMATCH[1]} -ge 65536 && ${BASH_REMATCH[1]} -lt 2147483648 ]] ||
		die "the hostUsers: false pod's range is not from kubelet's subordinate IDs (65536..2^31): $out"
	# the whole log, then its first line: a reader that stops early would fail the pipeline
	out=$(kubectl_ -n smoke logs app-hardened)
	[[ ${out%%$'\n'*} == started ]] || die "kubectl logs: $out"

	smoke_refused

	# a restricted workload with every volume kind, serving its pod port
	t0=$(date +%s.%N)
	apply -f "$REPO/integration/k8s/manifests/workload.yaml"
	kubectl_ -n workload rollout status deploy/web --timeout=120s >/dev/null ||
		{ kubectl_ -n workload describe pods >&2; die "the workload did not become available"; }
	log "restricted workload (secret, configMap, projected token, downwardAPI, emptyDir on disk and in memory, subPath) available after $(since "$t0") s"
	pod=$(kubectl_ -n workload get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
	ip=$(kubectl_ -n workload get pod "$pod" -o jsonpath='{.status.podIP}')
	[[ $(inlab busybox wget -qO- "http://$ip:8080/index.html") == ok ]] || die "the workload does not serve its pod port"
	out=$(kubectl_ -n workload exec "$pod" -c web -- sh -c 'id -u; cat /etc/secret/token /etc/config/greeting /sub/seed; test -s /etc/projected/token && echo token; grep -c app /etc/podinfo/labels; echo x > /mem/x && echo x > /data/x && echo writes')
	[[ $out == $'1000\ns3crethello from a configMapseeded\ntoken\n1\nwrites' ]] || die "the workload's volumes: $out"
	kubectl_ -n workload debug "$pod" --image=registry.k8s.io/e2e-test-images/busybox:1.29-2 --profile=restricted -c debugger -- sh -c 'id -u; sleep 30' >/dev/null
	for _ in $(seq 100); do
		[[ $(kubectl_ -n workload get pod "$pod" -o jsonpath='{.status.ephemeralContainerStatuses[0].state.running}') ]] && break
		sleep 0.3
	done
	[[ $(kubectl_ -n workload get pod "$pod" -o jsonpath='{.status.ephemeralContainerStatuses[0].state.running}') ]] ||
		{ kubectl_ -n workload describe pod "$pod" >&2; die "the ephemeral debug container does not run"; }
	[[ $(kubectl_ -n workload logs "$pod" -c debugger) == 1000 ]] || die "the debug container does not run as the pod's user"
	log "workload serves its pod port; logs, exec and kubectl debug work"
	kubectl_ delete namespace smoke workload --wait=true --timeout=120s >/dev/null

	log "$(pod_ready_times "${K8S_READY_N:-5}")"
	log "smoke passed"
}

# demo: a workload owner's view (make demo-k8s), after up + install.
show() {
	printf '\n\033[1m$ %s\033[0m\n' "$*"
	local cmd=$1
	shift
	case $cmd in
	kubectl) kubectl_ "$@" ;;
	*) "$cmd" "$@" ;;
	esac
}
cmd_demo() {
	installed || die "the hardened runtime is not installed on the node: k8s.sh install"
	show kubectl get nodes -L hardened-runtime.io/ready
	show kubectl get runtimeclass
	show cat "$REPO/integration/k8s/manifests/demo.yaml"
	show kubectl apply -f "$REPO/integration/k8s/manifests/demo.yaml"
	kubectl_ -n demo wait --for=condition=Ready pod/app --timeout=120s >/dev/null || die "pod app not Ready"
	for _ in $(seq 100); do [[ -n $(refusal_events demo wants-privileged) ]] && break; sleep 0.3; done
	show kubectl -n demo get pods
	show kubectl -n demo logs app
	show kubectl -n demo exec app -- sh -c 'id; cat /proc/self/uid_map; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; touch /x 2>&1; true'
	show kubectl -n demo get events --field-selector involvedObject.name=wants-privileged
	kubectl_ delete namespace demo --wait=true --timeout=120s >/dev/null
}

cmd_test() {
	cmd_install
	cmd_smoke
	cmd_uninstall
}

case ${1:-} in
build) cmd_build ;;
up) cmd_up ;;
supervise) cmd_supervise ;;
install) cmd_install ;;
smoke) cmd_smoke ;;
uninstall) cmd_uninstall ;;
test) cmd_test ;;
demo) cmd_demo ;;
ready-times) installed || die "not installed: k8s.sh install"; log "$(pod_ready_times "${2:-20}")" ;;
down) cmd_down ;;
kubectl) shift; kubectl_ "$@" ;;
*) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
