package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-memory OCI distribution registry (go-containerregistry's pkg/registry)
// listening on a loopback address.
type Registry struct {
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// StartRegistry starts a registry on addr, which must be a loopback address ("127.0.0.1:5000";
// port 0 picks a free port). Requests are logged to requestLog unless it is nil.
func StartRegistry(addr string, requestLog io.Writer) (*Registry, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("registry address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("registry address %q is not a loopback address; the lab registry only listens on loopback", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("starting registry: %w", err)
	}
	if requestLog == nil {
		requestLog = io.Discard
	}
	logger := log.New(requestLog, "registry: ", log.LstdFlags)
	r := &Registry{
		ln: ln,
		srv: &http.Server{
			Handler:           registry.New(registry.Logger(logger)),
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          logger,
		},
		done: make(chan error, 1),
	}
	go func() {
		err := r.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.done <- err
		close(r.done)
	}()
	return r, nil
}

// Addr returns the address the registry listens on, e.g. "127.0.0.1:5000".
func (r *Registry) Addr() string { return r.ln.Addr().String() }

// Done is closed when the registry stops; it first delivers the error that stopped it (nil
// after Close).
func (r *Registry) Done() <-chan error { return r.done }

// Close stops the registry, waiting for requests in flight until ctx ends.
func (r *Registry) Close(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if err != nil {
		r.srv.Close()
	}
	return err
}

// loopbackTransport talks to the local registry directly, never through a proxy.
func loopbackTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// Pushed records one reference stored in the registry.
type Pushed struct {
	Ref    string  // normalized upstream reference
	Target Target  // where it is stored
	Digest v1.Hash // manifest digest
}

// Push uploads every image to the registry at addr under each of its targets, calling onPush
// after each reference.
func Push(ctx context.Context, addr string, images []Built, onPush func(Pushed)) error {
	transport := loopbackTransport()
	defer transport.CloseIdleConnections()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(transport)}
	for _, b := range images {
		digest, err := b.Image.Digest()
		if err != nil {
			return fmt.Errorf("image %s: computing digest: %w", b.Definition.Name, err)
		}
		targets, err := b.Definition.Targets()
		if err != nil {
			return err
		}
		refs, err := b.Definition.NormalizedRefs()
		if err != nil {
			return err
		}
		for i, t := range targets {
			tag, err := name.NewTag(addr+"/"+t.Path(), name.Insecure)
			if err != nil {
				return fmt.Errorf("image %s: registry reference for %s: %w", b.Definition.Name, t.Path(), err)
			}
			if i == 0 {
				err = remote.Write(tag, b.Image, opts...)
			} else {
				err = remote.Tag(tag, b.Image, opts...)
			}
			if err != nil {
				return fmt.Errorf("pushing image %s to %s: %w", b.Definition.Name, tag, err)
			}
			if onPush == nil {
				continue
			}
			for _, ref := range refs {
				if rt, _ := TargetOf(ref); rt.Path() == t.Path() {
					onPush(Pushed{Ref: ref, Target: t, Digest: digest})
				}
			}
		}
	}
	return nil
}
