package kindworld

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/thirdparty"
)

// The runner tier's images: the real gitlab-runner manager and helper and osscontainertools Kaniko, built from the
// checked source tarballs (../shared/third_party); the GitLab stand-in; the Java and C# builder images the example
// projects' jobs run in. All are gkt.local/… so nobody mistakes them for upstream images.
type RunnerWorld struct {
	Runner, Kaniko thirdparty.Source
}

// RunnerImage is the manager image for the runner version: its tag carries the version the chart keys on.
func (r RunnerWorld) RunnerImage() string { return "gkt.local/gitlab-runner:v" + r.Runner.Version }

// HelperImage is the helper image, tagged as upstream tags it (x86_64-v<version>): the chart requires the helper to
// match the runner.
func (r RunnerWorld) HelperImage() string {
	return "gkt.local/gitlab-runner-helper:x86_64-v" + r.Runner.Version
}

// KanikoImage is osscontainertools Kaniko in the -debug shape (busybox shell) the CI template expects.
func (r RunnerWorld) KanikoImage() string { return "gkt.local/kaniko:v" + r.Kaniko.Version + "-debug" }

// Images of the runner tier that do not depend on the source tarballs.
const (
	// GitLabStandinImage is the stand-in for GitLab (tools/gitlab-standin): Runner API, git over HTTPS, pipelines.
	GitLabStandinImage = "gkt.local/gitlab-standin:e2e"
	// JavaBuilderImage is Debian's OpenJDK 17 and Maven 3.8 with the offline Maven repository (/usr/share/maven-repo).
	JavaBuilderImage = "gkt.local/java-builder:17-maven3.8"
	// MonoBuilderImage is Debian's Mono C# compiler (Debian packages no .NET SDK).
	MonoBuilderImage = "gkt.local/mono-builder:6.8"
)

// GitRootfs is Debian minbase with git and CA certificates (bash and env come with minbase): what the helper needs to
// clone, and what the stand-in needs to serve git (git http-backend).
func GitRootfs(suite string) Rootfs {
	return Rootfs{Name: "git", Suite: suite, Mirror: "http://deb.debian.org/debian", Packages: []string{"git", "ca-certificates"}}
}

// JavaBuilderRootfs is the Java example's builder: JDK 17, Maven and the plugins Debian packages into
// /usr/share/maven-repo (versions the example's pom.xml pins).
func JavaBuilderRootfs(suite string) Rootfs {
	return Rootfs{Name: "java-builder", Suite: suite, Mirror: "http://deb.debian.org/debian", Packages: []string{
		"openjdk-17-jdk-headless", "maven", "libmaven-compiler-plugin-java", "libmaven-jar-plugin-java",
		"libmaven-resources-plugin-java", "libsurefire-java", "junit4", "ca-certificates",
	}}
}

// MonoBuilderRootfs is the C# example's builder: Mono's compiler and runtime.
func MonoBuilderRootfs(suite string) Rootfs {
	return Rootfs{Name: "mono-builder", Suite: suite, Mirror: "http://deb.debian.org/debian", Packages: []string{"mono-mcs", "mono-runtime", "ca-certificates"}}
}

// RunnerUID is the uid of the manager and helper images (the chart runs the manager as 999; the helper runs as the
// job pod's user).
const RunnerUID = 999

// RunnerImageInputs are the built files the runner-tier images are assembled from.
type RunnerImageInputs struct {
	RunnerBin, KanikoBin, StandinBin string // directories with gitlab-runner + gitlab-runner-helper, executor, gitlab-standin
	GitRootfs, JavaRootfs, MonoRootfs string // rootfs tarballs
	Busybox, CACerts                  string // host files: a static busybox and the CA bundle
}

