package images

// InstallerRef is the reference deploy/installer's DaemonSet runs. A fleet pushes the image
// under its own registry and sets it with kustomize's images: field.
const InstallerRef = "hardened-runtime.io/node-installer:latest"

// InstallerFiles are the build machine's files the installer image is made of.
type InstallerFiles struct {
	Shim    string // containerd-shim-hardened-v2 (static)
	Kubectl string // kubectl (static), to label the node
	Script  string // deploy/installer/hardened-node-installer.sh
}

// validateSpec is the spec the installer checks each class file against (the shim's
// `check --offline`): a class file that does not load fails the install before anything on
// the node changes.
const validateSpec = `{"ociVersion":"1.2.0","process":{"args":["/pause"],"cwd":"/","user":{"uid":65535,"gid":65535}},"root":{"path":"rootfs","readonly":true},"linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network"}]}}
`

// Installer is the definition of the node installer image (deploy/installer): busybox (sh,
// nsenter, the file tools the script uses), kubectl, the shim and the installer script.
func Installer(f InstallerFiles, refs ...string) Definition {
	if len(refs) == 0 {
		refs = []string{InstallerRef}
	}
	return Definition{
		Name: "node-installer",
		Refs: refs,
		Purpose: "deploy/installer's DaemonSet: copies the shim and the class files onto the node, adds the " +
			"containerd drop-in, restarts containerd, labels the node; uninstalls on removal",
		Base: Busybox,
		Files: []File{
			{Path: "/opt/hardened-runtime/bin/containerd-shim-hardened-v2", HostPath: f.Shim, Mode: 0o755},
			{Path: "/usr/local/bin/kubectl", HostPath: f.Kubectl, Mode: 0o755},
			{Path: "/usr/local/bin/hardened-node-installer", HostPath: f.Script, Mode: 0o755},
			{Path: "/etc/hardened-runtime/validate-spec.json", Content: validateSpec},
		},
		Config: Config{
			Entrypoint: []string{"/usr/local/bin/hardened-node-installer"},
			Cmd:        []string{"install"},
		},
	}
}
