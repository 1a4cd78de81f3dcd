//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabclient"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/runnerlife"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// runnerFaults is the runner tier plus the ledger of every job the scenarios started.
type runnerFaults struct {
	*runnerTier
	t       *testing.T
	ledger  *jobLedger
	figures []string // measured figures for the summary line
}

type runnerScenario struct {
	name string
	run  func(ctx context.Context, rf *runnerFaults) error
}

// TestRunnerFaults runs the fault scenarios through the real runner and the forge (docs/operations.md says what
// each fault does to jobs), one subtest each named by the scenario's first word (go test -run
// 'TestRunnerFaults/killed' runs one), and ends with the faults line.
func TestRunnerFaults(t *testing.T) {
	all := []runnerScenario{
		{"load: 20 jobs at once through one manager at the chart's defaults; the 21st waits in GitLab, then runs", scenarioRunnerLoad},
		{"killed: manager pod deleted (grace 0) and manager process killed mid-job; each attempt ends for a reason the template retries and is retried, an orphaned pod stops at its deadline and gkt leftovers removes it", scenarioManagerKilled},
		{"upgrade: helm upgrade during a job; the old manager finishes it after SIGQUIT while the new one takes new jobs", scenarioUpgradeDuringJob},
		{"outage: GitLab unreachable for 3 minutes; the manager stays up and ready, the running job keeps its whole trace, new jobs run after", scenarioGitLabOutage},
		{"rotation: the runner token is reset and its Secret replaced during a job; nothing restarts, the job finishes, new jobs use the new token", scenarioTokenRotation},
		{"cache: MinIO down while a job uploads its runner cache; the job succeeds with a warning, the previous cache object stays whole", scenarioRunnerCacheOutage},
		{"drain: the tenant's node drained mid-job; the job is retried after the node returns, never run elsewhere", scenarioDrain},
		{"cancel: a running job canceled in GitLab; the runner cancels gracefully (canceling), after_script runs, the job ends canceled and its pod and Secrets are gone", scenarioCancel},
		{"timeout: the manager process killed while its job runs; the job outlives its 1 m timeout and GitLab drops it as job_execution_timeout, which the template does not retry", scenarioTimeoutDeadManager},
		{"image: a job image that does not exist; GitLab records runner_system_failure, a plain job runs once, a Kaniko job three times (the template's retry), no pod is left", scenarioImageMissing},
	}
	rt := setupRunnerTier(t, false)
	rf := &runnerFaults{runnerTier: rt, t: t, ledger: &jobLedger{last: map[int64]string{}, intended: map[string]string{"cancel": "canceled", "image-missing": "failed runner_system_failure", "timeout-dead-manager": "failed job_execution_timeout"}}}
	ctx := context.Background()
	passed := 0
	var durations, scenarios []string
	for _, s := range all {
		key := strings.TrimSuffix(strings.Fields(s.name)[0], ":")
		t.Run(key, func(t *testing.T) {
			parent := rf.t
			rf.t = t // a scenario's failures are its subtest's
			defer func() { rf.t = parent }()
			scenarios = append(scenarios, key)
			start := time.Now()
			err := s.run(ctx, rf)
			d := time.Since(start).Round(time.Second)
			if err != nil {
				t.Errorf("scenario %s: %v", s.name, err)
				logf("FAIL %s (%s): %v", key, d, err)
			} else {
				passed++
				logf("PASS %s (%s)", s.name, d)
			}
			durations = append(durations, fmt.Sprintf("%s=%s", key, d))
		})
	}
	// Nothing of the runner's may be left in any tenant namespace: the scenarios that leave an ended pod on purpose
	// (killed) remove it with gkt leftovers themselves.
	orphans := 0
	for _, tp := range rt.projects {
		left, err := waitNoRunnerObjects(ctx, rt.p.cs, tp.tn.Namespace, 3*time.Minute)
		if err != nil || len(left) > 0 {
			t.Errorf("%s: left behind: %v %v", tp.tn.Name, left, err)
		}
		orphans += len(left)
	}
	if err := rf.ledger.settle(ctx, rt.f); err != nil {
		t.Errorf("ledger: %v", err)
	}
	lost := rf.ledger.lost()
	for _, l := range lost {
		t.Errorf("lost %s", l)
	}
	fmt.Printf("faults: runner=%s forge=%s scenarios=%d passed=%d lost-jobs=%d orphans=%d (jobs %d; %s; durations %s)\n",
		rt.rw.Runner.Version, forgeName(rt.f), len(scenarios), passed, len(lost), orphans, len(rf.ledger.last), strings.Join(rf.figures, " "), strings.Join(durations, " "))
}

// start starts a scenario's pipeline and tracks it in the ledger.
func (rf *runnerFaults) start(ctx context.Context, tp *tenantProject, scenario string, jobs map[string]pipelines.Job) (*faultPipeline, error) {
	p, err := startPipeline(ctx, rf.f, tp, scenario, jobs)
	if err == nil {
		rf.ledger.track(p)
	}
	return p, err
}

func forgeName(f *forge) string {
	if f.Standin {
		return "gitlab-standin"
	}
	return "gitlab"
}

// apply upgrades the tenant's release with overlays on its runner-tier values and waits for the rollout.
func (rf *runnerFaults) apply(tp *tenantProject, extra map[string]any, overlays ...string) error {
	return (kindworld.Release{Kubeconfig: rf.p.w.Kubeconfig, Name: tp.tn.Name, Namespace: tp.tn.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
		Values: rf.tenantValues(rf.t, tp, extra, overlays...), Wait: true, Timeout: 5 * time.Minute}).Apply(logf)
}

func (rf *runnerFaults) applyBootstrap(overlays ...string) error {
	return (kindworld.Release{Kubeconfig: rf.p.w.Kubeconfig, Name: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", Chart: filepath.Join(repo, "charts/tenant-bootstrap"),
		Values: values(rf.t, append([]string{"values/bootstrap.yaml", "values/bootstrap-e2e.yaml"}, overlays...)...)}).Apply(logf)
}

