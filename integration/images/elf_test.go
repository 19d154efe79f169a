package images

import (
	"os"
	"path"
	"runtime"
	"slices"
	"testing"
)

func TestRuntimeDepsOfHostBusybox(t *testing.T) {
	if _, err := os.Stat(DefaultBusybox); err != nil {
		t.Fatalf("%s is missing (apt-get install busybox): %v", DefaultBusybox, err)
	}
	arch, err := lookupArch(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := runtimeDeps(DefaultBusybox, arch)
	if err != nil {
		t.Fatal(err)
	}
	info, err := readELF(DefaultBusybox, arch)
	if err != nil {
		t.Fatal(err)
	}
	if info.interp == "" {
		t.Fatalf("%s has no program interpreter; it must be the dynamically linked build", DefaultBusybox)
	}
	got := map[string]string{}
	for _, d := range deps {
		got[path.Base(d.imagePath)] = d.imagePath
		if _, err := os.Stat(d.hostPath); err != nil {
			t.Errorf("dependency %s: %v", d.hostPath, err)
		}
	}
	if got[path.Base(info.interp)] != info.interp {
		t.Errorf("interpreter %s is not placed at its own path: %v", info.interp, got)
	}
	for _, lib := range info.needed {
		dir, ok := got[lib]
		if !ok {
			t.Errorf("needed library %s is missing from %v", lib, got)
			continue
		}
		if !slices.Contains(arch.libraryDirs(), path.Dir(dir)) {
			t.Errorf("%s is placed in %s, outside ld.so's default search path", lib, dir)
		}
	}
	if _, ok := got["libc.so.6"]; !ok {
		t.Errorf("libc.so.6 missing from %v", got)
	}
}

func TestReadELFRejectsOtherFiles(t *testing.T) {
	arch, _ := lookupArch(runtime.GOARCH)
	f := t.TempDir() + "/not-elf"
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := readELF(f, arch); err == nil {
		t.Error("a shell script was accepted as ELF")
	}
	other := archs["s390x"]
	if runtime.GOARCH == "s390x" {
		other = archs["amd64"]
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readELF(exe, other); err == nil {
		t.Error("an executable for another machine was accepted")
	}
}
