//go:build linux

package shim

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// The start protocol. containerd 2.3 and newer send the start step one
// BootstrapParams message on stdin and read a BootstrapResult; containerd
// 2.0–2.2 send the runtime options alone (a protobuf Any, or nothing) and
// read an address or a JSON object. The shim library this binary is built on
// answers only the first, so the start step recognises the second and
// answers it itself, through the same manager.

// maxStartInput bounds what the start step reads from stdin (as the shim
// library does).
const maxStartInput = 10 << 20

// shimArgs are the flags of containerd's shim protocol (pkg/shim's, which
// the shim library keeps to itself) and the action.
type shimArgs struct {
	namespace, id, address, publishBinary string
	debug                                 bool
	action                                string
}

// parseShimArgs parses containerd's shim command line.
func parseShimArgs(args []string) (shimArgs, error) {
	var a shimArgs
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.namespace, "namespace", "", "")
	fs.StringVar(&a.id, "id", "", "")
	fs.StringVar(&a.address, "address", "", "")
	fs.StringVar(&a.publishBinary, "publish-binary", "", "")
	fs.BoolVar(&a.debug, "debug", false, "")
	for _, name := range []string{"socket", "debug-socket", "bundle"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"v", "version", "info"} {
		fs.Bool(name, false, "")
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	a.action = fs.Arg(0)
	return a, nil
}

// bootstrapParams reads a start step's stdin: the BootstrapParams of
// containerd 2.3+ (legacy false), or the runtime options of containerd
// 2.0–2.2, turned into the same parameters (legacy true).
func bootstrapParams(a shimArgs, input []byte, ttrpcAddress string) (params *bootapi.BootstrapParams, legacy bool, err error) {
	var p bootapi.BootstrapParams
	if len(input) > 0 && proto.Unmarshal(input, &p) == nil && p.GetInstanceID() == a.id && p.GetNamespace() == a.namespace && a.id != "" {
		return &p, false, nil
	}
	params = &bootapi.BootstrapParams{
		InstanceID:             a.id,
		Namespace:              a.namespace,
		LogLevel:               bootapi.LogLevel_LOG_LEVEL_INFO,
		ContainerdGrpcAddress:  a.address,
		ContainerdTtrpcAddress: ttrpcAddress,
		ContainerdBinary:       a.publishBinary,
	}
	if a.debug {
		params.LogLevel = bootapi.LogLevel_LOG_LEVEL_DEBUG
	}
	if len(input) > 0 {
		var opts anypb.Any
		if err := proto.Unmarshal(input, &opts); err != nil || !runtimeclass.IsRuntimeOptions(&opts) {
			return nil, true, errors.New("the start request on stdin is neither containerd's bootstrap parameters for this container nor runtime options")
		}
		params.Extensions = append(params.Extensions, &bootapi.Extension{Value: &opts})
	}
	return params, true, nil
}

// MinContainerd is the oldest containerd this shim runs under.
const MinContainerd = "2.0"

// daemonTooOld tells a containerd 1.x daemon (which starts shims the same
// way as 2.0–2.2, but speaks task API v2 only) by the Go build information of
// its binary, containerd's -publish-binary: 1.x is module
// github.com/containerd/containerd, 2.x is .../v2. A binary without build
// information is asked for its --version. When neither tells, it is not
// refused here (containerd 1.x then fails to read the answer, and says so).
func daemonTooOld(binary string) (version string, old bool) {
	if binary == "" {
		return "", false
	}
	if bi, err := buildinfo.ReadFile(binary); err == nil && bi.Main.Path != "" {
		return bi.Main.Version, containerdModuleOld(bi.Main.Path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		return "", false
	}
	return versionOutputOld(string(out))
}

// containerdModuleOld: the main module of a containerd 1.x binary.
func containerdModuleOld(module string) bool {
	return module == "github.com/containerd/containerd"
}

// versionOutputOld reads `containerd --version`: "containerd MODULE VERSION REVISION".
func versionOutputOld(out string) (version string, old bool) {
	f := strings.Fields(out)
	if len(f) < 3 || f[0] != "containerd" {
		return "", false
	}
	return f[2], containerdModuleOld(f[1]) || strings.HasPrefix(f[2], "v1.") || strings.HasPrefix(f[2], "1.")
}

// legacyResult is the answer a containerd 2.0–2.2 daemon reads: the JSON form
// of the bootstrap result (task API version 3 over ttrpc).
func legacyResult(res *bootapi.BootstrapResult) ([]byte, error) {
	return json.Marshal(struct {
		Version  int32  `json:"version"`
		Address  string `json:"address"`
		Protocol string `json:"protocol"`
	}{res.GetVersion(), res.GetAddress(), res.GetProtocol()})
}

// CompatStart runs a start step that a containerd older than 2.3 asked for
// (handled true; the exit code follows), or hands the shim library a start
// step of containerd 2.3+ unchanged (handled false: stdin is replaced by what
// was read). Any other action is not touched.
func CompatStart(args []string, stdin io.Reader, stdout, stderr io.Writer) (handled bool, exit int) {
	a, err := parseShimArgs(args)
	if err != nil || a.action != "start" {
		return false, 0
	}
	input, err := io.ReadAll(io.LimitReader(stdin, maxStartInput))
	if err != nil {
		fmt.Fprintf(stderr, "reading the start request: %v\n", err)
		return true, 1
	}
	params, legacy, err := bootstrapParams(a, input, os.Getenv("TTRPC_ADDRESS"))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return true, 1
	}
	if !legacy {
		// the shim library reads the same bytes again
		r, w, err := os.Pipe()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return true, 1
		}
		go func() {
			io.Copy(w, bytes.NewReader(input)) //nolint:errcheck // the library reports a short read
			w.Close()
		}()
		os.Stdin = r
		return false, 0
	}
	m := NewManager(RuntimeName)
	if v, old := daemonTooOld(a.publishBinary); old {
		// containerd 1.x would take the JSON answer for a version it cannot
		// speak and leave a shim behind: refuse before anything starts
		fmt.Fprintf(stderr, "%s: containerd %s is not supported: this shim needs containerd %s or newer (it speaks task API v3)", m.Name(), v, MinContainerd)
		return true, 1
	}
	ctx := namespaces.WithNamespace(context.Background(), a.namespace)
	ctx = context.WithValue(ctx, cshim.OptsKey{}, cshim.Opts{Debug: a.debug})
	res, err := m.Start(ctx, params)
	if err != nil {
		// as the shim library reports a failed start (containerd shows this output)
		fmt.Fprintf(stderr, "%s: %s", m.Name(), err)
		return true, 1
	}
	out, err := legacyResult(res)
	if err == nil {
		_, err = stdout.Write(out)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return true, 1
	}
	return true, 0
}
