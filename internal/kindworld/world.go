package kindworld

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// World is the offline test world: its cache and the cluster it brings up.
type World struct {
	Cache      string
	Name       string
	Kubeconfig string
	Workers    int
	Log        Progress
}

// BuildNodeImage builds every pinned input of the node image (cached by content) and the image itself.
func (w World) BuildNodeImage() (string, Artifacts, error) {
	var a Artifacts
	kb, err := KubernetesBuild(versions.Kubernetes, versions.StagingVersion)
	if err != nil {
		return "", a, err
	}
	steps := []struct {
		b   GoBuild
		dst *string
	}{{kb, &a.Kubernetes}, {EtcdBuild(versions.Etcd), &a.Etcd}, {CoreDNSBuild(versions.CoreDNS), &a.CoreDNS}, {PauseBuild(), &a.Pause}}
	for _, s := range steps {
		if *s.dst, err = s.b.Build(w.Cache, w.Log); err != nil {
			return "", a, err
		}
	}
	if a.Rootfs, err = NodeRootfs(versions.DebianSuite).Tarball(w.Cache, w.Log); err != nil {
		return "", a, err
	}
	kindDir, err := ModuleDir("sigs.k8s.io/kind", versions.Kind)
	if err != nil {
		return "", a, err
	}
	img, err := NodeImage(w.Cache, a, filepath.Join(kindDir, "images", "base", "files"), w.Log)
	return img, a, err
}

// Up builds what is missing and creates (or reuses) the cluster.
func (w World) Up() error {
	img, _, err := w.BuildNodeImage()
	if err != nil {
		return err
	}
	if _, err := Up(ClusterSpec{Name: w.Name, NodeImage: img, Workers: w.Workers, Kubeconfig: w.Kubeconfig}, w.Log); err != nil {
		return err
	}
	w.Log("cluster %s: kubeconfig %s", w.Name, w.Kubeconfig)
	return nil
}

// Clean deletes the cluster and, with caches, every cached artifact.
func (w World) Clean(caches bool) error {
	if err := Down(w.Name, w.Kubeconfig); err != nil {
		return fmt.Errorf("deleting cluster %s: %w", w.Name, err)
	}
	if caches {
		return os.RemoveAll(w.Cache)
	}
	return nil
}
