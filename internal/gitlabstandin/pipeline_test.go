package gitlabstandin

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// commitFiles reads a commit's files from a map (a missing one is an error, as in git).
func commitFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if f, ok := files[name]; ok {
			return []byte(f), nil
		}
		return nil, fmt.Errorf("%s: no such file", name)
	}
}

// TestCompileTheExampleProjects compiles the e2e's projects with the real CI template, as the stand-in will.
func TestCompileTheExampleProjects(t *testing.T) {
	for _, c := range []struct {
		project, tag, cacheKey, testImage string
	}{
		{"java-maven", "tenant-a", "java-builds", "gkt.local/java-builder:17-maven3.8"},
		{"csharp-mono", "tenant-b", "dotnet-builds", "gkt.local/mono-builder:6.8"},
	} {
		t.Run(c.project, func(t *testing.T) {
			p, err := Compile(commitFiles(projectFiles(t, c.project)))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Jobs) != 2 || p.Jobs[0].Name != "test" || p.Jobs[1].Name != "build-image" {
				t.Fatalf("jobs %+v, want test then build-image", p.Jobs)
			}
			test, image := p.Jobs[0], p.Jobs[1]
			if test.Image == nil || test.Image.Name != c.testImage || len(test.Cache) != 1 || test.Cache[0].Key != c.cacheKey || test.Cache[0].Policy != "pull-push" {
				t.Errorf("test job: image %+v cache %+v", test.Image, test.Cache)
			}
			// extends .kaniko-build: the template's image, entrypoint, script and retry rules, the job's own tags
			if image.Image == nil || image.Image.Name != "${KANIKO_IMAGE}" || len(image.Image.Entrypoint) != 1 || image.Image.Entrypoint[0] != "" {
				t.Errorf("image job image %+v", image.Image)
			}
			if len(image.Script) != 1 || !strings.Contains(image.Script[0], "/kaniko/executor") {
				t.Errorf("image job script is not the template's: %q", image.Script)
			}
			if image.Retry.Max != 2 || !image.Retry.Retries("runner_system_failure", 1) || image.Retry.Retries("script_failure", 1) || image.Retry.Retries("runner_system_failure", 3) {
				t.Errorf("image job retry %+v", image.Retry)
			}
			if len(image.Tags) != 1 || image.Tags[0] != c.tag || image.Stage != "image" {
				t.Errorf("image job tags %v stage %s", image.Tags, image.Stage)
			}
			// the template's KANIKO_IMAGE default is overlaid by nothing; a global variable reaches every job
			var global string
			for _, v := range test.Variables {
				global += v.Key + " "
			}
			if !strings.Contains(global, "MAVEN_LOCAL_REPO") && !strings.Contains(global, "NUGET_PACKAGES") {
				t.Errorf("test job lacks the global variables: %s", global)
			}
		})
	}
}

