package cioracle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Project is a commit to expand: its files (.gitlab-ci.yml among them) and the files of other projects its
// include:project entries read, as GitLab would fetch them.
type Project struct {
	Files    map[string]string
	Includes []ProjectFile
}

// ProjectFile is one file of another project at a ref.
type ProjectFile struct {
	Project, Ref, File, Content string
}

// Host is the GitLab host the expanded project's origin names; include:project files are read from
// gitlab-ci-local's include cache under it (.gitlab-ci-local/includes/<host>/<project>/<ref>/<file>), so nothing
// is fetched.
const Host = "gitlab.example.com"

// Expand validates p's .gitlab-ci.yml against GitLab's CI schema and returns gitlab-ci-local's expansion of it
// (--preview: includes, extends, default: and !reference applied). An invalid pipeline is an error holding
// gitlab-ci-local's messages.
func (t Tool) Expand(ctx context.Context, p Project) (*Pipeline, error) {
	dir, err := os.MkdirTemp("", "gkt-cioracle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{}
	for name, content := range p.Files {
		files[name] = content
	}
	for _, inc := range p.Includes {
		files[filepath.Join(".gitlab-ci-local/includes", Host, inc.Project, inc.Ref, inc.File)] = inc.Content
	}
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	// gitlab-ci-local reads the project's identity (CI_PROJECT_PATH, the default branch) from git
	git := [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "gkt"},
		{"config", "user.email", "gkt@example.com"},
		{"remote", "add", "origin", "https://" + Host + "/group/app.git"},
		{"add", "-A"},
		{"commit", "-q", "--no-gpg-sign", "-m", "pipeline"},
		{"update-ref", "refs/remotes/origin/main", "HEAD"},
		{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"},
	}
	for _, args := range git {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.CommandContext(ctx, t.node, "-r", t.setMethods(), t.bundle(), "--preview", "--no-color", "--home", filepath.Join(dir, ".home"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gitlab-ci-local rejects the pipeline (%v):\n%s", err, strings.TrimSpace(stdout.String()+"\n"+stderr.String()))
	}
	var doc map[string]any
	if err := yaml.Unmarshal(stdout.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("gitlab-ci-local's expansion: %w", err)
	}
	return fromExpansion(doc)
}

// GitLab's top-level keywords: never jobs.
var topLevel = []string{"default", "include", "stages", "variables", "workflow", "image", "services", "cache", "before_script", "after_script", "spec"}

// fromExpansion reads gitlab-ci-local's expanded document into the compared form.
func fromExpansion(doc map[string]any) (*Pipeline, error) {
	p := &Pipeline{Jobs: map[string]Job{}}
	stages, err := strs(doc["stages"])
	if err != nil {
		return nil, fmt.Errorf("stages: %w", err)
	}
	p.Stages = stages
	global, err := vars(doc["variables"])
	if err != nil {
		return nil, fmt.Errorf("variables: %w", err)
	}
	for name, v := range doc {
		if slices.Contains(topLevel, name) || strings.HasPrefix(name, ".") {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a job", name)
		}
		j, err := job(m, global)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		p.Jobs[name] = j
	}
	return p, nil
}

func job(m map[string]any, global map[string]string) (Job, error) {
	j := Job{Stage: "test", Variables: map[string]string{}}
	var err error
	if s, ok := m["stage"].(string); ok {
		j.Stage = s
	}
	for k, v := range global {
		j.Variables[k] = v
	}
	own, err := vars(m["variables"])
	if err != nil {
		return j, fmt.Errorf("variables: %w", err)
	}
	for k, v := range own {
		j.Variables[k] = v
	}
	for key, dst := range map[string]*[]string{"script": &j.Script, "before_script": &j.BeforeScript, "after_script": &j.AfterScript, "tags": &j.Tags} {
		if *dst, err = strs(m[key]); err != nil {
			return j, fmt.Errorf("%s: %w", key, err)
		}
	}
	switch im := m["image"].(type) {
	case string:
		j.Image = &Image{Name: im}
	case map[string]any:
		j.Image = &Image{Name: fmt.Sprint(im["name"])}
		if j.Image.Entrypoint, err = strs(im["entrypoint"]); err != nil {
			return j, fmt.Errorf("image: entrypoint: %w", err)
		}
	}
	if c, ok := m["cache"]; ok {
		list, _ := c.([]any)
		if mm, isMap := c.(map[string]any); isMap {
			list = []any{mm}
		}
		for _, it := range list {
			cm, _ := it.(map[string]any)
			cache := Cache{Key: "default", Policy: "pull-push", When: "on_success"}
			if k, ok := cm["key"]; ok {
				cache.Key = fmt.Sprint(k)
			}
			if cache.Paths, err = strs(cm["paths"]); err != nil {
				return j, fmt.Errorf("cache: paths: %w", err)
			}
			if s, ok := cm["policy"].(string); ok {
				cache.Policy = s
			}
			if s, ok := cm["when"].(string); ok {
				cache.When = s
			}
			j.Cache = append(j.Cache, cache)
		}
	}
	switch r := m["retry"].(type) {
	case int:
		j.Retry = Retry{Max: r}
	case map[string]any:
		j.Retry.Max, _ = r["max"].(int)
		if j.Retry.When, err = strs(r["when"]); err != nil {
			return j, fmt.Errorf("retry: when: %w", err)
		}
	}
	if s, ok := m["timeout"]; ok {
		j.Timeout = fmt.Sprint(s)
	}
	if n, ok := m["needs"].([]any); ok {
		j.Needs = []string{}
		for _, it := range n {
			switch e := it.(type) {
			case string:
				j.Needs = append(j.Needs, e)
			case map[string]any:
				j.Needs = append(j.Needs, fmt.Sprint(e["job"]))
			}
		}
	}
	return j, nil
}

// strs reads a string or a list of strings, flattening nested lists (GitLab flattens scripts).
func strs(v any) ([]string, error) {
	switch s := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{s}, nil
	case []any:
		var out []string
		for _, it := range s {
			inner, err := strs(it)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
		}
		return out, nil
	case int, float64, bool:
		return []string{fmt.Sprint(s)}, nil
	}
	return nil, fmt.Errorf("%v is not a string or a list", v)
}

func vars(v any) (map[string]string, error) {
	out := map[string]string{}
	if v == nil {
		return out, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a mapping")
	}
	for k, val := range m {
		if vm, ok := val.(map[string]any); ok {
			val = vm["value"]
		}
		if val == nil {
			val = ""
		}
		out[k] = fmt.Sprint(val)
	}
	return out, nil
}
