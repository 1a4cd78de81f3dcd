// Package images lists every image a tenant install uses (for mirrors and air-gapped installs) and copies images
// into a registry, from image archives the project built or from their upstream registries.
package images

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Image is one image reference and where the chart uses it.
type Image struct {
	Ref   string
	Where []string
}

// List renders the tenant chart with values and returns every image: pod containers (manager, registry, tests)
// and the job images of config.toml (default Kaniko image, helper, exact allowed_images).
func List(chart *render.Chart, values map[string]any, namespace string) ([]Image, error) {
	res, err := chart.Render(render.Options{ReleaseName: "images", Namespace: namespace, KubeVersion: "v1.37.0", Values: values, Cluster: render.InstallCluster()})
	if err != nil {
		return nil, err
	}
	found := map[string]map[string]bool{}
	add := func(ref, where string) {
		if ref == "" || strings.ContainsAny(ref, "*?[") || strings.HasSuffix(ref, ".invalid/no-services-allowed") {
			return
		}
		if found[ref] == nil {
			found[ref] = map[string]bool{}
		}
		found[ref][where] = true
	}
	for _, o := range append(res.Objects(), res.HookObjects()...) {
		spec, ok := harness.PodSpec(o)
		if ok {
			for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
				add(c.Image, o.GetKind()+"/"+o.GetName())
			}
		}
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-runner") {
			s, _, _ := unstructured.NestedString(o.Object, "data", "config.template.toml")
			cfg, err := jobpod.Parse([]byte(s))
			if err != nil {
				return nil, err
			}
			k := cfg.Runners[0].Kubernetes
			add(k.Image, "job image (config.toml)")
			add(k.HelperImage, "job helper (config.toml)")
			for _, a := range k.AllowedImages {
				add(a, "allowed_images (config.toml)")
			}
		}
	}
	var out []Image
	for ref, where := range found {
		im := Image{Ref: ref}
		for w := range where {
			im.Where = append(im.Where, w)
		}
		sort.Strings(im.Where)
		out = append(out, im)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// MirrorRef is where ref lives in a mirror registry: registry host replaced, path, tag and digest kept (the same
// rule the chart's imageRegistry value applies).
func MirrorRef(ref, mirror string) (string, error) {
	if _, err := name.ParseReference(ref); err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	first, rest, hasSlash := strings.Cut(ref, "/")
	out := mirror + "/" + ref
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		out = mirror + "/" + rest
	}
	if _, err := name.ParseReference(out); err != nil {
		return "", fmt.Errorf("mirror reference %q: %w", out, err)
	}
	return out, nil
}

// Source finds an image: first in the given archives (docker-save tars the project built), else upstream.
type Source struct {
	Archives []string
	Options  []remote.Option
}

func (s Source) image(ref string) (v1.Image, string, error) {
	want, err := name.ParseReference(ref)
	if err != nil {
		return nil, "", err
	}
	if _, isDigest := want.(name.Digest); !isDigest {
		for _, a := range s.Archives {
			tag, err := name.NewTag(ref)
			if err != nil {
				continue
			}
			if img, err := tarball.ImageFromPath(a, &tag); err == nil {
				return img, "archive " + a, nil
			}
		}
	}
	// A digest-pinned ref ("repo:tag@sha256:…") is resolved upstream by digest, so the copy keeps the digest.
	img, err := remote.Image(want, s.Options...)
	if err != nil {
		return nil, "", fmt.Errorf("%s: not in the archives and not reachable upstream: %w", ref, err)
	}
	return img, "upstream", nil
}

// Copy copies ref to its mirror location and returns the mirror reference.
func Copy(ref, mirror string, src Source, dst ...remote.Option) (string, string, error) {
	to, err := MirrorRef(ref, mirror)
	if err != nil {
		return "", "", err
	}
	img, from, err := src.image(ref)
	if err != nil {
		return "", "", err
	}
	toRef, err := name.ParseReference(to, name.Insecure)
	if err != nil {
		return "", "", err
	}
	if _, ok := toRef.(name.Digest); ok {
		// "repo:tag@digest": write by tag; the digest is a property of the content and stays.
		tagged := strings.SplitN(to, "@", 2)[0]
		if toRef, err = name.ParseReference(tagged, name.Insecure); err != nil {
			return "", "", err
		}
	}
	if err := remote.Write(toRef, img, dst...); err != nil {
		return "", "", fmt.Errorf("pushing %s: %w", to, err)
	}
	return to, from, nil
}
