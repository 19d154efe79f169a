#!/bin/sh
# hardened-node-installer — installs containerd-shim-hardened-v2 on the node it runs on, and
# removes it again. It is the entrypoint of the installer image, run by the DaemonSet in
# deploy/installer (in the spirit of kata-deploy):
#
#   hardened-node-installer install     install, label the node ready, then wait; on SIGTERM
#                                       uninstall when the DaemonSet is gone or no longer
#                                       selects this node (a rollout or restart keeps it)
#   hardened-node-installer apply       install once and exit (no waiting, no uninstall)
#   hardened-node-installer uninstall   undo everything the installer did on this node
#   hardened-node-installer status      print what is installed
#
# It sees the host's file system at $HOST_ROOT (a hostPath mount of /) and restarts containerd
# with RESTART_COMMAND (default: the host's systemd, through PID 1's mount namespace; the pod
# has hostPID). Every host path below is the host's view; the script reaches it as
# $HOST_ROOT/<path>.
#
# What it changes, and nothing else (recorded in $INSTALL_DIR/installed for uninstall):
#   $INSTALL_DIR/bin/containerd-shim-hardened-v2       the shim, from the image
#   $INSTALL_DIR/bin/containerd-shim-<class>-v2        a symlink per further class
#   $SHIM_CONFIG_DIR/containerd-shim-<class>-v2.toml   each class file from $CLASSES_DIR
#                                                      (the ConfigMap), validated by the shim
#   $DROPIN                                            one CRI runtime handler per class
#   $CONTAINERD_CONFIG                                 its `imports` gains $DROPIN
#   the node's label $READY_LABEL=true
# containerd is restarted (RESTART_COMMAND, run with HOST_ROOT in its environment) only when
# its configuration changed, or when the last restart failed.
set -eu

HOST_ROOT=${HOST_ROOT:-/host}
INSTALL_DIR=${INSTALL_DIR:-/opt/hardened-runtime}
SHIM_CONFIG_DIR=${SHIM_CONFIG_DIR:-/etc/containerd}
CONTAINERD_CONFIG=${CONTAINERD_CONFIG:-/etc/containerd/config.toml}
DROPIN=${DROPIN:-/etc/containerd/conf.d/hardened-runtime.toml}
RESTART_COMMAND=${RESTART_COMMAND:-nsenter --target 1 --mount -- systemctl restart containerd}
CLASSES_DIR=${CLASSES_DIR:-/etc/hardened-runtime/classes}
SHIM_SOURCE=${SHIM_SOURCE:-/opt/hardened-runtime/bin/containerd-shim-hardened-v2}
VALIDATE_SPEC=${VALIDATE_SPEC:-/etc/hardened-runtime/validate-spec.json}
READY_LABEL=${READY_LABEL:-hardened-runtime.io/ready}
INSTALL_LABEL=${INSTALL_LABEL:-hardened-runtime.io/install}
DAEMONSET_NAME=${DAEMONSET_NAME:-hardened-node-installer}
POD_NAMESPACE=${POD_NAMESPACE:-hardened-runtime-system}
NODE_NAME=${NODE_NAME:-}
SHIM=containerd-shim-hardened-v2
MARK="# managed by hardened-node-installer"

log() { printf '%s hardened-node-installer: %s\n' "$(date -u +%FT%TZ)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

h() { printf '%s%s' "$HOST_ROOT" "$1"; } # host path -> path in this container
STATE=$INSTALL_DIR/installed              # host path of the install record

check_env() {
	[ -n "$NODE_NAME" ] || die "NODE_NAME is empty: set it from the pod's spec.nodeName (downward API)"
	for v in INSTALL_DIR SHIM_CONFIG_DIR CONTAINERD_CONFIG DROPIN; do
		eval "p=\$$v"
		case $p in
		/*) ;;
		*) die "$v=$p: must be an absolute host path" ;;
		esac
		case $p in
		*[!A-Za-z0-9_./-]*) die "$v=$p: only letters, digits and _ . / - are allowed" ;;
		esac
	done
	[ -d "$HOST_ROOT/" ] || die "HOST_ROOT=$HOST_ROOT is not a directory: mount the host's / there (hostPath)"
	case $DROPIN in
	"$SHIM_CONFIG_DIR"/containerd-shim-*) die "DROPIN=$DROPIN: collides with the class file names" ;;
	esac
}

# classes: the class names of the ConfigMap's files (<class>.toml), validated.
classes() {
	found=
	for f in "$CLASSES_DIR"/*.toml; do
		[ -f "$f" ] || continue
		c=${f##*/}
		c=${c%.toml}
		case $c in
		"" | *[!a-z0-9-]* | -* | *-) die "class file $f: the class name \"$c\" must be lower-case letters, digits and inner dashes (it names the runtime handler)" ;;
		esac
		printf '%s\n' "$c"
		found=1
	done
	[ -n "$found" ] || die "no class files (*.toml) in $CLASSES_DIR: mount the classes ConfigMap there"
}

