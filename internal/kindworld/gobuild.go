// Package kindworld builds the offline Kubernetes test world from pinned sources only (Go module proxy + Debian
// packages): Kubernetes binaries, control-plane images, the kind node image, Cilium, and brings up a multi-node
// kind cluster through sigs.k8s.io/kind's Go API. Every artifact is cached by the hash of what it is built from,
// so a second run takes seconds.
package kindworld

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gomod"
)

// GoBinary is one binary of a GoBuild.
type GoBinary struct {
	Name    string // output file name
	Package string // import path
	Ldflags string
	Tags    []string
	CGO     bool
	// Main, when set, is the source of a main package written into the build module (for binaries a module only
	// offers as a library, e.g. etcd's etcdmain.Main). Package is then ignored.
	Main string `json:",omitempty"`
}

// GoBuild builds binaries from one module version inside a generated build module (so replaces can be added).
type GoBuild struct {
	Name     string
	Module   string
	Version  string
	Replaces map[string]string // module → module@version
	Binaries []GoBinary
	// ModMod builds with -mod=mod (modules whose zip has no vendor directory).
	ModMod bool
	// InheritReplaces copies the module's own (non-local) replace directives into the build module: Go ignores
	// replaces of dependencies, and some modules only build with theirs (kaniko pins moby/go-archive that way).
	InheritReplaces bool `json:",omitempty"`
}

// Key is the content hash of the build: same inputs, same artifacts.
func (b GoBuild) Key() string {
	raw, _ := json.Marshal(b)
	h := sha256.Sum256(append(raw, []byte(goVersion())...))
	return fmt.Sprintf("%x", h[:8])
}

// Progress receives one line per step.
type Progress func(format string, args ...any)

// Build builds (or finds cached) binaries and returns the directory holding them. Concurrent callers of the same
// build wait for one another (cachedir.Dir) instead of building twice.
func (b GoBuild) Build(cache string, log Progress) (string, error) {
	out := filepath.Join(cache, "bin", b.Name+"-"+b.Key())
	built, err := cachedir.Dir(out, cachedir.Logf(log), func(tmp string) error { return b.build(cache, tmp, log) })
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.Name, err)
	}
	if !built {
		log("%s: cached in %s", b.Name, out)
	}
	return out, nil
}

// build writes the binaries into tmp. The build module lives in a private work directory as well.
func (b GoBuild) build(cache, tmp string, log Progress) error {
	if err := os.MkdirAll(filepath.Join(cache, "build"), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Join(cache, "build"), b.Name+"-"+b.Key()+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if b.InheritReplaces {
		inherited, err := moduleReplaces(b.Module, b.Version)
		if err != nil {
			return err
		}
		if b.Replaces == nil {
			b.Replaces = map[string]string{}
		}
		for k, v := range inherited {
			if _, set := b.Replaces[k]; !set {
				b.Replaces[k] = v
			}
		}
	}
	var gomod strings.Builder
	fmt.Fprintf(&gomod, "module gkt.local/build/%s\n\ngo 1.26\n\nrequire %s %s\n", b.Name, b.Module, b.Version)
	keys := make([]string, 0, len(b.Replaces))
	for k := range b.Replaces {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mod, ver, _ := strings.Cut(b.Replaces[k], "@")
		fmt.Fprintf(&gomod, "replace %s => %s %s\n", k, mod, ver)
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(gomod.String()), 0o644); err != nil {
		return err
	}
	// A file importing every package keeps `go mod` honest about what is needed.
	var imports strings.Builder
	imports.WriteString("//go:build tools\n\npackage tools\n\nimport (\n")
	binaries := slices.Clone(b.Binaries)
	for i, bin := range binaries {
		if bin.Main != "" {
			dir := filepath.Join(work, "cmd", bin.Name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(bin.Main), 0o644); err != nil {
				return err
			}
			binaries[i].Package = "gkt.local/build/" + b.Name + "/cmd/" + bin.Name
			continue
		}
		fmt.Fprintf(&imports, "\t_ %q\n", bin.Package)
	}
	imports.WriteString(")\n")
	if !strings.Contains(imports.String(), "\t_ ") {
		imports.Reset()
		imports.WriteString("//go:build tools\n\npackage tools\n")
	}
	if err := os.WriteFile(filepath.Join(work, "tools.go"), []byte(imports.String()), 0o644); err != nil {
		return err
	}
	for _, bin := range binaries {
		start := time.Now()
		log("%s: building %s", b.Name, bin.Name)
		args := []string{"build", "-trimpath", "-mod=mod", "-o", filepath.Join(tmp, bin.Name)}
		if len(bin.Tags) > 0 {
			args = append(args, "-tags", strings.Join(bin.Tags, ","))
		}
		ld := "-s -w " + bin.Ldflags
		if !bin.CGO {
			ld += ` -extldflags "-static"`
		}
		args = append(args, "-ldflags", ld, bin.Package)
		cmd := exec.Command("go", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[bin.CGO], "GOFLAGS=-buildvcs=false", "GOWORK=off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", bin.Name, err, tail(stderr.String(), 40))
		}
		log("%s: %s built in %s", b.Name, bin.Name, time.Since(start).Round(time.Second))
	}
	return nil
}

