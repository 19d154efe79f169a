#!/usr/bin/env bash
# integration/lab/k8s.sh — a single-node Kubernetes on top of the running lab (work in progress).
#
#   k8s.sh build   build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl
#                  (k8s.io/kubernetes v1.37.2, through the wrapper module integration/k8s/build/
#                  kubernetes) and etcd (v3.7.3, integration/k8s/build/etcd) into the lab's bin
#   k8s.sh up      start etcd, the control plane and kubelet against the lab's containerd, all in
#                  the lab's network namespace on loopback, with state under $LAB_RUN/k8s; waits
#                  for the node to be Ready
#   k8s.sh down    stop them (by PID), unmount and remove what `up` made
#   k8s.sh kubectl ARGS...   kubectl against the lab's cluster
#
# Nothing of the host's is touched: kubelet runs in a mount namespace of its own, where its
# host sysctl writes land on files and its hard-coded /var/lib/kubelet and /var/log paths on
# tmpfs/overlay; its root directory is the lab's kubelet_root ($LAB_DIR/kubelet), made a shared
# mount so that containerd sees the volumes kubelet mounts (../shared/KUBERNETES.md).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB="$REPO/integration/lab/lab.sh"
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3

log() { printf '[k8s] %s\n' "$*" >&2; }
die() { printf '[k8s] ERROR: %s\n' "$*" >&2; exit 1; }

