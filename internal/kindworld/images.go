package kindworld

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ImageSpec is an image assembled from files (no registry, no Dockerfile): optional base layers (rootfs tars),
// then one layer with the listed files.
type ImageSpec struct {
	Ref        string            // e.g. registry.k8s.io/kube-apiserver:v1.37.2
	BaseLayers []string          // tar files used as lower layers (e.g. a Debian rootfs)
	Files      map[string]string // path in the image → file on the host (mode 0755)
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
	if len(s.Files) > 0 {
		l, err := filesLayer(s.Files)
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

// filesLayer makes one layer with every file at its path (parent directories included), mode 0755, owned by root.
func filesLayer(files map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	paths := sortedKeys(files)
	for _, p := range paths {
		for d := path.Dir(p); d != "/" && d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range sortedKeys(dirs) {
		if err := tw.WriteHeader(&tar.Header{Name: d[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, p := range paths {
		data, err := os.ReadFile(files[p])
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: p[1:], Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

// WriteArchive writes images as one docker-save archive (what `ctr images import` and `docker load` read).
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
	tmp := file + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
