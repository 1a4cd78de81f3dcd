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
// mirrors often have none). A release is the commit that set a version in Chart.yaml (the project bumps the version
// when it releases).
//   - When the working tree's version was set by a commit and the chart changed since, that commit is the previous
//     release: the working tree is an unreleased change on top of it.
//   - Otherwise (the working tree bumps the version, or nothing changed since the release) it is the newest other
//     version, at the commit that set it.
//
// It fails with a message that says why only when no previous release exists in the reachable history.
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
	versions := make([]string, len(commits))
	for i, c := range commits {
		at, err := git(repo, "show", c+":"+file)
		if err != nil {
			return Previous{}, err
		}
		if versions[i], err = chartVersion([]byte(at)); err != nil {
			return Previous{}, fmt.Errorf("%s at %s: %w", file, c[:12], err)
		}
	}
	// setter returns the commit that set version v the last time: the oldest of the newest run of commits holding it.
	setter := func(v string) string {
		set := ""
		for i, have := range versions {
			if have == v {
				set = commits[i]
			} else if set != "" {
				break
			}
		}
		return set
	}
	if s := setter(current); s != "" {
		if _, err := git(repo, "diff", "--quiet", s, "--", chartDir); err != nil {
			return Previous{Version: current, Commit: s}, nil // changed since the release of this version
		}
	}
	for _, v := range versions {
		if v != current {
			return Previous{Version: v, Commit: setter(v)}, nil
		}
	}
	shallow, _ := git(repo, "rev-parse", "--is-shallow-repository")
	hint := ""
	if strings.TrimSpace(shallow) == "true" {
		hint = " This clone is shallow: fetch the history (git fetch --unshallow) and try again."
	}
	return Previous{}, fmt.Errorf("no previous release of %s: its only version in the reachable history is %s, and the working tree is that release unchanged.%s", chartDir, current, hint)
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
