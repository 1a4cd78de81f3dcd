package test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
)

// promtool builds (or finds in the project cache) promtool of versions.Prometheus and returns its path. Test
// binaries that need it at once wait for one build (kindworld.GoBuild locks its output directory). Cold, with empty
// Go caches, the build takes minutes: make test's -timeout allows for it.
func promtool(t *testing.T) string {
	t.Helper()
	dir, err := kindworld.PromtoolBuild().Build(cachedir.E2E(), func(format string, args ...any) { t.Logf(format, args...) })
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "promtool")
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	t.Logf("%s", strings.SplitN(string(out), "\n", 2)[0])
	return bin
}
