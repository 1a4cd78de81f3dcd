//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabclient"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/leftovers"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// jobLedger records, for every job the runner-tier fault scenarios started, how its last attempt ended. It is keyed
// by the forge's ID of the job's first attempt: a job re-run after a fault (GitLab's retry: a new ID in the same
// pipeline with the same name) is lost only if its last attempt did not succeed.
type jobLedger struct {
	mu        sync.Mutex
	last      map[int64]string  // first attempt's ID → "<scenario>: <job> <status> <failure reason> (attempt N)"
	intended  map[string]string // scenario → the outcome its jobs end with on purpose: status and failure reason (cancel: canceled; image-missing: failed runner_system_failure)
	pipelines []*faultPipeline  // every pipeline started, finished or not
}

// track registers a pipeline as soon as it exists, so a job that never finishes still counts (as lost).
func (l *jobLedger) track(p *faultPipeline) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pipelines = append(l.pipelines, p)
}

// settle records the current state of every tracked pipeline's jobs: one still running or pending now is lost.
func (l *jobLedger) settle(ctx context.Context, f *forge) error {
	l.mu.Lock()
	pipelines := slices.Clone(l.pipelines)
	l.mu.Unlock()
	for _, p := range pipelines {
		jobs, err := p.jobs(ctx, f)
		if err != nil {
			return err
		}
		l.record(p.scenario, jobs)
	}
	return nil
}

// record sets a pipeline's jobs (retried runs included, as gitlabclient.Client.Jobs lists them).
func (l *jobLedger) record(scenario string, jobs []gitlab.Job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := map[string]int64{}
	attempts := map[int64]int{}
	for _, j := range jobs { // oldest first
		id, ok := first[j.Name]
		if !ok {
			id, first[j.Name] = j.ID, j.ID
		}
		attempts[id]++
		outcome := j.Status
		if j.FailureReason != "" {
			outcome += " " + j.FailureReason
		}
		l.last[id] = fmt.Sprintf("%s: %s %s (attempt %d)", scenario, j.Name, outcome, attempts[id])
	}
}

// lost are the jobs whose last attempt did not succeed, sorted.
func (l *jobLedger) lost() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id, o := range l.last {
		scenario, _, _ := strings.Cut(o, ":")
		if want, ok := l.intended[scenario]; ok && strings.Contains(o, " "+want+" (attempt") {
			continue
		}
		if !strings.Contains(o, " success (attempt") {
			out = append(out, fmt.Sprintf("job %d: %s", id, o))
		}
	}
	sort.Strings(out)
	return out
}

// standinAdmin drives the stand-in's own knobs (/-/standin/…: outage, stuck-job drop), which GitLab does not have.
type standinAdmin struct {
	base, token string
	http        *http.Client
}