binary_of() { # CLASS -> host path of the binary name that reads the class's file
	if [ "$1" = hardened ]; then
		printf '%s/bin/%s' "$INSTALL_DIR" "$SHIM"
	else
		printf '%s/bin/containerd-shim-%s-v2' "$INSTALL_DIR" "$1"
	fi
}
class_file_of() { printf '%s/containerd-shim-%s-v2.toml' "$SHIM_CONFIG_DIR" "$1"; }

recorded() { [ -f "$(h "$STATE")" ] && grep -qxF "$1" "$(h "$STATE")"; }
record() { recorded "$1" || printf '%s\n' "$1" >>"$(h "$STATE")"; }

# owned PATH: the installer may write PATH (it wrote it before, or nothing is there).
owned() { [ ! -e "$(h "$1")" ] && [ ! -L "$(h "$1")" ] || recorded "file $1"; }

# put SRC HOSTPATH MODE: copy SRC to HOSTPATH atomically; returns 0 when the content changed.
put() {
	dst=$(h "$2")
	if [ -f "$dst" ] && [ ! -L "$dst" ] && cmp -s "$1" "$dst"; then
		chmod "$3" "$dst"
		return 1
	fi
	mkdir -p "${dst%/*}"
	cp "$1" "$dst.tmp.$$"
	chmod "$3" "$dst.tmp.$$"
	mv -f "$dst.tmp.$$" "$dst"
	return 0
}

config_version() { # the containerd config's top-level version (1 when absent)
	v=$(sed -n '/^\[/q; s/^[[:space:]]*version[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$1" | head -1)
	printf '%s' "${v:-1}"
}

# imports_has FILE: the config's top-level imports already name the drop-in (exactly or by a
# glob that matches it, as containerd resolves them).
imports_has() {
	line=$(sed -n '/^\[/q; /^[[:space:]]*imports[[:space:]]*=/,/\]/p' "$1" | tr -d '\n')
	[ -n "$line" ] || return 1
	list=$(printf '%s' "$line" | sed 's/^[^[]*\[//; s/\].*$//' | tr ',' '\n' | sed 's/^[[:space:]]*["'\'']//; s/["'\''][[:space:]]*$//')
	printf '%s\n' "$list" | while IFS= read -r pat; do
		[ -n "$pat" ] || continue
		# shellcheck disable=SC2254
		case $DROPIN in $pat) exit 3 ;; esac
	done
	[ $? -eq 3 ]
}

dropin_content() {
	echo "$MARK: removed on uninstall (kubectl delete -k deploy/installer)"
	echo "version = 3"
	for c in $(classes); do
		echo
		echo "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.$c]"
		echo "  runtime_type = \"io.containerd.hardened.v2\""
		echo "  runtime_path = \"$(binary_of "$c")\""
	done
}

restart_containerd() {
	# a restart that fails is retried by the next install (the pod restarts) even though the
	# files are then already in place
	record "restart-pending"
	log "restarting containerd: $RESTART_COMMAND"
	# the default enters PID 1's mount namespace (the pod has hostPID) to reach the host's
	# service manager
	HOST_ROOT=$HOST_ROOT /bin/sh -c "$RESTART_COMMAND" || die "restarting containerd failed: $RESTART_COMMAND"
	sed -i '/^restart-pending$/d' "$(h "$STATE")"
	log "containerd restarted"
}

kubectl_label() {
	n=0
	until kubectl label node "$NODE_NAME" "$@" --overwrite >/dev/null; do
		n=$((n + 1))
		[ $n -lt 30 ] || return 1
		sleep 2
	done
}

