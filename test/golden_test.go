package test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite test/golden from the current charts")

// Golden snapshots of the default renders (as `helm install` renders them on a cluster: render.InstallCluster), so a reviewer sees every change of rendered output in the MR diff.
// `make golden` rewrites them.
func TestGoldenRenders(t *testing.T) {
	cases := []struct {
		name, chart, namespace string
		values                 []string
	}{
		{"gitlab-kaniko-tenant.yaml", tenantChart, "tenant-a", nil},
		{"tenant-bootstrap.yaml", bootstrapChart, "gitlab-kaniko-system", []string{filepath.Join(bootstrapChart, "ci", "two-tenants-values.yaml")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := render.Load(tc.chart)
			if err != nil {
				t.Fatal(err)
			}
			vals := map[string]any{}
			if len(tc.values) > 0 {
				vals = readValues(t, tc.values...)
			}
			res, err := c.Render(render.Options{ReleaseName: filepath.Base(tc.chart), Namespace: tc.namespace, KubeVersion: "v1.37.0", Values: vals, Cluster: render.InstallCluster()})
			if err != nil {
				t.Fatal(err)
			}
			got := append(res.YAML(), []byte("---\n# NOTES.txt\n"+commentLines(res.Notes))...)
			path := filepath.Join("golden", tc.name)
			if *updateGolden {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `make golden`)", err)
			}
			if string(want) != string(got) {
				t.Errorf("%s differs from the render: review the change and run `make golden`", path)
			}
		})
	}
}

func commentLines(s string) string {
	out := ""
	for _, l := range splitLines(s) {
		out += "# " + l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}