func newStandinAdmin(base, token string, ca []byte) (*standinAdmin, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("stand-in CA is not PEM")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &standinAdmin{base: base, token: token, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// put sets one knob: PUT /-/standin/<knob> {"seconds": n}.
func (a *standinAdmin) put(ctx context.Context, knob string, seconds int) error {
	raw, _ := json.Marshal(map[string]int{"seconds": seconds})
	req, err := http.NewRequestWithContext(ctx, "PUT", a.base+"/-/standin/"+knob, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("PRIVATE-TOKEN", a.token)
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("stand-in %s: %w", knob, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stand-in %s: %s: %s", knob, resp.Status, body)
	}
	return nil
}

// reachable reports whether the stand-in answers at all (its health page).
func (a *standinAdmin) reachable(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, "GET", a.base+"/-/standin/health", nil)
	c := *a.http
	c.Timeout = 5 * time.Second
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// faultPipeline is one running pipeline of a scenario.
type faultPipeline struct {
	tp       *tenantProject
	scenario string
	Pipeline *gitlab.Pipeline
}

// startPipeline commits a scenario's pipeline to the tenant's project and returns once the forge created it.
func startPipeline(ctx context.Context, f *forge, tp *tenantProject, scenario string, jobs map[string]pipelines.Job) (*faultPipeline, error) {
	files, err := pipelines.ScenarioFiles(repo, tp.tn.Name, scenario, jobs)
	if err != nil {
		return nil, err
	}
	sha, err := f.api.Commit(ctx, tp.project.ID, tp.project.DefaultBranch, "fault: "+scenario, files, tp.existing)
	if err != nil {
		return nil, err
	}
	for p := range files {
		tp.existing[p] = true
	}
	pl, err := f.api.PipelineFor(ctx, tp.project.ID, sha, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	if pl.YamlErrors != "" {
		return nil, fmt.Errorf("%s: pipeline invalid: %s", scenario, pl.YamlErrors)
	}
	return &faultPipeline{tp: tp, scenario: scenario, Pipeline: pl}, nil
}

// job returns the pipeline's current jobs (retried runs included).
func (p *faultPipeline) jobs(ctx context.Context, f *forge) ([]gitlab.Job, error) {
	return f.api.Jobs(ctx, p.tp.project.ID, p.Pipeline.ID)
}

// waitJob waits until the pipeline's job of that name (its latest attempt) satisfies cond and returns it.
func (p *faultPipeline) waitJob(ctx context.Context, f *forge, name, what string, timeout time.Duration, cond func(gitlab.Job, string) bool) (gitlab.Job, error) {
	var found gitlab.Job
	err := wait.For(ctx, fmt.Sprintf("%s: job %s %s", p.scenario, name, what), time.Second, timeout, func(ctx context.Context) (bool, error) {
		jobs, err := p.jobs(ctx, f)
		if err != nil {
			return false, wait.Retry(err)
		}
		for _, j := range slices.Backward(jobs) {
			if j.Name != name {
				continue
			}
			tr, err := f.api.Trace(ctx, p.tp.project.ID, j.ID)
			if err != nil {
				return false, wait.Retry(err)
			}
			found = j
			return cond(j, tr), nil
		}
		return false, nil
	})
	return found, err
}

// waitRunning waits until the forge shows the named job (its latest attempt) running and the build container of its
// job pod runs: the job is provably running whatever the trace interval (GitLab has the runner send a job's log
// every 60 s unless someone watches the job page). It returns the job and its pod's name.
func (p *faultPipeline) waitRunning(ctx context.Context, f *forge, cs kubernetes.Interface, name string, timeout time.Duration) (gitlab.Job, string, error) {
	var found gitlab.Job
	var pod string
	err := wait.For(ctx, fmt.Sprintf("%s: job %s running in its pod", p.scenario, name), time.Second, timeout, func(ctx context.Context) (bool, error) {
		jobs, err := p.jobs(ctx, f)
		if err != nil {
			return false, wait.Retry(err)
		}
		latest := gitlabclient.Latest(jobs)
		i := slices.IndexFunc(latest, func(j gitlab.Job) bool { return j.Name == name })
		if i < 0 || latest[i].Status != "running" {
			return false, nil
		}
		found = latest[i]
		pods, err := cs.CoreV1().Pods(p.tp.tn.Namespace).List(ctx, metav1.ListOptions{LabelSelector: leftovers.JobPodLabel})
		if err != nil {
			return false, wait.Retry(err)
		}
		for _, pd := range pods.Items {
			if pd.Annotations["job.runner.gitlab.com/id"] == fmt.Sprint(found.ID) && buildRunning(&pd) {
				pod = pd.Name
				return true, nil
			}
		}
		return false, nil
	})
	return found, pod, err
}

// waitEnded waits until the attempt with that ID has a final status and returns it.
func (p *faultPipeline) waitEnded(ctx context.Context, f *forge, id int64, timeout time.Duration) (gitlab.Job, error) {
	var found gitlab.Job
	err := wait.For(ctx, fmt.Sprintf("%s: job %d to end", p.scenario, id), 2*time.Second, timeout, func(ctx context.Context) (bool, error) {
		jobs, err := p.jobs(ctx, f)
		if err != nil {
			return false, wait.Retry(err)
		}
		for _, j := range jobs {
			if j.ID == id {
				found = j
				return gitlabclient.Finished(j.Status), nil // canceling is not an end: the runner still reports
			}
		}
		return false, nil
	})
	return found, err
}

// retried reports whether GitLab retried job j: a later job of the same name in the pipeline (the retry is created
// when the attempt is dropped, so one listing tells).
func (p *faultPipeline) retried(ctx context.Context, f *forge, j gitlab.Job) (bool, error) {
	jobs, err := p.jobs(ctx, f)
	if err != nil {
		return false, err
	}
	return gitlabclient.Retried(jobs, j), nil
}

// finish waits for the pipeline to end, saves its traces and returns its jobs (the ledger settles them at the end).
func (p *faultPipeline) finish(ctx context.Context, f *forge, timeout time.Duration) ([]gitlab.Job, map[int64]string, error) {
	pl, err := f.api.WaitPipeline(ctx, p.tp.project.ID, p.Pipeline.ID, timeout)
	if err != nil {
		return nil, nil, err
	}
	p.Pipeline = pl
	jobs, err := p.jobs(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	traces := map[int64]string{}
	for _, j := range jobs {
		tr, err := f.api.Trace(ctx, p.tp.project.ID, j.ID)
		if err != nil {
			return nil, nil, err
		}
		traces[j.ID] = tr
		saveTrace(fmt.Sprintf("faults-%s-%s-%d", p.tp.tn.Name, j.Name, j.ID), []byte(tr))
	}
	return jobs, traces, nil
}

// managerPods are the tenant's manager pods that are not being deleted.
func managerPods(ctx context.Context, cs kubernetes.Interface, tn tenants.Tenant) ([]corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods(tn.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "gitlab-kaniko-tenant.io/component=manager,gitlab-kaniko-tenant.io/tenant=" + tn.Name})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// readyManager waits until the tenant has exactly one manager pod, ready, and returns it.
func readyManager(ctx context.Context, cs kubernetes.Interface, tn tenants.Tenant, timeout time.Duration) (corev1.Pod, error) {
	var out corev1.Pod
	err := wait.For(ctx, tn.Name+"'s manager to be ready", time.Second, timeout, func(ctx context.Context) (bool, error) {
		pods, err := managerPods(ctx, cs, tn)
		if err != nil || len(pods) != 1 {
			return false, wait.Retry(err)
		}
		out = pods[0]
		for _, c := range out.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return out, err
}

// restarts is the manager container's restart count.
func restarts(p corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

// podLogs returns a pod's log (all containers' current runs).
func podLogs(ctx context.Context, cs kubernetes.Interface, ns, name string) string {
	raw, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "runner"}).DoRaw(ctx)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(raw)
}

// hasAllLines reports whether a trace holds "line 1" … "line n" in order.
func hasAllLines(trace string, n int) (bool, string) {
	at := 0
	for i := 1; i <= n; i++ {
		m := regexp.MustCompile(fmt.Sprintf(`line %d(\D|$)`, i)).FindStringIndex(trace[at:])
		if m == nil {
			return false, fmt.Sprintf("line %d missing (or out of order)", i)
		}
		at += m[1] - 1
	}
	return true, ""
}

// onOff spells a boolean option as the summary lines do.
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