// scenarioRunnerLoad: one job alone first (the baseline), then 21 at once. At the chart's defaults (concurrent 20,
// limit 20) the manager runs 20 together on the tenant's node and asks for no 21st until one ends; none fails on
// the quota (tenant-bootstrap sized it from the same plan).
func scenarioRunnerLoad(ctx context.Context, rf *runnerFaults) error {
	tp := rf.project("tenant-a")
	if err := rf.applyBootstrap("values/runner-load-bootstrap.yaml"); err != nil {
		return err
	}
	// GKT_LOAD_USERNS=false runs the scenario with job pods outside user namespaces (a control: the chart's default
	// is on). The line says which ran.
	userns := os.Getenv("GKT_LOAD_USERNS") != "false"
	if err := rf.apply(tp, map[string]any{"jobs": map[string]any{"userNamespaces": userns}}, "values/runner-load-tenant-a.yaml"); err != nil {
		return err
	}
	defer func() { // the bootstrap first: its LimitRange must admit the bigger jobs before the tenant's config has them
		if err := rf.applyBootstrap(); err != nil {
			logf("load: restoring tenant-bootstrap: %v", err)
		}
		if err := rf.apply(tp, nil); err != nil {
			logf("load: restoring tenant-a: %v", err)
		}
	}()
	if _, err := readyManager(ctx, rf.p.cs, tp.tn, 5*time.Minute); err != nil {
		return err
	}
	const sleep = pipelines.LoadSleep
	single, err := rf.start(ctx, tp, "load-single", pipelines.Scenario("load-single", pipelines.Params{}))
	if err != nil {
		return err
	}
	jobs, _, err := single.finish(ctx, rf.f, 10*time.Minute)
	if err != nil {
		return err
	}
	if len(jobs) != 1 || jobs[0].Status != "success" {
		return fmt.Errorf("the single job: %+v", jobs)
	}
	base := jobs[0].Duration

	// The 21 jobs hold at a gate (gate.go), then sleep like the single job: "20 running together" does not depend on
	// how fast 20 pods start on a busy node.
	g := newGate("load")
	load := pipelines.Scenario("load-21", pipelines.Params{Gate: g.Wait()})
	// The node's cgroups decide whether a burst of container starts can fail ("unable to freeze" on cgroup v1 with
	// the systemd driver, nodes.CgroupFreeze): the line says what the node ran.
	cg, err := nodes.ReadKubeletCgroups(ctx, rf.p.cs, tp.tn.Nodes[0])
	if err != nil {
		return err
	}
	cgroups := fmt.Sprintf("v%d/%s", cg.Version, cg.Driver)
	watch := watchJobPods(ctx, rf.p.cs, tp.tn.Namespace)
	start := time.Now()
	pl, err := rf.start(ctx, tp, "load-21", load)
	if err != nil {
		watch.Stop()
		return err
	}
	defer func() { _ = g.Open(rf.p.nodeIP) }()
	// 20 build containers running at once, while the 21st job is still pending in GitLab.
	if _, err := waitBuildsRunning(ctx, rf.p.cs, tp.tn.Namespace, 20, 10*time.Minute); err != nil {
		watch.Stop()
		return fmt.Errorf("userns=%s cgroups=%s on %s: %w", onOff(userns), cgroups, tp.tn.Nodes[0], err)
	}
	to20 := time.Since(start)
	js, err := pl.jobs(ctx, rf.f)
	if err != nil {
		watch.Stop()
		return err
	}
	states := map[string]int{}
	for _, j := range js {
		states[j.Status]++
	}
	if states["running"] != 20 || states["pending"] != 1 {
		watch.Stop()
		return fmt.Errorf("with 20 job pods running GitLab shows %v, want 20 running and 1 pending", states)
	}
	if err := g.Open(rf.p.nodeIP); err != nil {
		watch.Stop()
		return err
	}
	released := time.Now()
	jobs, traces, err := pl.finish(ctx, rf.f, 15*time.Minute)
	seen := watch.Stop()
	if err != nil {
		return err
	}
	var durations []float64
	var firstEnd time.Time
	var last gitlab.Job
	for _, j := range jobs {
		if retried := gitlabclient.Retried(jobs, j); j.Status != "success" || retried {
			return fmt.Errorf("load job %s: %s %s (retried %t):\n%s", j.Name, j.Status, j.FailureReason, retried, tail(traces[j.ID], 20))
		}
		if s := seen[fmt.Sprint(j.ID)]; s == nil || !contains(tp.tn.Nodes, s.Pod.Spec.NodeName) {
			return fmt.Errorf("load job %s ran outside the tenant's nodes %v (%v)", j.Name, tp.tn.Nodes, s)
		}
		if last.StartedAt == nil || j.StartedAt.After(*last.StartedAt) {
			last = j
		}
	}
	for _, j := range jobs {
		if j.ID == last.ID {
			continue
		}
		durations = append(durations, j.FinishedAt.Sub(released).Seconds())
		if firstEnd.IsZero() || j.FinishedAt.Before(firstEnd) {
			firstEnd = *j.FinishedAt
		}
	}
	if last.StartedAt.Before(firstEnd.Add(-time.Second)) {
		return fmt.Errorf("the 21st job (%s) started at %s, before any of the 20 ended (%s)", last.Name, last.StartedAt, firstEnd)
	}
	sort.Float64s(durations)
	p50, longest := durations[len(durations)/2], durations[len(durations)-1]
	logf("load: userns=%s cgroups=%s; 20 running %s after the commit; a job alone took %.1fs; after the gate opened the 20 ended in p50 %.1fs max %.1fs (sleep %d: %.1fs of wake-up, trace and cleanup at p50 under load); the 21st started %.1fs after the first of the 20 ended",
		onOff(userns), cgroups, to20.Round(time.Second), base, p50, longest, sleep, p50-sleep, last.StartedAt.Sub(firstEnd).Seconds())
	rf.figures = append(rf.figures, fmt.Sprintf("load-userns=%s load-cgroups=%s load-20-running=%s load-after-gate-p50=%.1fs load-after-gate-max=%.1fs single=%.1fs", onOff(userns), cgroups, to20.Round(time.Second), p50, longest, base))
	return nil
}

// killTarget is how a scenario kills a tenant's manager.
type killTarget struct {
	tenant, how string
}

