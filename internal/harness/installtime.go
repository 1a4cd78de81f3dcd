package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// lookupCall is a Helm `lookup "apiVersion" "Kind" ...` in a template.
var lookupCall = regexp.MustCompile(`lookup\s+"([^"]*)"\s+"([^"]+)"`)

// InstallTimeLookups lists what the templates of the charts under chartsDir look up in the cluster ("Kind in
// file"), sorted. The matrix and `gkt review` render without a cluster, the way helm template and GitOps tools do, so
// every check that hangs on one of these ran only at install time, never in their renders; they say so.
func InstallTimeLookups(chartsDir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(chartsDir, "*", "templates", "*"))
	if err != nil {
		return nil, err
	}
	nested, err := filepath.Glob(filepath.Join(chartsDir, "*", "templates", "*", "*"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range append(files, nested...) {
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range lookupCall.FindAllStringSubmatch(string(raw), -1) {
			seen[fmt.Sprintf("%s in %s", m[2], filepath.Base(f))] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// ChartFeatureFlags is the feature-flag table of one runner minor version in the tenant chart
// (templates/_runner.tpl, knownFeatureFlags), for the checks against the runner sources.
func ChartFeatureFlags(chartDir, minor string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "templates", "_runner.tpl"))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`"` + regexp.QuoteMeta(minor) + `" \(list ([^)]*)\)`).FindStringSubmatch(string(raw))
	if m == nil {
		return nil, fmt.Errorf("%s/templates/_runner.tpl has no feature-flag list for runner %s", chartDir, minor)
	}
	return strings.Fields(strings.ReplaceAll(m[1], `"`, "")), nil
}

// CompareFeatureFlags says how the chart's table of a runner version differs from the flags its source defines, and
// which flags the harness pins for that version the source does not have. Empty: they agree.
func CompareFeatureFlags(minor string, chart, source []string) []string {
	var out []string
	if strings.Join(chart, " ") != strings.Join(source, " ") {
		out = append(out, fmt.Sprintf("the chart's %s flag table differs from the runner source:\n chart:  %v\n source: %v", minor, chart, source))
	}
	for _, f := range FlagsOf(minor) {
		if !slices.Contains(source, f) {
			out = append(out, fmt.Sprintf("the harness pins %s for %s, which that runner does not have", f, minor))
		}
	}
	return out
}
