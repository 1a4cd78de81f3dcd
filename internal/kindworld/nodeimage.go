package kindworld

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// Artifacts are the inputs of the node image.
type Artifacts struct {
	Kubernetes string // dir with kubelet, kubeadm, kubectl, kube-* binaries
	Etcd       string // dir with etcd
	CoreDNS    string // dir with coredns
	Pause      string // dir with pause
	Containerd string // dir with containerd, containerd-shim-runc-v2, ctr
	Runc       string // dir with runc
	Rootfs     string // node rootfs tar
}

// ControlPlaneImages are the images kubeadm pulls, built from the static binaries and tagged with exactly the
// names kubeadm expects for this version. kube-proxy gets the node rootfs underneath (it needs iptables).
func ControlPlaneImages(a Artifacts, k8sVersion, etcdTag, corednsVersion, pauseTag string) []ImageSpec {
	bin := func(dir, name string) map[string]string {
		return map[string]string{"/usr/local/bin/" + name: filepath.Join(dir, name)}
	}
	var specs []ImageSpec
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		specs = append(specs, ImageSpec{Ref: "registry.k8s.io/" + c + ":" + k8sVersion, Files: bin(a.Kubernetes, c), Entrypoint: []string{"/usr/local/bin/" + c}})
	}
	specs = append(specs,
		ImageSpec{Ref: "registry.k8s.io/kube-proxy:" + k8sVersion, BaseLayers: []string{a.Rootfs}, Files: bin(a.Kubernetes, "kube-proxy"), Entrypoint: []string{"/usr/local/bin/kube-proxy"}},
		ImageSpec{Ref: "registry.k8s.io/etcd:" + etcdTag, Files: bin(a.Etcd, "etcd"), Entrypoint: []string{"/usr/local/bin/etcd"}},
		ImageSpec{Ref: "registry.k8s.io/coredns/coredns:" + corednsVersion, Files: map[string]string{"/coredns": filepath.Join(a.CoreDNS, "coredns")}, Entrypoint: []string{"/coredns"}},
		ImageSpec{Ref: "registry.k8s.io/pause:" + pauseTag, Files: map[string]string{"/pause": filepath.Join(a.Pause, "pause")}, Entrypoint: []string{"/pause"}},
	)
	return specs
}

