package cioracle

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
)

// PackageDir is where the pinned package.json and package-lock.json live, relative to the repository root.
const PackageDir = "tools/gitlab-ci-local"

// Tool is an installed gitlab-ci-local.
type Tool struct {
	node    string // the node binary
	modules string // its node_modules directory
}

// Install makes sure the pinned gitlab-ci-local is in the project cache (one entry per package-lock.json) and
// returns it. repoRoot is the repository root; log receives progress lines (nil: silent).
func Install(repoRoot string, log cachedir.Logf) (Tool, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return Tool{}, errors.New("node is not installed: make test checks every pipeline with gitlab-ci-local (GitLab's CI schema), which needs Node.js ≥ 20 and npm (Debian: apt-get install nodejs npm)")
	}
	lock, err := os.ReadFile(filepath.Join(repoRoot, PackageDir, "package-lock.json"))
	if err != nil {
		return Tool{}, fmt.Errorf("gitlab-ci-local's pin: %w", err)
	}
	pkg, err := os.ReadFile(filepath.Join(repoRoot, PackageDir, "package.json"))
	if err != nil {
		return Tool{}, fmt.Errorf("gitlab-ci-local's pin: %w", err)
	}
	sum := sha256.Sum256(append(append([]byte{}, pkg...), lock...))
	entry := filepath.Join(cachedir.Root(), fmt.Sprintf("gitlab-ci-local-%x", sum[:6]))
	if err := os.MkdirAll(cachedir.Root(), 0o755); err != nil {
		return Tool{}, err
	}
	_, err = cachedir.Dir(entry, log, func(tmp string) error {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return errors.New("npm is not installed: make test installs gitlab-ci-local (GitLab's CI schema) with it (Debian: apt-get install npm)")
		}
		for name, data := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
			if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
				return err
			}
		}
		if log != nil {
			log("installing gitlab-ci-local (npm ci, %s) into %s", PackageDir, entry)
		}
		// --ignore-scripts: core-js's postinstall only prints a banner; nothing here needs a script to run
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("npm ci in %s: %w\n%s", PackageDir, err, strings.TrimSpace(string(out)))
		}
		return nil
	})
	if err != nil {
		return Tool{}, fmt.Errorf("installing gitlab-ci-local: %w", err)
	}
	t := Tool{node: node, modules: filepath.Join(entry, "node_modules")}
	if _, err := os.Stat(t.bundle()); err != nil {
		return Tool{}, fmt.Errorf("gitlab-ci-local is not in %s: %w", entry, err)
	}
	return t, nil
}

func (t Tool) bundle() string { return filepath.Join(t.modules, "gitlab-ci-local", "dist", "index.js") }

// setMethods is core-js's polyfill of the ES2025 Set methods (Node 20 lacks them; the bundle calls them).
func (t Tool) setMethods() string {
	return filepath.Join(t.modules, "core-js", "actual", "set", "index.js")
}
