package test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite test/golden from the current charts")

// Golden snapshots of the default renders and of every example values file of the tenant chart (as `helm install`
// renders them on a cluster: render.InstallCluster), so a reviewer sees every change of rendered output in the MR
// diff, and a chart change that should leave existing installs alone (a new optional key, such as `profiles`) is
// proven to render them byte for byte the same. `make golden` rewrites them.
func TestGoldenRenders(t *testing.T) {
	cases := []struct {
		name, chart, namespace string
		values                 []string
	}{
		{"gitlab-kaniko-tenant.yaml", tenantChart, "tenant-a", nil},
		{"tenant-bootstrap.yaml", bootstrapChart, "gitlab-kaniko-system", []string{filepath.Join(bootstrapChart, "ci", "two-tenants-values.yaml")}},
	}
	examples, err := filepath.Glob(filepath.Join(tenantChart, "ci", "*-values.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example values in %s/ci: %v", tenantChart, err)
	}
	for _, f := range examples {
		name := strings.TrimSuffix(filepath.Base(f), "-values.yaml")
		cases = append(cases, struct {
			name, chart, namespace string
			values                 []string
		}{"gitlab-kaniko-tenant." + name + ".yaml", tenantChart, exampleNamespace(t, f), []string{f}})
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

// exampleNamespace is the namespace an example values file is installed into: the tenant's own, or, in shared
// mode, the namespace its header comment names (the examples document it there).
func exampleNamespace(t *testing.T, file string) string {
	v := readValues(t, file)
	if v["mode"] == "shared" {
		return "gitlab-runners-shared"
	}
	tenant, _ := v["tenant"].(map[string]any)
	name, _ := tenant["name"].(string)
	if name == "" {
		t.Fatalf("%s: no tenant.name", file)
	}
	return name
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
