package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// templateHarness runs the Kaniko template's script the way the build container does, with /etc/gitlab-kaniko-tenant
// and /kaniko moved under a temporary root (the only edit of the script), and /kaniko/executor replaced by a
// program that prints its arguments.
type templateHarness struct {
	root, script string
}

func newTemplateHarness(t *testing.T, platform string) templateHarness {
	t.Helper()
	tpl := loadYAML(t, "../ci/templates/kaniko.gitlab-ci.yml")
	script := strings.Join(toStrings(tpl[".kaniko-build"].(map[string]any)["script"]), "\n")
	root := t.TempDir()
	for _, d := range []string{"etc/gitlab-kaniko-tenant", "kaniko/ssl/certs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if platform != "" {
		if err := os.WriteFile(filepath.Join(root, "etc/gitlab-kaniko-tenant/platform.env"), []byte(platform), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "kaniko/executor"), []byte("#!/bin/sh\nfor a in \"$@\"; do echo \"ARG $a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/gitlab-kaniko-tenant/", "/kaniko/"} {
		if !strings.Contains(script, p) {
			t.Fatalf("the template no longer uses %s: update this harness", p)
		}
		script = strings.ReplaceAll(script, p, root+p)
	}
	return templateHarness{root: root, script: script}
}

// run executes the script with the job's variables (the runner's environment entries first, the job's after them,
// as the build container's env is made) and returns the executor's arguments, or the error output.
func (h templateHarness) run(t *testing.T, env map[string]string) (args []string, stderr string, ok bool) {
	t.Helper()
	cmd := exec.Command("sh", "-c", h.script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	for _, l := range strings.Split(out.String(), "\n") {
		if a, found := strings.CutPrefix(l, "ARG "); found {
			args = append(args, a)
		}
	}
	return args, errb.String(), err == nil
}

// tenantAJob renders the tenant chart with ci/tenant-a-java-values.yaml and returns its platform file and the
// runner's environment entries (config.toml), so the template is tested against what the chart really mounts.
func tenantAJob(t *testing.T) (platform string, environment map[string]string) {
	t.Helper()
	platform, environment, _ = tenantJob(t, "tenant-a", "tenant-a-java-values.yaml", "tenant-a-java")
	return platform, environment
}

// tenantJob renders the tenant chart for tenant with the example values file and returns its platform file, the
// runner's environment entries and its first [[runners]] entry.
func tenantJob(t *testing.T, tenant, valuesFile, runnerName string) (platform string, environment map[string]string, runner *jobpod.Runner) {
	t.Helper()
	c := loadChart(t, tenantChart)
	res, err := c.Render(render.Options{ReleaseName: tenant, Namespace: tenant, KubeVersion: "v1.37.0", Values: readValues(t, tenantChart+"/ci/"+valuesFile)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects() {
		if o.GetKind() == "ConfigMap" && o.GetName() == tenant+"-job-platform" {
			platform, _, _ = unstructured.NestedString(o.Object, "data", "platform.env")
		}
	}
	cfg, err := harness.ConfigToml(res)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cfg.Runners, func(r jobpod.Runner) bool { return r.Name == runnerName })
	if i < 0 {
		t.Fatalf("%s renders no [[runners]] entry %s", valuesFile, runnerName)
	}
	environment = map[string]string{}
	for _, e := range cfg.Runners[i].Environment {
		k, v, _ := strings.Cut(e, "=")
		environment[k] = v
	}
	if platform == "" || len(environment) == 0 {
		t.Fatal("the chart rendered no platform file or no job environment")
	}
	return platform, environment, &cfg.Runners[i]
}

// TestKanikoTemplateRefusesJobVariablesThatUndoThePlatform: job variables override the runner's environment, so the
// template takes the isolating settings from the mounted platform file and refuses a variable that disagrees.
// Every hostile case has a control (the same job without the hostile variable builds), so none passes by breaking.
func TestKanikoTemplateRefusesJobVariablesThatUndoThePlatform(t *testing.T) {
	platform, base := tenantAJob(t) // the runner's environment, then the predefined job variables
	for k, v := range map[string]string{"CI_PROJECT_DIR": "/builds/a/app", "CI_PROJECT_PATH": "a/app", "CI_COMMIT_SHORT_SHA": "abc123"} {
		base[k] = v
	}
	h := newTemplateHarness(t, platform)
	control, stderr, ok := h.run(t, base)
	if !ok {
		t.Fatalf("control: the template's plain job fails: %s", stderr)
	}
	joined := strings.Join(control, " ")
	for _, want := range []string{"--destination registry.example.com/a/app:abc123", "--cache-repo tenant-a-layer-cache.tenant-a.svc:5000/tenant-a/cache", "--insecure-registry tenant-a-layer-cache.tenant-a.svc:5000"} {
		if !strings.Contains(joined, want) {
			t.Errorf("control: executor args %q lack %q (the chart's destination is the default)", joined, want)
		}
	}
	hostile := []struct {
		name, guard string
		vars        map[string]string
		refusal     string
	}{
		{"layer cache pointed at tenant-b's registry", "platform file: cache repo", map[string]string{"KANIKO_CACHE_REPO": "tenant-b-layer-cache.tenant-b.svc:5000/tenant-b/cache"}, "KANIKO_CACHE_REPO is set to 'tenant-b-layer-cache"},
		{"plain HTTP to another registry", "platform file: insecure registries", map[string]string{"KANIKO_INSECURE_REGISTRIES": "tenant-a-layer-cache.tenant-a.svc:5000,evil.example.com"}, "KANIKO_INSECURE_REGISTRIES is set to"},
		{"destination registry renamed", "platform file: destination registry", map[string]string{"KANIKO_DESTINATION_REGISTRY": "tenant-b-registry.example.com"}, "KANIKO_DESTINATION_REGISTRY is set to"},
		{"destination on another registry", "template: destinations stay on the platform's registry", map[string]string{"KANIKO_DESTINATION": "evil.example.com/x:1"}, "destination evil.example.com/x:1 is not on this tenant's destination registry registry.example.com"},
		{"second destination on another registry", "template: destinations stay on the platform's registry", map[string]string{"KANIKO_DESTINATION": "registry.example.com/a/app:1 evil.example.com/x:1"}, "is not on this tenant's destination registry"},
	}
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.vars {
				env[k] = v
			}
			args, stderr, ok := h.run(t, env)
			if ok || len(args) > 0 {
				t.Fatalf("not refused (guard: %s): executor ran with %v", tc.guard, args)
			}
			if !strings.Contains(stderr, tc.refusal) {
				t.Errorf("refused, but not for the guard's reason %q: %s", tc.refusal, stderr)
			}
		})
	}
	t.Run("a job may turn its own cache off", func(t *testing.T) {
		env := map[string]string{"KANIKO_CACHE_ENABLED": "false"}
		for k, v := range base {
			if k != "KANIKO_CACHE_ENABLED" {
				env[k] = v
			}
		}
		args, stderr, ok := h.run(t, env)
		if !ok || strings.Contains(strings.Join(args, " "), "--cache-repo") {
			t.Errorf("KANIKO_CACHE_ENABLED=false must build without the cache: ok=%v args=%v %s", ok, args, stderr)
		}
	})
}

// Without the platform file (a runner that is not this chart's) the template warns and uses the variables; with
// neither a destination registry nor GitLab's registry it says what to set.
func TestKanikoTemplateWithoutThePlatformFile(t *testing.T) {
	h := newTemplateHarness(t, "")
	args, stderr, ok := h.run(t, map[string]string{"CI_REGISTRY_IMAGE": "gitlab.example.com/a/app", "CI_COMMIT_SHORT_SHA": "abc", "CI_PROJECT_DIR": "/b"})
	if !ok || !strings.Contains(strings.Join(args, " "), "--destination gitlab.example.com/a/app:abc") || !strings.Contains(stderr, "platform.env is missing") {
		t.Errorf("want GitLab's registry as the destination and a warning: ok=%v args=%v stderr=%s", ok, args, stderr)
	}
	_, stderr, ok = h.run(t, map[string]string{"CI_PROJECT_DIR": "/b"})
	if ok || !strings.Contains(stderr, "no destination: set KANIKO_DESTINATION, or destinationRegistry.host") {
		t.Errorf("want a clear error without any destination: ok=%v %s", ok, stderr)
	}
}
