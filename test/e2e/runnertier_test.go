//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobtrace"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/thirdparty"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/timeline"
)

// runnerTier is the runner tier's world: the platform with each tenant's real manager, the forge (the GitLab
// stand-in, or a real GitLab), and the example projects.

// TestRunnerTier: the real gitlab-runner, installed by the tenant chart, takes both tenants' pipelines from the
// forge and runs them with its Kubernetes executor: a Maven project (tenant-a) and a C# project (tenant-b), each
// twice (v1, then a code-only change). Every assertion below can fail; see docs/testing.md for the list.
func TestRunnerTier(t *testing.T) {
	rt := setupRunnerTier(t, true)
	ctx := context.Background()
	cs, set := rt.p.cs, rt.p.set
	all := append(slices.Clone(rt.projects), rt.extra...)
	runs := map[string][]*pipelineRun{} // by project key: tenant, or tenant/profile
	var mu sync.Mutex
	step := time.Now()
	for version := 1; version <= 2; version++ {
		var wg sync.WaitGroup
		for _, tp := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := runPipeline(ctx, cs, rt.f, tp, version)
				if err != nil {
					t.Errorf("%s v%d: %v", tp.key(), version, err)
					return
				}
				logf("%s v%d: pipeline %d %s in %s", tp.key(), version, r.Pipeline.ID, r.Pipeline.Status, r.Wall.Round(time.Second))
				mu.Lock()
				runs[tp.key()] = append(runs[tp.key()], r)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		step = rt.steps.since(fmt.Sprintf("pipelines v%d (every project at once: %s)", version, map[int]string{1: "cold caches", 2: "a code-only change, warm caches"}[version]), step)
	}

	var jobs, succeeded, restored, layerHits int
	var pickups []time.Duration
	profilesRan := map[string]map[string]bool{} // tenant → profiles whose job pods ran its jobs
	profileCaches := 0                          // second pipelines that restored their profile's cache folder
	for _, tp := range all {
		// the [[runners]] entry serving the project: its job size and cache folder (a profile's, or the tenant's)
		entry, err := runnerEntry(ctx, cs, tp.tn.Namespace, tp.tn.Name, tp.profile)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs[tp.key()] {
			what := fmt.Sprintf("%s v%d", tp.key(), r.Version)
			if r.Pipeline.Status != "success" {
				t.Errorf("%s: pipeline %s (%s)", what, r.Pipeline.Status, r.Pipeline.YamlErrors)
			}
			for _, j := range r.Jobs {
				jobs++
				if j.Status == "success" {
					succeeded++
				} else {
					t.Errorf("%s: job %s %s (%s):\n%s", what, j.Name, j.Status, j.FailureReason, tail(r.Traces[j.Name], 30))
				}
				if j.Status == "success" && !strings.Contains(r.Traces[j.Name], "Job succeeded") {
					t.Errorf("%s: job %s: its trace lacks the runner's last line (Job succeeded): incomplete:\n%s", what, j.Name, tail(r.Traces[j.Name], 10))
				}
				seen := r.Pods[fmt.Sprint(j.ID)]
				switch {
				case seen == nil:
					t.Errorf("%s: no job pod of job %s (%d) was seen", what, j.Name, j.ID)
				case !contains(tp.tn.Nodes, seen.Pod.Spec.NodeName):
					t.Errorf("%s: job %s ran on %s, not on the tenant's nodes %v", what, j.Name, seen.Pod.Spec.NodeName, tp.tn.Nodes)
				case seen.Pod.Spec.SecurityContext == nil || seen.Pod.Spec.SecurityContext.SeccompProfile == nil ||
					seen.Pod.Spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
					// runner 17.9 has no seccomp key: the chart sets it through a pod_spec patch (issue 21)
					t.Errorf("%s: job %s's pod has no RuntimeDefault seccomp profile: %+v", what, j.Name, seen.Pod.Spec.SecurityContext)
				case tp.profile != "" && seen.Pod.Labels[harness.ProfileLabel] != tp.profile:
					t.Errorf("%s: job %s ran in a pod of profile %q, want %q (its tags are the profile's)", what, j.Name, seen.Pod.Labels[harness.ProfileLabel], tp.profile)
				case tp.profile != "" && buildMemoryLimit(seen.Pod) != entry.Kubernetes.MemoryLimit:
					t.Errorf("%s: job %s's build container has memory limit %s, want profile %s's %s", what, j.Name, buildMemoryLimit(seen.Pod), tp.profile, entry.Kubernetes.MemoryLimit)
				case tp.profile != "":
					if profilesRan[tp.tn.Name] == nil {
						profilesRan[tp.tn.Name] = map[string]bool{}
					}
					profilesRan[tp.tn.Name][tp.profile] = true
				}
			}
			pickups = append(pickups, r.queuedToRunning()...)
			if r.Version == 1 {
				continue
			}
			// The second pipeline restores the runner cache: the helper says so, the job sees its dependencies,
			// and the archive the real helper uploaded is in the tenant's bucket under the cache path.
			test := r.Traces["test"]
			if strings.Contains(test, "Successfully extracted cache") && strings.Contains(test, tp.Restored) {
				restored++
			} else {
				t.Errorf("%s: the test job did not restore the runner cache (want %q and %q in its trace):\n%s", what, "Successfully extracted cache", tp.Restored, tail(test, 40))
			}
			// the runner's Shared layout: <path>/project/<id>/<key>, path the profile's folder (cache/java-builds, ...)
			prefix := fmt.Sprintf("%s/project/%d/%s", entry.Cache.Path, tp.project.ID, tp.CacheKey)
			if n, err := countObjects(ctx, cs, rt.p.nodeIP, tp.tn, tp.tn.Bucket, prefix); err != nil || n == 0 {
				t.Errorf("%s: no runner-cache object under s3://%s/%s (%d, %v)", what, tp.tn.Bucket, prefix, n, err)
			} else if tp.profile != "" && strings.Contains(test, "Successfully extracted cache") {
				profileCaches++
				logf("%s: cache restored from s3://%s/%s (%d objects), profile %s's folder", what, tp.tn.Bucket, prefix, n, tp.profile)
			}
			// Kaniko hits the layer cache on the code-only change, and the image it pushed runs.
			hits := strings.Count(r.Traces["build-image"], traceCacheHit)
			layerHits += hits
			if hits == 0 {
				t.Errorf("%s: the code-only rebuild found no cached layer:\n%s", what, tail(r.Traces["build-image"], 30))
			}
			image := fmt.Sprintf("%s/%s:%s", kindworld.DestRegistryHost, tp.project.PathWithNamespace, r.SHA[:8])
			got, err := runImage(ctx, cs, tp.tn.Namespace, image,
				[]corev1.Toleration{{Key: set.NodePinning.TaintKey, Operator: corev1.TolerationOpEqual, Value: tp.tn.Name, Effect: corev1.TaintEffectNoSchedule}},
				map[string]string{set.NodePinning.LabelKey: tp.tn.Name})
			if want := tp.Greeting + "version 2)"; err != nil || !strings.Contains(got, want) {
				t.Errorf("%s: the built image %s printed %q (err %v), want %q", what, image, got, err, want)
			}
		}
	}

	// A hostile job of the java profile asks through its variables for the dotnet profile's size, label and name: its
	// pod is still the java profile's (no resource overwrite is allowed, the profile label is pinned).
	if java := rt.project("tenant-a"); java.profile != "" {
		entry, err := runnerEntry(ctx, cs, java.tn.Namespace, java.tn.Name, java.profile)
		if err != nil {
			t.Fatal(err)
		}
		watch := watchJobPods(ctx, cs, java.tn.Namespace)
		p, err := startPipeline(ctx, rt.f, java, "profile-overreach", pipelines.Scenario("profile-overreach", pipelines.Params{}))
		var jobs []gitlab.Job
		if err == nil {
			jobs, _, err = p.finish(ctx, rt.f, 10*time.Minute)
		}
		pods := watch.Stop()
		switch {
		case err != nil:
			t.Errorf("profile overreach: %v", err)
		case len(jobs) != 1 || pods[fmt.Sprint(jobs[0].ID)] == nil:
			t.Errorf("profile overreach: jobs %v, no pod seen", jobs)
		default:
			pod := pods[fmt.Sprint(jobs[0].ID)].Pod
			if got := pod.Labels[harness.ProfileLabel]; got != java.profile || buildMemoryLimit(pod) != entry.Kubernetes.MemoryLimit {
				t.Errorf("profile overreach: the job's pod has profile %q and memory limit %s, want %s's %s", got, buildMemoryLimit(pod), java.profile, entry.Kubernetes.MemoryLimit)
			} else {
				logf("profile overreach: job %d (%s) asked for dotnet's size, label and name; its pod is profile %s with %s", jobs[0].ID, jobs[0].Status, got, buildMemoryLimit(pod))
			}
		}
		step = rt.steps.since("a job asking for the other profile's size", step)
	}

	// One project, a job for each profile: tenant-a's dotnet runner is assigned to its Java project as well (what a
	// team does for a repository with Java and C# jobs), and each job runs on its own profile's runner and pod.
	routed, routes := 0, 0
	if java := rt.project("tenant-a"); java != nil && java.profile != "" {
		dotnet := rt.profileProject("tenant-a", "dotnet")
		if dotnet == nil {
			t.Fatalf("profile routing: tenant-a has runner profiles but no project served by its dotnet profile")
		}
		routed, routes = profileRouting(ctx, t, cs, rt, java, dotnet)
		step = rt.steps.since("one project, a job for each profile", step)
	}

	// The model of the job pod matches what the real runner created (the Kaniko job: the runner's default image).
	for _, tp := range all {
		r := runs[tp.key()][0]
		j := r.job("build-image")
		seen := r.Pods[fmt.Sprint(j.ID)]
		if seen == nil {
			continue // reported above
		}
		cfg, err := runnerEntry(ctx, cs, tp.tn.Namespace, tp.tn.Name, tp.profile)
		if err != nil {
			t.Fatal(err)
		}
		predicted, err := jobpod.Pod(cfg, jobpod.Job{ProjectID: tp.project.ID, JobID: j.ID, TimeoutSeconds: 3600})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range jobpod.Compare(predicted, seen.Pod) {
			t.Errorf("%s: model vs the real runner's job pod: %s", tp.key(), d)
		}
	}

	// The runner's own types read every key of the config.toml each tenant installed (the runner ignores unknown keys
	// without a word): a checker built against the runner source's common.Config reports the undecoded ones.
	checker, err := rt.rw.Runner.BuildKeyChecker(repo, rt.p.w.Cache, logf)
	if err != nil {
		t.Fatal(err)
	}
	undecoded := 0
	for _, tp := range rt.projects {
		cm, err := cs.CoreV1().ConfigMaps(tp.tn.Namespace).Get(ctx, tp.tn.Name+"-runner", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		keys, err := thirdparty.Undecoded(checker, []byte(cm.Data["config.template.toml"]))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			t.Errorf("%s: config.toml key %s is not read by gitlab-runner %s", tp.tn.Name, k, rt.rw.Runner.Version)
		}
		undecoded += len(keys)
	}

	// The runner's own config check stays quiet: it validates config.toml against its schema at every start and logs
	// a "jsonschema:" warning for any key it reads as wrong (custom_build_dir/enabled was one, until the chart set it).
	for _, tp := range rt.projects {
		mgrs, err := managerPods(ctx, cs, tp.tn)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mgrs {
			for _, line := range strings.Split(podLogs(ctx, cs, tp.tn.Namespace, m.Name), "\n") {
				if strings.Contains(line, "jsonschema:") {
					t.Errorf("%s: manager %s: the runner's config check warns: %s", tp.tn.Name, m.Name, line)
				}
			}
		}
	}

	// Nothing of the jobs is left: no job pod, no job Secret.
	orphans := 0
	for _, tp := range rt.projects {
		left, err := waitNoRunnerObjects(ctx, cs, tp.tn.Namespace, 2*time.Minute)
		if err != nil || len(left) > 0 {
			orphans += len(left)
			t.Errorf("%s: job pods and Secrets are not gone: %v %v", tp.tn.Name, left, err)
		}
	}

	step = rt.steps.since("checks: job pods against the model, config.toml keys, leftovers", step)
	metrics := scrapeManagers(ctx, t, rt)
	jobsRun := map[string]int{}
	for _, rs := range runs {
		for _, r := range rs {
			jobsRun[r.tp.tn.Name] += len(r.Jobs)
		}
	}
	obs := observability(ctx, t, rt, jobsRun)
	step = rt.steps.since("observability: metrics scraped, Prometheus with the chart's alerts, each alert fired", step)
	usernsLine := userNamespaces(ctx, t, rt, runs)
	rt.steps.since("user namespaces: the probe job on and off", step)

	slices.Sort(pickups)
	p50 := time.Duration(0)
	if len(pickups) > 0 {
		p50 = pickups[len(pickups)/2]
	}
	cold, warm := javaBuild(runs["tenant-a"])
	forgeName := "gitlab-standin"
	if !rt.f.Standin {
		forgeName = "gitlab"
	}
	timeline, err := writeTimeline(runs)
	if err != nil {
		t.Errorf("job timeline: %v", err)
	}
	if os.Getenv("GKT_DEMO") != "" {
		fmt.Printf(`
== demo summary ==
%[1]s
  What ran for real: gitlab-runner %[2]s (manager and helper) from the tenant chart, Kaniko %[3]s, Maven/OpenJDK 17
  and Mono, MinIO, the registries, Kubernetes and Cilium. GitLab is a stand-in (gitlab-standin, namespace
  gitlab-standin): it serves the Runner API, git and the pipelines; it is not GitLab.
Look around (the cluster stays up; make demo again reuses it, make e2e-clean removes it):
  export KUBECONFIG=%[4]s
  kubectl -n tenant-a get deploy,pods -l gitlab-kaniko-tenant.io/component=manager   # the real runner manager
  kubectl -n tenant-a logs deploy/tenant-a-runner | grep -i job                       # the jobs it ran
  kubectl -n gitlab-standin logs deploy/gitlab-standin | grep -E 'pending|running|success'
  ls _out/e2e/traces/latest/                           # every job's trace as the runner sent it
  open %[5]s   # the jobs on a timeline: queued, running, how they ended
Where the time went (this run):
%[6]s`, demoTable(runs), rt.rw.Runner.Version, rt.rw.Kaniko.Version, rt.p.w.Kubeconfig, timeline, rt.steps.table())
	}
	pipelinesRun := 0
	for _, rs := range runs {
		pipelinesRun += len(rs)
	}
	fmt.Printf("e2e: runner=%s forge=%s tenants=%d pipelines=%d jobs=%d succeeded=%d cold=%.0fs warm=%.0fs warm/cold=%.2f queued-to-running-p50=%.1fs runner-cache-restored=%d/%d layer-cache-hits=%d metrics=%s config-keys-undecoded=%d orphans=%d\n",
		rt.rw.Runner.Version, forgeName, len(rt.projects), pipelinesRun, jobs, succeeded, cold.Seconds(), warm.Seconds(),
		ratio(warm, cold), p50.Seconds(), restored, len(all), layerHits, metrics, undecoded, orphans)
	fmt.Printf("profiles: %s routed=%d/%d\n", profileLine(profilesRan, profileCaches, all), routed, routes)
	for _, l := range phaseLines(runs) {
		fmt.Println(l)
	}
	fmt.Printf("observability: %s\n", obs)
	fmt.Printf("userns: %s\n", usernsLine)
}

