// Package images builds the container images of the integration lab from host files and
// serves them from an in-memory registry, so that critest and the project's own integration
// tests run without any external registry.
//
// # What is built
//
// Catalog lists every image as a Definition: the references it is served under, a base
// (Scratch or Busybox), files to add, extra accounts and the runtime configuration. Adding an
// image is adding one Definition. Validate rejects clashing names and registry targets.
//
// The Busybox base is Debian's dynamically linked busybox (package "busybox"; the static build
// breaks critest's MaskedPaths spec) with one hard link per applet in /bin, the program
// interpreter and glibc libraries it links (found with the ELF headers and ld.so's default
// search path), the account files of the upstream busybox image, and static Go stand-ins for
// the pgrep and ipcs commands Debian's busybox lacks. Other stand-ins replace upstream images:
// pause (sandbox), webserver (nginx and httpd) and nnp (nonewprivs). Their sources are in
// tools/; they are built with "go build" (CGO_ENABLED=0) when first needed and cached by
// source hash and Go version in a cache directory.
//
// Images are linux/GOARCH, single-platform OCI manifests with gzip layers. Every timestamp is
// fixed, so identical inputs give identical digests; every image carries its definition's name
// in the LabelImage label, so different definitions never share an image ID (critest counts
// the tags of an image ID), while all references of one definition do.
//
// # How it is served
//
// StartRegistry runs go-containerregistry's registry on a loopback address and Push uploads
// the images with its remote package. The registry host of each reference is dropped
// (TargetOf): the lab configures containerd with a certs.d/_default/hosts.toml mirror, so a
// pull of registry.k8s.io/pause:3.10.2 arrives as /v2/pause/manifests/3.10.2. Save writes
// docker-archive tarballs for "ctr images import".
//
// References that pin upstream digests cannot be served; Unservable lists the ones critest
// uses. The labimages command (integration/cmd/labimages) wraps all of this.
package images
