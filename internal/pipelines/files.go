package pipelines

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Template is the platform's Kaniko CI template, relative to the repository root; every e2e commit carries it at
// this path and includes it with include:local.
const Template = "ci/templates/kaniko.gitlab-ci.yml"

// ProjectFiles are the files of the e2e project in test/e2e/projects/dir, "version 1" replaced by "version N" (a
// code-only change), plus the platform's CI template at the path its include names.
func ProjectFiles(repoRoot, dir string, version int) (map[string]string, error) {
	out := map[string]string{}
	tpl, err := os.ReadFile(filepath.Join(repoRoot, Template))
	if err != nil {
		return nil, err
	}
	out[Template] = string(tpl)
	root := filepath.Join(repoRoot, "test/e2e/projects", dir)
	err = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = strings.ReplaceAll(string(raw), "version 1", fmt.Sprintf("version %d", version))
		return nil
	})
	return out, err
}

// Projects are the e2e's example projects (directories of test/e2e/projects).
var Projects = []string{"java-maven", "csharp-mono"}

// Job is one job of a scenario's pipeline, in the runner's default image (Kaniko -debug, busybox). Kaniko: the job
// extends the Kaniko template's .kaniko-build, so its retry rules are the template's.
type Job struct {
	Script      []string
	AfterScript []string
	Kaniko      bool
	Timeout     string
	Cache       map[string]any
	Variables   map[string]string
	// Tags route the job (nil: the tenant's name, the tag of the tenant's runner).
	Tags []string
	// Image is the job's image (empty: the runner's default).
	Image string
}

// ScenarioFiles are the commit of a scenario's pipeline: .gitlab-ci.yml with the jobs (one stage, tagged for the
// tenant unless a job names its tags) and the Kaniko template it includes.
func ScenarioFiles(repoRoot, tenant, scenario string, jobs map[string]Job) (map[string]string, error) {
	if len(jobs) == 0 {
		return nil, fmt.Errorf("scenario %s: no jobs (is it in internal/pipelines' scenario table?)", scenario)
	}
	tpl, err := os.ReadFile(filepath.Join(repoRoot, Template))
	if err != nil {
		return nil, err
	}
	pipeline := map[string]any{"include": []any{map[string]any{"local": Template}}}
	for name, j := range jobs {
		tags := []any{tenant}
		if j.Tags != nil {
			tags = nil
			for _, t := range j.Tags {
				tags = append(tags, t)
			}
		}
		job := map[string]any{"tags": tags, "script": j.Script}
		if j.Kaniko {
			job["extends"] = ".kaniko-build"
		}
		if j.Timeout != "" {
			job["timeout"] = j.Timeout
		}
		if j.Image != "" {
			job["image"] = j.Image
		}
		if j.Cache != nil {
			job["cache"] = j.Cache
		}
		if j.AfterScript != nil {
			job["after_script"] = j.AfterScript
		}
		if j.Variables != nil {
			vars := map[string]any{}
			for k, v := range j.Variables {
				vars[k] = v
			}
			job["variables"] = vars
		}
		pipeline[name] = job
	}
	raw, err := yaml.Marshal(pipeline)
	if err != nil {
		return nil, err
	}
	return map[string]string{".gitlab-ci.yml": "# scenario: " + scenario + "\n" + string(raw), Template: string(tpl)}, nil
}

// merge is GitLab's extends merge: mappings key by key, everything else replaced.
func merge(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = merge(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
