package test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/runnersrc"
)

// chartFlagTable is the list of one runner minor version in templates/_runner.tpl (knownFeatureFlags).
func chartFlagTable(t *testing.T, minor string) []string {
	t.Helper()
	raw, err := os.ReadFile(tenantChart + "/templates/_runner.tpl")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"` + regexp.QuoteMeta(minor) + `" \(list ([^)]*)\)`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("_runner.tpl has no flag list for %s", minor)
	}
	return strings.Fields(strings.ReplaceAll(m[1], `"`, ""))
}

// The chart's feature-flag names for 17.9 are exactly those of the gitlab-runner v17.9.3 source (checked against
// the tarball when this machine has it; `make test` itself never needs it), and every flag the harness requires to
// be pinned is one the runner version has.
func TestFeatureFlagTableMatchesTheRunnerSource(t *testing.T) {
	src, err := runnersrc.Locate(runnersrc.DefaultDir(".."))
	if errors.Is(err, runnersrc.ErrNoSource) {
		t.Skipf("not checked on this machine: %v", err)
	}
	if err != nil {
		t.Fatal(err) // a tarball whose checksum does not match is an error, not a skip
	}
	if !strings.HasPrefix(src.Version, "17.9.") {
		t.Skipf("the tarball is gitlab-runner %s; the chart's source-checked table is 17.9", src.Version)
	}
	want, err := src.FeatureFlags()
	if err != nil {
		t.Fatal(err)
	}
	have := chartFlagTable(t, "17.9")
	if strings.Join(have, " ") != strings.Join(want, " ") {
		t.Errorf("templates/_runner.tpl 17.9 flags differ from gitlab-runner %s:\n chart:  %v\n source: %v", src.Version, have, want)
	}
	known := map[string]bool{}
	for _, f := range want {
		known[f] = true
	}
	for _, p := range harness.PinnedFeatureFlags {
		if p.Since == "" && !known[p.Name] {
			t.Errorf("the harness pins %s, which gitlab-runner %s does not have", p.Name, src.Version)
		}
	}
}
