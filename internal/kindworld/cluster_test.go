package kindworld

import (
	"testing"

	toml "github.com/pelletier/go-toml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestConfigPutsKubeletAndRuncOnOneCgroupDriver proves the kubelet's cgroupDriver and containerd's SystemdCgroup
// for runc follow the spec together (a node whose two disagree cannot start pods), and that the caller's containerd
// patches are kept.
func TestConfigPutsKubeletAndRuncOnOneCgroupDriver(t *testing.T) {
	registry := "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
	for _, tc := range []struct {
		driver        string
		kubelet       string // the kubelet patch's cgroupDriver ("" leaves kind's default: systemd)
		systemdCgroup any    // SystemdCgroup for runc in the containerd patches (nil: not patched, kind's true stays)
	}{
		{driver: "", kubelet: "", systemdCgroup: nil},
		{driver: CgroupDriverSystemd, kubelet: "", systemdCgroup: nil},
		{driver: CgroupDriverCgroupfs, kubelet: "cgroupfs", systemdCgroup: false},
	} {
		t.Run("driver="+tc.driver, func(t *testing.T) {
			cfg := ClusterSpec{Name: "x", Workers: 2, ContainerdPatches: []string{registry}, CgroupDriver: tc.driver}.Config()
			if len(cfg.KubeadmConfigPatches) != 1 {
				t.Fatalf("kubeadm patches: %q", cfg.KubeadmConfigPatches)
			}
			var kubelet map[string]any
			if err := yaml.Unmarshal([]byte(cfg.KubeadmConfigPatches[0]), &kubelet); err != nil {
				t.Fatal(err)
			}
			if kubelet["failCgroupV1"] != false {
				t.Errorf("failCgroupV1 = %v: the kubelet would refuse a cgroup v1 host", kubelet["failCgroupV1"])
			}
			if got, _ := kubelet["cgroupDriver"].(string); got != tc.kubelet {
				t.Errorf("kubelet cgroupDriver = %q, want %q", got, tc.kubelet)
			}
			if cfg.ContainerdConfigPatches[0] != registry {
				t.Errorf("the caller's containerd patch is not kept first: %q", cfg.ContainerdConfigPatches)
			}
			var systemdCgroup any
			for _, p := range cfg.ContainerdConfigPatches {
				var doc map[string]any
				if err := toml.Unmarshal([]byte(p), &doc); err != nil {
					t.Fatalf("containerd patch is not TOML: %v\n%s", err, p)
				}
				if v, ok, _ := unstructured.NestedFieldNoCopy(doc, "plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options", "SystemdCgroup"); ok {
					systemdCgroup = v
				}
			}
			if systemdCgroup != tc.systemdCgroup {
				t.Errorf("containerd runc SystemdCgroup = %v, want %v", systemdCgroup, tc.systemdCgroup)
			}
		})
	}
}

func TestCgroupDriverFollowsTheHostsCgroupVersion(t *testing.T) {
	for unified, want := range map[bool]string{true: CgroupDriverSystemd, false: CgroupDriverCgroupfs} {
		if got := CgroupDriverFor(unified); got != want {
			t.Errorf("CgroupDriverFor(unified=%t) = %s, want %s", unified, got, want)
		}
	}
}
