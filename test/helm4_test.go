package test

import (
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
)

// TestHelm4RendersIdentically: the whole matrix renders to the same objects and NOTES with the Helm 4 SDK, and
// Helm 4 rejects every bad value too. Any difference must be fixed or explained in docs/testing.md.
func TestHelm4RendersIdentically(t *testing.T) {
	rep, err := harness.CompareHelm4(harness.MatrixOptions{RepoRoot: ".."})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Line())
	for _, d := range rep.Differences {
		t.Error(d)
	}
	if rep.Renders < 300 || rep.Bad < 40 {
		t.Errorf("comparison too small: %s", rep.Line())
	}
}
