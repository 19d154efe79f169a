package images

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Archive is an image written as a docker-archive tarball ("docker save" format), which
// "ctr images import" and "docker load" accept.
type Archive struct {
	Path string   // the tarball
	Refs []string // the normalized references it carries as RepoTags
}

// Save writes one docker-archive tarball per image to dir, named after its definition
// ("<name>.tar"), tagged with all of the definition's references. Each file is written under a
// temporary name and renamed into place.
func Save(dir string, images []Built) ([]Archive, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating archive directory: %w", err)
	}
	var archives []Archive
	for _, b := range images {
		refs, err := b.Definition.NormalizedRefs()
		if err != nil {
			return nil, err
		}
		tags := make(map[name.Reference]v1.Image, len(refs))
		for _, ref := range refs {
			tag, err := name.NewTag(ref)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", b.Definition.Name, err)
			}
			tags[tag] = b.Image
		}
		final := filepath.Join(dir, b.Definition.Name+".tar")
		tmp := final + ".tmp"
		if err := tarball.MultiRefWriteToFile(tmp, tags); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("writing %s: %w", final, err)
		}
		if err := os.Rename(tmp, final); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("writing %s: %w", final, err)
		}
		archives = append(archives, Archive{Path: final, Refs: refs})
	}
	return archives, nil
}
