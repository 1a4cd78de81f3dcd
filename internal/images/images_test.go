package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/release"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

func TestListCoversEveryImageAndFollowsTheMirror(t *testing.T) {
	c, err := render.Load("../../charts/gitlab-kaniko-tenant")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := List(c, map[string]any{}, "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, im := range plain {
		refs = append(refs, im.Ref)
	}
	joined := strings.Join(refs, "\n")
	for _, want := range []string{"gitlab-org/gitlab-runner:alpine-", "gitlab-runner-helper:x86_64-", "osscontainertools/kaniko:", "library/registry:"} {
		if !strings.Contains(joined, want) {
			t.Errorf("image list lacks %s:\n%s", want, joined)
		}
	}
	mirrored, err := List(c, map[string]any{"imageRegistry": "mirror.corp:5000/gkt"}, "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(mirrored) != len(plain) {
		t.Fatalf("mirror changes the number of images: %d vs %d", len(mirrored), len(plain))
	}
	chart := map[string]bool{}
	for _, im := range mirrored {
		chart[im.Ref] = true
	}
	for _, im := range plain {
		want, err := MirrorRef(im.Ref, "mirror.corp:5000/gkt")
		if err != nil || !chart[want] {
			t.Errorf("gkt mirrors %s to %s (%v), which the chart with imageRegistry does not use: the two rules differ", im.Ref, want, err)
		}
	}
}

func TestCopyFromArchiveKeepsTheDigest(t *testing.T) {
	reg, err := release.StartLocalRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("registry.k8s.io/pause:3.10.2")
	archive := filepath.Join(t.TempDir(), "images.tar")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	to, from, err := Copy("registry.k8s.io/pause:3.10.2", reg.Host+"/mirror", Source{Archives: []string{archive}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(from, "archive") || to != reg.Host+"/mirror/pause:3.10.2" {
		t.Errorf("copied %s from %s", to, from)
	}
	got, err := remote.Head(must(name.ParseReference(to, name.Insecure)))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got.Digest != want {
		t.Errorf("digest changed in the copy: %s vs %s", got.Digest, want)
	}
	if _, _, err := Copy("registry.k8s.io/not-built:1", reg.Host+"/mirror", Source{Archives: []string{archive}, Options: []remote.Option{}}); err == nil {
		t.Error("an image in no archive and unreachable upstream must fail")
	}
	_ = os.Remove(archive)
}

func must(r name.Reference, err error) name.Reference {
	if err != nil {
		panic(err)
	}
	return r
}