// scenarioManagerKilled: tenant-a's manager pod is deleted with grace 0 while tenant-b's manager process is killed
// (SIGKILL through containerd, the container restarts), each mid-job. The deleted pod's runner still gets SIGTERM
// from the kubelet and fails its job itself (runner_system_failure); after a SIGKILL nothing tells GitLab, which
// drops the job as stuck once the runner stops updating it (GitLab: after an hour; the stand-in is set to a minute
// here). Either way the template's retry rules run it again on the manager that replaced the dead one, and must
// succeed. A job pod the dead runner could not delete stops at its activeDeadlineSeconds (the job timeout + 1 s),
// and `gkt leftovers --delete` removes what is left.
func scenarioManagerKilled(ctx context.Context, rf *runnerFaults) error {
	outdated := 2*time.Hour + 15*time.Minute // a real GitLab's stuck-jobs worker: an hour without updates, run hourly
	if rf.f.admin != nil {
		if err := rf.f.admin.put(ctx, "running-outdated", 60); err != nil {
			return err
		}
		defer func() { _ = rf.f.admin.put(context.Background(), "running-outdated", 3600) }()
		outdated = 60 * time.Second
	}
	retryWhen, err := templateRetryWhen()
	if err != nil {
		return err
	}
	targets := []killTarget{{"tenant-a", "pod deleted, grace 0"}, {"tenant-b", "process killed"}}
	type run struct {
		killTarget
		pl      *faultPipeline
		first   gitlab.Job
		pod     string
		killed  time.Time
		dropped time.Duration // kill → the attempt ended in the forge
		reason  string
	}
	var runs []*run
	for _, kt := range targets {
		tp := rf.project(kt.tenant)
		pl, err := rf.start(ctx, tp, "killed-"+kt.tenant, pipelines.Scenario("killed", pipelines.Params{}))
		if err != nil {
			return err
		}
		runs = append(runs, &run{killTarget: kt, pl: pl})
	}
	for _, r := range runs {
		tp := rf.project(r.tenant)
		j, pod, err := r.pl.waitRunning(ctx, rf.f, rf.p.cs, "victim", 5*time.Minute)
		if err != nil {
			return err
		}
		r.first, r.pod = j, pod
		mgrs, err := managerPods(ctx, rf.p.cs, tp.tn)
		if err != nil || len(mgrs) != 1 {
			return fmt.Errorf("%s: manager pods %d, %v", r.tenant, len(mgrs), err)
		}
		m := mgrs[0]
		switch r.how {
		case "pod deleted, grace 0":
			zero := int64(0)
			err = rf.p.cs.CoreV1().Pods(tp.tn.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		case "process killed":
			err = killContainer(m.Spec.NodeName, m.Name, "runner")
		}
		if err != nil {
			return fmt.Errorf("%s: kill (%s): %w", r.tenant, r.how, err)
		}
		r.killed = time.Now()
		logf("killed: %s's manager %s (%s) while job %d ran in %s", r.tenant, m.Name, r.how, j.ID, r.pod)
	}
	var errs []error
	for _, r := range runs {
		if err := func() error {
			tp := rf.project(r.tenant)
			// The killed attempt ends visibly (a SIGTERM lets the runner fail it itself; after a SIGKILL GitLab drops
			// it as stuck) and is retried.
			j, err := r.pl.waitEnded(ctx, rf.f, r.first.ID, outdated+3*time.Minute)
			if err != nil {
				return err
			}
			retried, err := r.pl.retried(ctx, rf.f, j)
			if err != nil {
				return err
			}
			if j.Status != "failed" || !slices.Contains(retryWhen, j.FailureReason) || !retried {
				return fmt.Errorf("%s: the killed attempt ended %s %s (retried %t), want failed for one of the template's retry reasons %v, and retried", r.tenant, j.Status, j.FailureReason, retried, retryWhen)
			}
			r.reason = j.FailureReason
			r.dropped = j.FinishedAt.Sub(r.killed) // as the forge recorded it
			jobs, traces, err := r.pl.finish(ctx, rf.f, 10*time.Minute)
			if err != nil {
				return err
			}
			retry := jobs[len(jobs)-1]
			if len(jobs) != 2 || retry.Status != "success" || !strings.Contains(traces[retry.ID], "finished") {
				return fmt.Errorf("%s: after the kill: %+v\n%s", r.tenant, jobs, tail(traces[retry.ID], 20))
			}
			// The orphaned pod: stopped by its deadline (job timeout 3m + 1 s, plus its termination grace 30 s).
			phase, err := waitPodStopped(ctx, rf, tp.tn.Namespace, r.pod, 3*time.Minute+31*time.Second+30*time.Second+2*time.Minute)
			if err != nil {
				return fmt.Errorf("%s: %w", r.tenant, err)
			}
			logf("killed: %s (%s): attempt %d ended %s %s after the kill, retry %d succeeded; its pod %s is %s", r.tenant, r.how, r.first.ID, r.reason, r.dropped.Round(time.Second), retry.ID, r.pod, phase)
			return nil
		}(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := rf.removeLeftovers(); err != nil {
		return err
	}
	for _, r := range runs {
		tp := rf.project(r.tenant)
		if _, err := rf.p.cs.CoreV1().Pods(tp.tn.Namespace).Get(ctx, r.pod, metav1.GetOptions{}); err == nil {
			return fmt.Errorf("%s: the orphaned pod %s is still there after gkt leftovers --delete", r.tenant, r.pod)
		}
		rf.figures = append(rf.figures, fmt.Sprintf("killed-%s=%s-after-%s", strings.ReplaceAll(r.how, " ", "-"), r.reason, r.dropped.Round(time.Second)))
		if _, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// removeLeftovers runs gkt leftovers --delete: it lists the ended job pods (and only those) and removes them.
func (rf *runnerFaults) removeLeftovers() error {
	cmd := exec.Command("go", "run", "./tools/gkt", "leftovers", "--kubeconfig", rf.p.w.Kubeconfig, "--from-cluster", "--delete", "--grace", "0s")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	logf("gkt leftovers --delete:\n%s", out)
	if err != nil {
		return fmt.Errorf("gkt leftovers: %v\n%s", err, out)
	}
	return nil
}

// waitPodStopped waits until a job pod ended (failed or succeeded) or is gone, and returns its phase ("gone").
func waitPodStopped(ctx context.Context, rf *runnerFaults, ns, pod string, bound time.Duration) (corev1.PodPhase, error) {
	var phase corev1.PodPhase
	err := wait.For(ctx, fmt.Sprintf("the orphaned job pod %s to stop", pod), 2*time.Second, bound, func(ctx context.Context) (bool, error) {
		p, err := rf.p.cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			phase = "gone"
			return true, nil
		}
		phase = p.Status.Phase
		return phase == corev1.PodFailed || phase == corev1.PodSucceeded, nil
	})
	return phase, err
}

// scenarioTimeoutDeadManager: the manager process is killed (SIGKILL, its container restarts without the job) while
// a 1 m Kaniko job runs. Nobody reports the job: GitLab drops it once it is its timeout plus MINUTE_BUFFER past its
// start (the stand-in's knob shortens the buffer to 5 s; on GitLab it is 15 minutes) as job_execution_timeout, which
// the template's retry: does not name (a build that ran out of time would run out again), so it is not retried. Its
// pod stops at its deadline and gkt leftovers removes it.
func scenarioTimeoutDeadManager(ctx context.Context, rf *runnerFaults) error {
	buffer := 15*time.Minute + 5*time.Minute // GitLab's MINUTE_BUFFER, and its worker's schedule
	if rf.f.admin != nil {
		if err := rf.f.admin.put(ctx, "timed-out-buffer", 5); err != nil {
			return err
		}
		defer func() { _ = rf.f.admin.put(context.Background(), "timed-out-buffer", 900) }()
		buffer = 5 * time.Second
	}
	tp := rf.project("tenant-a")
	if _, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute); err != nil {
		return err
	}
	pl, err := rf.start(ctx, tp, "timeout-dead-manager", pipelines.Scenario("timeout-dead-manager", pipelines.Params{}))
	if err != nil {
		return err
	}
	j, pod, err := pl.waitRunning(ctx, rf.f, rf.p.cs, "outlived", 5*time.Minute)
	if err != nil {
		return err
	}
	mgrs, err := managerPods(ctx, rf.p.cs, tp.tn)
	if err != nil || len(mgrs) != 1 {
		return fmt.Errorf("manager pods %d, %v", len(mgrs), err)
	}
	if err := killContainer(mgrs[0].Spec.NodeName, mgrs[0].Name, "runner"); err != nil {
		return err
	}
	killed := time.Now()
	logf("timeout: tenant-a's manager process killed while job %d (timeout 1m) ran in %s", j.ID, pod)
	ended, err := pl.waitEnded(ctx, rf.f, j.ID, time.Minute+buffer+3*time.Minute)
	if err != nil {
		return err
	}
	retried, err := pl.retried(ctx, rf.f, ended)
	if err != nil {
		return err
	}
	if ended.Status != "failed" || ended.FailureReason != "job_execution_timeout" || retried {
		return fmt.Errorf("job %d ended %s %s (retried %t), want failed job_execution_timeout, not retried", j.ID, ended.Status, ended.FailureReason, retried)
	}
	dropped := ended.FinishedAt.Sub(*ended.StartedAt)
	phase, err := waitPodStopped(ctx, rf, tp.tn.Namespace, pod, 3*time.Minute)
	if err != nil {
		return err
	}
	if err := rf.removeLeftovers(); err != nil {
		return err
	}
	if _, err := rf.p.cs.CoreV1().Pods(tp.tn.Namespace).Get(ctx, pod, metav1.GetOptions{}); err == nil {
		return fmt.Errorf("the orphaned pod %s is still there after gkt leftovers --delete", pod)
	}
	if _, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute); err != nil {
		return err
	}
	rf.figures = append(rf.figures, fmt.Sprintf("timeout-dead-manager=job_execution_timeout-%s-after-start(not-retried)", dropped.Round(time.Second)))
	logf("timeout: job %d dropped as job_execution_timeout %s after it started (%s after the kill), not retried; its pod %s was %s, gkt leftovers removed it",
		j.ID, dropped.Round(time.Second), time.Since(killed).Round(time.Second), pod, phase)
	return nil
}

// templateRetryWhen are the failure reasons the Kaniko template's retry: names (.kaniko-build).
func templateRetryWhen() ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(repo, "ci/templates/kaniko.gitlab-ci.yml"))
	if err != nil {
		return nil, err
	}
	var tpl struct {
		Build struct {
			Retry struct {
				When []string `json:"when"`
			} `json:"retry"`
		} `json:".kaniko-build"`
	}
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		return nil, err
	}
	if len(tpl.Build.Retry.When) == 0 {
		return nil, fmt.Errorf("the Kaniko template's .kaniko-build has no retry: when")
	}
	return tpl.Build.Retry.When, nil
}