// phaseLines are, per project, where its pipelines' time went, cold (v1) and warm (v2), from the job traces'
// sections (internal/jobtrace; pending is GitLab's queued time), and what the runner cache cost and saved its test
// job: cost = the warm job's cache restore + upload, saving = how much shorter the warm script ran.
func phaseLines(runs map[string][]*pipelineRun) []string {
	var out []string
	for _, key := range slices.Sorted(maps.Keys(runs)) {
		byVersion := map[int]jobtrace.Phases{}
		test := map[int]jobtrace.Phases{}
		for _, r := range runs[key] {
			total := jobtrace.Phases{}
			for _, j := range r.Jobs {
				p := jobtrace.PhasesOf(jobtrace.TopLevel(jobtrace.Sections(r.Traces[j.Name])))
				p["pending"] = time.Duration(j.QueuedDuration * float64(time.Second))
				total.Add(p)
				if j.Name == "test" {
					test[r.Version] = p
				}
			}
			byVersion[r.Version] = total
		}
		line := fmt.Sprintf("phases: %s cold: %s | warm: %s", key, withPending(byVersion[1]), withPending(byVersion[2]))
		if cold, warm := test[1], test[2]; cold != nil && warm != nil {
			cost := warm[jobtrace.PhaseCacheFetch] + warm[jobtrace.PhaseCacheUpload]
			line += fmt.Sprintf(" | test job's cache: cost=%.0fs (restore %.0fs + upload %.0fs) saving=%.0fs (script %.0fs → %.0fs)", cost.Seconds(),
				warm[jobtrace.PhaseCacheFetch].Seconds(), warm[jobtrace.PhaseCacheUpload].Seconds(),
				(cold[jobtrace.PhaseScript] - warm[jobtrace.PhaseScript]).Seconds(), cold[jobtrace.PhaseScript].Seconds(), warm[jobtrace.PhaseScript].Seconds())
		}
		out = append(out, line)
	}
	return out
}

