#!/usr/bin/env bash
# make demo: on a fresh machine, build everything, bring the lab up, run
# containers through the hardened runtime with ctr and CRI, show an allowed and
# a refused pod and the audit log, then tear the lab down.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
LAB="$REPO/integration/lab/lab.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

make --no-print-directory lab-up
trap 'say "tearing the lab down"; make --no-print-directory lab-down' EXIT
# shellcheck disable=SC1090
. "$("$LAB" env-file)"
inlab() { nsenter --net="$LAB_NETNS_PATH" -- "$@"; }
crictl() { inlab "$LAB_BIN/crictl" --config "$CRI_CONFIG_FILE" "$@" 2> >(quiet >&2); }
quiet() { grep -v -e 'DEPRECATION: The support for cgroup v1' -e 'cgroup_parent is not set' || true; }
ctr() { "$LAB_BIN/ctr" --address "$CONTAINERD_ADDRESS" "$@" 2> >(quiet >&2); }
work=$(mktemp -d "$LAB_RUN/demo.XXXXXX")

say "the shim"
"$LAB_BIN/containerd-shim-hardened-v2" --version

say "the node admin's self-check: doctor (the lab's containerd, its 'hardened' handler)"
env PATH="$LAB_BIN:$PATH" CONTAINERD_SHIM_HARDENED_CONFIG_DIR="$LAB_HARDENED_CLASS_DIR" \
	"$LAB_BIN/containerd-shim-hardened-v2" doctor --containerd "$LAB_BIN/containerd" \
	--containerd-config "$LAB_CONTAINERD_CONFIG" --address "$CONTAINERD_ADDRESS" --handler hardened

say "ctr: a container through io.containerd.hardened.v2 (class from $LAB_HARDENED_CLASS_DIR)"
inlab "$LAB_BIN/ctr" --address "$CONTAINERD_ADDRESS" -n demo images pull 2> >(quiet >&2) --hosts-dir "$LAB_HOSTS_DIR" docker.io/library/busybox:latest >/dev/null
ctr -n demo run --rm --runtime io.containerd.hardened.v2 --fifo-dir "$LAB_FIFO_DIR" docker.io/library/busybox:latest demo-ctr \
	sh -c 'echo "hello from $(hostname), uid $(id -u)"; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; touch /etc/demo 2>&1 | sed "s/^/write to the rootfs: /"; touch /tmp/demo && echo "write to /tmp (tmpfs): ok"; echo "/proc/keys is masked: $(wc -c </proc/keys) bytes"'

say "the same class on the other backends: gVisor (runtime = \"runsc\") and delegation (runtime = \"kata\", containerd-shim-runc-v2 standing in for Kata's shim)"
ctr -n demo run --rm --runtime "$LAB_HARDENED_GVISOR_SHIM" --fifo-dir "$LAB_FIFO_DIR" docker.io/library/busybox:latest demo-gvisor \
	sh -c 'echo "gVisor: kernel $(uname -r), $(grep -E "^NoNewPrivs:" /proc/self/status | tr -s "\t" " ")"; touch /etc/demo 2>&1 | sed "s/^/write to the rootfs: /"'
ctr -n demo run --rm --runtime "$LAB_HARDENED_DELEGATE_SHIM" --fifo-dir "$LAB_FIFO_DIR" docker.io/library/busybox:latest demo-delegate \
	sh -c 'echo "delegated: $(grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t\n" "  ")"; touch /etc/demo 2>&1 | sed "s/^/write to the rootfs: /"'
ctr -n demo images rm docker.io/library/busybox:latest >/dev/null
ctr namespaces rm demo >/dev/null 2>&1 || true

say "CRI: a pod with runtimeClass handler 'hardened'"
cat >"$work/pod.json" <<JSON
{"metadata": {"name": "demo-web", "namespace": "demo", "uid": "demo-web-uid", "attempt": 1},
 "log_directory": "$work/logs", "linux": {}}
JSON
cat >"$work/app.json" <<JSON
{"metadata": {"name": "app"}, "image": {"image": "docker.io/library/busybox:latest"},
 "command": ["sh", "-c", "echo app running; exec sleep 300"], "log_path": "app.log", "linux": {}}
JSON
mkdir -p "$work/logs"
crictl pull docker.io/library/busybox:latest >/dev/null
pod=$(crictl runp --runtime hardened "$work/pod.json")
ctrid=$(crictl create "$pod" "$work/app.json" "$work/pod.json")
crictl start "$ctrid" >/dev/null
sleep 1
crictl ps --pod "$pod"
echo "shim process serving the pod:"
ps -o pid,args -C containerd-shim-hardened-v2 | grep -F -- "-id $pod" || true
echo "exec: $(crictl exec "$ctrid" sh -c 'echo "exec as uid $(id -u) in $(hostname)"')"

say "the pod's user namespace: container root is not host root"
echo "inside, /proc/self/uid_map: $(crictl exec "$ctrid" cat /proc/self/uid_map | tr -s ' ')"
cpid=$(crictl inspect -o go-template --template '{{.info.pid}}' "$ctrid")
echo "on the node, the container's init runs as: $(grep -E '^Uid:' "/proc/$cpid/status" | tr -s '\t ' ' ')"
echo "the node-wide allocator ($LAB_USERNS_DIR/ranges.json):"
jq -c '.entries[] | {pod: .key, base, size}' "$LAB_USERNS_DIR/ranges.json" | sed 's/^/  /'

say "CRI: the same pod with a hostPath mount of /etc is refused before anything starts"
cat >"$work/bad.json" <<JSON
{"metadata": {"name": "steal-etc"}, "image": {"image": "docker.io/library/busybox:latest"},
 "command": ["cat", "/host/shadow"], "log_path": "bad.log",
 "mounts": [{"container_path": "/host", "host_path": "/etc", "readonly": true}], "linux": {}}
JSON
bad=$(crictl create "$pod" "$work/bad.json" "$work/pod.json")
crictl start "$bad" 2>&1 | sed 's/^/  /' || true

say "CRI: a hostNetwork pod is refused"
cat >"$work/hostnet.json" <<JSON
{"metadata": {"name": "demo-hostnet", "namespace": "demo", "uid": "demo-hostnet-uid", "attempt": 1},
 "log_directory": "$work/logs", "linux": {"security_context": {"namespace_options": {"network": 2}}}}
JSON
crictl runp --runtime hardened "$work/hostnet.json" 2>&1 | sed 's/^/  /' || true

say "the node audit log ($LAB_HARDENED_AUDIT_LOG), last decisions"
tail -n 4 "$LAB_HARDENED_AUDIT_LOG" | cut -c1-400

say "cleaning up the demo pod"
crictl rm "$bad" >/dev/null 2>&1 || true
crictl stopp "$pod" >/dev/null
crictl rmp "$pod" >/dev/null
rm -rf "$work"
