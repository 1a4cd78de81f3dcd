package test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// profilesExample is the tenant-a example: two runner profiles, java and dotnet, with the design notes' cache folders.
var profilesExample = filepath.Join(tenantChart, "ci", "tenant-a-java-values.yaml")

// TestProfilesRenderOneRunnerEachWithItsOwnTokenSizeAndCacheFolder: the example's two profiles become two
// [[runners]] entries of one config.toml, each with its own token placeholder, limit, build size, allowed images,
// cache folder, job-pod label and GKT_PROFILE; everything isolating stays the tenant's in both; the manager mounts
// one token per profile from the tenant's Secret.
func TestProfilesRenderOneRunnerEachWithItsOwnTokenSizeAndCacheFolder(t *testing.T) {
	res := renderTenant(t, "tenant-a", readValues(t, profilesExample))
	cfg, err := harness.ConfigToml(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Runners) != 2 {
		t.Fatalf("%d [[runners]] entries, want 2 (java, dotnet)", len(cfg.Runners))
	}
	want := []struct {
		name, token, cachePath, memLimit, image string
		limit                                   int
	}{
		{"tenant-a-dotnet", "@RUNNER_TOKEN:dotnet@", "cache/dotnet-builds", "3Gi", "mcr.microsoft.com/dotnet/sdk:8.0", 4},
		{"tenant-a-java", "@RUNNER_TOKEN:java@", "cache/java-builds", "4Gi", "docker.io/library/maven:3.9-eclipse-temurin-21", 6},
	}
	for i, w := range want {
		r := cfg.Runners[i]
		k := r.Kubernetes
		profile := strings.TrimPrefix(w.name, "tenant-a-")
		switch {
		case r.Name != w.name || r.Token != w.token || r.Limit != w.limit:
			t.Errorf("runner %d: name %q token %q limit %d, want %q %q %d", i, r.Name, r.Token, r.Limit, w.name, w.token, w.limit)
		case r.Cache == nil || r.Cache.Path != w.cachePath || r.Cache.S3 == nil || r.Cache.S3.BucketName != "tenant-a-cache":
			t.Errorf("%s: cache %+v, want path %s in bucket tenant-a-cache", w.name, r.Cache, w.cachePath)
		case k.MemoryLimit != w.memLimit:
			t.Errorf("%s: memory_limit %s, want the profile's %s", w.name, k.MemoryLimit, w.memLimit)
		case !contains(k.AllowedImages, w.image):
			t.Errorf("%s: allowed_images %v lacks the profile's %s", w.name, k.AllowedImages, w.image)
		case k.PodLabels["gitlab-kaniko-tenant.io/profile"] != profile || k.PodLabels[harness.TenantLabel] != "tenant-a":
			t.Errorf("%s: pod_labels %v, want the profile and the tenant", w.name, k.PodLabels)
		case !contains(r.Environment, "GKT_PROFILE="+profile):
			t.Errorf("%s: environment %v lacks GKT_PROFILE=%s", w.name, r.Environment, profile)
		case k.Namespace != "tenant-a" || k.ServiceAccount != cfg.Runners[0].Kubernetes.ServiceAccount || k.NodeSelector[harness.TenantLabel] != "tenant-a":
			t.Errorf("%s: namespace %s, service account %s, node selector %v: the tenant's, the same for every profile", w.name, k.Namespace, k.ServiceAccount, k.NodeSelector)
		}
		if other := want[1-i]; contains(k.AllowedImages, other.image) {
			t.Errorf("%s: allowed_images %v holds the other profile's image %s", w.name, k.AllowedImages, other.image)
		}
	}
	// The model job pod of each profile: its build size is the profile's.
	for _, r := range cfg.Runners {
		pod, err := jobpod.Pod(&r, jobpod.Job{ProjectID: 1, JobID: 2, TimeoutSeconds: 3600})
		if err != nil {
			t.Fatal(err)
		}
		if got := pod.Spec.Containers[0].Resources.Limits.Memory().String(); got != r.Kubernetes.MemoryLimit {
			t.Errorf("%s: the model job pod's build memory limit %s, want %s", r.Name, got, r.Kubernetes.MemoryLimit)
		}
	}
	mounts := tokenItems(t, res)
	if got := strings.Join(mounts, " "); got != "runner-token-dotnet=token-dotnet runner-token-java=token-java" {
		t.Errorf("the manager mounts %q of the token Secret, want one key per profile", got)
	}
	jobs, err := harness.TenantJobs(res)
	if err != nil {
		t.Fatal(err)
	}
	if jobs.PerManager != 10 {
		t.Errorf("jobs per manager %d, want the profiles' limits together (6 + 4)", jobs.PerManager)
	}
}

