package kindworld

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
)

// ImageSpec is an image assembled from files (no registry, no Dockerfile): optional base layers (rootfs tars),
// then one layer with the listed files.
type ImageSpec struct {
	Ref        string            // e.g. registry.k8s.io/kube-apiserver:v1.37.2
	BaseLayers []string          // tar files used as lower layers (e.g. a Debian rootfs)
	Files      map[string]string // path in the image → file on the host (mode 0755)
	Trees      map[string]string // directory in the image → directory on the host (copied recursively, mode 0644/0755)
	// Skip leaves out paths of Trees (image paths; a skipped directory drops everything below it).
	Skip       func(imagePath string, dir bool) bool `json:"-"`
	Symlinks   map[string]string                     // path in the image → link target
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
}

// Build assembles the image.
func (s ImageSpec) Build() (v1.Image, error) {
	img := empty.Image
	var err error
	for _, b := range s.BaseLayers {
		l, err := tarball.LayerFromFile(b)
		if err != nil {
			return nil, fmt.Errorf("%s: base layer %s: %w", s.Ref, b, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	if len(s.Files)+len(s.Trees)+len(s.Symlinks) > 0 {
		l, err := filesLayer(s.Files, s.Trees, s.Symlinks, s.Skip)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Ref, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := cf.Config
	cfg.Entrypoint, cfg.Cmd, cfg.User, cfg.WorkingDir = s.Entrypoint, s.Cmd, s.User, s.WorkingDir
	cfg.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, s.Env...)
	img, err = mutate.Config(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.ConfigFile(img, &v1.ConfigFile{Architecture: "amd64", OS: "linux", Config: cfg, RootFS: mustRootFS(img)})
}

func mustRootFS(img v1.Image) v1.RootFS {
	cf, _ := img.ConfigFile()
	return cf.RootFS
}

// filesLayer makes one layer with the files (mode 0755), the trees (0644, or 0755 for executables) and the
// symlinks, parent directories included, owned by root.
func filesLayer(files, trees, links map[string]string, skip func(string, bool) bool) (v1.Layer, error) {
	type entry struct {
		src  string
		mode int64
	}
	all := map[string]entry{}
	for p, src := range files {
		all[p] = entry{src, 0o755}
	}
	for dst, src := range trees {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if skip != nil && skip(path.Join(dst, filepath.ToSlash(rel)), d.IsDir()) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode().Perm()&0o111 != 0 {
				mode = 0o755 // keep executables executable (toolchains)
			}
			all[path.Join(dst, filepath.ToSlash(rel))] = entry{p, mode}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, p := range append(sortedKeys(all), sortedKeys(links)...) {
		for d := path.Dir(p); d != "/" && d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range sortedKeys(dirs) {
		if err := tw.WriteHeader(&tar.Header{Name: d[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, p := range sortedKeys(all) {
		data, err := os.ReadFile(all[p].src)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: p[1:], Typeflag: tar.TypeReg, Mode: all[p].mode, Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	for _, p := range sortedKeys(links) {
		if err := tw.WriteHeader(&tar.Header{Name: p[1:], Typeflag: tar.TypeSymlink, Linkname: links[p], Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

// WriteArchive writes images as one docker-save archive (what `ctr images import` and `docker load` read) to file.
// File must be private to the caller (a temporary path); CachedArchive publishes archives into the cache.
func WriteArchive(file string, specs []ImageSpec) error {
	refs := map[name.Reference]v1.Image{}
	for _, s := range specs {
		img, err := s.Build()
		if err != nil {
			return err
		}
		tag, err := name.NewTag(s.Ref)
		if err != nil {
			return fmt.Errorf("image ref %s: %w", s.Ref, err)
		}
		refs[tag] = img
	}
	return tarball.MultiRefWriteToFile(file, refs)
}

// CachedArchive makes sure the image archive at file exists, writing it from specs when it does not. specs gets a
// private scratch directory for the files its images need; it is removed afterwards. Concurrent callers wait for
// one another (cachedir.File).
func CachedArchive(file, what string, log Progress, specs func(scratch string) ([]ImageSpec, error)) error {
	_, err := cachedir.File(file, cachedir.Logf(log), func(tmp string) error {
		scratch := tmp + ".files"
		defer os.RemoveAll(scratch)
		list, err := specs(scratch)
		if err != nil {
			return err
		}
		log("%s: writing %d images", what, len(list))
		return WriteArchive(tmp, list)
	})
	return err
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