// withPending is a pipeline's phases with GitLab's queued time first.
func withPending(p jobtrace.Phases) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("pending=%.0fs %s", p["pending"].Seconds(), p)
}

// javaBuild is the Java project's pipeline time, cold (v1) and warm (v2): commit to pipeline finished.
func javaBuild(runs []*pipelineRun) (cold, warm time.Duration) {
	for _, r := range runs {
		if r.Version == 1 {
			cold = r.Wall
		} else {
			warm = r.Wall
		}
	}
	return cold, warm
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}

// scrapeManagers: a pod in the monitoring namespace reads 9252 of each tenant's manager and sees the finished jobs
// in gitlab_runner_jobs_total; a pod of the other tenant cannot connect. Returns "ok" or "FAIL".
func scrapeManagers(ctx context.Context, t *testing.T, rt *runnerTier) string {
	t.Helper()
	result := "ok"
	for i, tp := range rt.projects {
		other := rt.projects[(i+1)%len(rt.projects)]
		pods, err := rt.p.cs.CoreV1().Pods(tp.tn.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "gitlab-kaniko-tenant.io/component=manager"})
		if err != nil || len(pods.Items) == 0 {
			t.Errorf("%s: no manager pod (%v)", tp.tn.Name, err)
			result = "FAIL"
			continue
		}
		url := fmt.Sprintf("http://%s:9252/metrics", pods.Items[0].Status.PodIP)
		ok, out, err := probe(ctx, rt.p.cs, "monitoring", map[string]string{"app": "e2e-scraper"}, rt.p.set.Tenants[tp.tn.Name].Nodes[0], kindworld.NetcheckImage, "get", url, "10s", "gitlab_runner_jobs_total")
		if err != nil || !ok || !strings.Contains(out, "gitlab_runner_jobs_total") {
			t.Errorf("%s: the monitoring namespace cannot read gitlab_runner_jobs_total on %s: %v %s", tp.tn.Name, url, err, out)
			result = "FAIL"
		} else {
			logf("%s metrics: %s", tp.tn.Name, strings.ReplaceAll(out, "\n", " | "))
		}
		connected, out, err := probe(ctx, rt.p.cs, other.tn.Namespace, map[string]string{"gitlab-kaniko-tenant.io/tenant": other.tn.Name, "gitlab-kaniko-tenant.io/component": "job"},
			other.tn.Nodes[0], kindworld.NetcheckImage, "tcp", pods.Items[0].Status.PodIP+":9252", "5s")
		if err != nil || connected {
			t.Errorf("%s: a pod of %s reached its metrics port: %v %s", tp.tn.Name, other.tn.Name, err, out)
			result = "FAIL"
		}
	}
	if os.Getenv("GKT_DEMO") != "" && result == "ok" {
		fmt.Println("metrics: both managers scraped from the monitoring namespace; blocked from the other tenant")
	}
	return result
}