cmd_install() {
	check_env
	[ -x "$SHIM_SOURCE" ] || die "$SHIM_SOURCE: the shim binary is missing from the image"
	cfg=$(h "$CONTAINERD_CONFIG")
	# everything that can refuse is checked before anything changes
	[ -f "$cfg" ] || die "$CONTAINERD_CONFIG does not exist: the installer adds its drop-in to an existing containerd 2.x configuration (containerd config default > $CONTAINERD_CONFIG)"
	ver=$(config_version "$cfg")
	[ "$ver" -ge 2 ] || die "$CONTAINERD_CONFIG is a version $ver configuration (containerd 1.x): the shim needs containerd 2.x; migrate with 'containerd config migrate'"
	classes >/dev/null
	for c in $(classes); do
		out=$("$SHIM_SOURCE" check --config "$CLASSES_DIR/$c.toml" --offline "$VALIDATE_SPEC" 2>&1 >/dev/null) ||
			[ $? -eq 1 ] || die "class file $c.toml: $out"
		owned "$(class_file_of "$c")" || die "$(class_file_of "$c") exists and was not written by the installer: remove it or move its content into the classes ConfigMap"
		[ "$c" = hardened ] || owned "$(binary_of "$c")" || die "$(binary_of "$c") exists and was not written by the installer"
	done
	owned "$DROPIN" || die "$DROPIN exists and was not written by the installer"
	mkdir -p "$(h "$INSTALL_DIR")"
	touch "$(h "$STATE")"
	changed=

	# the shim and one binary name per class (each reads its own class file)
	put "$SHIM_SOURCE" "$INSTALL_DIR/bin/$SHIM" 0755 && log "installed $INSTALL_DIR/bin/$SHIM ($("$SHIM_SOURCE" --version | sed -n 's/^[[:space:]]*Version:[[:space:]]*//p' | head -1))"
	record "file $INSTALL_DIR/bin/$SHIM"
	for c in $(classes); do
		b=$(binary_of "$c")
		if [ "$c" != hardened ]; then
			[ "$(readlink "$(h "$b")" 2>/dev/null)" = "$SHIM" ] || { ln -sfn "$SHIM" "$(h "$b")"; log "linked $b"; }
			record "file $b"
		fi
		f=$(class_file_of "$c")
		record "file $f"
		put "$CLASSES_DIR/$c.toml" "$f" 0644 && log "wrote class file $f"
	done
	# class files of classes dropped from the ConfigMap since the last install
	for f in $(sed -n 's/^file //p' "$(h "$STATE")"); do
		case $f in
		"$SHIM_CONFIG_DIR"/containerd-shim-*-v2.toml | "$INSTALL_DIR"/bin/containerd-shim-*-v2)
			c=${f##*/containerd-shim-}
			c=${c%.toml}
			c=${c%-v2}
			[ "$f" = "$INSTALL_DIR/bin/$SHIM" ] && continue
			classes | grep -qxF "$c" && continue
			rm -f "$(h "$f")"
			sed -i "\\|^file $f\$|d" "$(h "$STATE")"
			log "removed $f (class $c is no longer in the ConfigMap)"
			changed=1
			;;
		esac
	done

	# the drop-in, and containerd's imports
	tmp=/tmp/dropin.$$
	dropin_content >"$tmp"
	record "file $DROPIN"
	if put "$tmp" "$DROPIN" 0644; then
		log "wrote $DROPIN (handlers: $(classes | tr '\n' ' '))"
		changed=1
	fi
	rm -f "$tmp"
	if ! imports_has "$cfg"; then
		cp -p "$cfg" "$cfg.hardened-tmp"
		if grep -q '^[[:space:]]*imports[[:space:]]*=' "$cfg.hardened-tmp"; then
			awk -v add="\"$DROPIN\", " '!done && /^[[:space:]]*imports[[:space:]]*=[[:space:]]*\[/ {i = index($0, "["); $0 = substr($0, 1, i) add substr($0, i + 1); done = 1} {print}' \
				"$cfg" >"$cfg.hardened-tmp"
			record "imports-inserted $DROPIN"
		else
			# a top-level key: before the first table
			awk -v line="imports = [\"$DROPIN\"] $MARK" '!done && /^[[:space:]]*\[/ {print line; done=1} {print} END {if (!done) print line}' \
				"$cfg" >"$cfg.hardened-tmp"
			record "imports-added $DROPIN"
		fi
		mv -f "$cfg.hardened-tmp" "$cfg"
		imports_has "$cfg" || die "$CONTAINERD_CONFIG: adding $DROPIN to imports failed"
		log "added $DROPIN to the imports of $CONTAINERD_CONFIG"
		changed=1
	fi

	recorded restart-pending && changed=1
	[ -z "$changed" ] || restart_containerd
	kubectl_label "$READY_LABEL=true" || die "labelling node $NODE_NAME $READY_LABEL=true failed"
	log "node $NODE_NAME ready: labelled $READY_LABEL=true; classes: $(classes | tr '\n' ' ')"
}

