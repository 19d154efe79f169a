// Command labimages builds the integration lab's container images from host files and serves
// them from an in-memory registry, or saves them as tarballs.
//
//	labimages serve --addr 127.0.0.1:5000 [--pidfile F] [--ready-file F] [--log-requests] [build flags]
//	labimages save  --out DIR [build flags]
//	labimages list  [-l] [--unservable]
//
// Build flags: --cache DIR caches the built Go tools (default .lab/images-cache, relative to the
// working directory), --busybox PATH names the host's dynamically linked busybox (default
// /bin/busybox), --go CMD the go command that builds the tools (default go).
//
// serve builds every image of images.Catalog, starts a registry on the loopback address, pushes
// each image under each of its references with the registry host dropped
// ("registry.k8s.io/pause:3.10.2" becomes "pause:3.10.2"), logs each pushed reference to
// stderr, writes the registry address to the ready file and serves until SIGTERM or SIGINT,
// then exits 0 and removes the pid and ready files (a signal before it is ready also exits 0,
// without a ready file). The lab points containerd at it with a certs.d/_default/hosts.toml
// mirror, so every registry host resolves to it.
//
// save writes one docker-archive tarball per image to DIR, for "ctr images import".
//
// installer builds the node installer image (deploy/installer) from the given files and pushes
// it to a registry or saves it as a docker-archive tarball.
//
// list prints every served reference, one per line; -l adds the registry path and image name,
// --unservable prints the references critest needs that cannot be served, with the reason.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/integration/images"
)

// buildTimeout bounds building and pushing all images.
const buildTimeout = 15 * time.Minute

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "save":
		err = save(args[1:], stdout, stderr)
	case "list":
		err = list(args[1:], stdout, stderr)
	case "installer":
		err = installer(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "labimages: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "labimages: %v\n", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage error")

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  labimages serve --addr 127.0.0.1:5000 [--pidfile F] [--ready-file F] [--log-requests] [build flags]
  labimages save  --out DIR [build flags]
  labimages list  [-l] [--unservable]
  labimages installer --shim F --kubectl F --script F [--ref REF] (--push ADDR | --out DIR) [build flags]