// tokenItems are the token Secret's keys the manager mounts, as key=path.
func tokenItems(t *testing.T, res *render.Result) []string {
	t.Helper()
	for _, o := range res.Objects() {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			t.Fatal(err)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == "runner-token" && v.Secret != nil {
				var out []string
				for _, it := range v.Secret.Items {
					out = append(out, it.Key+"="+it.Path)
				}
				return out
			}
		}
	}
	t.Fatal("no manager Deployment with a runner-token volume")
	return nil
}

// TestProfilesManagerFillsEveryProfilesToken runs the rendered entrypoint with the example's profiles: both tokens
// land in their own entry of config.toml, a rotated one is picked up without a restart, and a profile's token that
// is not a glrt- token is refused by the profile's name.
func TestProfilesManagerFillsEveryProfilesToken(t *testing.T) {
	values := readValues(t, profilesExample)
	values["runner"].(map[string]any)["secretsReloadSeconds"] = 1
	dir := managerScripts(t, values)
	writeFile(t, filepath.Join(dir, "secrets/runner/token-java"), "glrt-java-token-0123", 0o600)
	writeFile(t, filepath.Join(dir, "secrets/runner/token-dotnet"), "glrt-dotnet-token-0123", 0o600)
	writeFile(t, filepath.Join(dir, "secrets/s3/accessKey"), "AKIAEXAMPLE", 0o600)
	writeFile(t, filepath.Join(dir, "secrets/s3/secretKey"), "secret0123", 0o600)
	writeFile(t, filepath.Join(dir, "bin/gitlab-runner"), "#!/bin/sh\nexec sleep 60\n", 0o755)
	m := runManager(t, dir)
	conf := filepath.Join(dir, "home/.gitlab-runner/config.toml")
	tokens := func() map[string]string {
		raw, err := os.ReadFile(conf)
		if err != nil {
			return nil
		}
		cfg, err := jobpod.Parse(raw)
		if err != nil {
			return nil
		}
		out := map[string]string{}
		for _, r := range cfg.Runners {
			out[r.Name] = r.Token
		}
		return out
	}
	waitTokens := func(what, java, dotnet string) {
		t.Helper()
		if err := wait.For(m.ctx, what, 100*time.Millisecond, 20*time.Second, func(context.Context) (bool, error) {
			got := tokens()
			return got["tenant-a-java"] == java && got["tenant-a-dotnet"] == dotnet, nil
		}); err != nil {
			t.Fatalf("%v: config.toml has %v\n%s", err, tokens(), m.out())
		}
	}
	waitTokens("each profile's token in its own [[runners]] entry", "glrt-java-token-0123", "glrt-dotnet-token-0123")
	writeFile(t, filepath.Join(dir, "secrets/runner/token-dotnet"), "glrt-dotnet-rotated-4567", 0o600)
	waitTokens("the rotated dotnet token, java's unchanged", "glrt-java-token-0123", "glrt-dotnet-rotated-4567")

	// A registration token for one profile: refused by the profile's name, nothing rendered.
	bad := managerScripts(t, values)
	writeFile(t, filepath.Join(bad, "secrets/runner/token-java"), "glrt-java-token-0123", 0o600)
	writeFile(t, filepath.Join(bad, "secrets/runner/token-dotnet"), "GR1348941-registration", 0o600)
	writeFile(t, filepath.Join(bad, "bin/gitlab-runner"), "#!/bin/sh\nexec sleep 60\n", 0o755)
	out, err := runScript(t, bad, "run")
	if err == nil || !strings.Contains(out, "the runner token of profile dotnet") || !strings.Contains(out, "not an authentication token") {
		t.Errorf("a registration token for profile dotnet: err %v, output %q; want a refusal naming the profile", err, out)
	}
	if _, err := os.Stat(filepath.Join(bad, "home/.gitlab-runner/config.toml")); err == nil {
		t.Error("config.toml was written although a profile's token was refused")
	}
}

// renderTenant renders the tenant chart into namespace tenant as `helm install` does on a cluster.
func renderTenant(t *testing.T, tenant string, values map[string]any) *render.Result {
	t.Helper()
	res, err := loadChart(t, tenantChart).Render(render.Options{ReleaseName: tenant, Namespace: tenant, KubeVersion: "v1.37.0", Values: values, Cluster: render.InstallCluster()})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
