package kindworld

import (
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CiliumBuild builds Cilium's binaries from the github.com/cilium/cilium module (its zip has no vendor directory,
// hence -mod=mod).
func CiliumBuild(version string) GoBuild {
	pkg := func(p string) string { return "github.com/cilium/cilium/" + p }
	return GoBuild{Name: "cilium", Module: "github.com/cilium/cilium", Version: version, ModMod: true, Binaries: []GoBinary{
		{Name: "cilium-agent", Package: pkg("daemon")},
		{Name: "cilium-dbg", Package: pkg("cilium-dbg")},
		{Name: "cilium-health", Package: pkg("cilium-health")},
		{Name: "cilium-health-responder", Package: pkg("cilium-health/responder")},
		{Name: "cilium-mount", Package: pkg("tools/mount")},
		{Name: "cilium-sysctlfix", Package: pkg("tools/sysctlfix")},
		{Name: "cilium-cni", Package: pkg("plugins/cilium-cni")},
		{Name: "cilium-operator-generic", Package: pkg("operator"), Tags: []string{"osusergo", "ipam_provider_operator"}},
	}}
}

// CiliumAgentRootfs is the agent's runtime: clang to compile the datapath at start, and the network tools it calls.
func CiliumAgentRootfs(suite string) Rootfs {
	return Rootfs{Name: "cilium-agent", Suite: suite, Mirror: "http://deb.debian.org/debian", Packages: []string{
		"clang-19", "llvm-19", "iproute2", "iptables", "ipset", "kmod", "util-linux", "mount", "ca-certificates", "bash", "procps",
	}}
}

// CiliumImages are the agent and operator images, tagged as the upstream chart expects them (so the same chart
// values work when pulling upstream images in CI with registry access).
func CiliumImages(bin, agentRootfs, moduleDir, version string) []ImageSpec {
	agentFiles := map[string]string{}
	for _, b := range []string{"cilium-agent", "cilium-dbg", "cilium-health", "cilium-health-responder", "cilium-mount", "cilium-sysctlfix"} {
		agentFiles["/usr/bin/"+b] = filepath.Join(bin, b)
	}
	agentFiles["/opt/cni/bin/cilium-cni"] = filepath.Join(bin, "cilium-cni")
	agentFiles["/init-container.sh"] = filepath.Join(moduleDir, "images", "cilium", "init-container.sh")
	agentFiles["/install-plugin.sh"] = filepath.Join(moduleDir, "plugins", "cilium-cni", "install-plugin.sh")
	agentFiles["/cni-uninstall.sh"] = filepath.Join(moduleDir, "plugins", "cilium-cni", "cni-uninstall.sh")
	return []ImageSpec{
		{
			Ref: "quay.io/cilium/cilium:" + version, BaseLayers: []string{agentRootfs}, Files: agentFiles,
			Trees:    map[string]string{"/var/lib/cilium/bpf": filepath.Join(moduleDir, "bpf")},
			Symlinks: map[string]string{"/usr/local/bin/clang": "/usr/bin/clang-19", "/usr/local/bin/llc": "/usr/bin/llc-19", "/usr/local/bin/llvm-objcopy": "/usr/bin/llvm-objcopy-19"},
			Env:      []string{"INITSYSTEM=SYSTEMD"}, WorkingDir: "/home/cilium", Cmd: []string{"/usr/bin/cilium-dbg"},
		},
		{Ref: "quay.io/cilium/operator-generic:" + version, Files: map[string]string{"/usr/bin/cilium-operator-generic": filepath.Join(bin, "cilium-operator-generic")},
			Entrypoint: []string{"/usr/bin/cilium-operator-generic"}},
	}
}

// CiliumValues configure the upstream chart for kind on this kind of host: kube-proxy stays (iptables), tunnel
// routing, no Envoy/Hubble/L7, kubernetes IPAM, cgroup2 at the kind node's /sys/fs/cgroup/unified, and no
// SYS_RESOURCE (the VM's bounding set lacks it).
func CiliumValues(version string) map[string]any {
	without := func(caps []string, drop string) []any {
		var out []any
		for _, c := range caps {
			if c != drop {
				out = append(out, c)
			}
		}
		return out
	}
	return map[string]any{
		"image":                map[string]any{"repository": "quay.io/cilium/cilium", "tag": version, "useDigest": false, "pullPolicy": "IfNotPresent"},
		"operator":             map[string]any{"replicas": 1, "image": map[string]any{"repository": "quay.io/cilium/operator", "tag": version, "useDigest": false, "pullPolicy": "IfNotPresent"}},
		"kubeProxyReplacement": false,
		"socketLB":             map[string]any{"enabled": false},
		"envoy":                map[string]any{"enabled": false},
		"l7Proxy":              false,
		"hubble":               map[string]any{"enabled": false},
		"ipam":                 map[string]any{"mode": "kubernetes"},
		"routingMode":          "tunnel",
		"tunnelProtocol":       "vxlan",
		"cgroup":               map[string]any{"autoMount": map[string]any{"enabled": false}, "hostRoot": "/sys/fs/cgroup/unified"},
		"bpf":                  map[string]any{"autoMount": map[string]any{"enabled": true}},
		"securityContext": map[string]any{"capabilities": map[string]any{
			"ciliumAgent":      without([]string{"CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_MODULE", "SYS_ADMIN", "SYS_RESOURCE", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}, "SYS_RESOURCE"),
			"cleanCiliumState": without([]string{"NET_ADMIN", "SYS_MODULE", "SYS_ADMIN", "SYS_RESOURCE"}, "SYS_RESOURCE"),
		}},
	}
}

// CiliumPatch drops the HostToContainer propagation of the cgroup hostPath mounts: the kind node's cgroup2 mount is
// private, and the container runtime refuses a propagation the source mount cannot give.
func CiliumPatch(objs []*unstructured.Unstructured) {
	for _, o := range objs {
		if o.GetKind() != "DaemonSet" {
			continue
		}
		for _, field := range []string{"containers", "initContainers"} {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", field)
			for _, c := range cs {
				cm := c.(map[string]any)
				mounts, _ := cm["volumeMounts"].([]any)
				for _, m := range mounts {
					mm := m.(map[string]any)
					if mm["name"] == "cilium-cgroup" || strings.HasSuffix(toString(mm["mountPath"]), "/sys/fs/cgroup/unified") {
						delete(mm, "mountPropagation")
					}
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", field)
		}
	}
}

func toString(v any) string { s, _ := v.(string); return s }
