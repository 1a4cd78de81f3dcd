package test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
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
	for path, cacheKey := range map[string]string{"../ci/examples/java-maven.gitlab-ci.yml": "java-builds", "../ci/examples/dotnet-nuget.gitlab-ci.yml": "dotnet-builds"} {
		ex := loadYAML(t, path)
		raw, _ := os.ReadFile(path)
		if !strings.Contains(string(raw), "file: ci/templates/kaniko.gitlab-ci.yml") {
			t.Errorf("%s does not include the template", path)
		}
		if !strings.Contains(string(raw), "key: "+cacheKey) {
			t.Errorf("%s does not use the %s runner cache key", path, cacheKey)
		}
		imgJob, _ := ex["image"].(map[string]any)
		if imgJob["extends"] != ".kaniko-build" {
			t.Errorf("%s: the image job must extend .kaniko-build", path)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}
