package images

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// archInfo describes how a Go architecture appears in ELF files and Debian library paths.
type archInfo struct {
	machine elf.Machine
	class   elf.Class
	triplet string // Debian multiarch directory name
}

var archs = map[string]archInfo{
	"amd64":   {elf.EM_X86_64, elf.ELFCLASS64, "x86_64-linux-gnu"},
	"arm64":   {elf.EM_AARCH64, elf.ELFCLASS64, "aarch64-linux-gnu"},
	"386":     {elf.EM_386, elf.ELFCLASS32, "i386-linux-gnu"},
	"arm":     {elf.EM_ARM, elf.ELFCLASS32, "arm-linux-gnueabihf"},
	"ppc64le": {elf.EM_PPC64, elf.ELFCLASS64, "powerpc64le-linux-gnu"},
	"riscv64": {elf.EM_RISCV, elf.ELFCLASS64, "riscv64-linux-gnu"},
	"s390x":   {elf.EM_S390, elf.ELFCLASS64, "s390x-linux-gnu"},
}

func lookupArch(arch string) (archInfo, error) {
	info, ok := archs[arch]
	if !ok {
		return archInfo{}, fmt.Errorf("unsupported architecture %q", arch)
	}
	return info, nil
}

// libraryDirs are the directories glibc's ld.so searches when /etc/ld.so.cache has nothing, in
// its order (see "ld.so --help" on Debian). Images get no ld.so.cache, so libraries must live
// in one of these.
func (a archInfo) libraryDirs() []string {
	return []string{
		"/lib/" + a.triplet,
		"/usr/lib/" + a.triplet,
		"/lib",
		"/usr/lib",
		"/lib64",
		"/usr/lib64",
	}
}

// hostFile is a host file to copy into an image. The content is read from hostPath (following
// symbolic links) and stored as a regular file at imagePath.
type hostFile struct {
	imagePath string
	hostPath  string
}

// elfInfo is what matters about an ELF file for running it.
type elfInfo struct {
	interp string   // PT_INTERP, empty for static executables
	needed []string // DT_NEEDED
}

// readELF reads the program interpreter and needed libraries of an ELF file and checks that it
// was built for arch.
func readELF(file string, arch archInfo) (elfInfo, error) {
	f, err := elf.Open(file)
	if err != nil {
		return elfInfo{}, fmt.Errorf("reading ELF file %s: %w", file, err)
	}
	defer f.Close()
	if f.Machine != arch.machine || f.Class != arch.class {
		return elfInfo{}, fmt.Errorf("%s is built for %v/%v, not %v/%v", file, f.Machine, f.Class, arch.machine, arch.class)
	}
	var info elfInfo
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		buf := make([]byte, p.Filesz)
		if _, err := p.ReadAt(buf, 0); err != nil {
			return elfInfo{}, fmt.Errorf("reading the program interpreter of %s: %w", file, err)
		}
		if n := len(buf); n > 0 && buf[n-1] == 0 {
			buf = buf[:n-1]
		}
		info.interp = string(buf)
	}
	info.needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return elfInfo{}, fmt.Errorf("reading the needed libraries of %s: %w", file, err)
	}
	return info, nil
}

// isStatic reports whether the ELF file at file needs neither an interpreter nor shared libraries.
func isStatic(file string, arch archInfo) (bool, error) {
	info, err := readELF(file, arch)
	if err != nil {
		return false, err
	}
	return info.interp == "" && len(info.needed) == 0, nil
}

// runtimeDeps returns the host files a dynamically linked executable needs in an image: its
// program interpreter (at the path the executable names) and the transitive closure of its
// shared libraries, each found the way ld.so finds it in libraryDirs.
func runtimeDeps(exe string, arch archInfo) ([]hostFile, error) {
	top, err := readELF(exe, arch)
	if err != nil {
		return nil, err
	}
	var deps []hostFile
	if top.interp != "" {
		if !path.IsAbs(top.interp) {
			return nil, fmt.Errorf("%s names a relative program interpreter %q", exe, top.interp)
		}
		deps = append(deps, hostFile{imagePath: top.interp, hostPath: top.interp})
	}

	seen := map[string]bool{}
	queue := append([]string(nil), top.needed...)
	for len(queue) > 0 {
		soname := queue[0]
		queue = queue[1:]
		if seen[soname] {
			continue
		}
		seen[soname] = true
		if top.interp != "" && soname == path.Base(top.interp) {
			continue // the interpreter is already loaded under this name; ld.so does not search for it
		}
		if soname != path.Base(soname) {
			return nil, fmt.Errorf("%s needs library %q, which is a path, not a name", exe, soname)
		}
		found := ""
		for _, dir := range arch.libraryDirs() {
			candidate := filepath.Join(dir, soname)
			if _, err := os.Stat(candidate); err != nil {
				continue
			}
			info, err := readELF(candidate, arch)
			if err != nil {
				continue // wrong class or machine: ld.so skips it too
			}
			found = path.Join(dir, soname)
			deps = append(deps, hostFile{imagePath: found, hostPath: candidate})
			queue = append(queue, info.needed...)
			break
		}
		if found == "" {
			return nil, fmt.Errorf("%s needs %s, which is in none of %v", exe, soname, arch.libraryDirs())
		}
	}
	return deps, nil
}
