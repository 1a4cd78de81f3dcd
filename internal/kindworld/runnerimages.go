package kindworld

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/thirdparty"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
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

// UpstreamImages are the official images of the same versions, for GKT_E2E_MODE=pull: repository and tag of the
// manager and the helper, and the Kaniko -debug reference.
func (r RunnerWorld) UpstreamImages() (runnerRepo, runnerTag, helperRepo, helperTag, kaniko string) {
	return "registry.gitlab.com/gitlab-org/gitlab-runner", "alpine-v" + r.Runner.Version,
		"registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper", "x86_64-v" + r.Runner.Version,
		"ghcr.io/osscontainertools/kaniko:v" + r.Kaniko.Version + "-debug"
}

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

// HelperUID is the chart's default jobs.helper.runAsUser: the helper image has a passwd entry for it.
const HelperUID = 1000

// RunnerImageInputs are the built files the runner-tier images are assembled from.
type RunnerImageInputs struct {
	RunnerBin, KanikoBin, StandinBin  string // directories with gitlab-runner + gitlab-runner-helper, executor, gitlab-standin
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
	kaniko, err := KanikoDebugImage(r.KanikoImage(), filepath.Join(in.KanikoBin, "executor"), in.Busybox, in.CACerts, filepath.Join(work, "kaniko"), applets)
	if err != nil {
		return nil, err
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
		kaniko,
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
		{"./etc/passwd", passwdName, fmt.Sprintf("gitlab-runner:x:%d:%d:gitlab-runner:/tmp:/bin/bash\nhelper:x:%d:%d:helper:/tmp:/bin/bash\n", RunnerUID, RunnerUID, HelperUID, HelperUID)},
		{"./etc/group", groupName, fmt.Sprintf("gitlab-runner:x:%d:\nhelper:x:%d:\n", RunnerUID, HelperUID)},
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

// LocateRunnerSources finds and checks the runner and Kaniko tarballs in dir (thirdparty.DefaultDir).
func LocateRunnerSources(dir string) (RunnerWorld, error) {
	runner, err := thirdparty.LocateProject(dir, thirdparty.GitLabRunner)
	if err != nil {
		return RunnerWorld{}, err
	}
	kaniko, err := thirdparty.LocateProject(dir, thirdparty.Kaniko)
	if err != nil {
		return RunnerWorld{}, err
	}
	return RunnerWorld{Runner: runner, Kaniko: kaniko}, nil
}

// BuildRunnerTier builds (or finds cached) every input of the runner-tier images and writes their archive, keyed
// by all of them. repoRoot is this repository (the stand-in is built from it).
func (r RunnerWorld) BuildRunnerTier(cache, repoRoot string, log Progress) (string, error) {
	var in RunnerImageInputs
	var err error
	if in.RunnerBin, err = r.Runner.Build(cache, r.Runner.RunnerBinaries(), cachedir.Logf(log)); err != nil {
		return "", err
	}
	if in.KanikoBin, err = r.Kaniko.Build(cache, r.Kaniko.KanikoBinaries(), cachedir.Logf(log)); err != nil {
		return "", err
	}
	if in.StandinBin, err = standinBuild(cache, repoRoot, log); err != nil {
		return "", err
	}
	for _, rf := range []struct {
		fs  Rootfs
		dst *string
	}{{GitRootfs(versions.DebianSuite), &in.GitRootfs}, {JavaBuilderRootfs(versions.DebianSuite), &in.JavaRootfs}, {MonoBuilderRootfs(versions.DebianSuite), &in.MonoRootfs}} {
		if *rf.dst, err = rf.fs.Tarball(cache, log); err != nil {
			return "", err
		}
	}
	in.Busybox, in.CACerts = "/bin/busybox", "/etc/ssl/certs/ca-certificates.crt"
	scratch, err := os.MkdirTemp(cache, "runner-tier-files-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	specs, err := r.RunnerTierImages(in, scratch)
	if err != nil {
		return "", err
	}
	key, err := SpecsKey(specs)
	if err != nil {
		return "", err
	}
	archive := filepath.Join(cache, "runner-tier-images-"+key+".tar")
	err = CachedArchive(archive, "runner-tier images (runner, helper, Kaniko, GitLab stand-in, Java and C# builders)", log, func(string) ([]ImageSpec, error) {
		return specs, nil
	})
	return archive, err
}

// SpecsKey is a content key of image specs: every field, with small files (generated ones, host files) by content
// and large ones (binaries and rootfs tarballs, which live under content-keyed cache paths) by path.
func SpecsKey(specs []ImageSpec) (string, error) {
	h := sha256.New()
	for _, s := range specs {
		files := map[string]string{}
		for dst, src := range s.Files {
			st, err := os.Stat(src)
			if err != nil {
				return "", err
			}
			if st.Size() > 1<<20 {
				files[dst] = src
				continue
			}
			raw, err := os.ReadFile(src)
			if err != nil {
				return "", err
			}
			sum := sha256.Sum256(raw)
			files[dst] = hex.EncodeToString(sum[:])
		}
		c := s
		c.Files, c.Skip = files, nil
		raw, err := json.Marshal(c)
		if err != nil {
			return "", err
		}
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil)[:6]), nil
}

// LoadRunnerTier builds the runner-tier images and loads them into the cluster's nodes unless they are there, and
// returns the archive (the builder images are pushed from it to the destination registry).
func (w World) LoadRunnerTier(r RunnerWorld, repoRoot string) (string, error) {
	archive, err := r.BuildRunnerTier(w.Cache, repoRoot, w.Log)
	if err != nil {
		return "", err
	}
	if ArchiveLoaded(w.Name, archive) {
		return archive, nil
	}
	return archive, LoadImages(w.Name, archive, w.Log)
}

// standinBuild builds tools/gitlab-standin from this repository into a directory keyed by the binary's content.
func standinBuild(cache, repoRoot string, log Progress) (string, error) {
	tmp, err := os.MkdirTemp(cache, "gitlab-standin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	log("gitlab-standin: building tools/gitlab-standin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(tmp, "gitlab-standin"), "./tools/gitlab-standin")
	cmd.Dir, cmd.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building gitlab-standin: %v %s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(tmp, "gitlab-standin"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	dir := filepath.Join(cache, "bin", "gitlab-standin-"+hex.EncodeToString(sum[:6]))
	_, err = cachedir.Dir(dir, cachedir.Logf(log), func(out string) error {
		return os.WriteFile(filepath.Join(out, "gitlab-standin"), raw, 0o755)
	})
	return dir, err
}
