package kindworld

import (
	"fmt"
	"syscall"
)

// Cgroup drivers of the kubelet and of runc (through containerd's SystemdCgroup). Both must agree on a node.
const (
	CgroupDriverSystemd  = "systemd"
	CgroupDriverCgroupfs = "cgroupfs"
)

// cgroup2SuperMagic is statfs(2)'s f_type of a cgroup v2 (unified) mount.
const cgroup2SuperMagic = 0x63677270

// HostCgroupDriver picks the nodes' cgroup driver for the host's cgroup version (see CgroupDriverFor).
func HostCgroupDriver() (string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return "", fmt.Errorf("reading the host's cgroup version (statfs /sys/fs/cgroup): %w", err)
	}
	return CgroupDriverFor(int64(st.Type) == cgroup2SuperMagic), nil
}

// CgroupDriverFor is kind's systemd driver on a cgroup v2 host and cgroupfs on a cgroup v1 host. With cgroup v1 and
// the systemd driver, runc (opencontainers/cgroups' LegacyManager.Set) freezes each new container's cgroup while
// systemd applies its unit properties, and gives up after about 2 s with "unable to freeze" when the node starts
// many containers at once: the container fails to start, and a job pod (restartPolicy Never) fails with it
// (kubernetes/kubernetes#131087, runc#3803). Measured here: 3 to 4 of 21 job pods started together failed so,
// with and without user namespaces. The cgroupfs driver sets the same limits without a freeze, as cgroup v2's
// systemd driver does; kind itself used cgroupfs before Kubernetes 1.24.
func CgroupDriverFor(unified bool) string {
	if unified {
		return CgroupDriverSystemd
	}
	return CgroupDriverCgroupfs
}

// containerdCgroupfsPatch turns off containerd's systemd cgroup driver for runc (kind's own patch for Kubernetes
// < 1.24, pkg/build/nodeimage/containerd.go).
const containerdCgroupfsPatch = `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler.options]
  SystemdCgroup = false
`