cmd_uninstall() {
	check_env
	cfg=$(h "$CONTAINERD_CONFIG")
	# no new pods of the classes first
	kubectl label node "$NODE_NAME" "$READY_LABEL-" >/dev/null 2>&1 && log "removed label $READY_LABEL from node $NODE_NAME" ||
		log "could not remove label $READY_LABEL from node $NODE_NAME (API unreachable?)"
	if [ ! -f "$(h "$STATE")" ]; then
		log "nothing installed ($STATE absent)"
		return 0
	fi
	changed=
	if [ -f "$cfg" ]; then
		if recorded "imports-added $DROPIN"; then
			cp -p "$cfg" "$cfg.hardened-tmp"
			grep -vxF "imports = [\"$DROPIN\"] $MARK" "$cfg" >"$cfg.hardened-tmp" || true
			changed=1
		elif recorded "imports-inserted $DROPIN"; then
			cp -p "$cfg" "$cfg.hardened-tmp"
			awk -v rm="\"$DROPIN\", " '!done && (i = index($0, rm)) {$0 = substr($0, 1, i - 1) substr($0, i + length(rm)); done = 1} {print}' \
				"$cfg" >"$cfg.hardened-tmp"
			changed=1
		fi
		if [ -n "$changed" ]; then
			mv -f "$cfg.hardened-tmp" "$cfg"
			log "removed $DROPIN from the imports of $CONTAINERD_CONFIG"
		fi
	fi
	for f in $(sed -n 's/^file //p' "$(h "$STATE")"); do
		if [ -e "$(h "$f")" ] || [ -L "$(h "$f")" ]; then
			rm -f "$(h "$f")"
			log "removed $f"
			[ "$f" = "$DROPIN" ] && changed=1
		fi
	done
	rmdir "$(h "${DROPIN%/*}")" 2>/dev/null || true
	[ -z "$changed" ] || restart_containerd
	rm -f "$(h "$STATE")"
	rmdir "$(h "$INSTALL_DIR/bin")" "$(h "$INSTALL_DIR")" 2>/dev/null || log "$INSTALL_DIR not empty: left in place"
	log "uninstalled from node $NODE_NAME"
}

cmd_status() {
	if [ -f "$(h "$STATE")" ]; then cat "$(h "$STATE")"; else echo "not installed"; fi
}

# on_term: uninstall when this pod goes away for good (the DaemonSet deleted, or the node no
# longer labelled for it); a rollout of a new installer version or a restart keeps the shim.
on_term() {
	trap '' TERM INT
	ds_gone=1
	if out=$(kubectl -n "$POD_NAMESPACE" get daemonset "$DAEMONSET_NAME" -o jsonpath='{.metadata.deletionTimestamp}' 2>&1); then
		[ -n "$out" ] || ds_gone=
	elif ! printf '%s' "$out" | grep -q NotFound; then
		log "cannot tell whether the DaemonSet is being deleted ($out): uninstalling"
	fi
	key=$(printf '%s' "$INSTALL_LABEL" | sed 's/\./\\./g')
	selected=$(kubectl get node "$NODE_NAME" -o jsonpath="{.metadata.labels.$key}" 2>/dev/null || true)
	if [ -z "$ds_gone" ] && [ "$selected" = true ]; then
		log "stopping; the DaemonSet still selects node $NODE_NAME: the shim stays installed"
		exit 0
	fi
	log "stopping: the DaemonSet is gone or no longer selects node $NODE_NAME: uninstalling"
	cmd_uninstall
	exit 0
}

case ${1:-install} in
install)
	trap on_term TERM INT
	cmd_install
	# wait for SIGTERM; `sleep` in the background so that the trap runs at once
	while :; do
		sleep 3600 &
		wait $! || true
	done
	;;
apply) cmd_install ;;
uninstall) cmd_uninstall ;;
status) cmd_status ;;
*) die "usage: hardened-node-installer install|apply|uninstall|status" ;;
esac
