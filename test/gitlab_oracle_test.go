package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cioracle"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabstandin"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"
)

// oraclePipeline is one pipeline the project ships or runs, as a commit: its files, and the files of other projects
// its include:project entries read. standin says whether the stand-in runs it (then both expansions must agree).
type oraclePipeline struct {
	name     string
	project  cioracle.Project
	standin  bool
	standinN string // why the stand-in does not run it
}

// platformProject is where the published examples and the template's usage include the template from.
const platformProject, platformRef = "platform/gitlab-kaniko-tenant", "v0.1.0"

func read(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

const repoRoot = ".."

// templateUsage is the pipeline the template's header tells a tenant to write (its comment block from `include:` to
// the first line that is only "#"), so the documented usage is checked, not only the examples.
func templateUsage(t *testing.T, tpl string) string {
	t.Helper()
	var out []string
	in := false
	for _, l := range strings.Split(tpl, "\n") {
		body, isComment := strings.CutPrefix(l, "#   ")
		switch {
		case !in && isComment && strings.HasPrefix(body, "include:"):
			in = true
			out = append(out, body)
		case in && isComment:
			out = append(out, body)
		case in:
			return strings.Join(out, "\n") + "\n"
		}
	}
	t.Fatal("the template's header has no usage block starting with `#   include:`")
	return ""
}

// copiedInto is a tenant project whose .gitlab-ci.yml is yml and whose include:project of the platform at v0.1.0
// reads this tree's Kaniko template: a user's project that copied a published example.
func copiedInto(t *testing.T, yml string) cioracle.Project {
	t.Helper()
	return cioracle.Project{Files: map[string]string{gitlabstandin.CIFile: yml},
		Includes: []cioracle.ProjectFile{{Project: platformProject, Ref: platformRef, File: pipelines.Template, Content: read(t, pipelines.Template)}}}
}

// shippedAndTestedPipelines is every pipeline the project publishes or commits in its tests.
func shippedAndTestedPipelines(t *testing.T) []oraclePipeline {
	t.Helper()
	tpl := read(t, pipelines.Template)
	var out []oraclePipeline
	out = append(out, oraclePipeline{name: "template usage (its header)", standin: true,
		project: copiedInto(t, templateUsage(t, tpl))})
	for _, ex := range exampleTenants {
		out = append(out, oraclePipeline{name: "ci/examples/" + ex.example, standin: true,
			project: copiedInto(t, read(t, "ci/examples/"+ex.example))})
	}
	out = append(out, oraclePipeline{name: "this repository's .gitlab-ci.yml", standinN: "it runs on GitLab, not on the stand-in (it uses rules, artifacts and cache:key:files, which the stand-in refuses by name)",
		project: cioracle.Project{Files: map[string]string{".gitlab-ci.yml": read(t, ".gitlab-ci.yml"), "ci/pipeline.gitlab-ci.yml": read(t, "ci/pipeline.gitlab-ci.yml")}}})
	for _, dir := range pipelines.Projects {
		files, err := pipelines.ProjectFiles(repoRoot, dir, 1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, oraclePipeline{name: "e2e project " + dir, standin: true, project: cioracle.Project{Files: files}})
	}
	params := pipelines.Params{Gate: "until wget -q -O /dev/null http://registry.example/v2/gate/tags/list; do sleep 1; done", CacheKey: "fault-cache-run1", Held: 3}
	for _, name := range pipelines.ScenarioNames() {
		files, err := pipelines.ScenarioFiles(repoRoot, "tenant-a", name, pipelines.Scenario(name, params))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, oraclePipeline{name: "scenario " + name, standin: true, project: cioracle.Project{Files: files}})
	}
	cases, err := pipelines.LoadHostileCases(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		files, err := pipelines.HostileFiles(repoRoot, c, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, oraclePipeline{name: "hostile " + c.Name, standin: true, project: cioracle.Project{Files: files}})
	}
	return out
}

var (
	oracleOnce sync.Once
	oracleTool cioracle.Tool
	oracleErr  error
)

// oracle installs gitlab-ci-local once per test binary (into the project cache); a missing node or npm fails.
func oracle(t *testing.T) cioracle.Tool {
	t.Helper()
	oracleOnce.Do(func() {
		oracleTool, oracleErr = cioracle.Install(repoRoot, func(format string, args ...any) { fmt.Printf("cioracle: "+format+"\n", args...) })
	})
	if oracleErr != nil {
		t.Fatal(oracleErr)
	}
	return oracleTool
}