// KubernetesBuild is the build of the Kubernetes binaries: the k8s.io/kubernetes module with every staging module
// replaced by its release, and the version ldflags kubeadm's version logic needs.
func KubernetesBuild(version, staging string) (GoBuild, error) {
	dir, err := ModuleDir("k8s.io/kubernetes", version)
	if err != nil {
		return GoBuild{}, err
	}
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return GoBuild{}, err
	}
	defer f.Close()
	replaces := map[string]string{}
	re := regexp.MustCompile(`^\s*(k8s\.io/[a-z0-9-]+)\s+=>\s+\./staging/`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			replaces[m[1]] = m[1] + "@" + staging
		}
	}
	if len(replaces) == 0 {
		return GoBuild{}, fmt.Errorf("no staging replaces found in k8s.io/kubernetes %s go.mod", version)
	}
	major, minor := "1", strings.Split(strings.TrimPrefix(version, "v"), ".")[1]
	var ld strings.Builder
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		fmt.Fprintf(&ld, "-X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s -X %[1]s.gitTreeState=clean -X %[1]s.buildDate=2026-01-01T00:00:00Z ", pkg, version, major, minor)
	}
	b := GoBuild{Name: "kubernetes", Module: "k8s.io/kubernetes", Version: version, Replaces: replaces}
	for _, name := range []string{"kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		b.Binaries = append(b.Binaries, GoBinary{Name: name, Package: "k8s.io/kubernetes/cmd/" + name, Ldflags: ld.String()})
	}
	return b, nil
}

// ModuleDir downloads a module version through the Go proxy and returns its directory.
func ModuleDir(mod, version string) (string, error) { return gomod.Dir(mod, version) }

func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// EtcdBuild builds etcd from go.etcd.io/etcd/server/v3 (etcdmain.Main), the version kubeadm expects.
func EtcdBuild(version string) GoBuild {
	return GoBuild{Name: "etcd", Module: "go.etcd.io/etcd/server/v3", Version: version, Binaries: []GoBinary{{
		Name: "etcd",
		Main: "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n",
	}}}
}

// CoreDNSBuild builds CoreDNS (the module's main package).
func CoreDNSBuild(version string) GoBuild {
	return GoBuild{Name: "coredns", Module: "github.com/coredns/coredns", Version: version, Binaries: []GoBinary{{Name: "coredns", Package: "github.com/coredns/coredns"}}}
}

// pauseMain is the pod sandbox: it sleeps until told to stop and reaps orphans, like registry.k8s.io/pause.
const pauseMain = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
`

// PauseBuild builds the sandbox binary. It needs a module to live in; it only uses the standard library.
func PauseBuild() GoBuild {
	return GoBuild{Name: "pause", Module: "golang.org/x/sys", Version: "v0.38.0", Binaries: []GoBinary{{Name: "pause", Main: pauseMain}}}
}

// moduleReplaces returns the non-local replace directives of a module version's go.mod.
func moduleReplaces(mod, version string) (map[string]string, error) {
	dir, err := ModuleDir(mod, version)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse("go.mod", raw, nil)
	if err != nil {
		return nil, fmt.Errorf("%s@%s go.mod: %w", mod, version, err)
	}
	out := map[string]string{}
	for _, r := range f.Replace {
		if r.New.Version == "" || r.Old.Version != "" {
			continue // local path, or a version-specific replace
		}
		out[r.Old.Path] = r.New.Path + "@" + r.New.Version
	}
	return out, nil
}
