package kindworld

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Release is a Helm release to install or upgrade with the Helm SDK.
type Release struct {
	Kubeconfig string
	Name       string
	Namespace  string
	Chart      string // directory or archive
	Values     map[string]any
	// Patch edits the rendered objects before they are applied (a Helm post-renderer).
	Patch   func([]*unstructured.Unstructured)
	Wait    bool
	Timeout time.Duration
}

type patcher struct {
	fn func([]*unstructured.Unstructured)
}

func (p patcher) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	objs, err := render.Objects(in.String())
	if err != nil {
		return nil, err
	}
	p.fn(objs)
	var out bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	return &out, nil
}

// config is the one Helm action setup of the release's namespace (Secret storage, the world's kubeconfig).
func (r Release) config() (*action.Configuration, error) {
	settings := cli.New()
	settings.KubeConfig = r.Kubeconfig
	settings.SetNamespace(r.Namespace)
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), r.Namespace, "secret", func(string, ...interface{}) {}); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

// Uninstall removes the release and waits for its objects to be gone; a release that does not exist is no error.
func (r Release) Uninstall(log Progress) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	if _, err := action.NewHistory(cfg).Run(r.Name); err != nil {
		return nil // no such release
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	start := time.Now()
	un := action.NewUninstall(cfg)
	un.Wait, un.Timeout = true, timeout
	if _, err := un.Run(r.Name); err != nil {
		return fmt.Errorf("helm uninstall %s: %w", r.Name, err)
	}
	log("helm: uninstalled %s from %s (%s)", r.Name, r.Namespace, time.Since(start).Round(time.Second))
	return nil
}

// Rollback rolls the release back to revision and waits for its objects (Timeout, default 3 minutes).
func (r Release) Rollback(revision int) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	rb := action.NewRollback(cfg)
	rb.Version, rb.Wait, rb.Timeout = revision, true, r.Timeout
	if rb.Timeout == 0 {
		rb.Timeout = 3 * time.Minute
	}
	if err := rb.Run(r.Name); err != nil {
		return fmt.Errorf("helm rollback %s/%s to %d: %w", r.Namespace, r.Name, revision, err)
	}
	return nil
}

// Revision is the release's deployed revision.
func (r Release) Revision() (int, error) {
	cfg, err := r.config()
	if err != nil {
		return 0, err
	}
	rel, err := action.NewGet(cfg).Run(r.Name)
	if err != nil {
		return 0, fmt.Errorf("release %s/%s: %w", r.Namespace, r.Name, err)
	}
	return rel.Version, nil
}

// Apply installs the release, or upgrades it when it exists.
func (r Release) Apply(log Progress) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	ch, err := loader.Load(r.Chart)
	if err != nil {
		return err
	}
	hist := action.NewHistory(cfg)
	hist.Max = 1
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	start := time.Now()
	rels, err := hist.Run(r.Name)
	if err == nil && len(rels) > 0 && rels[len(rels)-1].Info.Status.IsPending() {
		// An earlier run was interrupted mid-operation: start over rather than stay stuck.
		log("helm: release %s was left %s by an interrupted run: uninstalling it first", r.Name, rels[len(rels)-1].Info.Status)
		un := action.NewUninstall(cfg)
		un.Wait, un.Timeout = true, timeout
		if _, uerr := un.Run(r.Name); uerr != nil {
			return fmt.Errorf("helm uninstall %s: %w", r.Name, uerr)
		}
		err = fmt.Errorf("reinstall")
	}
	if err == nil {
		up := action.NewUpgrade(cfg)
		up.Namespace, up.Wait, up.Timeout = r.Namespace, r.Wait, timeout
		if r.Patch != nil {
			up.PostRenderer = patcher{r.Patch}
		}
		if _, err := up.Run(r.Name, ch, r.Values); err != nil {
			return fmt.Errorf("helm upgrade %s: %w", r.Name, err)
		}
		log("helm: upgraded %s in %s (%s)", r.Name, r.Namespace, time.Since(start).Round(time.Second))
		return nil
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.CreateNamespace, in.Wait, in.Timeout = r.Name, r.Namespace, true, r.Wait, timeout
	if r.Patch != nil {
		in.PostRenderer = patcher{r.Patch}
	}
	if _, err := in.Run(ch, r.Values); err != nil {
		return fmt.Errorf("helm install %s: %w", r.Name, err)
	}
	log("helm: installed %s in %s (%s)", r.Name, r.Namespace, time.Since(start).Round(time.Second))
	return nil
}

// LoadImages loads an image archive into every node of the cluster (ctr import inside each node).
func LoadImages(clusterName, archive string, log Progress) error {
	p := cluster.NewProvider(cluster.ProviderWithDocker())
	nodes, err := p.ListNodes(clusterName)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		start := time.Now()
		f, err := os.Open(archive)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("loading images into %s: %w", n.String(), err)
		}
		// Record the archive in the node: an image whose recipe changed keeps its ref, so "the node has the ref" is
		// not "the node has this content" (ArchiveLoaded).
		mark := n.Command("sh", "-c", "echo \"$1\" >> "+loadedArchives, "-", filepath.Base(archive))
		if err := mark.Run(); err != nil {
			return fmt.Errorf("recording the archive in %s: %w", n.String(), err)
		}
		log("images: loaded into %s (%s)", n.String(), time.Since(start).Round(time.Second))
	}
	return nil
}

// loadedArchives is the file in each node that lists the (content-keyed) archives loaded into it.
const loadedArchives = "/var/lib/gkt-loaded-archives"

// ArchiveLoaded reports whether every node of the cluster has loaded this archive (by its content-keyed name).
func ArchiveLoaded(clusterName, archive string) bool {
	p := cluster.NewProvider(cluster.ProviderWithDocker())
	nodes, err := p.ListNodes(clusterName)
	if err != nil || len(nodes) == 0 {
		return false
	}
	for _, n := range nodes {
		if err := n.Command("grep", "-qxF", filepath.Base(archive), loadedArchives).Run(); err != nil {
			return false
		}
	}
	return true
}