// killContainer sends SIGKILL to a container's process on its node (what the OOM killer does), through containerd.
func killContainer(node, pod, container string) error {
	ids, err := exec.Command("docker", "exec", node, "ctr", "-n", "k8s.io", "containers", "ls", "-q",
		`labels."io.kubernetes.pod.name"==`+pod+`,labels."io.kubernetes.container.name"==`+container).Output()
	if err != nil {
		return fmt.Errorf("list containers on %s: %w", node, err)
	}
	tasks, err := exec.Command("docker", "exec", node, "ctr", "-n", "k8s.io", "tasks", "ls").Output()
	if err != nil {
		return err
	}
	for _, id := range strings.Fields(string(ids)) {
		for _, line := range strings.Split(string(tasks), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == id && f[2] == "RUNNING" {
				if out, err := exec.Command("docker", "exec", node, "ctr", "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id).CombinedOutput(); err != nil {
					return fmt.Errorf("kill %s: %v: %s", id, err, out)
				}
				return nil
			}
		}
	}
	return fmt.Errorf("no running %s container of pod %s on %s", container, pod, node)
}

// scenarioUpgradeDuringJob: a helm upgrade that changes the manager's pod template while a job runs. With the
// chart's surge rollout the old manager gets SIGQUIT (preStop), takes no new job and finishes its own; the new
// manager takes a job started meanwhile; the quota holds both; the old one exits after its job.
func scenarioUpgradeDuringJob(ctx context.Context, rf *runnerFaults) error {
	tp := rf.project("tenant-a")
	old, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute)
	if err != nil {
		return err
	}
	long, err := rf.start(ctx, tp, "upgrade-long", pipelines.Scenario("upgrade-long", pipelines.Params{}))
	if err != nil {
		return err
	}
	lj, _, err := long.waitRunning(ctx, rf.f, rf.p.cs, "long", 5*time.Minute)
	if err != nil {
		return err
	}
	// Which manager runs a job is GitLab's record of the job (runner_manager: the system_id of the process that took
	// it), not a manager pod's log: the old pod and its log are gone after the upgrade.
	oldManager, err := rf.f.api.JobManager(ctx, tp.project.ID, lj.ID)
	if err != nil || oldManager == nil {
		return fmt.Errorf("the running job %d has no runner_manager in the forge's record (%v)", lj.ID, err)
	}
	if err := rf.apply(tp, map[string]any{"runner": map[string]any{"podAnnotations": map[string]any{"e2e.gitlab-kaniko-tenant.io/upgraded-at": time.Now().Format(time.RFC3339)}}}); err != nil {
		return err
	}
	defer func() {
		if err := rf.apply(tp, nil); err != nil {
			logf("upgrade: restoring tenant-a: %v", err)
		}
	}()
	nw, err := rf.start(ctx, tp, "upgrade-new", pipelines.Scenario("upgrade-new", pipelines.Params{}))
	if err != nil {
		return err
	}
	njobs, _, err := nw.finish(ctx, rf.f, 5*time.Minute)
	if err != nil {
		return err
	}
	ljobs, ltraces, err := long.finish(ctx, rf.f, 10*time.Minute)
	if err != nil {
		return err
	}
	// the old manager exits once its job is done
	if err := wait.For(ctx, "the old manager to exit after its job", 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
		_, err := rf.p.cs.CoreV1().Pods(tp.tn.Namespace).Get(ctx, old.Name, metav1.GetOptions{})
		return err != nil, nil
	}); err != nil {
		return err
	}
	n, l := njobs[0], ljobs[len(ljobs)-1]
	if len(ljobs) != 1 || l.Status != "success" {
		return fmt.Errorf("the job running during the upgrade: %+v", ljobs)
	}
	if ok, why := hasAllLines(ltraces[l.ID], pipelines.UpgradeLines); !ok {
		return fmt.Errorf("the job running during the upgrade: %s:\n%s", why, tail(ltraces[l.ID], 20))
	}
	if n.Status != "success" || !n.StartedAt.Before(*l.FinishedAt) {
		return fmt.Errorf("the job started during the upgrade: %s, started %v, the old job finished %v: the new manager must take it while the old one drains", n.Status, n.StartedAt, l.FinishedAt)
	}
	lm, err := rf.f.api.JobManager(ctx, tp.project.ID, l.ID)
	if err != nil {
		return err
	}
	nm, err := rf.f.api.JobManager(ctx, tp.project.ID, n.ID)
	if err != nil {
		return err
	}
	if lm == nil || lm.SystemID != oldManager.SystemID || nm == nil || nm.SystemID == oldManager.SystemID {
		return fmt.Errorf("the forge's record: job %d ran on manager %+v, job %d on %+v; want %d on the old manager (system_id %s) and %d on another", l.ID, lm, n.ID, nm, l.ID, oldManager.SystemID, n.ID)
	}
	logf("upgrade: job %d finished on the old manager %s (system_id %s, %s, pod IP %s); job %d ran on the new manager (system_id %s, %s) meanwhile",
		l.ID, old.Name, lm.SystemID, lm.IPAddress, old.Status.PodIP, n.ID, nm.SystemID, nm.IPAddress)
	return nil
}

