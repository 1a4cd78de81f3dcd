package test

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabstandin"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
)

func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

var ciKeywords = map[string]bool{"stages": true, "default": true, "variables": true, "include": true, "workflow": true}

// TestRepositoryPipelineStructure: every job sits in a declared stage, needs only existing jobs of the same or an
// earlier stage, and the review and nightly jobs run exactly when they should.
func TestRepositoryPipelineStructure(t *testing.T) {
	root := loadYAML(t, "../.gitlab-ci.yml")
	inc, _ := root["include"].([]any)
	if len(inc) != 1 || inc[0].(map[string]any)["local"] != "ci/pipeline.gitlab-ci.yml" {
		t.Fatalf(".gitlab-ci.yml must include ci/pipeline.gitlab-ci.yml, got %v", root["include"])
	}
	p := loadYAML(t, "../ci/pipeline.gitlab-ci.yml")
	stages := map[string]int{}
	for i, s := range p["stages"].([]any) {
		stages[s.(string)] = i
	}
	jobs := map[string]map[string]any{}
	for name, v := range p {
		if ciKeywords[name] || strings.HasPrefix(name, ".") {
			continue
		}
		jobs[name] = v.(map[string]any)
	}
	for _, want := range []string{"lint", "test", "matrix", "review", "e2e-nightly"} {
		if _, ok := jobs[want]; !ok {
			t.Errorf("job %s missing", want)
		}
	}
	for name, j := range jobs {
		st, ok := stages[j["stage"].(string)]
		if !ok {
			t.Errorf("job %s: stage %v not declared", name, j["stage"])
		}
		if j["script"] == nil {
			t.Errorf("job %s has no script", name)
		}
		needs, _ := j["needs"].([]any)
		for _, n := range needs {
			dep, ok := jobs[n.(string)]
			if !ok {
				t.Errorf("job %s needs unknown job %v", name, n)
				continue
			}
			if stages[dep["stage"].(string)] > st {
				t.Errorf("job %s needs %v from a later stage", name, n)
			}
		}
		if j["rules"] == nil {
			t.Errorf("job %s has no rules: it would run on every pipeline", name)
		}
	}
	rules := func(job string) string {
		b, _ := yaml.Marshal(jobs[job]["rules"])
		return string(b)
	}
	if r := rules("review"); !strings.Contains(r, `merge_request_event`) || strings.Contains(r, "schedule") {
		t.Errorf("review must run on merge requests only: %s", r)
	}
	script, _ := yaml.Marshal(jobs["review"]["script"])
	for _, want := range []string{"make review BASE=", "GKT_REVIEW_TOKEN", "merge_requests/$CI_MERGE_REQUEST_IID/notes", "exit $status"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("review script lacks %q", want)
		}
	}
	if r := rules("e2e-nightly"); !strings.Contains(r, `schedule`) || strings.Contains(r, "merge_request_event") {
		t.Errorf("e2e must run on the nightly schedule only: %s", r)
	}
	nightly := map[string]bool{}
	steps, _ := jobs["e2e-nightly"]["script"].([]any)
	for _, step := range steps {
		nightly[strings.TrimSpace(step.(string))] = true
	}
	for _, target := range []string{"make e2e", "make e2e-hostile", "make e2e-faults", "make e2e-upgrade", "make e2e-runner"} {
		if !nightly[target] {
			t.Errorf("the nightly e2e does not run %q: %v", target, steps)
		}
	}
	if art, _ := jobs["e2e-nightly"]["artifacts"].(map[string]any); art == nil || art["when"] != "always" {
		t.Errorf("e2e must keep its artifacts (logs, summary) even when it fails")
	}
}

// TestKanikoTemplateAndExamples: the template tenants include is well-formed, and the documented examples extend it.
func TestKanikoTemplateAndExamples(t *testing.T) {
	tpl := loadYAML(t, "../ci/templates/kaniko.gitlab-ci.yml")
	job, ok := tpl[".kaniko-build"].(map[string]any)
	if !ok {
		t.Fatal("template must define the hidden job .kaniko-build")
	}
	img := job["image"].(map[string]any)
	if ep, _ := img["entrypoint"].([]any); len(ep) != 1 || ep[0] != "" {
		t.Errorf(`image entrypoint must be [""] (Kaniko's entrypoint is the executor), got %v`, img["entrypoint"])
	}
	// Empty: the runner's default job image (the chart's jobs.image, always in allowed_images), so the template
	// cannot drift from the allowlist; a pinned image here would fail as a retried system failure after a mirror
	// or a chart bump.
	if v := job["variables"].(map[string]any)["KANIKO_IMAGE"].(string); v != "" || img["name"] != "${KANIKO_IMAGE}" {
		t.Errorf("KANIKO_IMAGE must default to empty (the runner's default image) and be the image name, got %q / %v", v, img["name"])
	}
	// a job lost with its runner or its pod is re-run; a build that failed on its own merits is not
	retry, _ := job["retry"].(map[string]any)
	when := map[string]bool{}
	if w, ok := retry["when"].([]any); ok {
		for _, e := range w {
			when[e.(string)] = true
		}
	}
	if fmt.Sprint(retry["max"]) != "2" || !when["runner_system_failure"] || !when["stuck_or_timeout_failure"] || !when["scheduler_failure"] || when["script_failure"] || when["always"] {
		t.Errorf("template retry must be max 2 on runner/scheduler/stuck failures and never on script failures, got %v", job["retry"])
	}
	script := strings.Join(toStrings(job["script"]), "\n")
	for _, want := range []string{"--cache=true --cache-repo \"$cache_repo\"", "/etc/gitlab-kaniko-tenant/platform.env", "--target", "/kaniko/.docker/config.json", "additional-ca-cert-bundle.crt", "/kaniko/executor"} {
		if !strings.Contains(script, want) {
			t.Errorf("template script lacks %q", want)
		}
	}
}