ENV_FILE=$("$LAB" env-file)
[[ -f $ENV_FILE ]] || die "the lab is not up: make lab-up"
# shellcheck disable=SC1090
. "$ENV_FILE"
BIN=$LAB_BIN
K=$LAB_RUN/k8s
PKI=$K/pki
KUBELET_ROOT=$LAB_KUBELET_ROOT
NODE=localhost
inlab() { nsenter --net="$LAB_NETNS_PATH" -- "$@"; }
kubectl_() { inlab "$BIN/kubectl" --kubeconfig "$K/admin.kubeconfig" "$@"; }

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
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
		[[ -x $BIN/$b ]] || die "$BIN/$b missing: run 'k8s.sh build'"
	done
	[[ ! -e $K/up ]] || die "already up (k8s.sh down first)"
	local t0
	t0=$(date +%s.%N)
	mkdir -p "$PKI" "$K/etcd" "$K/logs" "$K/volume-plugins"
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=lab-ca" -days 2 -out "$PKI/ca.crt" 2>/dev/null
	cert apiserver "/CN=kube-apiserver" "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1"
	cert admin "/O=system:masters/CN=admin"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE" "DNS:$NODE,IP:127.0.0.1"
	cert apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
	cert controller-manager "/CN=system:kube-controller-manager"
	cert scheduler "/CN=system:kube-scheduler"
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	for k in admin kubelet controller-manager scheduler; do
		case $k in
		admin) kubeconfig admin admin ;;
		kubelet) kubeconfig kubelet "system:node:$NODE" ;;
		controller-manager) kubeconfig controller-manager system:kube-controller-manager ;;
		scheduler) kubeconfig scheduler system:kube-scheduler ;;
		esac
	done
	touch "$K/up"

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
	log "kube-apiserver ready after $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
	start controller-manager "$BIN/kube-controller-manager" --kubeconfig "$K/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --use-service-account-credentials=true \
		--service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
		--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
		--flex-volume-plugin-dir "$K/volume-plugins"
	start scheduler "$BIN/kube-scheduler" --kubeconfig "$K/scheduler.kubeconfig" --bind-address 127.0.0.1

	# kubelet: the lab's kubelet root, shared, so that containerd sees its volume mounts
	mkdir -p "$KUBELET_ROOT"
	if ! mountpoint -q "$KUBELET_ROOT"; then
		mount --bind "$KUBELET_ROOT" "$KUBELET_ROOT"
		touch "$K/kubelet-root-mounted"
	fi
	mount --make-shared "$KUBELET_ROOT"
	# a cgroupRoot that exists in every v1 hierarchy
	local cg
	for cg in /sys/fs/cgroup/*/; do
		[[ -d $cg && ! -L ${cg%/} ]] && mkdir -p "${cg}lab-kubepods"
	done
	printf '1\n' >"$K/sysctl-overcommit"
	printf '10\n' >"$K/sysctl-panic"
	printf '1\n' >"$K/sysctl-panic-on-oops"
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
containerRuntimeEndpoint: unix://$LAB_RUN/containerd.sock
EOF
	# kubelet's own mount namespace: host sysctls it writes land on files, its hard-coded
	# /var/lib/kubelet and /var/log/containers on an overlay and a tmpfs
	mkdir -p "$K/varlib-upper" "$K/varlib-work"
	cat >"$K/kubelet-ns.sh" <<EOF
#!/bin/sh
set -e
mount --bind $K/sysctl-overcommit /proc/sys/vm/overcommit_memory
mount --bind $K/sysctl-panic /proc/sys/kernel/panic
mount --bind $K/sysctl-panic-on-oops /proc/sys/kernel/panic_on_oops
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$K/varlib-upper,workdir=$K/varlib-work /var/lib
mount -t tmpfs tmpfs /var/log
exec "\$@"
EOF
	chmod +x "$K/kubelet-ns.sh"
	start kubelet unshare --mount --propagation unchanged "$K/kubelet-ns.sh" "$BIN/kubelet" \
		--config "$K/kubelet.yaml" --kubeconfig "$K/kubelet.kubeconfig" --root-dir "$KUBELET_ROOT" \
		--hostname-override "$NODE" --node-ip 10.88.0.1
	wait_for "node $NODE" 120 node_ready
	kubectl_ label node "$NODE" hardened-runtime.io/ready=true --overwrite >/dev/null
	kubectl_ apply -f "$REPO/deploy/runtimeclasses.yaml" >/dev/null
	log "node Ready after $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
}

cmd_down() {
	local n pid
	[[ -d $K ]] || { log "not up"; return 0; }
	if [[ -f $K/apiserver.pid ]] && kill -0 "$(cat "$K/apiserver.pid")" 2>/dev/null; then
		kubectl_ delete pods --all --all-namespaces --wait=true --timeout=60s >/dev/null 2>&1 || true
	fi
	for n in kubelet scheduler controller-manager apiserver etcd; do
		[[ -f $K/$n.pid ]] || continue
		pid=$(cat "$K/$n.pid")
		# the session leader and everything in its process group
		kill -TERM -- "-$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	done
	# pods kubelet left: through CRI, by the lab
	"$LAB" crictl rmp -af >/dev/null 2>&1 || true
	if [[ -f $K/kubelet-root-mounted ]]; then
		umount -R "$KUBELET_ROOT" 2>/dev/null || umount -l "$KUBELET_ROOT" || true
	else
		mount --make-private "$KUBELET_ROOT" 2>/dev/null || true
	fi
	local cg
	for cg in /sys/fs/cgroup/*/lab-kubepods; do
		[[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "$K"
	log "down"
}

# apply FILE: kubectl apply, again while a new namespace's default service
# account does not exist yet (bounded).
apply() {
	for _ in $(seq 30); do
		kubectl_ apply -f "$1" >/dev/null 2>"$K/apply.err" && return 0
		grep -q 'serviceaccount "default" not found' "$K/apply.err" || break
		sleep 1
	done
	cat "$K/apply.err" >&2
	die "kubectl apply -f $1"
}

# smoke: the same pod under the hardened class and under runc reach Running,
# the hardened one in a user namespace; a privileged pod of the class never
# starts and its events carry the shim's refusal.
cmd_smoke() {
	local t0 uidmap pod ip out
	t0=$(date +%s.%N)
	apply "$REPO/integration/k8s/manifests/smoke.yaml"
	kubectl_ -n smoke wait --for=condition=Ready pod/app-hardened pod/app-runc pod/app-hostusers-false --timeout=120s >/dev/null ||
		{ kubectl_ -n smoke describe pods >&2; die "pods not Ready"; }
	log "pods under hardened (own and kubelet's user namespace) and runc Ready after $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
	uidmap=$(kubectl_ -n smoke exec app-hardened -- cat /proc/self/uid_map | tr -s ' ')
	log "uid_map: hardened '$uidmap'; runc '$(kubectl_ -n smoke exec app-runc -- cat /proc/self/uid_map | tr -s ' ')'; hostUsers: false '$(kubectl_ -n smoke exec app-hostusers-false -- cat /proc/self/uid_map | tr -s ' ')'"
	[[ $uidmap =~ ^\ ?0\ ([0-9]+)\ 65536$ && ${BASH_REMATCH[1]} -ge 2147483648 ]] || die "the hardened pod is not in a user namespace of its own: $uidmap"
	kubectl_ -n smoke logs app-hardened | head -1 | grep -qx started || die "kubectl logs"

	# a restricted workload with every volume kind, serving its pod port
	t0=$(date +%s.%N)
	apply "$REPO/integration/k8s/manifests/workload.yaml"
	kubectl_ -n workload rollout status deploy/web --timeout=120s >/dev/null ||
		{ kubectl_ -n workload describe pods >&2; die "the workload did not become available"; }
	log "restricted workload (secret, configMap, projected token, downwardAPI, emptyDir on disk and in memory, subPath) available after $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
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
	log "workload serves its pod port; logs, exec and kubectl debug work"

	# pods the class refuses, in a namespace whose admission lets them through
	apply "$REPO/integration/k8s/manifests/refused.yaml"
	local want
	for want in "privileged-hardened:refused by privileged" "hostpath-hardened:refused by hostPathVolumes" "hostnetwork-hardened:refused by hostNamespaces"; do
		pod=${want%%:*}
		for _ in $(seq 100); do
			kubectl_ -n smoke-privileged get events --field-selector "involvedObject.name=$pod" -o jsonpath='{.items[*].message}' | grep -q "${want#*:}" && break
			sleep 0.3
		done
		out=$(kubectl_ -n smoke-privileged get events --field-selector "involvedObject.name=$pod" -o jsonpath='{.items[*].message}' | grep -o "${want#*:}[^(]*" | head -1)
		[[ -n $out ]] || { kubectl_ -n smoke-privileged describe pod "$pod" >&2; die "no refusal event for $pod"; }
		[[ $(kubectl_ -n smoke-privileged get pod "$pod" -o jsonpath='{.status.containerStatuses[0].state.running}') == "" ]] || die "$pod runs"
		log "$pod: $out"
	done
	kubectl_ delete namespace smoke smoke-privileged workload --wait=true --timeout=120s >/dev/null
	log "smoke passed"
}

case ${1:-} in
build) cmd_build ;;
smoke) cmd_smoke ;;
up) cmd_up ;;
down) cmd_down ;;
kubectl) shift; kubectl_ "$@" ;;
*) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