// scenarioGitLabOutage: the forge drops every connection for 3 minutes while a job runs and prints a line every
// 5 s. The manager must not restart nor turn unready; afterwards the job's trace holds every line, in order, with
// a matching checksum, and a new job is taken.
func scenarioGitLabOutage(ctx context.Context, rf *runnerFaults) error {
	if rf.f.admin == nil {
		return fmt.Errorf("the outage needs the stand-in's outage knob: a real GitLab cannot be taken down by the test")
	}
	tp := rf.project("tenant-b")
	before, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute)
	if err != nil {
		return err
	}
	const lines = pipelines.OutageLines
	pl, err := rf.start(ctx, tp, "outage", pipelines.Scenario("outage", pipelines.Params{}))
	if err != nil {
		return err
	}
	// The outage must begin while the job's script runs: a pod that runs may still be cloning from GitLab, and a clone
	// during an outage fails the job (as it would with GitLab). So this one waits for the script's third line in the
	// trace, which reaches the forge within GitLab's 60 s trace interval; the script prints for 225 s.
	j, err := pl.waitJob(ctx, rf.f, "through-outage", "to print its third line", 5*time.Minute, func(j gitlab.Job, tr string) bool { return strings.Contains(tr, "line 3") })
	if err != nil {
		return err
	}
	if err := rf.f.admin.put(ctx, "outage", 180); err != nil {
		return err
	}
	outageStart := time.Now()
	if rf.f.admin.reachable(ctx) {
		return fmt.Errorf("the stand-in still answers during the outage")
	}
	unready := 0
	if err := wait.Every(ctx, 5*time.Second, 185*time.Second-time.Since(outageStart), func(ctx context.Context) {
		if pods, err := managerPods(ctx, rf.p.cs, tp.tn); err == nil && len(pods) == 1 {
			for _, c := range pods[0].Status.Conditions {
				if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
					unready++
				}
			}
		}
	}); err != nil {
		return err
	}
	if err := wait.For(ctx, "the stand-in to answer again", 2*time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) { return rf.f.admin.reachable(ctx), nil }); err != nil {
		return err
	}
	jobs, traces, err := pl.finish(ctx, rf.f, 10*time.Minute)
	if err != nil {
		return err
	}
	after, err := readyManager(ctx, rf.p.cs, tp.tn, time.Minute)
	if err != nil {
		return err
	}
	last := jobs[len(jobs)-1]
	switch {
	case len(jobs) != 1 || last.Status != "success":
		return fmt.Errorf("the job through the outage: %+v\n%s", jobs, tail(traces[last.ID], 20))
	case !strings.Contains(traces[last.ID], "Job succeeded"):
		return fmt.Errorf("the job's trace after the outage lacks the runner's last line (Job succeeded):\n%s", tail(traces[last.ID], 20))
	case after.UID != before.UID || restarts(after) != restarts(before):
		return fmt.Errorf("the manager restarted during the outage (pod %s→%s, restarts %d→%d)", before.Name, after.Name, restarts(before), restarts(after))
	case unready > 0:
		return fmt.Errorf("the manager was unready %d times during the outage: readiness must fail only on a rejected token", unready)
	}
	if ok, why := hasAllLines(traces[last.ID], lines); !ok {
		return fmt.Errorf("the job's trace lost lines in the outage: %s:\n%s", why, tail(traces[last.ID], 30))
	}
	afterStart := time.Now()
	next, err := rf.start(ctx, tp, "outage-after", pipelines.Scenario("outage-after", pipelines.Params{}))
	if err != nil {
		return err
	}
	njobs, _, err := next.finish(ctx, rf.f, 5*time.Minute)
	if err != nil || njobs[0].Status != "success" {
		return fmt.Errorf("a job after the outage: %+v %v", njobs, err)
	}
	logf("outage: 180 s; job %d kept all %d lines, the manager stayed up and ready; a new job ran %s after the commit", j.ID, lines, time.Since(afterStart).Round(time.Second))
	return nil
}

