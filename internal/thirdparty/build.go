package thirdparty

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
)

// Binary is one program built from a source tree.
type Binary struct {
	Name    string // output file name
	Package string // package path relative to the tree root, e.g. ./apps/gitlab-runner-helper
	Ldflags string
	// Vendor builds with -mod=vendor (the tree vendors its dependencies; offline). Otherwise the build resolves
	// modules through the proxy with -mod=mod, in a private copy of the tree so the cached tree stays as extracted.
	Vendor bool
}

// RunnerBinaries are the gitlab-runner manager and helper, stamped with the version as the upstream Makefile does.
func (s Source) RunnerBinaries() []Binary {
	ld := fmt.Sprintf("-s -w -X gitlab.com/gitlab-org/gitlab-runner/common.VERSION=%s -X gitlab.com/gitlab-org/gitlab-runner/common.REVISION=v%s -X gitlab.com/gitlab-org/gitlab-runner/common.BRANCH=v%s", s.Version, s.Version, s.Version)
	return []Binary{
		{Name: "gitlab-runner", Package: ".", Ldflags: ld},
		{Name: "gitlab-runner-helper", Package: "./apps/gitlab-runner-helper", Ldflags: ld},
	}
}

// KanikoBinaries is the Kaniko executor, offline from the vendored tree.
func (s Source) KanikoBinaries() []Binary {
	return []Binary{{Name: "executor", Package: "./cmd/executor", Vendor: true,
		Ldflags: "-s -w -X github.com/osscontainertools/kaniko/pkg/version.version=v" + s.Version}}
}

// Build builds bins from the source tree (cached by the tarball's checksum, the binaries and the Go version) and
// returns the directory holding them. The first runner build downloads its modules and takes minutes: it says so.
func (s Source) Build(cache string, bins []Binary, log cachedir.Logf) (string, error) {
	spec, _ := json.Marshal(bins)
	h := sha256.Sum256([]byte(s.SHA256 + string(spec) + goVersion()))
	dir := filepath.Join(cache, "bin", s.Project+"-"+s.Version+"-"+hex.EncodeToString(h[:6]))
	_, err := cachedir.Dir(dir, log, func(tmp string) error {
		tree, err := s.Tree(cache, log)
		if err != nil {
			return err
		}
		work := tree
		needCopy := false
		for _, b := range bins {
			needCopy = needCopy || !b.Vendor
		}
		if needCopy {
			if work, err = os.MkdirTemp(filepath.Dir(tree), s.Project+"-build-"); err != nil {
				return err
			}
			defer os.RemoveAll(work)
			if out, err := exec.Command("cp", "-a", tree+"/.", work).CombinedOutput(); err != nil {
				return fmt.Errorf("copying the tree: %v %s", err, out)
			}
		}
		for _, b := range bins {
			start := time.Now()
			if log != nil {
				log("%s %s: building %s (go build %s; the first runner build takes minutes)", s.Project, s.Version, b.Name, b.Package)
			}
			mod := "-mod=mod"
			if b.Vendor {
				mod = "-mod=vendor"
			}
			cmd := exec.Command("go", "build", mod, "-trimpath", "-ldflags", b.Ldflags, "-o", filepath.Join(tmp, b.Name), b.Package)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=", "GOOS=linux", "GOARCH=amd64")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("building %s of %s %s: %v\n%s", b.Name, s.Project, s.Version, err, lastLines(string(out), 30))
			}
			if log != nil {
				log("%s %s: built %s in %s", s.Project, s.Version, b.Name, time.Since(start).Round(time.Second))
			}
		}
		return nil
	})
	return dir, err
}

func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
