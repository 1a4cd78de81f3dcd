package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestTenantNew(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"adds a tenant that passes the harness", []string{"tenant-c", "--nodes", "w3", "--concurrency", "5"}, ""},
		{"refuses a node of another tenant, writes nothing", []string{"tenant-c", "--nodes", "kind-worker"}, "already belongs to tenant tenant-a"},
		{"refuses an existing tenant", []string{"tenant-a", "--nodes", "w9"}, "already exists"},
		{"refuses a bad name", []string{"Tenant_C", "--nodes", "w3"}, "DNS-1123"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			for _, d := range []string{"charts", "tenants"} {
				if out, err := exec.Command("cp", "-r", filepath.Join("../..", d), repo).CombinedOutput(); err != nil {
					t.Fatalf("%v %s", err, out)
				}
			}
			before, _ := os.ReadFile(filepath.Join(repo, "tenants", "bootstrap.yaml"))
			var out bytes.Buffer
			root := New(&out, &out)
			root.SetArgs(append([]string{"tenant", "new", "--repo", repo}, tc.args...))
			err := root.Execute()
			after, _ := os.ReadFile(filepath.Join(repo, "tenants", "bootstrap.yaml"))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !strings.Contains(string(after), "tenant-c:") || !strings.Contains(string(after), "# tenant-bootstrap values") {
					t.Errorf("bootstrap.yaml must gain tenant-c and keep its comments:\n%s", after)
				}
				if _, err := os.Stat(filepath.Join(repo, "tenants", "tenant-c.yaml")); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
			}
			if string(before) != string(after) {
				t.Errorf("a refused tenant must leave bootstrap.yaml untouched")
			}
		})
	}
}
