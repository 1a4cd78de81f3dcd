package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
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
