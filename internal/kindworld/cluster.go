package kindworld

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	kindlog "sigs.k8s.io/kind/pkg/log"
)

// ClusterSpec describes the test cluster.
type ClusterSpec struct {
	Name       string
	NodeImage  string
	Workers    int
	Kubeconfig string
	// ContainerdPatches are added to every node's containerd config (e.g. a hosts config_path for in-cluster registries).
	ContainerdPatches []string
	// CgroupDriver is the kubelet's and runc's cgroup driver: CgroupDriverSystemd (kind's default, also when empty)
	// or CgroupDriverCgroupfs (see CgroupDriverFor).
	CgroupDriver string
}

// Config is the kind configuration: one control plane, N workers, no default CNI (Cilium enforces NetworkPolicy),
// kube-proxy in iptables mode, the kubelet allowed on a cgroup v1 host (Kubernetes >= 1.35 refuses it by default;
// the host's cgroups are never remounted or moved), and the kubelet and containerd on the spec's cgroup driver.
func (s ClusterSpec) Config() *v1alpha4.Cluster {
	kubelet := "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nfailCgroupV1: false\n"
	containerd := append([]string(nil), s.ContainerdPatches...)
	if s.CgroupDriver == CgroupDriverCgroupfs {
		kubelet += "cgroupDriver: cgroupfs\n"
		containerd = append(containerd, containerdCgroupfsPatch)
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     s.Name,
		Nodes:    []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}},
		Networking: v1alpha4.Networking{
			DisableDefaultCNI: true,
			KubeProxyMode:     v1alpha4.IPTablesProxyMode,
		},
		KubeadmConfigPatches:    []string{kubelet},
		ContainerdConfigPatches: containerd,
	}
	for i := 0; i < s.Workers; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	v1alpha4.SetDefaultsCluster(cfg)
	return cfg
}

// Up creates the cluster unless it exists; returns whether it was created.
func Up(s ClusterSpec, log Progress) (bool, error) {
	p := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(kindLogger{log}))
	names, err := p.List()
	if err != nil {
		return false, fmt.Errorf("kind: listing clusters: %w", err)
	}
	for _, n := range names {
		if n == s.Name {
			log("cluster %s exists: reusing it", s.Name)
			if err := exportKubeconfig(p, s); err != nil {
				return false, err
			}
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(s.Kubeconfig), 0o755); err != nil {
		return false, err
	}
	driver := s.CgroupDriver
	if driver == "" {
		driver = CgroupDriverSystemd
	}
	log("cluster %s: creating 1 control plane + %d workers from %s (cgroup driver %s)", s.Name, s.Workers, s.NodeImage, driver)
	if err := p.Create(s.Name, cluster.CreateWithV1Alpha4Config(s.Config()), cluster.CreateWithNodeImage(s.NodeImage),
		cluster.CreateWithKubeconfigPath(s.Kubeconfig), cluster.CreateWithDisplayUsage(false), cluster.CreateWithDisplaySalutation(false)); err != nil {
		return false, fmt.Errorf("kind create cluster %s: %w", s.Name, err)
	}
	return true, nil
}

// Down deletes the cluster.
func Down(name, kubeconfig string) error {
	return cluster.NewProvider(cluster.ProviderWithDocker()).Delete(name, kubeconfig)
}

func exportKubeconfig(p *cluster.Provider, s ClusterSpec) error {
	cfg, err := p.KubeConfig(s.Name, false)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Kubeconfig), 0o755); err != nil {
		return err
	}
	return os.WriteFile(s.Kubeconfig, []byte(cfg), 0o600)
}

// kindLogger forwards kind's status lines to our progress output.
type kindLogger struct{ log Progress }

func (l kindLogger) Warn(message string)                       { l.log("kind: %s", message) }
func (l kindLogger) Warnf(format string, args ...interface{})  { l.log("kind: "+format, args...) }
func (l kindLogger) Error(message string)                      { l.log("kind: %s", message) }
func (l kindLogger) Errorf(format string, args ...interface{}) { l.log("kind: "+format, args...) }
func (l kindLogger) V(level kindlog.Level) kindlog.InfoLogger {
	if level > 0 {
		return noInfo{}
	}
	return infoLogger(l)
}

type infoLogger kindLogger

func (l infoLogger) Info(message string) { l.log("kind: %s", strings.TrimSpace(message)) }
func (l infoLogger) Infof(format string, args ...interface{}) {
	l.log("kind: %s", strings.TrimSpace(fmt.Sprintf(format, args...)))
}
func (l infoLogger) Enabled() bool { return true }

type noInfo struct{}

func (noInfo) Info(string)                  {}
func (noInfo) Infof(string, ...interface{}) {}
func (noInfo) Enabled() bool                { return false }
