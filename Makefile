# containerd-shim-hardened-v2 — build, lab, tests, demo.
#
#   make demo   builds everything, sets up the lab, runs containers through the
#               hardened runtime (ctr and CRI), shows them, tears the lab down.
#   make test   unit tests + integration tests + critest comparison, in the lab.

SHELL      := /bin/bash
MODULE     := github.com/hardened-runtime/containerd-shim-hardened-v2
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.1.0-dev)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS    := -X $(MODULE)/version.Version=$(VERSION) -X $(MODULE)/version.Commit=$(COMMIT)
LAB        := integration/lab/lab.sh
BIN        := bin/containerd-shim-hardened-v2
export LAB_DIR ?= $(CURDIR)/.lab

.PHONY: all build unit vet bench lab-install lab-build lab-up lab-down lab-status integration critest compat-build test-compat fuzz soak k8s-build k8s-smoke installer-image test demo demo-k8s clean

all: build

build: $(BIN)

$(BIN): $(shell find . -name '*.go' -not -path './.lab/*' -not -path './integration/*') go.mod go.sum
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/containerd-shim-hardened-v2

vet:
	go vet ./...
	go vet -tags integration ./integration/...

unit: vet
	go test ./...

# The fuzz targets (integration/run-fuzz.sh), each for FUZZTIME: 15s in make test; longer
# on demand, e.g. make fuzz FUZZTIME=10m. A crash, hang or property violation is written to
# the package's testdata/fuzz and fails the run; commit it as a regression test.
FUZZTIME ?= 15s
fuzz:
	FUZZTIME=$(FUZZTIME) integration/run-fuzz.sh

# Soak-length runs, not in make test (the lab must be up): 1,000 mixed load cycles through
# CRI, 50 pods at once per handler with the shims' memory at 100 pods
# (integration/bench/burst.sh), and each fuzz target for SOAK_FUZZTIME.
SOAK_FUZZTIME ?= 10m
soak:
	LAB_LOAD_CYCLES=1000 integration/run-integration.sh -run '^TestLoadMixedCycles$$'
	integration/bench/burst.sh -p 50 -m 100
	FUZZTIME=$(SOAK_FUZZTIME) integration/run-fuzz.sh

# The start-cost and memory benchmarks, not in make test (the lab must be up; ~12 min): the
# ablation ladder interleaved with the stock runc shim, BENCH_RUNS rounds of task create→exit,
# `ctr run --rm` and CRI pod + container start (integration/bench/startup.sh), then the shims'
# memory with 5 pods each (integration/bench/memory.sh).
BENCH_RUNS ?= 50
bench:
	integration/bench/startup.sh -n $(BENCH_RUNS) -V ablation -m task,ctr,cri
	integration/bench/memory.sh -n 5

lab-install:
	$(LAB) install

lab-build: lab-install
	SHIM_LDFLAGS="$(LDFLAGS)" $(LAB) build

lab-up: lab-build
	$(LAB) up

lab-down:
	$(LAB) down

lab-status:
	$(LAB) status

# Integration tests against a running lab (make lab-up first).
integration:
	integration/run-integration.sh

# critest against the stock runc handler and the hardened handler in the same
# lab; prints the per-spec comparison and fails on any difference.
critest:
	integration/run-critest.sh

# The containerd compatibility matrix on the running lab (integration/lab/compat.sh):
# containerd v2.0.14, v2.1.9, v2.2.9, v2.3.7 and v2.4.2 side by side with the lab's, each with
# the compatibility tests (and critest on 2.0.14); containerd v1.7.35 must refuse the shim.
compat-build:
	integration/lab/compat.sh build

test-compat: compat-build
	integration/lab/compat.sh test

# A single-node Kubernetes (kubelet v1.37.2) on the running lab: the node
# installer (deploy/installer) installs the shim, the workload tests run, the
# installer uninstalls it (integration/lab/k8s.sh).
k8s-build:
	integration/lab/k8s.sh build

k8s-smoke: k8s-build
	integration/lab/k8s.sh up && integration/lab/k8s.sh test; rc=$$?; integration/lab/k8s.sh down; exit $$rc

# The node installer image (deploy/installer), as a docker-archive tarball for
# a fleet's registry: bin/node-installer.tar (kubectl comes from k8s-build).
installer-image: lab-build k8s-build
	$(LAB_DIR)/bin/labimages installer --shim $(LAB_DIR)/bin/containerd-shim-hardened-v2 \
		--kubectl $(LAB_DIR)/bin/kubectl --script deploy/installer/hardened-node-installer.sh --out bin --cache $(LAB_DIR)/images-cache

# make demo's Kubernetes half: a workload owner's view on a real kubelet, after
# the installer put the shim on the node (builds Kubernetes: ~9 min cold).
demo-k8s: lab-up k8s-build
	integration/lab/k8s.sh up && integration/lab/k8s.sh install && integration/lab/k8s.sh demo; rc=$$?; \
		integration/lab/k8s.sh down; $(LAB) down; exit $$rc

# Everything, on a fresh machine: the lab comes up, all suites run, the lab is
# torn down whatever happened.
test:
	integration/run-all.sh

demo:
	integration/demo.sh

clean:
	rm -rf bin
