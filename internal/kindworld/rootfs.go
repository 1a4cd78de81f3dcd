package kindworld

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
)

// Rootfs is a Debian root filesystem made by debootstrap from Debian's packages only.
type Rootfs struct {
	Name     string
	Suite    string
	Mirror   string
	Packages []string
}

// Key is the content hash of the rootfs recipe.
func (r Rootfs) Key() string {
	raw, _ := json.Marshal(r)
	h := sha256.Sum256(raw)
	return fmt.Sprintf("%x", h[:8])
}

// Tarball builds (or finds cached) the rootfs as a tar file and returns its path. debootstrap runs in a private
// directory; concurrent callers wait for one another (cachedir.File).
func (r Rootfs) Tarball(cache string, log Progress) (string, error) {
	out := filepath.Join(cache, "rootfs", r.Name+"-"+r.Key()+".tar")
	built, err := cachedir.File(out, cachedir.Logf(log), func(tmp string) error { return r.build(out, tmp, log) })
	if err != nil {
		return "", fmt.Errorf("rootfs %s: %w", r.Name, err)
	}
	if !built {
		log("rootfs %s: cached %s", r.Name, out)
	}
	return out, nil
}

// build debootstraps into a directory beside tmp and packs it into tmp. The debootstrap log stays beside the entry
// out (only the lock holder writes it), for when it fails.
func (r Rootfs) build(out, tmp string, log Progress) error {
	dir := tmp + ".d"
	defer os.RemoveAll(dir)
	start := time.Now()
	log("rootfs %s: debootstrap --variant=minbase %s with %d packages (a few minutes)", r.Name, r.Suite, len(r.Packages))
	args := []string{"--variant=minbase", "--include=" + strings.Join(r.Packages, ","), r.Suite, dir, r.Mirror}
	cmd := exec.Command("debootstrap", args...)
	logPath := strings.TrimSuffix(out, ".tar") + ".debootstrap.log"
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap %s: %v (see %s)", r.Name, err, logPath)
	}
	// Trim what a container image does not need.
	for _, p := range []string{"var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"} {
		_ = os.RemoveAll(filepath.Join(dir, p))
		_ = os.MkdirAll(filepath.Join(dir, p), 0o755)
	}
	log("rootfs %s: debootstrap done in %s, packing", r.Name, time.Since(start).Round(time.Second))
	if b, err := exec.Command("tar", "--numeric-owner", "--xattrs", "-C", dir, "-cf", tmp, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("tar rootfs: %v %s", err, b)
	}
	return nil
}

// NodeRootfs is the kind node's base: systemd, Debian's CNI plugins and the tools kind's base image installs
// (images/base/Dockerfile of sigs.k8s.io/kind). Debian's containerd and runc come along (their configuration files
// and dependencies); NodeImage replaces their binaries with ContainerdBuild and RuncBuild.
func NodeRootfs(suite string) Rootfs {
	return Rootfs{Name: "kind-node", Suite: suite, Mirror: "http://deb.debian.org/debian", Packages: []string{
		"systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount",
		"kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "curl", "jq", "procps", "e2fsprogs",
		"containerd", "runc", "containernetworking-plugins", "socat", "ebtables", "ipset",
	}}
}