// demoTable is one line per pipeline for people.
func demoTable(runs map[string][]*pipelineRun) string {
	var b strings.Builder
	for _, tenant := range slices.Sorted(maps.Keys(runs)) {
		for _, r := range runs[tenant] {
			var jobs []string
			for _, j := range r.Jobs {
				jobs = append(jobs, fmt.Sprintf("%s %s %.0fs", j.Name, j.Status, j.Duration))
			}
			fmt.Fprintf(&b, "  %s v%d (%s): pipeline %s in %s: %s\n", tenant, r.Version, r.tp.Dir, r.Pipeline.Status, r.Wall.Round(time.Second), strings.Join(jobs, ", "))
		}
	}
	return b.String()
}

// writeTimeline draws this run's pipelines (per tenant: each job queued, running, finished) into
// _out/e2e/job-timeline.svg and returns its path.
func writeTimeline(runs map[string][]*pipelineRun) (string, error) {
	var jobs []timeline.Job
	for tenant, rs := range runs {
		for _, r := range rs {
			for _, j := range r.Jobs {
				if j.StartedAt == nil || j.FinishedAt == nil {
					return "", fmt.Errorf("%s v%d job %s has no start or end time", tenant, r.Version, j.Name)
				}
				var phases []timeline.Phase
				for _, sec := range jobtrace.TopLevel(jobtrace.Sections(r.Traces[j.Name])) {
					phases = append(phases, timeline.Phase{Name: jobtrace.PhaseOf(sec.Name), Start: sec.Start, End: sec.End})
				}
				jobs = append(jobs, timeline.Job{Lane: tenant, Label: fmt.Sprintf("v%d %s", r.Version, j.Name), Status: j.Status,
					Queued: j.StartedAt.Add(-time.Duration(j.QueuedDuration * float64(time.Second))), Started: *j.StartedAt, Finished: *j.FinishedAt, Phases: phases})
			}
		}
	}
	svg, err := timeline.SVG("Jobs of this run: queued in GitLab, then running (gitlab-runner from the tenant chart)", jobs)
	if err != nil {
		return "", err
	}
	path := filepath.Join("_out", "e2e", "job-timeline.svg")
	if err := os.MkdirAll(filepath.Join(repo, "_out", "e2e"), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(filepath.Join(repo, path), svg, 0o644)
}