build flags: [--cache DIR] [--busybox PATH] [--go CMD]
`)
}

// buildFlags are the flags of the commands that build images.
type buildFlags struct {
	cache   string
	busybox string
	goCmd   string
}

func (b *buildFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.cache, "cache", images.DefaultCacheDir, "directory caching the built Go tools")
	fs.StringVar(&b.busybox, "busybox", images.DefaultBusybox, "host busybox binary (Debian's dynamically linked build)")
	fs.StringVar(&b.goCmd, "go", "go", "go command used to build the tools")
}

func (b *buildFlags) buildAll(ctx context.Context, stderr io.Writer) ([]images.Built, error) {
	return b.build(ctx, stderr, images.Catalog())
}

func (b *buildFlags) build(ctx context.Context, stderr io.Writer, defs []images.Definition) ([]images.Built, error) {
	builder, err := images.NewBuilder(images.Options{
		CacheDir: b.cache,
		Busybox:  b.busybox,
		Go:       b.goCmd,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(stderr, "labimages: "+format+"\n", args...)
		},
	})
	if err != nil {
		return nil, err
	}
	return builder.BuildAll(ctx, defs)
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "labimages %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5000", "loopback address to serve the registry on")
	pidFile := fs.String("pidfile", "", "file to write the process ID to")
	readyFile := fs.String("ready-file", "", "file written once every image is pushed")
	logRequests := fs.Bool("log-requests", false, "log every registry request to stderr")
	var bf buildFlags
	bf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	start := time.Now()

	if *readyFile != "" {
		if err := os.Remove(*readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing stale ready file: %w", err)
		}
	}
	if *pidFile != "" {
		if err := writeFileAtomic(*pidFile, fmt.Sprintf("%d\n", os.Getpid())); err != nil {
			return fmt.Errorf("writing pid file: %w", err)
		}
		defer os.Remove(*pidFile)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var requestLog io.Writer
	if *logRequests {
		requestLog = stderr
	}
	reg, err := images.StartRegistry(*addr, requestLog)
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := reg.Close(shutdownCtx); err != nil {
			fmt.Fprintf(stderr, "labimages: stopping registry: %v\n", err)
		}
	}()
	fmt.Fprintf(stderr, "labimages: registry listening on %s\n", reg.Addr())

	buildCtx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	built, err := bf.buildAll(buildCtx, stderr)
	if err == nil {
		err = images.Push(buildCtx, reg.Addr(), built, func(p images.Pushed) {
			fmt.Fprintf(stderr, "labimages: pushed %s as %s/%s@%s\n", p.Ref, reg.Addr(), p.Target.Path(), p.Digest)
		})
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "labimages: interrupted before the registry was ready\n")
			return nil
		}
		return err
	}

	if *readyFile != "" {
		if err := writeFileAtomic(*readyFile, reg.Addr()+"\n"); err != nil {
			return fmt.Errorf("writing ready file: %w", err)
		}
		defer os.Remove(*readyFile)
	}
	fmt.Fprintf(stderr, "labimages: ready: %d images on %s after %s\n", len(built), reg.Addr(), time.Since(start).Round(time.Millisecond))

	select {
	case <-ctx.Done():
		fmt.Fprintf(stderr, "labimages: stopping on signal\n")
		return nil
	case err := <-reg.Done():
		if err == nil {
			err = errors.New("registry stopped unexpectedly")
		}
		return fmt.Errorf("registry: %w", err)
	}
}

func save(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("save", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write the image tarballs to (required)")
	var bf buildFlags
	bf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "labimages save: --out is required")
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()

	built, err := bf.buildAll(ctx, stderr)
	if err != nil {
		return err
	}
	return saveArchives(*out, built, stdout)
}

func installer(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("installer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files images.InstallerFiles
	fs.StringVar(&files.Shim, "shim", "", "the containerd-shim-hardened-v2 binary (required)")
	fs.StringVar(&files.Kubectl, "kubectl", "", "a static kubectl binary (required)")
	fs.StringVar(&files.Script, "script", "", "deploy/installer/hardened-node-installer.sh (required)")
	ref := fs.String("ref", images.InstallerRef, "image reference")
	push := fs.String("push", "", "registry address (host:port) to push to")
	out := fs.String("out", "", "directory to write the docker-archive tarball to")
	var bf buildFlags
	bf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if files.Shim == "" || files.Kubectl == "" || files.Script == "" || (*push == "") == (*out == "") {
		fmt.Fprintln(stderr, "labimages installer: --shim, --kubectl, --script and one of --push, --out are required")
		return errUsage
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	files = images.InstallerFiles{Shim: abs(files.Shim), Kubectl: abs(files.Kubectl), Script: abs(files.Script)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	built, err := bf.build(ctx, stderr, []images.Definition{images.Installer(files, *ref)})
	if err != nil {
		return err
	}
	if *push != "" {
		return images.Push(ctx, *push, built, func(p images.Pushed) {
			fmt.Fprintf(stdout, "%s\t%s/%s@%s\n", p.Ref, *push, p.Target.Path(), p.Digest)
		})
	}
	return saveArchives(*out, built, stdout)
}

// saveArchives writes the built images as docker-archive tarballs to dir and prints each path
// with its references.
func saveArchives(dir string, built []images.Built, stdout io.Writer) error {
	archives, err := images.Save(dir, built)
	if err != nil {
		return err
	}
	for _, a := range archives {
		fmt.Fprintf(stdout, "%s\t%s\n", a.Path, strings.Join(a.Refs, ","))
	}
	return nil
}

func list(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	long := fs.Bool("l", false, "also print the registry path and the image name")
	unservable := fs.Bool("unservable", false, "print the references that cannot be served instead")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *unservable {
		for _, u := range images.Unservable {
			fmt.Fprintf(stdout, "%s\t%s\n", u.Ref, u.Reason)
		}
		return nil
	}
	defs := images.Catalog()
	if err := images.Validate(defs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	for _, d := range defs {
		refs, err := d.NormalizedRefs()
		if err != nil {
			return err
		}
		for _, ref := range refs {
			if !*long {
				fmt.Fprintln(tw, ref)
				continue
			}
			t, err := images.TargetOf(ref)
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ref, t.Path(), d.Name)
		}
	}
	return tw.Flush()
}

// writeFileAtomic writes content to a temporary file next to path and renames it into place, so
// readers never see a partial file.
func writeFileAtomic(path, content string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
