package images

import (
	"io/fs"
	"runtime"
)

// Registry prefixes of the upstream images the lab replaces.
const (
	// e2eImages is where Kubernetes keeps its e2e test images (critest's
	// framework.DefaultRegistryE2ETestImagesPrefix).
	e2eImages = "registry.k8s.io/e2e-test-images/"
	// criToolsImages is where cri-tools keeps its own test images (pkg/validate "registry").
	criToolsImages = "gcr.io/k8s-staging-cri-tools/"
)

// Catalog returns every image the lab serves. To add an image, add one Definition to the list
// and run the package tests: Validate rejects names and registry targets that clash.
//
// The critest entries mirror what sigs.k8s.io/cri-tools v1.37.0 pulls (pkg/framework and
// pkg/validate; the file and constant are named in each Purpose) and what the specs run inside
// them. Upstream images are rebuilt from host files, so anything critest pins by digest cannot
// be served; see Unservable.
func Catalog() []Definition {
	return []Definition{
		// Base images.
		{
			Name:    "busybox",
			Refs:    []string{e2eImages + "busybox:1.29-2"},
			Purpose: "critest default container image (framework.DefaultLinuxContainerImage): sh, ls, top, sleep, id, ping, brctl, netstat, hostname, pidof, pgrep, ipcs, users nobody and www-data",
			Base:    Busybox,
			Config:  Config{Cmd: []string{"sh"}},
		},
		{
			Name:    "library-busybox",
			Refs:    []string{"docker.io/library/busybox:latest"},
			Purpose: "project integration tests (ctr and CRI): the busybox root file system under its Docker Hub name",
			Base:    Busybox,
			Config:  Config{Cmd: []string{"sh"}},
		},
		{
			Name: "busybox-benchmark",
			Refs: []string{
				"public.ecr.aws/docker/library/busybox:1.35.0-glibc",
				"public.ecr.aws/docker/library/busybox:1-uclibc",
				"public.ecr.aws/docker/library/busybox:1",
				"public.ecr.aws/docker/library/busybox:1-glibc",
				"public.ecr.aws/docker/library/busybox:1-musl",
			},
			Purpose: "critest image-listing benchmarks (pkg/benchmark defaultImageListingBenchmarkImagesAmd64); benchmarks only run with -benchmark",
			Base:    Busybox,
			Config:  Config{Cmd: []string{"sh"}},
		},
		{
			Name:    "pause",
			Refs:    []string{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.10.2"},
			Purpose: "pod sandbox image: containerd v2.4.2's default sandbox_image is registry.k8s.io/pause:3.10.2",
			Base:    Scratch,
			Files:   []File{{Path: "/pause", Tool: ToolPause}},
			Config:  Config{Entrypoint: []string{"/pause"}, User: "65535:65535", WorkingDir: "/"},
		},
		{
			Name:    "pause-3.9",
			Refs:    []string{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"},
			Purpose: "critest testSameImageDifferentRegistries: one image under two registry names; must differ from the sandbox image, whose tags would otherwise be counted too",
			Base:    Scratch,
			Files:   []File{{Path: "/pause", Tool: ToolPause}},
			Config:  Config{Entrypoint: []string{"/pause"}, User: "65535:65535", WorkingDir: "/"},
		},

		// Servers.
		nginx("nginx", e2eImages+"nginx:1.14-2", ":80",
			"critest nginxContainerImage and webServerLinuxImage: serves HTTP on port 80, runs as PID 1 titled \"nginx: master process ...\", writes /var/run/nginx.pid"),
		nginx("hostnet-nginx", criToolsImages+"hostnet-nginx-"+runtime.GOARCH+":latest", ":12003",
			"critest hostNetWebServerImage (consts_linux.go): nginx stand-in listening on port 12003 for host-network port forwarding"),
		{
			Name:    "httpd",
			Refs:    []string{e2eImages + "httpd:2.4.39-4"},
			Purpose: "critest httpdImage (multi_container_linux.go): serves HTTP on port 80 and logs a line containing \"httpd\"",
			Base:    Busybox,
			Files: []File{
				{Path: "/usr/local/apache2/bin/httpd", Tool: ToolWebserver},
				{Path: "/usr/local/apache2/htdocs/index.html", Content: "<html><body><h1>It works!</h1></body></html>\n"},
				{Path: "/usr/local/apache2/logs", Mode: fs.ModeDir | 0o755},
			},
			Config: Config{
				Cmd:          []string{"/usr/local/apache2/bin/httpd", "-name=httpd", "-listen=:80", "-root=/usr/local/apache2/htdocs"},
				WorkingDir:   "/usr/local/apache2",
				ExposedPorts: []string{"80/tcp"},
			},
		},

		// Security probes.
		{
			Name:    "nonewprivs",
			Refs:    []string{e2eImages + "nonewprivs:1.3"},
			Purpose: "critest noNewPrivsImage: a set-user-ID root program printing \"Effective uid: N\"",
			Base:    Busybox,
			Files:   []File{{Path: "/usr/local/bin/nnp", Tool: ToolNNP, Mode: fs.ModeSetuid | 0o755}},
			Config:  Config{Entrypoint: []string{"/usr/local/bin/nnp"}},
		},

		// cri-tools test images (images/image-test, images/image-user, images/image-predefined-group
		// in cri-tools): busybox plus a marker file named after the build's TEST argument, or a
		// USER setting.
		marked("test-image-1", "/test-image-1", criToolsImages+"test-image-1:latest"),
		marked("test-image-2", "/test-image-2", criToolsImages+"test-image-2:latest"),
		marked("test-image-3", "/test-image-3", criToolsImages+"test-image-3:latest"),
		marked("test-image-latest", "/test-image-latest", criToolsImages+"test-image-latest:latest"),
		marked("test-image-tags", "/same-image",
			criToolsImages+"test-image-tags:1", criToolsImages+"test-image-tags:2", criToolsImages+"test-image-tags:3"),
		marked("test-image-tag-test", "/test", criToolsImages+"test-image-tag:test"),
		marked("test-image-tag-all", "/all", criToolsImages+"test-image-tag:all"),
		withUser("test-image-user-uid", "1002"),
		withUser("test-image-user-username", "www-data"),
		withUser("test-image-user-uid-group", "1003:1004"),
		withUser("test-image-user-username-group", "www-data:1004"),
		{
			Name:    "test-image-predefined-group",
			Refs:    []string{criToolsImages + "test-image-predefined-group:latest"},
			Purpose: "critest testImagePreDefinedGroup: default-user (uid 1000) is a member of group-defined-in-image (gid 50000) in /etc/group; USER 1000",
			Base:    Busybox,
			Users: []Account{{
				Name: "default-user", UID: 1000, GID: 1000, Gecos: "Linux User,,,",
				Home: "/home/default-user", Shell: "/bin/sh",
			}},
			Groups: []Group{
				{Name: "default-user", GID: 1000},
				{Name: "group-defined-in-image", GID: 50000, Members: []string{"default-user"}},
			},
			Config: Config{Cmd: []string{"sh"}, User: "1000"},
		},

		// Project images.
		{
			Name: "probe",
			Refs: []string{"hardened.test/probe:latest"},
			Purpose: "project hardening tests: /usr/local/bin/probe prints as JSON the capability, no_new_privs and seccomp " +
				"state and which escape-relevant syscalls and files the container can use; /usr/local/bin/nnp is the " +
				"set-user-ID root helper its setuid-gain attempt runs (as a non-root USER)",
			Base: Busybox,
			Files: []File{
				{Path: "/usr/local/bin/probe", Tool: ToolProbe},
				{Path: "/usr/local/bin/nnp", Tool: ToolNNP, Mode: fs.ModeSetuid | 0o755},
				// Read by the io_uring-fallback attempt when the runtime does not bind-mount one.
				{Path: "/etc/hostname", Content: "probe\n"},
			},
			Config: Config{Entrypoint: []string{"/usr/local/bin/probe"}},
		},
		{
			Name: "webserver",
			Refs: []string{"hardened.test/webserver:latest"},
			Purpose: "project tests that real programs keep working under the hardened runtime: the static Go webserver " +
				"serving /var/www on port 8080; the port is the -listen flag, so container args [\"-listen=:9090\"] move it",
			Base: Busybox,
			Files: []File{
				{Path: "/usr/local/bin/webserver", Tool: ToolWebserver},
				{Path: "/var/www/index.html", Content: webserverIndex},
			},
			Config: Config{
				Entrypoint:   []string{"/usr/local/bin/webserver", "-name=webserver", "-root=/var/www"},
				Cmd:          []string{"-listen=:8080"},
				ExposedPorts: []string{"8080/tcp"},
			},
		},
	}
}

// nginx defines an nginx stand-in listening on listen.
func nginx(name, ref, listen, purpose string) Definition {
	return Definition{
		Name:    name,
		Refs:    []string{ref},
		Purpose: purpose,
		Base:    Busybox,
		Files: []File{
			{Path: "/usr/sbin/nginx", Tool: ToolWebserver},
			{Path: "/usr/share/nginx/html/index.html", Content: nginxIndex},
			{Path: "/var/cache/nginx", Mode: fs.ModeDir | 0o755},
			{Path: "/var/log/nginx", Mode: fs.ModeDir | 0o755},
		},
		Config: Config{
			Cmd: []string{
				"/usr/sbin/nginx", "-name=nginx", "-listen=" + listen, "-root=/usr/share/nginx/html",
				"-pid-file=/var/run/nginx.pid", "-title=nginx: master process nginx -g daemon off;",
			},
			ExposedPorts: []string{listen[1:] + "/tcp"},
		},
	}
}

const nginxIndex = `<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>Lab stand-in for the nginx test image.</p>
</body>
</html>
`

// webserverIndex is the page of the hardened.test/webserver image.
const webserverIndex = "<html><body><h1>hardened webserver</h1></body></html>\n"

// marked defines a cri-tools test image: busybox plus an empty marker file.
func marked(name, marker string, refs ...string) Definition {
	return Definition{
		Name:    name,
		Refs:    refs,
		Purpose: "critest image manager tests (pkg/validate consts.go): busybox plus " + marker,
		Base:    Busybox,
		Files:   []File{{Path: marker}},
		Config:  Config{Cmd: []string{"sh"}},
	}
}

// withUser defines a cri-tools image-user test image: busybox with a USER setting.
func withUser(name, user string) Definition {
	return Definition{
		Name:    name,
		Refs:    []string{criToolsImages + name + ":latest"},
		Purpose: "critest \"image status get image fields should not have Uid|Username empty\": USER " + user,
		Base:    Busybox,
		Config:  Config{Cmd: []string{"sh"}, User: user},
	}
}

// UnservableRef is an upstream reference critest uses that the lab cannot provide.
type UnservableRef struct {
	Ref    string
	Reason string
}

// Unservable lists the references critest v1.37.0 uses that no locally built image can satisfy.
var Unservable = []UnservableRef{
	{
		Ref: criToolsImages + "test-image-digest@sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf",
		Reason: "pinned by digest (testLinuxImageWithDigest): only the exact upstream bytes have this digest; " +
			"critest's \"public image with digest should be pulled and removed\" fails offline",
	},
}
