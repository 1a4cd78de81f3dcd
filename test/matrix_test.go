package test

import (
	"os"
	"strings"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
)

// TestMatrix is `make matrix` inside `make test`: every permutation valid on every supported version, every bad
// value rejected with a message naming its key.
func TestMatrix(t *testing.T) {
	s, err := harness.RunMatrix(harness.MatrixOptions{RepoRoot: "..", CacheDir: cachedir.Root(), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(s.Line())
	for _, f := range s.Findings {
		t.Errorf("%s", f)
	}
	for _, b := range s.Bad {
		if !b.Rejected {
			t.Errorf("bad value %q not rejected as expected (want %q): %s", b.Case.Name, b.Case.Want, b.Err)
		}
	}
	if s.Permutations < 100 || s.KubeVersions < 3 || len(s.Bad) < 40 {
		t.Errorf("coverage too small: %s", s.Line())
	}
	if len(s.Exposures) == 0 {
		t.Errorf("shared mode must report what becomes reachable; nothing was reported")
	}
	found := map[string]bool{}
	for e := range s.Exposures {
		if w, err := harness.WeaknessOf(e); err != nil {
			t.Error(err)
		} else if w.Mode != "shared" {
			t.Errorf("exposure %q is found in shared mode but names a %s case", e, w.Mode)
		} else {
			found[w.Name] = true
		}
	}
	for _, w := range harness.Weaknesses() {
		if !found[w.Name] {
			t.Errorf("the matrix does not find weakness %s in any shared-mode permutation: the catalogue claims what no check sees", w.Name)
		}
	}
}

// TestArchitectureNamesEveryWeakness: docs/architecture.md says, with the case names, what each weaker mode gives
// up; every case of the catalogue (which the matrix and `make e2e-modes` use) must be there.
func TestArchitectureNamesEveryWeakness(t *testing.T) {
	raw, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range harness.Weaknesses() {
		if !strings.Contains(string(raw), "`"+w.Name+"`") {
			t.Errorf("docs/architecture.md does not name weakness case `%s` (%s)", w.Name, w.GivesUp)
		}
	}
}
