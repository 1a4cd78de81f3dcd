//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"
)

// profileLine is the runner profiles' summary: per tenant the profiles whose job pods (their label and size) ran its
// jobs, and how many second pipelines restored their cache from their profile's folder.
func profileLine(ran map[string]map[string]bool, cachesRestored int, projects []*tenantProject) string {
	var parts []string
	for _, tenant := range slices.Sorted(maps.Keys(ran)) {
		parts = append(parts, fmt.Sprintf("%s profiles=%d (%s)", tenant, len(ran[tenant]), strings.Join(slices.Sorted(maps.Keys(ran[tenant])), ", ")))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	withProfile := 0
	for _, tp := range projects {
		if tp.profile != "" {
			withProfile++
		}
	}
	return fmt.Sprintf("%s profile-caches-restored=%d/%d", strings.Join(parts, "; "), cachesRestored, withProfile)
}

// profileRouting assigns the dotnet profile's runner to the Java project, runs the profile-routing pipeline there
// (a job tagged java, one tagged dotnet) and checks each job's runner, pod label, pod size and GKT_PROFILE against
// its profile. It returns how many jobs ran where their tag routes them, of how many.
func profileRouting(ctx context.Context, t *testing.T, cs kubernetes.Interface, rt *runnerTier, java, dotnet *tenantProject) (int, int) {
	t.Helper()
	pv, err := tenantProfiles(java.tn.Name)
	if err != nil {
		t.Fatal(err)
	}
	runners := map[string]int64{java.profile: java.runner.ID, dotnet.profile: dotnet.runner.ID}
	jobs := pipelines.Scenario("profile-routing", pipelines.Params{})
	for name, j := range jobs {
		if got := harness.ProfileWithTag(pv, j.Tags[0]); got != name || runners[name] == 0 {
			t.Fatalf("profile routing: job %s is tagged %v, which routes to profile %q of %s's overlay; the scenario needs profiles java and dotnet with those tags", name, j.Tags, got, java.tn.Name)
		}
	}
	if err := rt.f.api.AssignRunner(ctx, java.project.ID, dotnet.runner.ID); err != nil {
		t.Fatalf("profile routing: %v", err)
	}
	defer func() {
		if err := rt.f.api.UnassignRunner(ctx, java.project.ID, dotnet.runner.ID); err != nil {
			t.Errorf("profile routing: %v", err)
		}
	}()
	watch := watchJobPods(ctx, cs, java.tn.Namespace)
	p, err := startPipeline(ctx, rt.f, java, "profile-routing", jobs)
	var done []gitlab.Job
	var traces map[int64]string
	if err == nil {
		done, traces, err = p.finish(ctx, rt.f, 10*time.Minute)
	}
	pods := watch.Stop()
	if err != nil {
		t.Errorf("profile routing: %v", err)
		return 0, len(jobs)
	}
	routed := 0
	for _, j := range done {
		entry, err := runnerEntry(ctx, cs, java.tn.Namespace, java.tn.Name, j.Name)
		if err != nil {
			t.Fatal(err)
		}
		seen := pods[fmt.Sprint(j.ID)]
		switch {
		case j.Status != "success":
			t.Errorf("profile routing: job %s %s:\n%s", j.Name, j.Status, tail(traces[j.ID], 20))
		case j.Runner.ID != runners[j.Name]:
			t.Errorf("profile routing: job %s (tags %v) ran on runner %d, want profile %s's runner %d", j.Name, j.TagList, j.Runner.ID, j.Name, runners[j.Name])
		case seen == nil:
			t.Errorf("profile routing: no pod seen for job %s", j.Name)
		case seen.Pod.Labels[harness.ProfileLabel] != j.Name || buildMemoryLimit(seen.Pod) != entry.Kubernetes.MemoryLimit:
			t.Errorf("profile routing: job %s's pod has profile %q and memory limit %s, want %s's %s", j.Name, seen.Pod.Labels[harness.ProfileLabel], buildMemoryLimit(seen.Pod), j.Name, entry.Kubernetes.MemoryLimit)
		case !strings.Contains(traces[j.ID], "GKT_PROFILE="+j.Name):
			t.Errorf("profile routing: job %s's trace does not say GKT_PROFILE=%s:\n%s", j.Name, j.Name, tail(traces[j.ID], 20))
		default:
			routed++
			logf("profile routing: job %d (%s, tags %v) ran on runner %d in a %s pod with %s", j.ID, j.Name, j.TagList, j.Runner.ID, j.Name, entry.Kubernetes.MemoryLimit)
		}
	}
	if len(done) != len(jobs) {
		t.Errorf("profile routing: %d jobs, want %d", len(done), len(jobs))
	}
	return routed, len(jobs)
}

// buildMemoryLimit is a job pod's build container memory limit, as config.toml writes it.
func buildMemoryLimit(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name == "build" {
			return c.Resources.Limits.Memory().String()
		}
	}
	return ""
}