// exampleTenants pairs each published example with the tenant chart's example values it is written for.
var exampleTenants = []struct {
	example, values, tenant, cacheKey, testJob string
	runner                                     string // the [[runners]] entry whose tags the project's jobs carry
}{
	{"java-maven.gitlab-ci.yml", "tenant-a-java-values.yaml", "tenant-a", "java-builds", "unit-tests", "tenant-a-java"},
	{"dotnet-nuget.gitlab-ci.yml", "tenant-b-dotnet-values.yaml", "tenant-b", "dotnet-builds", "unit-tests", "tenant-b-dotnet"},
}

// compileExample compiles a published example as GitLab would for a project that copied it: its include:project
// of platform/gitlab-kaniko-tenant reads this working tree's files.
func compileExample(t *testing.T, example string) *gitlabstandin.Pipeline {
	t.Helper()
	p, err := standinCompile(copiedInto(t, read(t, "ci/examples/"+example)))
	if err != nil {
		t.Fatalf("%s: %v", example, err)
	}
	return p
}

// TestExamplesRunUnchangedOnTheExampleTenants: a user copies a published example unchanged into a project of a
// tenant installed with the chart's example values. It compiles (no job named after a GitLab keyword), its test job's
// image is one the tenant's runner allows, its runner cache key is the notes' folder name, and its image job's
// script (the Kaniko template) runs with the tenant's platform file and pushes to the tenant's destination registry.
func TestExamplesRunUnchangedOnTheExampleTenants(t *testing.T) {
	for _, ex := range exampleTenants {
		t.Run(ex.example, func(t *testing.T) {
			p := compileExample(t, ex.example)
			build := p.Job("build-image")
			if build == nil {
				t.Fatalf("no build-image job: %+v", p.Jobs)
			}
			test := p.Job(ex.testJob)
			if test == nil || test.Image == nil {
				t.Fatalf("no %s job with an image", ex.testJob)
			}
			if len(test.Cache) != 1 || test.Cache[0].Key != ex.cacheKey {
				t.Errorf("%s: runner cache %+v, want key %s", ex.testJob, test.Cache, ex.cacheKey)
			}
			platform, environment, runner := tenantJob(t, ex.tenant, ex.values, ex.runner)
			if _, err := jobpod.Pod(runner, jobpod.Job{ProjectID: 1, JobID: 1, Image: test.Image.Name}); err != nil {
				t.Errorf("%s: the tenant's runner refuses the job's image: %v", ex.testJob, err)
			}
			env := maps.Clone(environment)
			for _, v := range build.Variables {
				env[v.Key] = v.Value
			}
			for k, v := range map[string]string{"CI_PROJECT_DIR": "/builds/group/app", "CI_PROJECT_PATH": "group/app", "CI_COMMIT_SHORT_SHA": "abc123",
				"CI_REGISTRY_IMAGE": "gitlab.example.com:5050/group/app"} {
				env[k] = v
			}
			h := newTemplateHarness(t, platform)
			args, stderr, ok := h.run(t, expand(env))
			if !ok {
				t.Fatalf("the image job's script fails on %s: %s", ex.tenant, stderr)
			}
			if joined := strings.Join(args, " "); !strings.Contains(joined, "--destination registry.example.com/group/app:abc123") {
				t.Errorf("executor args %q: want the tenant's destination registry", joined)
			}
		})
	}
}

// expand resolves $VAR and ${VAR} in each value from the others, as the runner does for job variables (one level).
func expand(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = os.Expand(v, func(name string) string { return env[name] })
	}
	return out
}

// TestOldExamplesAreRefused: the examples published before 0.3 (a job named `image`, a destination on GitLab's
// registry) are refused by the stand-in and fail the template on a tenant with a destination registry, so the
// checks above can fail.
func TestOldExamplesAreRefused(t *testing.T) {
	old := "include: {project: platform/gitlab-kaniko-tenant, ref: v0.1.0, file: ci/templates/kaniko.gitlab-ci.yml}\nstages: [build, image]\n" +
		"image:\n  stage: image\n  extends: .kaniko-build\n  variables:\n    KANIKO_DESTINATION: $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA\n"
	_, err := standinCompile(copiedInto(t, old))
	if err == nil || !strings.Contains(err.Error(), "top-level keyword image") {
		t.Errorf("a job named image: %v, want it refused as GitLab's keyword", err)
	}
	platform, environment, _ := tenantJob(t, "tenant-a", "tenant-a-java-values.yaml", "tenant-a-java")
	env := maps.Clone(environment)
	for k, v := range map[string]string{"CI_PROJECT_DIR": "/b", "CI_PROJECT_PATH": "group/app", "CI_COMMIT_SHORT_SHA": "abc", "KANIKO_DESTINATION": "gitlab.example.com:5050/group/app:abc"} {
		env[k] = v
	}
	if _, stderr, ok := newTemplateHarness(t, platform).run(t, env); ok || !strings.Contains(stderr, "is not on this tenant's destination registry") {
		t.Errorf("a destination on GitLab's registry: ok=%v %s", ok, stderr)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}
