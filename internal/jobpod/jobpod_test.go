package jobpod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/podsecurity"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

func renderedConfig(t *testing.T, values map[string]any) []byte {
	t.Helper()
	c, err := render.Load("../../charts/gitlab-kaniko-tenant")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Render(render.Options{ReleaseName: "r", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: values, Cluster: render.InstallCluster()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects() {
		if o.GetKind() == "ConfigMap" && o.GetName() == "tenant-a-runner" {
			s, _, _ := unstructured.NestedString(o.Object, "data", "config.template.toml")
			return []byte(s)
		}
	}
	t.Fatal("no config.toml rendered")
	return nil
}

func TestJobPodFromRenderedConfig(t *testing.T) {
	cfg, err := Parse(renderedConfig(t, map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	pod, err := Pod(&cfg.Runners[0], Job{ProjectID: 7, JobID: 42, TimeoutSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	build, helper := pod.Spec.Containers[0], pod.Spec.Containers[1]
	checks := []struct {
		name string
		ok   bool
	}{
		{"namespace is the tenant's", pod.Namespace == "tenant-a"},
		{"job service account", pod.Spec.ServiceAccountName == "tenant-a-jobs"},
		{"no service account token", pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken},
		{"pinned by node selector", pod.Spec.NodeSelector["gitlab-kaniko-tenant.io/tenant"] == "tenant-a"},
		{"tolerates the tenant taint", len(pod.Spec.Tolerations) == 1 && pod.Spec.Tolerations[0].Value == "tenant-a"},
		{"tenant label on the pod", pod.Labels["gitlab-kaniko-tenant.io/tenant"] == "tenant-a" && pod.Labels["gitlab-kaniko-tenant.io/component"] == "job"},
		{"build runs as root, not privileged", *build.SecurityContext.RunAsUser == 0 && !*build.SecurityContext.Privileged},
		{"build drops ALL, adds exactly Kaniko's five", len(build.SecurityContext.Capabilities.Drop) == 1 && len(build.SecurityContext.Capabilities.Add) == 5},
		{"helper has no capabilities", len(helper.SecurityContext.Capabilities.Add) == 0 && *helper.SecurityContext.RunAsNonRoot},
		{"cache repo provided to the build", envHas(build.Env, "KANIKO_CACHE_REPO", "tenant-a-layer-cache.tenant-a.svc:5000/tenant-a/cache")},
		{"build limits", build.Resources.Limits.Cpu().String() == "2" && build.Resources.Limits.Memory().String() == "4Gi"},
		{"active deadline = timeout + 1", pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds == 3601},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("job pod: %s", c.name)
		}
	}
}

// The job pod passes baseline and (being root with capabilities) fails restricted; a privileged variant fails
// baseline, which proves the evaluator is really consulted.
func TestJobPodPodSecurity(t *testing.T) {
	ev, err := podsecurity.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(renderedConfig(t, map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	pod, err := Pod(&cfg.Runners[0], Job{ProjectID: 1, JobID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ev.Violations(pod, "baseline", 37); v != nil {
		t.Errorf("job pod must pass baseline: %v", v)
	}
	if v, _ := ev.Violations(pod, "restricted", 37); v == nil {
		t.Errorf("job pod (root Kaniko) cannot pass restricted; the evaluator says it does")
	}
	yes := true
	cfg.Runners[0].Kubernetes.BuildContainerSecurityContext.Privileged = &yes
	priv, _ := Pod(&cfg.Runners[0], Job{ProjectID: 1, JobID: 1})
	if v, _ := ev.Violations(priv, "baseline", 37); v == nil {
		t.Errorf("a privileged build container must fail baseline")
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	_, err := Parse([]byte("concurrent = 1\n[[runners]]\n  name = \"x\"\n  [runners.kubernetes]\n    namespce = \"typo\"\n"))
	if err == nil || !strings.Contains(err.Error(), "namespce") {
		t.Fatalf("an unknown key must be reported by name, got %v", err)
	}
}

func TestParseWantsNamedRunners(t *testing.T) {
	for _, c := range []struct {
		name, toml, err string
	}{
		{"no [[runners]]", "concurrent = 1\n", "no [[runners]] section"},
		{"two [[runners]] with one name", "concurrent = 1\n[[runners]]\n  name = \"a\"\n[[runners]]\n  name = \"a\"\n", `two [[runners]] named "a"`},
		{"two profiles", "concurrent = 1\n[[runners]]\n  name = \"a\"\n[[runners]]\n  name = \"b\"\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.toml))
			switch {
			case c.err == "" && (err != nil || len(cfg.Runners) != 2):
				t.Fatalf("got %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("got %v, want %q", err, c.err)
			}
		})
	}
}

func TestImageNotAllowedIsRefused(t *testing.T) {
	cfg, err := Parse(renderedConfig(t, map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pod(&cfg.Runners[0], Job{Image: "docker.io/library/alpine:3"}); err == nil {
		t.Fatal("an image outside allowed_images must be refused")
	}
}

func envHas(env []corev1.EnvVar, name, value string) bool {
	for _, e := range env {
		if e.Name == name && e.Value == value {
			return true
		}
	}
	return false
}

// The runner puts job variables after [[runners]] environment and keeps the last value (buildVariables): a job can
// override every environment entry the chart renders. The model must predict exactly that.
func TestJobVariablesOverrideTheRunnerEnvironment(t *testing.T) {
	cfg, err := Parse(renderedConfig(t, map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	pod, err := Pod(&cfg.Runners[0], Job{ProjectID: 1, JobID: 2, TimeoutSeconds: 60, Variables: map[string]string{"KANIKO_CACHE_REPO": "elsewhere/cache"}})
	if err != nil {
		t.Fatal(err)
	}
	env := pod.Spec.Containers[0].Env
	n := 0
	for _, e := range env {
		if e.Name == "KANIKO_CACHE_REPO" {
			n++
		}
	}
	if got := EffectiveEnv(env)["KANIKO_CACHE_REPO"]; got != "elsewhere/cache" || n != 1 {
		t.Errorf("KANIKO_CACHE_REPO: effective %q in %d entries, want the job's value once", got, n)
	}
	mounts := map[string]bool{}
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		mounts[m.Name+":"+m.MountPath] = m.ReadOnly || m.Name == "runner-cache"
	}
	if !mounts["tenant-a-job-platform:/etc/gitlab-kaniko-tenant"] || !mounts["runner-cache:/cache"] {
		t.Errorf("the build container lacks the read-only platform file or the /cache volume: %v", mounts)
	}
}

// Runner 17.9 has no seccomp_profile keys: the chart gives it the profile through a pod_spec patch instead. The
// model reads each version's keys as that runner does, so a 17.9 config that relied on the key would show no profile.
func TestSeccompProfileOnEverySupportedRunnerVersion(t *testing.T) {
	v179 := map[string]any{"runner": map[string]any{"image": map[string]any{"tag": "alpine-v17.9.3"}}, "jobs": map[string]any{"helper": map[string]any{"image": map[string]any{"tag": "x86_64-v17.9.3"}}}}
	for name, values := range map[string]map[string]any{"19.4 (chart default)": {}, "17.9": v179} {
		t.Run(name, func(t *testing.T) {
			raw := renderedConfig(t, values)
			cfg, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			pod, err := Pod(&cfg.Runners[0], Job{ProjectID: 1, JobID: 1, TimeoutSeconds: 60})
			if err != nil {
				t.Fatal(err)
			}
			if sc := pod.Spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Fatalf("job pod without RuntimeDefault seccomp: %+v", pod.Spec.SecurityContext)
			}
			if name == "17.9" {
				if strings.Contains(string(raw), "seccomp_profile]") {
					t.Error("the 17.9 config renders seccomp_profile, a key 17.9 ignores")
				}
				// the same config without the patch: the key alone would not do it on 17.9
				cfg.Runners[0].Kubernetes.PodSpec = nil
				cfg.Runners[0].Kubernetes.PodSecurityContext.SeccompProfile = &SeccompProfile{Type: "RuntimeDefault"}
				pod, _ := Pod(&cfg.Runners[0], Job{ProjectID: 1, JobID: 1, TimeoutSeconds: 60})
				if pod.Spec.SecurityContext.SeccompProfile != nil {
					t.Error("the model gives a 17.9 runner a seccomp profile from a key 17.9 does not read")
				}
			}
		})
	}
}