// standinCompile compiles a commit with the stand-in, include:project read from the commit's other projects.
func standinCompile(p cioracle.Project) (*gitlabstandin.Pipeline, error) {
	return gitlabstandin.CompileFrom(gitlabstandin.Source{
		Local: func(file string) ([]byte, error) {
			if f, ok := p.Files[file]; ok {
				return []byte(f), nil
			}
			return nil, fmt.Errorf("%s: not in the commit", file)
		},
		Project: func(project, ref, file string) ([]byte, error) {
			for _, inc := range p.Includes {
				if inc.Project == project && inc.Ref == ref && inc.File == file {
					return []byte(inc.Content), nil
				}
			}
			return nil, fmt.Errorf("%s@%s:%s: not available", project, ref, file)
		},
	})
}

// TestPipelinesAreValidGitLabCIAndTheStandinReadsThemAsGitLabDoes: every pipeline the project ships (the template's
// documented usage, ci/examples, this repository's pipeline) or commits in the e2e (the example projects, every
// scenario's pipeline, every hostile case) passes GitLab's CI JSON schema in gitlab-ci-local, and gitlab-ci-local's
// expansion (stages; per job stage, scripts, variables, cache, image, retry, tags, timeout, needs) equals the
// stand-in's Compile of it.
func TestPipelinesAreValidGitLabCIAndTheStandinReadsThemAsGitLabDoes(t *testing.T) {
	tool := oracle(t)
	all := shippedAndTestedPipelines(t)
	if len(all) < 40 {
		t.Fatalf("only %d pipelines gathered: a source of pipelines went missing", len(all))
	}
	for _, pl := range all {
		t.Run(pl.name, func(t *testing.T) {
			t.Parallel()
			expanded, err := tool.Expand(context.Background(), pl.project)
			if err != nil {
				t.Fatalf("not valid GitLab CI: %v", err)
			}
			if !pl.standin {
				if _, err := standinCompile(pl.project); err == nil {
					t.Errorf("the stand-in compiles it, but the oracle table says it cannot (%s): update the table", pl.standinN)
				}
				t.Logf("checked against GitLab's schema and gitlab-ci-local only: %s", pl.standinN)
				return
			}
			compiled, err := standinCompile(pl.project)
			if err != nil {
				t.Fatalf("GitLab accepts it (gitlab-ci-local), the stand-in refuses it: %v", err)
			}
			for _, d := range cioracle.Compare(expanded, compiled) {
				t.Error(d)
			}
		})
	}
}

// TestOracleRefusesWhatGitLabRefuses: the oracle can fail. Each pipeline here is one GitLab rejects (the old
// examples among them); gitlab-ci-local must reject each, naming the problem. (GitLab's schema lets a job variable
// have a description, which GitLab's backend refuses: that rule is the stand-in's own, in its unit tests.) And where the two interpreters read a
// valid pipeline differently, Compare must say so.
func TestOracleRefusesWhatGitLabRefuses(t *testing.T) {
	tool := oracle(t)
	oldJava := "include:\n  - project: platform/gitlab-kaniko-tenant\n    ref: v0.1.0\n    file: ci/templates/kaniko.gitlab-ci.yml\nstages: [build, image]\n" +
		"package:\n  stage: build\n  image: maven:3\n  script: [mvn package]\nimage:\n  stage: image\n  extends: .kaniko-build\n  needs: [package]\n"
	cases := []struct{ name, yml, want string }{
		{"the 0.2 examples: a job named image", oldJava, "'stage' property is not expected to be here"},
		{"a job without script", "a:\n  stage: test\n", "a must have script specified"},
		{"retry 3", "a:\n  script: [x]\n  retry: 3\n", "property 'retry' must be <= 2"},
		{"an unknown job keyword", "a:\n  script: [x]\n  scriptt: [y]\n", "'scriptt' property is not expected to be here"},
		{"include:local of a file that is not there", "include: ci/missing.yml\na:\n  script: [x]\n", "Local include file cannot be found ci/missing.yml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := tool.Expand(context.Background(), copiedInto(t, c.yml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("gitlab-ci-local: %v, want a rejection mentioning %q", err, c.want)
			}
		})
	}
	t.Run("a difference between the interpreters is reported", func(t *testing.T) {
		p := cioracle.Project{Files: map[string]string{".gitlab-ci.yml": "a:\n  script: [x]\n  timeout: 1h\n  tags: [t]\n"}}
		expanded, err := tool.Expand(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		compiled, err := standinCompile(p)
		if err != nil {
			t.Fatal(err)
		}
		if d := cioracle.Compare(expanded, compiled); len(d) != 0 {
			t.Fatalf("the same pipeline differs: %v", d)
		}
		compiled.Jobs[0].Tags = []string{"other"}
		compiled.Jobs[0].Timeout = 0
		if d := cioracle.Compare(expanded, compiled); len(d) != 2 {
			t.Errorf("tampered tags and timeout: %d differences %v, want 2", len(d), d)
		}
	})
}
