package kindworld

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// World is the offline test world: its cache and the cluster it brings up.
type World struct {
	// Mode is "build" (everything from pinned sources, offline), "pull" (upstream images) or "auto" (pull when a
	// registry answers, else build).
	Mode       string
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
	}{{kb, &a.Kubernetes}, {EtcdBuild(versions.Etcd), &a.Etcd}, {CoreDNSBuild(versions.CoreDNS), &a.CoreDNS}, {PauseBuild(), &a.Pause},
		{ContainerdBuild(versions.Containerd), &a.Containerd}, {RuncBuild(versions.Runc), &a.Runc}}
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

// ResolveMode turns "auto" into "pull" when Docker Hub answers within a few seconds, else "build".
func (w World) ResolveMode() string {
	switch w.Mode {
	case "pull", "build":
		return w.Mode
	}
	c := http.Client{Timeout: 4 * time.Second}
	resp, err := c.Get("https://registry-1.docker.io/v2/")
	if err != nil {
		w.Log("mode: no registry answers (%v): building everything from pinned sources", err)
		return "build"
	}
	resp.Body.Close()
	w.Log("mode: a registry answers: pulling pinned upstream images (GKT_E2E_MODE=build forces the offline build)")
	return "pull"
}

// Up builds what is missing and creates (or reuses) the cluster.
func (w World) Up() error {
	w.Mode = w.ResolveMode()
	var img string
	var err error
	if w.Mode == "pull" {
		img = versions.KindNodeImage
	} else if img, _, err = w.BuildNodeImage(); err != nil {
		return err
	}
	// Nodes pull images built in the cluster from the destination registry: containerd reads per-host configs.
	patch := "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
	driver, err := HostCgroupDriver()
	if err != nil {
		return err
	}
	if _, err := Up(ClusterSpec{Name: w.Name, NodeImage: img, Workers: w.Workers, Kubeconfig: w.Kubeconfig, ContainerdPatches: []string{patch}, CgroupDriver: driver}, w.Log); err != nil {
		return err
	}
	if err := w.RegistryHosts(); err != nil {
		return err
	}
	if err := w.InstallCilium(); err != nil {
		return err
	}
	cs, err := Client(w.Kubeconfig)
	if err != nil {
		return err
	}
	if err := WaitReady(context.Background(), cs, 10*time.Minute, w.Log); err != nil {
		return err
	}
	if err := w.reportCgroups(context.Background(), cs); err != nil {
		return err
	}
	w.Log("cluster %s: ready (kubeconfig %s)", w.Name, w.Kubeconfig)
	return nil
}

// reportCgroups says what each kubelet runs on, read back through the node proxy, and warns about a node that fails
// bursts of container starts (cgroup v1 with the systemd driver, nodes.CgroupFreeze): a cluster created before the
// world chose cgroupfs on cgroup v1 hosts is reused as it is.
func (w World) reportCgroups(ctx context.Context, cs kubernetes.Interface) error {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range list.Items {
		c, err := nodes.ReadKubeletCgroups(ctx, cs, n.Name)
		if err != nil {
			return err
		}
		w.Log("node %s: cgroup v%d, %s driver", n.Name, c.Version, c.Driver)
		if why := c.FreezeRisk(); why != "" {
			w.Log("WARNING: node %s: %s. Recreate the cluster: go run ./tools/e2e clean && make e2e-cluster", n.Name, why)
		}
	}
	return nil
}

// InstallCilium builds Cilium from its module (cached), loads its images into the nodes and installs the
// upstream chart from the same module with the values this host needs.
func (w World) InstallCilium() error {
	dir, err := ModuleDir("github.com/cilium/cilium", versions.Cilium)
	if err != nil {
		return err
	}
	agentImage := "quay.io/cilium/cilium:" + versions.Cilium
	if w.Mode != "pull" && !nodeHasImage(w.Name+"-control-plane", agentImage) {
		bin, err := CiliumBuild(versions.Cilium).Build(w.Cache, w.Log)
		if err != nil {
			return err
		}
		rootfs, err := CiliumAgentRootfs(versions.DebianSuite).Tarball(w.Cache, w.Log)
		if err != nil {
			return err
		}
		archive := filepath.Join(w.Cache, "cilium-images-"+filepath.Base(bin)+"-"+strings.TrimSuffix(filepath.Base(rootfs), ".tar")+".tar")
		if err := CachedArchive(archive, "cilium agent and operator", w.Log, func(string) ([]ImageSpec, error) {
			return CiliumImages(bin, rootfs, dir, versions.Cilium), nil
		}); err != nil {
			return err
		}
		if err := LoadImages(w.Name, archive, w.Log); err != nil {
			return err
		}
	}
	return Release{Kubeconfig: w.Kubeconfig, Name: "cilium", Namespace: "kube-system", Chart: filepath.Join(dir, "install", "kubernetes", "cilium"),
		Values: CiliumValues(versions.Cilium), Patch: CiliumPatch, Wait: false}.Apply(w.Log)
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

// Destination registry of the e2e: a fixed ClusterIP so every node's containerd can pull what Kaniko pushed.
const (
	DestRegistryHost      = "registry.registry.svc.cluster.local:5000"
	DestRegistryClusterIP = "10.96.100.100"
)

// RegistryHosts writes containerd's hosts.toml for the destination registry into every node (plain HTTP to its
// ClusterIP, which kube-proxy serves on the nodes too).
func (w World) RegistryHosts() error {
	p := cluster.NewProvider(cluster.ProviderWithDocker())
	nodes, err := p.ListNodes(w.Name)
	if err != nil {
		return err
	}
	hosts := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n", DestRegistryHost, DestRegistryClusterIP)
	for _, n := range nodes {
		script := fmt.Sprintf("mkdir -p '/etc/containerd/certs.d/%s' && cat > '/etc/containerd/certs.d/%s/hosts.toml'", DestRegistryHost, DestRegistryHost)
		cmd := n.Command("sh", "-c", script)
		cmd.SetStdin(strings.NewReader(hosts))
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("writing registry hosts on %s: %w", n.String(), err)
		}
	}
	return nil
}
