package release

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Previous is the release a chart upgrades from: a version and the commit that set it in Chart.yaml.
type Previous struct {
	Version string
	Commit  string
}

// PreviousRelease finds the release of the chart at chartDir (relative to the repository root repo) that an upgrade
// starts from, using only what every clone has: the history of its Chart.yaml, no tags (shallow CI fetches and
// mirrors often have none). It is the newest version other than the working tree's, at the commit that set it (the
// project bumps `version:` when it releases, so that commit is the release). The working tree's own version is
// never the starting point, released or not: an upgrade test from a version to itself proves nothing.
//
// It fails with a message that says why only when no other version exists in the reachable history.
func PreviousRelease(repo, chartDir string) (Previous, error) {
	file := filepath.ToSlash(filepath.Join(chartDir, "Chart.yaml"))
	raw, err := os.ReadFile(filepath.Join(repo, file))
	if err != nil {
		return Previous{}, err
	}
	current, err := chartVersion(raw)
	if err != nil {
		return Previous{}, fmt.Errorf("%s: %w", file, err)
	}
	log, err := git(repo, "log", "--format=%H", "--", file)
	if err != nil {
		return Previous{}, err
	}
	commits := strings.Fields(log) // newest first
	want, set := "", ""
	for _, c := range commits {
		at, err := git(repo, "show", c+":"+file)
		if err != nil {
			return Previous{}, err
		}
		v, err := chartVersion([]byte(at))
		if err != nil {
			return Previous{}, fmt.Errorf("%s at %s: %w", file, c[:12], err)
		}
		switch {
		case want == "" && v != current:
			want, set = v, c // the newest other version; older commits may have set it
		case want != "" && v == want:
			set = c
		case want != "" && v != want:
			return Previous{Version: want, Commit: set}, nil
		}
	}
	if want != "" {
		return Previous{Version: want, Commit: set}, nil
	}
	shallow, _ := git(repo, "rev-parse", "--is-shallow-repository")
	hint := ""
	if strings.TrimSpace(shallow) == "true" {
		hint = " This clone is shallow: fetch the history (git fetch --unshallow) and try again."
	}
	return Previous{}, fmt.Errorf("no previous release of %s: every reachable commit of %s has version %s, the working tree's.%s", chartDir, file, current, hint)
}

func chartVersion(raw []byte) (string, error) {
	var c struct {
		Version string `json:"version"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return "", err
	}
	if c.Version == "" {
		return "", fmt.Errorf("no version")
	}
	return c.Version, nil
}

func git(repo string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// String is "0.1.1 (9ce6586cb600)".
func (p Previous) String() string {
	c := p.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	return p.Version + " (" + c + ")"
}
