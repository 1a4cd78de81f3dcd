package gitlabstandin

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// files reads directories as a commit's files: a path goes to the directory of its longest matching prefix (in a
// fixed order: map order would make the "" prefix win at random).
func files(t *testing.T, dirs map[string]string) func(string) ([]byte, error) {
	t.Helper()
	prefixes := slices.SortedFunc(maps.Keys(dirs), func(a, b string) int { return len(b) - len(a) })
	return func(name string) ([]byte, error) {
		for _, prefix := range prefixes {
			if rel, ok := strings.CutPrefix(name, prefix); ok {
				return os.ReadFile(filepath.Join(dirs[prefix], rel))
			}
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
			p, err := Compile(files(t, map[string]string{"ci/templates/": "../../ci/templates", "": "../../test/e2e/projects/" + c.project}))
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
		{"include project", "include:\n  - project: a/b\n    file: c.yml\na:\n  script: [x]\n", "include:project is not supported"},
		{"include remote string", "include: 'https://example.com/x.yml'\na:\n  script: [x]\n", "only local files"},
		{"include missing file", "include:\n  - local: nope.yml\na:\n  script: [x]\n", "nope.yml"},
		{"workflow", "workflow: {rules: []}\na:\n  script: [x]\n", "top-level keyword workflow is not supported"},
		{"a scalar at the top", "stray: 1\na:\n  script: [x]\n", "not a job (a mapping)"},
		{"unknown stage", "stages: [build]\na:\n  stage: deploy\n  script: [x]\n", `stage "deploy" is not in stages`},
		{"no script", "a:\n  image: x\n", "script: missing"},
		{"needs an unknown job", "stages: [a, b]\nx:\n  stage: b\n  needs: [y]\n  script: [x]\n", "needs y, which is not a job"},
		{"needs a later job", "stages: [a, b]\nx:\n  stage: a\n  needs: [y]\n  script: [x]\ny:\n  stage: b\n  script: [x]\n", "not in an earlier stage"},
		{"extends an unknown template", "a:\n  extends: .nope\n  script: [x]\n", "extends: .nope is not defined"},
		{"extends cycle", ".a:\n  extends: .b\n.b:\n  extends: .a\nc:\n  extends: .a\n  script: [x]\n", "more than 11 levels"},
		{"cache key files", "a:\n  script: [x]\n  cache: {key: {files: [go.sum]}, paths: [x]}\n", "only a string key"},
		{"cache without paths", "a:\n  script: [x]\n  cache: {key: k}\n", "paths: missing"},
		{"cache bad policy", "a:\n  script: [x]\n  cache: {key: k, paths: [x], policy: sometimes}\n", "is not pull, push or pull-push"},
		{"retry 3", "a:\n  script: [x]\n  retry: 3\n", "GitLab allows 0, 1 or 2"},
		{"retry unknown reason", "a:\n  script: [x]\n  retry: {max: 1, when: [bad_luck]}\n", "not a failure reason"},
		{"when manual", "a:\n  script: [x]\n  when: manual\n", "only on_success"},
		{"bad timeout", "a:\n  script: [x]\n  timeout: soon\n", "Go-style durations"},
		{"default artifacts", "default:\n  artifacts: {paths: [x]}\na:\n  script: [x]\n", "default:artifacts is not supported"},
		{"only hidden jobs", ".a:\n  script: [x]\n", "no jobs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(func(name string) ([]byte, error) {
				if name == CIFile {
					return []byte(c.yml), nil
				}
				return nil, fmt.Errorf("%s: no such file", name)
			})
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