// NodeImage builds the kind node image: the Debian rootfs imported into Docker, kind's images/base files and the
// Kubernetes binaries on top, the control-plane images preloaded into containerd. `kind build node-image` cannot be
// used: it always pulls its base and the images from registries.
func NodeImage(cache string, a Artifacts, kindFiles string, log Progress) (string, error) {
	k8sVersion, pauseTag := versions.Kubernetes, versions.PauseTag
	h := sha256.New()
	fmt.Fprintln(h, "node-image-recipe-4", versions.EtcdTag, versions.CoreDNS, filepath.Base(a.Kubernetes), filepath.Base(a.Etcd), filepath.Base(a.CoreDNS), filepath.Base(a.Pause), filepath.Base(a.Containerd), filepath.Base(a.Runc), filepath.Base(a.Rootfs), kindFiles, k8sVersion, pauseTag)
	key := fmt.Sprintf("%x", h.Sum(nil))[:12]
	final := "gkt.local/kind-node:" + k8sVersion + "-" + key
	if dockerHas(final) {
		log("node image: cached %s", final)
		return final, nil
	}
	// One builder per recipe: a second process waits, then finds the image (the preload container's name and the
	// staged tags are per recipe).
	unlock, err := cachedir.Lock(filepath.Join(cache, "node-image-"+key), cachedir.Logf(log))
	if err != nil {
		return "", err
	}
	defer unlock()
	if dockerHas(final) {
		log("node image: built by another process: %s", final)
		return final, nil
	}
	base := "gkt.local/kind-node-base:" + strings.TrimSuffix(filepath.Base(a.Rootfs), ".tar")
	if !dockerHas(base) {
		log("node image: importing rootfs %s", filepath.Base(a.Rootfs))
		if err := run("", nil, "docker", "import", a.Rootfs, base); err != nil {
			return "", err
		}
	}
	ctx, err := os.MkdirTemp(cache, "node-context-"+key+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(ctx)
	if err := os.CopyFS(filepath.Join(ctx, "files"), os.DirFS(kindFiles)); err != nil {
		return "", fmt.Errorf("copying kind base files: %w", err)
	}
	_ = filepath.WalkDir(filepath.Join(ctx, "files"), func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			_ = os.Chmod(p, mode)
		}
		return nil
	})
	if err := os.MkdirAll(filepath.Join(ctx, "bin"), 0o755); err != nil {
		return "", err
	}
	for _, b := range []string{"kubelet", "kubeadm", "kubectl"} {
		if err := copyFile(filepath.Join(a.Kubernetes, b), filepath.Join(ctx, "bin", b)); err != nil {
			return "", err
		}
	}
	// The runtime goes where kind's containerd.service looks (/usr/local/bin), Debian's 1.6 is removed.
	if err := os.MkdirAll(filepath.Join(ctx, "runtime"), 0o755); err != nil {
		return "", err
	}
	for dir, bins := range map[string][]string{a.Containerd: {"containerd", "containerd-shim-runc-v2", "ctr"}, a.Runc: {"runc"}} {
		for _, b := range bins {
			if err := copyFile(filepath.Join(dir, b), filepath.Join(ctx, "runtime", b)); err != nil {
				return "", err
			}
		}
	}
	log("node image: writing control-plane images (apiserver, controller-manager, scheduler, proxy, etcd, coredns, pause)")
	if err := WriteArchive(filepath.Join(ctx, "images.tar"), ControlPlaneImages(a, k8sVersion, versions.EtcdTag, versions.CoreDNS, pauseTag)); err != nil {
		return "", err
	}
	dockerfile := fmt.Sprintf(`FROM %[1]s
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY bin/ /usr/bin/
COPY runtime/ /usr/local/bin/
RUN chmod 755 /usr/local/bin/* /kind /kind/bin /kind/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl \
 && rm -f /usr/bin/containerd /usr/bin/containerd-shim /usr/bin/containerd-shim-runc-v1 /usr/bin/containerd-shim-runc-v2 /usr/bin/containerd-stress /usr/bin/ctr /usr/sbin/runc /usr/bin/runc \
 && containerd --version | grep -F ' %[4]s ' && runc --version | grep -F 'runc version %[5]s' \
 && mkdir -p /opt/cni/bin && cp -a /usr/lib/cni/* /opt/cni/bin/ \
 && sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/; s#sandbox_image = .*#sandbox_image = "registry.k8s.io/pause:%[2]s"#' /etc/containerd/config.toml \
 && sed -i '/^OOMScoreAdjust=/d' /etc/systemd/system/containerd.service \
 && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* /lib/systemd/system/local-fs.target.wants/* \
      /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests \
 && echo "%[3]s" > /kind/version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
`, base, pauseTag, k8sVersion, versions.Containerd, versions.Runc[1:])
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", err
	}
	stage := "gkt.local/kind-node-stage:" + key
	log("node image: docker build (kind base files, kubelet/kubeadm/kubectl, containerd %s, runc %s)", versions.Containerd, versions.Runc)
	if err := run(ctx, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "-t", stage, "."); err != nil {
		return "", err
	}
	log("node image: preloading control-plane images into containerd")
	cname := "gkt-preload-" + key
	_ = run("", nil, "docker", "rm", "-f", cname)
	if err := run("", nil, "docker", "run", "-d", "--name", cname, "--privileged", "--entrypoint", "/bin/sleep", "-v", ctx+":/ctx:ro", stage, "infinity"); err != nil {
		return "", err
	}
	defer func() { _ = run("", nil, "docker", "rm", "-f", cname) }()
	script := `set -e
containerd >/tmp/containerd.log 2>&1 &
pid=$!
for i in $(seq 60); do ctr version >/dev/null 2>&1 && break; sleep 1; done
ctr -n k8s.io images import --no-unpack --all-platforms /ctx/images.tar
ctr -n k8s.io images ls -q
kill $pid
wait $pid || true
rm -f /tmp/containerd.log`
	var out bytes.Buffer
	cmd := exec.Command("docker", "exec", cname, "/bin/sh", "-c", script)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("preloading images: %v\n%s", err, out.String())
	}
	for _, want := range []string{"kube-apiserver", "etcd:", "coredns", "pause:" + pauseTag} {
		if !strings.Contains(out.String(), want) {
			return "", fmt.Errorf("preloaded images lack %s:\n%s", want, out.String())
		}
	}
	if err := run("", nil, "docker", "stop", "-t", "1", cname); err != nil {
		return "", err
	}
	if err := run("", nil, "docker", "commit", "--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`, "--change", `CMD []`, cname, final); err != nil {
		return "", err
	}
	log("node image: %s", final)
	return final, nil
}

func dockerHas(ref string) bool {
	return exec.Command("docker", "image", "inspect", ref).Run() == nil
}

func run(dir string, env []string, name string, args ...string) error {
	start := time.Now()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v (after %s)\n%s", name, strings.Join(args, " "), err, time.Since(start).Round(time.Second), tail(out.String(), 30))
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}