// TestCompileRefusesWhatTheStandinDoesNotImplement is the bad-input table: each .gitlab-ci.yml uses one thing the
// stand-in does not implement (or that GitLab rejects) and must fail naming it.
func TestCompileRefusesWhatTheStandinDoesNotImplement(t *testing.T) {
	cases := []struct{ name, yml, wantErr string }{
		{"artifacts", "a:\n  script: [x]\n  artifacts: {paths: [y]}\n", "keyword artifacts is not supported"},
		{"rules", "a:\n  script: [x]\n  rules: [{if: '$X'}]\n", "keyword rules is not supported"},
		{"services not a list", "a:\n  script: [x]\n  services: redis\n", "services: not a list"},
		{"service with an alias", "a:\n  script: [x]\n  services: [{name: redis, alias: cache}]\n", "image:alias is not supported"},
		{"unknown pull policy", "a:\n  script: [x]\n  image: {name: x, pull_policy: sometimes}\n", "is not always, if-not-present or never"},
		{"include project without a project source", "include:\n  - project: a/b\n    file: c.yml\na:\n  script: [x]\n", "include:project is not supported"},
		{"include template", "include:\n  - template: Auto-DevOps.gitlab-ci.yml\na:\n  script: [x]\n", "include:template is not supported"},
		{"include component", "include:\n  - component: gitlab.com/x/y@1\na:\n  script: [x]\n", "include:component is not supported"},
		{"include with rules", "include:\n  - local: x.yml\n    rules: [{if: $X}]\na:\n  script: [x]\n", "include:rules is not supported"},
		{"unknown YAML tag", "a:\n  script: !include x\n", "unknown YAML tag !include"},
		{"reference to nothing", "a:\n  script: [!reference [.nope, script]]\n", "!reference [.nope script] could not be found"},
		{"reference through a scalar", ".t: {script: x}\na:\n  script: [!reference [.t, script, deeper]]\n", "is not a mapping"},
		{"reference not a list", "a:\n  script: !reference .t\n", "!reference needs a sequence"},
		{"include remote string", "include: 'https://example.com/x.yml'\na:\n  script: [x]\n", "include:remote is not supported"},
		{"include missing file", "include:\n  - local: nope.yml\na:\n  script: [x]\n", "nope.yml"},
		{"workflow", "workflow: {rules: []}\na:\n  script: [x]\n", "top-level keyword workflow is not supported"},
		{"a scalar at the top", "stray: 1\na:\n  script: [x]\n", "not a job (a mapping)"},
		{"unknown stage", "stages: [build]\na:\n  stage: deploy\n  script: [x]\n", `stage "deploy" is not in stages`},
		{"no script", "a:\n  image: x\n", "script: missing"},
		{"needs an unknown job", "stages: [a, b]\nx:\n  stage: b\n  needs: [y]\n  script: [x]\n", "needs y, which is not a job"},
		{"needs a later job", "stages: [a, b]\nx:\n  stage: a\n  needs: [y]\n  script: [x]\ny:\n  stage: b\n  script: [x]\n", "not defined in current or prior stages"},
		{"extends an unknown template", "a:\n  extends: .nope\n  script: [x]\n", "extends: .nope is not defined"},
		{"extends cycle", ".a:\n  extends: .b\n.b:\n  extends: .a\nc:\n  extends: .a\n  script: [x]\n", "more than 11 levels"},
		{"cache key files", "a:\n  script: [x]\n  cache: {key: {files: [go.sum]}, paths: [x]}\n", "only a string key"},
		{"cache without paths", "a:\n  script: [x]\n  cache: {key: k}\n", "paths: missing"},
		{"cache bad policy", "a:\n  script: [x]\n  cache: {key: k, paths: [x], policy: sometimes}\n", "is not pull, push or pull-push"},
		{"retry 3", "a:\n  script: [x]\n  retry: 3\n", "GitLab allows 0, 1 or 2"},
		{"retry unknown reason", "a:\n  script: [x]\n  retry: {max: 1, when: [bad_luck]}\n", "not a failure reason"},
		{"when manual", "a:\n  script: [x]\n  when: manual\n", "only on_success"},
		{"bad timeout", "a:\n  script: [x]\n  timeout: soon\n", "is not a duration"},
		{"default artifacts", "default:\n  artifacts: {paths: [x]}\na:\n  script: [x]\n", "default:artifacts is not supported"},
		{"only hidden jobs", ".a:\n  script: [x]\n", "no jobs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(commitFiles(map[string]string{CIFile: c.yml}))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// TestCompileSemantics checks what GitLab does with the supported keywords: default:, extends merging, job
// variables over global ones, stage order, needs, timeouts.
func TestCompileSemantics(t *testing.T) {
	yml := `
stages: [build, test]
variables: {A: global, B: global}
default:
  image: base:1
  tags: [t]
.tpl:
  variables: {B: template, C: template}
  retry: {max: 1, when: [script_failure]}
  cache: {key: k, paths: [p]}
late:
  stage: test
  needs: [early]
  extends: .tpl
  variables: {C: job}
  script: [run]
  timeout: 1h 30m
early:
  stage: build
  image: {name: own:2, entrypoint: [""], pull_policy: [always]}
  services: [redis:7, {name: "postgres:16"}]
  script: [[a, b], c]
`
	p, err := Compile(func(string) ([]byte, error) { return []byte(yml), nil })
	if err != nil {
		t.Fatal(err)
	}
	if p.Jobs[0].Name != "early" || p.Jobs[1].Name != "late" {
		t.Fatalf("stage order: %s, %s", p.Jobs[0].Name, p.Jobs[1].Name)
	}
	early, late := p.Jobs[0], p.Jobs[1]
	if early.Image.Name != "own:2" || late.Image.Name != "base:1" || late.Tags[0] != "t" {
		t.Errorf("default: image %s/%s tags %v", early.Image.Name, late.Image.Name, late.Tags)
	}
	if early.Image.PullPolicy[0] != "always" || len(early.Services) != 2 || early.Services[1].Name != "postgres:16" {
		t.Errorf("image %+v services %+v", early.Image, early.Services)
	}
	if strings.Join(early.Script, ",") != "a,b,c" {
		t.Errorf("nested script %v", early.Script)
	}
	got := map[string]string{}
	for _, v := range late.Variables {
		got[v.Key] = v.Value
	}
	if got["A"] != "global" || got["B"] != "template" || got["C"] != "job" {
		t.Errorf("variables %v: want A=global B=template C=job", got)
	}
	if late.Retry.Max != 1 || late.Cache[0].Key != "k" || late.Timeout != 90*time.Minute || late.Needs[0] != "early" {
		t.Errorf("late %+v", late)
	}
	if p.Stages[0] != ".pre" || p.Stages[len(p.Stages)-1] != ".post" {
		t.Errorf("stages %v", p.Stages)
	}
}

// TestCompileFollowsGitLab: where the stand-in once differed from GitLab, it now does what GitLab does. Each row names
// GitLab's behaviour and where GitLab implements it; make test's oracle (test/gitlab_oracle_test.go) checks the
// shipped pipelines against gitlab-ci-local as well.
func TestCompileFollowsGitLab(t *testing.T) {
	cases := []struct {
		name, gitlab string            // the behaviour, and GitLab's source or documentation for it
		files        map[string]string // the commit; .gitlab-ci.yml first
		check        func(t *testing.T, p *Pipeline, err error)
	}{
		{
			name: "!reference is resolved after extends, nested lists flattened", gitlab: "lib/gitlab/ci/config/yaml/tags/reference.rb; config.rb build_config (includes, extends, then tags)",
			files: map[string]string{".gitlab-ci.yml": ".base: {script: [echo base]}\n.setup:\n  extends: .base\n  variables: {X: '1'}\na:\n  variables: !reference [.setup, variables]\n  script:\n    - !reference [.setup, script]\n    - echo own\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err != nil {
					t.Fatal(err)
				}
				a := p.Job("a")
				if strings.Join(a.Script, ";") != "echo base;echo own" || len(a.Variables) != 1 || a.Variables[0].Value != "1" {
					t.Errorf("script %q variables %+v: want the referenced script and variables, never the tag's keys as commands", a.Script, a.Variables)
				}
			},
		},
		{
			name: "a diamond of includes merges (the same file included twice)", gitlab: "doc/ci/yaml/includes.md (nested includes; duplicates allowed)",
			files: map[string]string{".gitlab-ci.yml": "include: [ci/a.yml, ci/b.yml]\nj: {extends: .common}\n", "ci/a.yml": "include: ci/common.yml\n", "ci/b.yml": "include: {local: /ci/common.yml}\n", "ci/common.yml": ".common: {script: [echo c]}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err != nil || p.Job("j").Script[0] != "echo c" {
					t.Fatalf("diamond include: %v", err)
				}
			},
		},
		{
			name: "include: 'path' is a local file, with or without a leading slash", gitlab: "doc/ci/yaml/_index.md#include (a string is include:local)",
			files: map[string]string{".gitlab-ci.yml": "include: ci/x.yml\n", "ci/x.yml": "j: {script: [x]}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err != nil || p.Job("j") == nil {
					t.Fatalf("string include: %v", err)
				}
			},
		},
		{
			name: "an include cycle ends at GitLab's nesting limit", gitlab: "doc/ci/yaml/includes.md (up to 100 nested includes)",
			files: map[string]string{".gitlab-ci.yml": "include: ci/x.yml\nj: {script: [x]}\n", "ci/x.yml": "include: ci/x.yml\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err == nil || !strings.Contains(err.Error(), "nested includes") {
					t.Fatalf("include cycle: %v", err)
				}
			},
		},
		{
			name: "needs within the same stage", gitlab: "lib/gitlab/ci/yaml_processor.rb validate_job_needs! (GitLab 14.2+)",
			files: map[string]string{".gitlab-ci.yml": "a: {script: [x]}\nb: {needs: [a], script: [x]}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err != nil || p.Job("b").Needs[0] != "a" {
					t.Fatalf("needs in the same stage: %v", err)
				}
			},
		},
		{
			name: "timeout in ChronicDuration words", gitlab: "lib/gitlab/ci/config/entry/job.rb (validates :timeout, duration) with the chronic_duration gem",
			files: map[string]string{".gitlab-ci.yml": "a: {script: [x], timeout: 1 hour 30 minutes}\nb: {script: [x], timeout: 3h 10m}\nc: {script: [x], timeout: '600'}\nd: {script: [x], timeout: 2 days}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err != nil {
					t.Fatal(err)
				}
				for job, want := range map[string]time.Duration{"a": 90 * time.Minute, "b": 190 * time.Minute, "c": 10 * time.Minute, "d": 48 * time.Hour} {
					if got := p.Job(job).Timeout; got != want {
						t.Errorf("job %s: timeout %s, want %s", job, got, want)
					}
				}
			},
		},
		{
			name: "a cache key with / is refused", gitlab: "lib/gitlab/config/entry/validators.rb KeyValidator (cannot contain the \"/\" character)",
			files: map[string]string{".gitlab-ci.yml": "a: {script: [x], cache: {key: a/b, paths: [x]}}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err == nil || !strings.Contains(err.Error(), `cannot contain the "/" character`) {
					t.Fatalf("cache key a/b: %v", err)
				}
			},
		},
		{
			name: "an escaped / in a cache key is refused too", gitlab: "KeyValidator unescapes the key first (CGI.unescape)",
			files: map[string]string{".gitlab-ci.yml": "a: {script: [x], cache: {key: a%2Fb, paths: [x]}}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err == nil || !strings.Contains(err.Error(), `cannot contain the "/" character`) {
					t.Fatalf("cache key a%%2Fb: %v", err)
				}
			},
		},
		{
			name: "a job's variable takes value and expand only", gitlab: "lib/gitlab/ci/config/entry/job.rb variables (allowed_value_data: value, expand)",
			files: map[string]string{".gitlab-ci.yml": "a:\n  script: [x]\n  variables: {X: {value: '1', description: d}}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err == nil || !strings.Contains(err.Error(), "X: description: GitLab allows only value, expand here") {
					t.Fatalf("job variable description: %v", err)
				}
			},
		},
		{
			name: "a pipeline variable may have a description; expand: false is sent raw", gitlab: "lib/gitlab/ci/config/entry/root.rb variables (value, description, expand, options); Ci::BuildRunnerPresenter",
			files: map[string]string{".gitlab-ci.yml": "variables: {G: {value: '$X', description: d, expand: false}}\na: {script: [x]}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if v := p.Job("a").Variables[0]; v.Value != "$X" || !v.Raw {
					t.Errorf("variable %+v: want the value raw", v)
				}
			},
		},
		{
			name: "a boolean variable value is refused", gitlab: "Entry::Variables (values are strings or numbers)",
			files: map[string]string{".gitlab-ci.yml": "a: {script: [x], variables: {X: true}}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err == nil || !strings.Contains(err.Error(), "is a boolean") {
					t.Fatalf("boolean variable: %v", err)
				}
			},
		},
		{
			name: "include:project reads another project's file at a ref", gitlab: "lib/gitlab/ci/config/external/file/project.rb",
			files: map[string]string{".gitlab-ci.yml": "include: {project: platform/tpl, ref: v1, file: [t.yml]}\nj: {extends: .t}\n"},
			check: func(t *testing.T, p *Pipeline, err error) {
				if err != nil || p.Job("j").Script[0] != "echo from platform/tpl@v1" {
					t.Fatalf("include:project: %v", err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := CompileFrom(Source{
				Local: commitFiles(c.files),
				Project: func(project, ref, file string) ([]byte, error) {
					return []byte(fmt.Sprintf(".t: {script: [echo from %s@%s]}\n", project, ref)), nil
				},
			})
			t.Logf("GitLab: %s", c.gitlab)
			c.check(t, p, err)
		})
	}
}
