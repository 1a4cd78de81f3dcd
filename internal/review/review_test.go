package review

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
)

// repo makes a git repository with the project's charts and tenants committed, so a test can change the working
// tree and review it against HEAD.
func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"charts", "tenants"} {
		if out, err := exec.Command("cp", "-r", filepath.Join("../..", d), dir).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	return dir
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReview(t *testing.T) {
	cases := []struct {
		name     string
		change   func(t *testing.T, dir string)
		summary  string
		contains []string
	}{
		{"no change", func(*testing.T, string) {}, "review: tenants-changed=0 findings=4 blocking=0", []string{"## Chart review", "No path opens or closes."}},
		{"tenant-a opens egress to a private range", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "tenants", "tenant-a.yaml"), "  - name: maven\n", "  - name: internal\n    to: [{ipBlock: {cidr: 10.0.0.0/8}}]\n    ports: [443]\n  - name: maven\n")
		}, "review: tenants-changed=1 findings=4 blocking=0", []string{"tenant-a job pod can now reach 10.0.0.0/8 on 443/TCP", "tenant-a"}},
		{"tenant-b concurrency above its quota", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "tenants", "tenant-b.yaml"), "  concurrent: 10\n  limit: 10\n", "  concurrent: 30\n  limit: 30\n")
		}, "blocking=4", []string{"**blocking** `capacity` (tenant-b)", "exceed the namespace quota limits.cpu", "the quota holds every job the managers can run", "every tenant's quota records the plan its install is checked against", "the plan holds 10"}},
		{"bootstrap change touches only tenant-b", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "tenants", "bootstrap.yaml"), "adminGroup: {name: tenant-b-admins, role: view}", "adminGroup: {name: tenant-b-admins, role: edit}")
		}, "review: tenants-changed=1 ", []string{"**Blast radius:** 1 tenant(s) change: tenant-b."}},
		{"tenant-a names tenant-b's namespace as peers", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "tenants", "tenant-a.yaml"), "s3:\n  endpoint:", "monitoring:\n  namespace: tenant-b\ns3:\n  egress:\n    to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: tenant-b}}}]\n  endpoint:")
		}, "review: tenants-changed=1 ", []string{"**blocking** `peer namespace of another tenant` (tenant-a)",
			"monitoring.namespace=tenant-b is tenant tenant-b's namespace: the chart selects a peer named here only if it is no tenant's namespace",
			"s3.egress.to[0].namespaceSelector.matchLabels.kubernetes.io/metadata.name=tenant-b is tenant tenant-b's namespace: nothing there admits traffic"}},
		{"a value the schema rejects blocks", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "tenants", "tenant-a.yaml"), "  concurrent: 20\n", "  concurrent: 0\n")
		}, "blocking=1", []string{"**blocking** `render`", "/runner/concurrent"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := repo(t)
			tc.change(t, dir)
			rep, err := Run(Options{RepoRoot: dir, Base: "HEAD", CacheDir: cachedir.Root()})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			rep.Markdown(&out)
			md := out.String()
			lines := strings.Split(strings.TrimSpace(md), "\n")
			if lines[0] != "## Chart review" || !strings.HasPrefix(lines[len(lines)-1], "review: ") {
				t.Fatalf("report must start with the header and end with the summary line:\n%s", md)
			}
			if !strings.Contains(lines[len(lines)-1], tc.summary) {
				t.Errorf("summary %q, want it to contain %q", lines[len(lines)-1], tc.summary)
			}
			for _, c := range tc.contains {
				if !strings.Contains(md, c) {
					t.Errorf("report lacks %q:\n%s", c, md)
				}
			}
		})
	}
}

// TestLoadInstallHonoursDefaultsMode: where the review renders each tenant is what tenant-bootstrap resolves, so a
// platform-wide `defaults.mode: shared` puts every tenant in the shared namespace (the old loader read only each
// tenant's own `mode` and rendered them in their own namespaces).
func TestLoadInstallHonoursDefaultsMode(t *testing.T) {
	dir := repo(t)
	in, err := harness.LoadInstall(dir, filepath.Join(dir, "charts"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Namespace["tenant-a"] != "tenant-a" || in.Namespace["tenant-b"] != "tenant-b" {
		t.Fatalf("namespace mode: namespaces %v", in.Namespace)
	}
	// (shared mode refuses an admin group with edit: tenant-bootstrap's own rule, now applied by the review too)
	edit(t, filepath.Join(dir, "tenants", "bootstrap.yaml"), "role: edit", "role: view")
	f, err := os.OpenFile(filepath.Join(dir, "tenants", "bootstrap.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("defaults:\n  mode: shared\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	in, err = harness.LoadInstall(dir, filepath.Join(dir, "charts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"tenant-a", "tenant-b"} {
		if in.Namespace[tn] != "gitlab-runners-shared" {
			t.Errorf("defaults.mode shared: %s renders in %q, want the shared namespace", tn, in.Namespace[tn])
		}
	}
}