// RunnerTierImages are the images of the runner tier. work is a scratch directory for generated files.
func (r RunnerWorld) RunnerTierImages(in RunnerImageInputs, work string) ([]ImageSpec, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	write := func(name, content string) (string, error) {
		p := filepath.Join(work, name)
		return p, os.WriteFile(p, []byte(content), 0o644)
	}
	// The manager: busybox (the chart's entrypoint and readiness scripts), the runner, a passwd entry for uid 999.
	passwd, err := write("passwd", fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\ngitlab-runner:x:%d:%d:gitlab-runner:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", RunnerUID, RunnerUID))
	if err != nil {
		return nil, err
	}
	group, err := write("group", fmt.Sprintf("root:x:0:\ngitlab-runner:x:%d:\nnogroup:x:65534:\n", RunnerUID))
	if err != nil {
		return nil, err
	}
	applets, err := busyboxApplets(in.Busybox)
	if err != nil {
		return nil, err
	}
	managerLinks := map[string]string{}
	for _, a := range applets {
		managerLinks["/bin/"+a] = "/bin/busybox"
	}
	// The helper: Debian with git; the Kubernetes executor runs `gitlab-runner-build` (a bash wrapper, as upstream's
	// helper image has) and stage scripts starting `#!/usr/bin/env bash`. Its passwd adds the runner user.
	helperPasswd, err := debianPasswdPlus(in.GitRootfs, work, "helper-passwd", "helper-group")
	if err != nil {
		return nil, err
	}
	wrapper, err := write("gitlab-runner-build", "#!/bin/bash\numask 0000\nexec /bin/bash\n")
	if err != nil {
		return nil, err
	}
	dockerCfg, err := write("config.json", "{}\n")
	if err != nil {
		return nil, err
	}
	nss, err := write("nsswitch.conf", "hosts: files dns\n")
	if err != nil {
		return nil, err
	}
	kanikoLinks := map[string]string{"/bin/sh": "/busybox/sh"}
	for _, a := range applets {
		kanikoLinks["/busybox/"+a] = "/busybox/busybox"
	}
	return []ImageSpec{
		{Ref: r.RunnerImage(),
			Files:      map[string]string{"/usr/bin/gitlab-runner": filepath.Join(in.RunnerBin, "gitlab-runner"), "/bin/busybox": in.Busybox, "/etc/passwd": passwd, "/etc/group": group, "/etc/ssl/certs/ca-certificates.crt": in.CACerts},
			Symlinks:   managerLinks,
			Env:        []string{"HOME=/tmp"},
			User:       fmt.Sprint(RunnerUID),
			Entrypoint: []string{"/usr/bin/gitlab-runner"}},
		{Ref: r.HelperImage(), BaseLayers: []string{in.GitRootfs},
			Files: map[string]string{
				"/usr/bin/gitlab-runner-helper": filepath.Join(in.RunnerBin, "gitlab-runner-helper"),
				"/usr/bin/gitlab-runner-build":  wrapper,
				"/etc/passwd":                   helperPasswd[0], "/etc/group": helperPasswd[1],
			},
			Symlinks: map[string]string{"/usr/bin/gitlab-runner": "/usr/bin/gitlab-runner-helper"},
			Env:      []string{"HOME=/tmp"}},
		{Ref: r.KanikoImage(),
			Files: map[string]string{
				"/kaniko/executor": filepath.Join(in.KanikoBin, "executor"), "/busybox/busybox": in.Busybox,
				"/kaniko/ssl/certs/ca-certificates.crt": in.CACerts, "/kaniko/.docker/config.json": dockerCfg, "/etc/nsswitch.conf": nss,
			},
			Symlinks:   kanikoLinks,
			Env:        []string{"PATH=/usr/local/bin:/kaniko:/busybox", "HOME=/root", "USER=root", "DOCKER_CONFIG=/kaniko/.docker/", "SSL_CERT_DIR=/kaniko/ssl/certs"},
			Entrypoint: []string{"/kaniko/executor"}},
		{Ref: GitLabStandinImage, BaseLayers: []string{in.GitRootfs},
			Files:      map[string]string{"/usr/bin/gitlab-standin": filepath.Join(in.StandinBin, "gitlab-standin")},
			Env:        []string{"HOME=/tmp"},
			Entrypoint: []string{"/usr/bin/gitlab-standin"}},
		{Ref: JavaBuilderImage, BaseLayers: []string{in.JavaRootfs}, Env: []string{"JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64", "HOME=/tmp"}},
		{Ref: MonoBuilderImage, BaseLayers: []string{in.MonoRootfs}, Env: []string{"HOME=/tmp"}},
	}, nil
}

// busyboxApplets lists the applets of a busybox binary (for its symlinks).
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			applets = append(applets, a)
		}
	}
	return applets, nil
}

// debianPasswdPlus writes the rootfs's /etc/passwd and /etc/group with the runner user added (HOME /tmp: the job
// pod's file system is read-write there).
func debianPasswdPlus(rootfs, work, passwdName, groupName string) ([2]string, error) {
	var out [2]string
	for i, f := range []struct{ path, name, line string }{
		{"./etc/passwd", passwdName, fmt.Sprintf("gitlab-runner:x:%d:%d:gitlab-runner:/tmp:/bin/bash\n", RunnerUID, RunnerUID)},
		{"./etc/group", groupName, fmt.Sprintf("gitlab-runner:x:%d:\n", RunnerUID)},
	} {
		raw, err := exec.Command("tar", "-xOf", rootfs, f.path).Output()
		if err != nil {
			return out, fmt.Errorf("reading %s from %s: %w", f.path, rootfs, err)
		}
		out[i] = filepath.Join(work, f.name)
		if err := os.WriteFile(out[i], append(raw, f.line...), 0o644); err != nil {
			return out, err
		}
	}
	return out, nil
}