// scenarioTokenRotation: while a job runs, the runner's token is reset in GitLab (the old one stops working at once)
// and the token Secret replaced. The manager re-renders config.toml from the updated Secret volume and the runner
// reloads it: no pod restarts, the running job (its own job token) finishes, the next job is taken with the new token.
func scenarioTokenRotation(ctx context.Context, rf *runnerFaults) error {
	tp := rf.project("tenant-b")
	before, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute)
	if err != nil {
		return err
	}
	pl, err := rf.start(ctx, tp, "rotation", pipelines.Scenario("rotation", pipelines.Params{}))
	if err != nil {
		return err
	}
	if _, _, err := pl.waitRunning(ctx, rf.f, rf.p.cs, "during-rotation", 5*time.Minute); err != nil {
		return err
	}
	// gkt runner rotate: the token reset in GitLab (the old one stops working at once) and written to the Secret
	env := runnerlife.Env{GitLab: rf.f.api, GitLabURL: rf.f.URL, Kube: rf.p.cs, Log: func(format string, args ...any) { logf("gkt runner: "+format, args...) }}
	if _, _, err := runnerlife.Rotate(ctx, env, tokenPlan(tp.tn)); err != nil {
		return err
	}
	s, err := rf.p.cs.CoreV1().Secrets(tp.tn.Namespace).Get(ctx, tokenPlan(tp.tn).Secret, metav1.GetOptions{})
	if err != nil {
		return err
	}
	tp.runner.Token = string(s.Data["runner-token"])
	rotated := time.Now()
	if err := wait.For(ctx, "the manager to re-render config.toml with the new token", 2*time.Second, 4*time.Minute, func(ctx context.Context) (bool, error) {
		return strings.Contains(podLogs(ctx, rf.p.cs, tp.tn.Namespace, before.Name), "config.toml re-rendered"), nil
	}); err != nil {
		return err
	}
	pickedUp := time.Since(rotated)
	next, err := rf.start(ctx, tp, "rotation-after", pipelines.Scenario("rotation-after", pipelines.Params{}))
	if err != nil {
		return err
	}
	njobs, _, err := next.finish(ctx, rf.f, 5*time.Minute)
	if err != nil || njobs[0].Status != "success" {
		return fmt.Errorf("a job after the rotation: %+v %v", njobs, err)
	}
	jobs, traces, err := pl.finish(ctx, rf.f, 10*time.Minute)
	if err != nil {
		return err
	}
	last := jobs[len(jobs)-1]
	if len(jobs) != 1 || last.Status != "success" {
		return fmt.Errorf("the job running during the rotation: %+v", jobs)
	}
	if ok, why := hasAllLines(traces[last.ID], pipelines.RotateLines); !ok {
		return fmt.Errorf("the job running during the rotation: %s", why)
	}
	after, err := readyManager(ctx, rf.p.cs, tp.tn, time.Minute)
	if err != nil {
		return err
	}
	if after.UID != before.UID || restarts(after) != restarts(before) {
		return fmt.Errorf("the manager restarted for the rotation (pod %s→%s, restarts %d→%d): nothing should", before.Name, after.Name, restarts(before), restarts(after))
	}
	logf("rotation: the new token was in config.toml %s after the Secret changed; no restart; the running job finished", pickedUp.Round(time.Second))
	rf.figures = append(rf.figures, fmt.Sprintf("rotation-picked-up=%s", pickedUp.Round(time.Second)))
	return nil
}

