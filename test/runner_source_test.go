package test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gomod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/thirdparty"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// The chart's 19.4 feature-flag names are exactly those of gitlab-runner 19.4.0 (its source, fetched through the Go
// proxy like the Kubernetes schemas), and every flag the harness pins for 19.4 is one that runner has. The 17.9
// table is checked the same way against the v17.9.3 tarball by `make runner-keys` (17.9.3 is not on the proxy).
func TestFeatureFlagTableMatchesRunner19_4Source(t *testing.T) {
	dir, err := gomod.Dir(versions.RunnerModule, versions.RunnerModule19_4)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, thirdparty.FeatureFlagsFile))
	if err != nil {
		t.Fatal(err)
	}
	source, err := thirdparty.ParseFeatureFlags(raw)
	if err != nil {
		t.Fatal(err)
	}
	chart, err := harness.ChartFeatureFlags(tenantChart, "19.4")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range harness.CompareFeatureFlags("19.4", chart, source) {
		t.Error(d)
	}
}
