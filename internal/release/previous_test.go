package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// history builds a repository whose chart Chart.yaml takes the versions in order, one commit each (a "-" entry
// commits another file only), tagging nothing; it returns the repo and the commit of each entry.
func history(t *testing.T, steps ...string) (string, []string) {
	t.Helper()
	repo := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	chart := filepath.Join(repo, "charts", "c")
	if err := os.MkdirAll(filepath.Join(chart, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	var commits []string
	for i, v := range steps {
		if v == "-" {
			_ = os.WriteFile(filepath.Join(chart, "templates", "t.yaml"), []byte(strings.Repeat("x", i)), 0o644)
		} else {
			_ = os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte("apiVersion: v2\nname: c\nversion: "+v+"\n# "+strings.Repeat("-", i)+"\n"), 0o644)
		}
		run("add", "-A")
		run("commit", "-qm", "step")
		commits = append(commits, run("rev-parse", "HEAD"))
	}
	return repo, commits
}

func TestPreviousReleaseFromChartHistoryWithoutTags(t *testing.T) {
	cases := []struct {
		name    string
		steps   []string
		tree    string // working-tree version ("" = as committed)
		want    string
		wantAt  int // index of the commit that set it
		wantErr string
	}{
		{"changes on top of the current version: the version before it", []string{"0.1.0", "-", "0.1.1", "-", "-"}, "", "0.1.0", 0, ""},
		{"bump in the working tree: HEAD's version where it was set", []string{"0.1.0", "0.1.1", "-", "0.1.1"}, "0.2.0", "0.1.1", 1, ""},
		{"a version edited twice counts from its first commit", []string{"0.1.0", "0.2.0", "-", "0.2.0", "0.3.0"}, "", "0.2.0", 1, ""},
		{"the release itself, unchanged: the one before", []string{"0.1.0", "-", "0.2.0"}, "", "0.1.0", 0, ""},
		{"one version only: none", []string{"0.1.0", "-", "0.1.0"}, "", "", 0, "no previous release of charts/c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo, commits := history(t, tc.steps...)
			if tc.tree != "" {
				_ = os.WriteFile(filepath.Join(repo, "charts", "c", "Chart.yaml"), []byte("apiVersion: v2\nname: c\nversion: "+tc.tree+"\n"), 0o644)
			}
			p, err := PreviousRelease(repo, "charts/c")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error %q, got %+v %v", tc.wantErr, p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != tc.want || p.Commit != commits[tc.wantAt] {
				t.Errorf("got %s at %s, want %s at %s", p.Version, p.Commit[:8], tc.want, commits[tc.wantAt][:8])
			}
		})
	}
}

// A shallow clone holds no previous release; the error says so and how to get the history.
func TestPreviousReleaseInAShallowCloneSaysHowToFetchTheHistory(t *testing.T) {
	repo, _ := history(t, "0.1.0", "-", "0.2.0")
	shallow := filepath.Join(t.TempDir(), "shallow")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "file://"+repo, shallow).CombinedOutput(); err != nil {
		t.Fatalf("git clone --depth 1: %v %s", err, out)
	}
	_, err := PreviousRelease(shallow, "charts/c")
	if err == nil || !strings.Contains(err.Error(), "This clone is shallow") || !strings.Contains(err.Error(), "git fetch --unshallow") {
		t.Fatalf("want the shallow-clone hint, got %v", err)
	}
	// control: the full history has the release
	if p, err := PreviousRelease(repo, "charts/c"); err != nil || p.Version != "0.1.0" {
		t.Fatalf("full clone: %+v %v", p, err)
	}
}

// This repository itself: the upgrade check needs a previous release of both charts from the history alone. In a
// shallow clone (some CI fetches) it must instead fail with the hint, never silently.
func TestThisRepositoryHasAPreviousReleaseOfEachChart(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "rev-parse", "--is-shallow-repository").Output()
	if err != nil {
		t.Fatal(err)
	}
	shallow := strings.TrimSpace(string(out)) == "true"
	for _, c := range []string{"charts/gitlab-kaniko-tenant", "charts/tenant-bootstrap"} {
		p, err := PreviousRelease("../..", c)
		switch {
		case shallow && (err == nil || !strings.Contains(err.Error(), "git fetch --unshallow")):
			t.Errorf("%s in a shallow clone: want the hint to fetch the history, got %+v %v", c, p, err)
		case !shallow && err != nil:
			t.Error(err)
		case !shallow:
			t.Logf("%s upgrades from %s", c, p)
		}
	}
}