// scenarioRunnerCacheOutage: a job seeds the runner cache; the next one changes the cached file and MinIO is
// stopped before its cache upload. The job succeeds (the runner treats a failed upload as a warning, and says so);
// the object in the bucket is still the first one, whole; the third job restores that one.
func scenarioRunnerCacheOutage(ctx context.Context, rf *runnerFaults) error {
	tp := rf.project("tenant-a")
	key := "fault-cache-" + rf.run
	seed, err := rf.start(ctx, tp, "cache-seed", pipelines.Scenario("cache-seed", pipelines.Params{CacheKey: key}))
	if err != nil {
		return err
	}
	if jobs, tr, err := seed.finish(ctx, rf.f, 5*time.Minute); err != nil || jobs[0].Status != "success" {
		return fmt.Errorf("seed: %+v %v", jobs, err)
	} else if !strings.Contains(tr[jobs[0].ID], "Created cache") {
		return fmt.Errorf("seed did not create its cache:\n%s", tail(tr[jobs[0].ID], 20))
	}
	object := fmt.Sprintf("cache/project/%d/%s-protected", tp.project.ID, key) // the runner's S3 adapter: the key itself, no cache.zip
	first, err := statObject(ctx, rf, tp, object)
	if err != nil {
		return fmt.Errorf("the seeded cache object: %w", err)
	}
	up, err := rf.start(ctx, tp, "cache-outage", pipelines.Scenario("cache-outage", pipelines.Params{CacheKey: key}))
	if err != nil {
		return err
	}
	if _, err := up.waitJob(ctx, rf.f, "upload-in-outage", "to be ready for the outage", 5*time.Minute, func(j gitlab.Job, tr string) bool { return strings.Contains(tr, "READY-FOR-OUTAGE") }); err != nil {
		return err
	}
	if err := scale(ctx, rf.p.cs, "minio", "minio", 0); err != nil {
		return err
	}
	restored := false
	defer func() {
		if !restored {
			_ = scale(context.Background(), rf.p.cs, "minio", "minio", 1)
		}
	}()
	jobs, traces, err := up.finish(ctx, rf.f, 10*time.Minute)
	if err != nil {
		return err
	}
	if err := scale(ctx, rf.p.cs, "minio", "minio", 1); err != nil {
		return err
	}
	restored = true
	j := jobs[len(jobs)-1]
	tr := traces[j.ID]
	if j.Status != "success" || !strings.Contains(tr, "Failed to create cache") {
		return fmt.Errorf("the job whose cache upload met the outage: %s %s, want success with the runner's \"Failed to create cache\" warning:\n%s", j.Status, j.FailureReason, tail(tr, 25))
	}
	var now minio.ObjectInfo
	if err := wait.For(ctx, "MinIO to serve the bucket again", 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
		var err error
		now, err = statObject(ctx, rf, tp, object)
		return err == nil, nil
	}); err != nil {
		return err
	}
	if now.ETag != first.ETag || now.Size != first.Size {
		return fmt.Errorf("the cache object changed in the outage (%s/%d → %s/%d): a partial upload replaced it", first.ETag, first.Size, now.ETag, now.Size)
	}
	check, err := rf.start(ctx, tp, "cache-after", pipelines.Scenario("cache-after", pipelines.Params{CacheKey: key}))
	if err != nil {
		return err
	}
	cj, ctr, err := check.finish(ctx, rf.f, 5*time.Minute)
	if err != nil || cj[0].Status != "success" || !strings.Contains(ctr[cj[0].ID], "restored-v1-whole") {
		return fmt.Errorf("the job after the outage did not restore the previous cache: %+v %v\n%s", cj, err, tail(ctr[cj[0].ID], 20))
	}
	logf("cache: the upload in the outage failed with a warning and the job succeeded; the object stayed %s (%d bytes); the next job restored it", first.ETag, first.Size)
	return nil
}

// statObject reads an object's metadata in the tenant's bucket with the tenant's own S3 keys.
func statObject(ctx context.Context, rf *runnerFaults, tp *tenantProject, object string) (minio.ObjectInfo, error) {
	c, err := tenantS3(ctx, rf.p.cs, rf.p.nodeIP, tp.tn)
	if err != nil {
		return minio.ObjectInfo{}, err
	}
	return c.StatObject(ctx, tp.tn.Bucket, object, minio.StatObjectOptions{})
}

// scenarioDrain: the tenant's only node is drained (cordon, then every pod but DaemonSets' evicted, as `kubectl
// drain --ignore-daemonsets --delete-emptydir-data --force` does) while a job runs. The PDB admits the manager's
// eviction (maxUnavailable 1); the job's pod is evicted, the job fails as a runner system failure and the
// template's retry queues it again; nothing runs elsewhere while the node is cordoned; after uncordon the retry
// succeeds.
func scenarioDrain(ctx context.Context, rf *runnerFaults) error {
	tp := rf.project("tenant-a")
	node := tp.tn.Nodes[0]
	if _, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute); err != nil {
		return err
	}
	pl, err := rf.start(ctx, tp, "drain", pipelines.Scenario("drain", pipelines.Params{}))
	if err != nil {
		return err
	}
	first, _, err := pl.waitRunning(ctx, rf.f, rf.p.cs, "drained", 5*time.Minute)
	if err != nil {
		return err
	}
	setCordon := func(v bool) error {
		n, err := rf.p.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Unschedulable = v
		_, err = rf.p.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	}
	if err := setCordon(true); err != nil {
		return err
	}
	uncordoned := false
	defer func() {
		if !uncordoned {
			_ = setCordon(false)
		}
	}()
	pods, err := rf.p.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err
	}
	evicted := 0
	for _, p := range pods.Items {
		if ctrl := metav1.GetControllerOf(&p); (ctrl != nil && ctrl.Kind == "DaemonSet") || p.Namespace == "kube-system" {
			continue
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		if err := wait.For(ctx, "evict "+p.Namespace+"/"+p.Name, 2*time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
			err := rf.p.cs.CoreV1().Pods(p.Namespace).EvictV1(ctx, ev)
			return err == nil, nil // a PDB that admits no eviction now answers 429: try again, as kubectl drain does
		}); err != nil {
			return err
		}
		evicted++
	}
	logf("drain: %s cordoned, %d pods evicted while job %d ran", node, evicted, first.ID)
	// The evicted attempt ends and is retried; the retry waits, never lands on another node.
	ended, err := pl.waitEnded(ctx, rf.f, first.ID, 5*time.Minute)
	if err != nil {
		return err
	}
	if retried, err := pl.retried(ctx, rf.f, ended); err != nil {
		return err
	} else if !retried {
		return fmt.Errorf("the drained attempt ended %s %s and was not retried", ended.Status, ended.FailureReason)
	}
	logf("drain: attempt %d ended %s %s, retried", ended.ID, ended.Status, ended.FailureReason)
	time.Sleep(20 * time.Second)
	all, err := rf.p.cs.CoreV1().Pods(tp.tn.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range all.Items {
		if p.Spec.NodeName != "" && p.Spec.NodeName != node {
			return fmt.Errorf("with %s drained, %s went to %s", node, p.Name, p.Spec.NodeName)
		}
	}
	if err := setCordon(false); err != nil {
		return err
	}
	uncordoned = true
	jobs, traces, err := pl.finish(ctx, rf.f, 15*time.Minute)
	if err != nil {
		return err
	}
	last := jobs[len(jobs)-1]
	if last.Status != "success" || !strings.Contains(traces[last.ID], "finished") {
		return fmt.Errorf("after the drain: %+v\n%s", jobs, tail(traces[last.ID], 20))
	}
	if _, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute); err != nil {
		return err
	}
	logf("drain: the retry %d succeeded on %s after uncordon (%d attempts)", last.ID, node, len(jobs))
	return nil
}

