package policy

import (
	"fmt"
	"path/filepath"
	"strings"
)

func init() {
	register(Check{
		ID:          "secretsInMemory",
		Description: "Secret and projected volumes whose directory is not memory-backed (tmpfs): secrets must never reach the node's disk. Class option policy.secrets_in_memory (default on).",
		Evaluate:    checkSecretsInMemory,
	})
}

func checkSecretsInMemory(in *Input) []Violation {
	if !in.Options.SecretsInMemory {
		return nil
	}
	var vs []Violation
	pods := filepath.Join(resolveOrClean(in.Host, in.Options.KubeletRoot), "pods")
	for _, m := range in.Spec.Mounts {
		if !isBind(m) || !filepath.IsAbs(m.Source) {
			continue
		}
		src := resolveOrClean(in.Host, m.Source)
		rel, ok := relUnder(src, pods)
		if !ok {
			continue
		}
		parts := strings.Split(rel, "/")
		if len(parts) < 4 || parts[1] != "volumes" || (parts[2] != "kubernetes.io~secret" && parts[2] != "kubernetes.io~projected") {
			continue
		}
		magic, err := in.Host.FSType(src)
		if u := offline(in.Host); u != nil && err != nil {
			u.note("%s volume %q: that it is memory-backed (tmpfs) is not verified off the node", strings.TrimPrefix(parts[2], "kubernetes.io~"), parts[3])
			continue
		}
		if err != nil {
			vs = append(vs, Violation{Check: "secretsInMemory", Field: mountField(m, "source"), Value: m.Source,
				Reason: fmt.Sprintf("cannot verify that %s volume %q is memory-backed: %v", strings.TrimPrefix(parts[2], "kubernetes.io~"), parts[3], err)})
			continue
		}
		if magic != TmpfsMagic {
			vs = append(vs, Violation{Check: "secretsInMemory", Field: mountField(m, "source"), Value: m.Source,
				Reason: fmt.Sprintf("%s volume %q at %q is stored on disk (file system magic %#x), not in memory (tmpfs)", strings.TrimPrefix(parts[2], "kubernetes.io~"), parts[3], m.Destination, magic)})
		}
	}
	return vs
}
