//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

// gitlab is a minimal GitLab REST client for the runner tier.
type gitlab struct {
	base, token string
	c           http.Client
}

func (g *gitlab) call(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(g.base, "/")+"/api/v4"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("PRIVATE-TOKEN", g.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// runnerEnv is the runner tier's world: a GitLab project with a project runner for tenant-a, and the platform with
// tenant-a's real manager registered with that runner's token.
type runnerEnv struct {
	gl        *gitlab
	p         *platform
	a         tenants.Tenant
	run       string
	projectID int
	webURL    string
	overrides map[string]any // tenant-a's values on top of values/tenant-a.yaml
	pushed    map[string]bool
}

// setupRealGitLabFaults skips without GITLAB_URL and GITLAB_TOKEN: the fault scenarios use GitLab's job retry and
// scope APIs, which the stand-in does not implement (TestRunnerTier runs against either). It needs a token that may create projects and runners
// and a machine where the runner, helper and Kaniko images can be pulled (GKT_E2E_MODE=pull). Our own machines have
// no registry access: there it skips, and docs/testing.md says so.
func setupRealGitLabFaults(t *testing.T) *runnerEnv {
	t.Helper()
	base, token := os.Getenv("GITLAB_URL"), os.Getenv("GITLAB_TOKEN")
	switch {
	case base != "" && token != "":
	case base != "" || token != "":
		// half a configuration is a mistake, not an opt-out
		t.Fatal("runner tier: GITLAB_URL and GITLAB_TOKEN must be set together")
	case os.Getenv("GKT_RUNNER_TIER") == "required":
		t.Fatal("runner tier: GKT_RUNNER_TIER=required but GITLAB_URL and GITLAB_TOKEN are not set")
	default:
		// The only test that needs a GitLab: it registers the real runner there. Without one it cannot run; the job
		// tier (make e2e) covers everything else. GKT_RUNNER_TIER=required turns this skip into a failure.
		t.Skip("runner tier not run: it needs a real GitLab to register the runner with. Set GITLAB_URL and GITLAB_TOKEN " +
			"(api scope; may create projects and runners) on a machine that can pull registry.gitlab.com and ghcr.io images")
	}
	ctx := context.Background()
	e := &runnerEnv{gl: &gitlab{base: base, token: token, c: http.Client{Timeout: 30 * time.Second}}, run: fmt.Sprint(time.Now().Unix()), pushed: map[string]bool{}}
	var project struct {
		ID     int    `json:"id"`
		WebURL string `json:"web_url"`
	}
	if err := e.gl.call("POST", "/projects", map[string]any{"name": "gkt-e2e-" + e.run, "visibility": "private", "initialize_with_readme": true}, &project); err != nil {
		t.Fatal(err)
	}
	e.projectID, e.webURL = project.ID, project.WebURL
	t.Cleanup(func() { _ = e.gl.call("DELETE", fmt.Sprintf("/projects/%d", project.ID), nil, nil) })
	var runner struct {
		ID    int    `json:"id"`
		Token string `json:"token"`
	}
	if err := e.gl.call("POST", "/user/runners", map[string]any{"runner_type": "project_type", "project_id": project.ID, "tag_list": []string{"tenant-a"}, "description": "gkt-e2e " + e.run}, &runner); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.gl.call("DELETE", fmt.Sprintf("/runners/%d", runner.ID), nil, nil) })
	gitlabCIDR := os.Getenv("GITLAB_EGRESS_CIDR")
	if gitlabCIDR == "" {
		gitlabCIDR = "0.0.0.0/0"
	}
	defaults := values(t, filepath.Join(repo, "charts/gitlab-kaniko-tenant/values.yaml"))
	defJobs := defaults["jobs"].(map[string]any)
	e.overrides = map[string]any{
		"managerDisabled": false,
		"gitlab":          map[string]any{"url": base, "egress": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": gitlabCIDR}}}}},
		// the upstream images, pulled: the chart's pinned Kaniko and the real runner helper
		"jobs": map[string]any{"image": defJobs["image"], "helper": map[string]any{"image": defJobs["helper"].(map[string]any)["image"]}},
	}
	e.p = setupPlatform(t, platformOptions{TenantValues: func(tenant string) map[string]any {
		if tenant != "tenant-a" {
			return nil
		}
		return e.overrides
	}})
	e.a = e.p.set.Tenants["tenant-a"]
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-runner-token", Namespace: e.a.Namespace}, StringData: map[string]string{"runner-token": runner.Token}}
	_ = e.p.cs.CoreV1().Secrets(e.a.Namespace).Delete(ctx, sec.Name, metav1.DeleteOptions{})
	if _, err := e.p.cs.CoreV1().Secrets(e.a.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := waitDeployment(ctx, e.p.cs, e.a.Namespace, "tenant-a-runner", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	return e
}

// upgrade re-applies tenant-a's release with extra values on top of the runner tier's overrides.
func (e *runnerEnv) upgrade(t *testing.T, extra map[string]any) error {
	vals := render.MergeValues(render.MergeValues(values(t, "values/tenant-a.yaml"), e.overrides), extra)
	return (kindworld.Release{Kubeconfig: e.p.w.Kubeconfig, Name: e.a.Name, Namespace: e.a.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
		Values: vals, Wait: true, Timeout: 5 * time.Minute}).Apply(logf)
}

// push commits the sample project with the Kaniko template and a .gitlab-ci.yml whose build job gets jobExtra
// (YAML lines indented by two spaces), and returns the commit.
func (e *runnerEnv) push(t *testing.T, greeting, tag, jobExtra string) string {
	t.Helper()
	tpl, err := os.ReadFile(filepath.Join(repo, "ci/templates/kaniko.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files := sample("tenant-a", greeting)
	files["kaniko.gitlab-ci.yml"] = string(tpl)
	files[".gitlab-ci.yml"] = fmt.Sprintf(`include:
  - local: kaniko.gitlab-ci.yml
build:
  extends: .kaniko-build
  tags: [tenant-a]
  variables:
    KANIKO_DESTINATION: %s/tenant-a/runner-tier:%s
%s`, kindworld.DestRegistryHost, tag, jobExtra)
	var actions []map[string]any
	for path, content := range files {
		action := "create"
		if e.pushed[path] {
			action = "update"
		}
		e.pushed[path] = true
		actions = append(actions, map[string]any{"action": action, "file_path": path, "content": content})
	}
	var commit struct {
		ID string `json:"id"`
	}
	if err := e.gl.call("POST", fmt.Sprintf("/projects/%d/repository/commits", e.projectID), map[string]any{"branch": "main", "commit_message": "gkt e2e runner tier " + tag, "actions": actions}, &commit); err != nil {
		t.Fatal(err)
	}
	return commit.ID
}

// pipelineStatus is the status of the pipeline of a commit ("" before it exists).
func (e *runnerEnv) pipelineStatus(sha string) string {
	var pipes []struct {
		Status string `json:"status"`
	}
	if err := e.gl.call("GET", fmt.Sprintf("/projects/%d/pipelines?sha=%s", e.projectID, url.QueryEscape(sha)), nil, &pipes); err != nil || len(pipes) == 0 {
		return ""
	}
	return pipes[0].Status
}

// waitPipeline waits for the commit's pipeline to end and calls each(pod) with every job pod seen meanwhile.
func (e *runnerEnv) waitPipeline(ctx context.Context, sha string, timeout time.Duration, each func(*corev1.Pod)) string {
	status := ""
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if each != nil {
			pods, _ := e.p.cs.CoreV1().Pods(e.a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job.runner.gitlab.com/pod"})
			for i := range pods.Items {
				each(&pods.Items[i])
			}
		}
		status = e.pipelineStatus(sha)
		if status == "success" || status == "failed" || status == "canceled" {
			return status
		}
	}
	return status
}

// runningJobPod waits for a job pod of tenant-a whose build container runs.
func (e *runnerEnv) runningJobPod(ctx context.Context, timeout time.Duration) (*corev1.Pod, error) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Second) {
		pods, _ := e.p.cs.CoreV1().Pods(e.a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job.runner.gitlab.com/pod"})
		for i := range pods.Items {
			for _, st := range pods.Items[i].Status.ContainerStatuses {
				if st.Name == jobpod.BuildContainer && st.State.Running != nil {
					return &pods.Items[i], nil
				}
			}
		}
	}
	return nil, fmt.Errorf("no running job pod of %s within %s", e.a.Name, timeout)
}

// managerPods are tenant-a's manager pods that are not being deleted.
func (e *runnerEnv) managerPods(ctx context.Context) ([]corev1.Pod, error) {
	d, err := e.p.cs.AppsV1().Deployments(e.a.Namespace).Get(ctx, "tenant-a-runner", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := e.p.cs.CoreV1().Pods(e.a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
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

// holdJob waits for the pushed job's pod to run and returns it with the manager pods that own it.
func (e *runnerEnv) holdJob(t *testing.T) (*corev1.Pod, []corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	pod, err := e.runningJobPod(ctx, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mgrs, err := e.managerPods(ctx)
	if err != nil || len(mgrs) == 0 {
		t.Fatalf("manager pods: %d, %v", len(mgrs), err)
	}
	return pod, mgrs
}

// TestRunnerFaults holds the runner-process fault scenarios of the reliability issue. They need the real manager,
// so they run only where TestRunnerTier runs (`make e2e-runner`); on our machines they skip and are not exercised.
func TestRunnerFaults(t *testing.T) {
	e := setupRealGitLabFaults(t)
	ctx := context.Background()
	// a job that holds for a while before building, so the fault lands while the runner owns a running job
	const hold = "  before_script: [\"sleep 90\"]\n"

	t.Run("manager killed mid-job: a new manager serves, the orphan is bounded, the retried job succeeds", func(t *testing.T) {
		sha := e.push(t, "killed manager "+e.run, e.run+"-killed", hold)
		pod, mgrs := e.holdJob(t)
		zero := int64(0)
		for _, m := range mgrs {
			if err := e.p.cs.CoreV1().Pods(e.a.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
				t.Fatal(err)
			}
		}
		if err := waitDeployment(ctx, e.p.cs, e.a.Namespace, "tenant-a-runner", 5*time.Minute); err != nil {
			t.Fatalf("no new manager after the kill: %v", err)
		}
		// The orphaned job pod cannot outlive the job timeout: the runner set activeDeadlineSeconds on it.
		if pod.Spec.ActiveDeadlineSeconds == nil || *pod.Spec.ActiveDeadlineSeconds <= 0 {
			t.Errorf("the orphaned job pod %s has no activeDeadlineSeconds: it could hold quota forever", pod.Name)
		}
		// GitLab notices the lost job only later (stuck-job handling); an operator, or the template's retry on
		// runner_system_failure, re-runs it. Cancel and retry it now: the new manager must run it to success.
		var jobs []struct {
			ID     int    `json:"id"`
			Status string `json:"status"`
		}
		if err := e.gl.call("GET", fmt.Sprintf("/projects/%d/jobs?scope[]=running&scope[]=pending", e.projectID), nil, &jobs); err != nil || len(jobs) == 0 {
			t.Fatalf("the killed manager's job is not running in GitLab (%v, %d jobs)", err, len(jobs))
		}
		if err := e.gl.call("POST", fmt.Sprintf("/projects/%d/jobs/%d/cancel", e.projectID, jobs[0].ID), nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.gl.call("POST", fmt.Sprintf("/projects/%d/jobs/%d/retry", e.projectID, jobs[0].ID), nil, nil); err != nil {
			t.Fatal(err)
		}
		if status := e.waitPipeline(ctx, sha, 20*time.Minute, nil); status != "success" {
			t.Fatalf("the retried job's pipeline: %s", status)
		}
	})

	t.Run("graceful SIGQUIT during upgrade: the running job finishes on the old manager", func(t *testing.T) {
		sha := e.push(t, "sigquit "+e.run, e.run+"-sigquit", hold)
		pod, old := e.holdJob(t)
		// a pod-template change rolls the manager: maxSurge 1, maxUnavailable 0, preStop SIGQUIT
		if err := e.upgrade(t, map[string]any{"runner": map[string]any{"podAnnotations": map[string]any{"gitlab-kaniko-tenant.io/rolled": e.run}}}); err != nil {
			t.Fatal(err)
		}
		// while the job runs, the old manager is terminating, not gone
		if _, err := e.p.cs.CoreV1().Pods(e.a.Namespace).Get(ctx, old[0].Name, metav1.GetOptions{}); err != nil {
			t.Errorf("the old manager %s left before its running job %s ended: %v", old[0].Name, pod.Name, err)
		}
		if status := e.waitPipeline(ctx, sha, 20*time.Minute, nil); status != "success" {
			t.Fatalf("the job running during the upgrade: pipeline %s", status)
		}
		if !waitGone(ctx, e.p.cs, e.a.Namespace, old[0].Name, 5*time.Minute) {
			t.Errorf("the old manager %s did not exit after its job ended", old[0].Name)
		}
	})

	t.Run("GitLab unreachable: the manager stays up and serves again when GitLab returns", func(t *testing.T) {
		before, err := e.managerPods(ctx)
		if err != nil || len(before) == 0 {
			t.Fatalf("manager pods: %v", err)
		}
		restarts := func(p corev1.Pod) int32 {
			n := int32(0)
			for _, st := range p.Status.ContainerStatuses {
				n += st.RestartCount
			}
			return n
		}
		// egress to GitLab only to a TEST-NET address: the manager cannot reach GitLab
		cut := map[string]any{"gitlab": map[string]any{"egress": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.1/32"}}}}}}
		if err := e.upgrade(t, cut); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Minute)
		during, err := e.managerPods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range during {
			for _, b := range before {
				if p.Name == b.Name && restarts(p) != restarts(b) {
					t.Errorf("manager %s restarted while GitLab was unreachable (liveness must not depend on GitLab)", p.Name)
				}
			}
		}
		if err := e.upgrade(t, nil); err != nil {
			t.Fatal(err)
		}
		sha := e.push(t, "gitlab back "+e.run, e.run+"-back", "")
		if status := e.waitPipeline(ctx, sha, 20*time.Minute, nil); status != "success" {
			t.Fatalf("after GitLab returned: pipeline %s", status)
		}
	})
}