// scenarioCancel: a running job is canceled through GitLab's API. GitLab moves it to canceling and tells the runner
// (Job-Status: canceling; 17.9.3 advertises cancel_gracefully), the runner stops the script, runs after_script and
// reports back; GitLab records canceled. The job's pod and its Secrets are deleted as after any job.
func scenarioCancel(ctx context.Context, rf *runnerFaults) error {
	tp := rf.project("tenant-a")
	if _, err := readyManager(ctx, rf.p.cs, tp.tn, 3*time.Minute); err != nil {
		return err
	}
	pl, err := rf.start(ctx, tp, "cancel", pipelines.Scenario("cancel", pipelines.Params{}))
	if err != nil {
		return err
	}
	j, pod, err := pl.waitRunning(ctx, rf.f, rf.p.cs, "canceled", 5*time.Minute)
	if err != nil {
		return err
	}
	// cancel once the script runs (its first line is in the trace, within GitLab's 60 s interval; it then sleeps 600 s),
	// so after_script has a script to follow
	if _, err := pl.waitJob(ctx, rf.f, "canceled", "to print that it started", 5*time.Minute, func(j gitlab.Job, tr string) bool { return strings.Contains(tr, "\nstarted") }); err != nil {
		return err
	}
	canceled := time.Now()
	if err := rf.f.api.CancelJob(ctx, tp.project.ID, j.ID); err != nil {
		return err
	}
	ended, err := pl.waitEnded(ctx, rf.f, j.ID, 5*time.Minute)
	if err != nil {
		return err
	}
	took := time.Since(canceled)
	tr, err := rf.f.api.Trace(ctx, tp.project.ID, j.ID)
	if err != nil {
		return err
	}
	saveTrace(fmt.Sprintf("faults-cancel-%d", j.ID), []byte(tr))
	switch {
	case ended.Status != "canceled":
		return fmt.Errorf("the canceled job ended %s %s, want canceled:\n%s", ended.Status, ended.FailureReason, tail(tr, 20))
	case !strings.Contains(tr, pipelines.CancelAfterScriptLine):
		return fmt.Errorf("the canceled job's after_script did not run (no %q in its trace):\n%s", pipelines.CancelAfterScriptLine, tail(tr, 20))
	case strings.Contains(tr, "not reached"):
		return fmt.Errorf("the script went on after the cancel:\n%s", tail(tr, 20))
	}
	if err := wait.For(ctx, "the canceled job's pod "+pod+" to be deleted", 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
		_, err := rf.p.cs.CoreV1().Pods(tp.tn.Namespace).Get(ctx, pod, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		return err
	}
	left, err := waitNoRunnerObjects(ctx, rf.p.cs, tp.tn.Namespace, 3*time.Minute)
	if err != nil || len(left) > 0 {
		return fmt.Errorf("after the cancel, left in %s: %v %v", tp.tn.Namespace, left, err)
	}
	rf.figures = append(rf.figures, fmt.Sprintf("cancel-to-canceled=%.0fs", took.Seconds()))
	logf("cancel: job %d canceled %s after the API call, after_script ran, pod %s and its Secrets gone", j.ID, took.Round(time.Second), pod)
	return nil
}

// scenarioImageMissing: the tenant's runner allows a pattern of images none of which exists; a job with such an
// image fails when its pod cannot pull it. The runner reports image_pull_failure only to a GitLab that lists it in
// features.failure_reasons; GitLab does not, so the job is recorded as runner_system_failure — which the Kaniko
// template retries (max 2), so its job runs three times, a plain job once.
func scenarioImageMissing(ctx context.Context, rf *runnerFaults) error {
	tp := rf.project("tenant-a")
	if err := rf.apply(tp, map[string]any{"jobs": map[string]any{"allowedImages": []any{tp.Builder, strings.Replace(pipelines.MissingImage, "image:1", "*", 1)}}}); err != nil {
		return err
	}
	defer func() {
		if err := rf.apply(tp, nil); err != nil {
			logf("image: restoring tenant-a: %v", err)
		}
	}()
	pl, err := rf.start(ctx, tp, "image-missing", pipelines.Scenario("image-missing", pipelines.Params{}))
	if err != nil {
		return err
	}
	jobs, traces, err := pl.finish(ctx, rf.f, 15*time.Minute)
	if err != nil {
		return err
	}
	attempts := map[string]int{}
	for _, j := range jobs {
		attempts[j.Name]++
		if j.Status != "failed" || j.FailureReason != "runner_system_failure" {
			return fmt.Errorf("job %d (%s) ended %s %q, want failed runner_system_failure:\n%s", j.ID, j.Name, j.Status, j.FailureReason, tail(traces[j.ID], 20))
		}
		if !strings.Contains(traces[j.ID], pipelines.MissingImage) || strings.Contains(traces[j.ID], "\nnot reached") {
			return fmt.Errorf("job %d (%s): the trace does not name the missing image %s, or the script ran:\n%s", j.ID, j.Name, pipelines.MissingImage, tail(traces[j.ID], 20))
		}
	}
	if attempts["plain"] != 1 || attempts["templated"] != 3 {
		return fmt.Errorf("attempts %v, want plain 1 (no retry) and templated 3 (the template retries runner_system_failure twice)", attempts)
	}
	left, err := waitNoRunnerObjects(ctx, rf.p.cs, tp.tn.Namespace, 3*time.Minute)
	if err != nil || len(left) > 0 {
		return fmt.Errorf("after the failed pulls, left in %s: %v %v", tp.tn.Namespace, left, err)
	}
	rf.figures = append(rf.figures, fmt.Sprintf("image-missing=runner_system_failure(plain:%d,templated:%d)", attempts["plain"], attempts["templated"]))
	logf("image: %s: plain job 1 attempt, Kaniko job %d attempts, each runner_system_failure, no pod left", pipelines.MissingImage, attempts["templated"])
	return nil
}
