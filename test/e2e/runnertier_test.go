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

// TestRunnerTier runs the real gitlab-runner from the tenant chart against a real GitLab: it creates a project
// and a project runner for tenant-a, installs the manager with that token, pushes a sample project that includes
// the Kaniko template, waits for its pipeline, and asserts the job tier's outcomes plus one more: the job pod the
// runner created matches internal/jobpod's prediction (this keeps the model honest).
//
// It needs GITLAB_URL and GITLAB_TOKEN (a token that may create projects and runners) and a machine where the
// runner, helper and Kaniko images can be pulled (GKT_E2E_MODE=pull). Our own machines have no registry access:
// there it skips, and docs/testing.md says so.
func TestRunnerTier(t *testing.T) {
	base, token := os.Getenv("GITLAB_URL"), os.Getenv("GITLAB_TOKEN")
	if base == "" || token == "" {
		t.Skip("runner tier: set GITLAB_URL and GITLAB_TOKEN (api scope; may create projects and runners) on a machine that can pull registry.gitlab.com and ghcr.io images")
	}
	ctx := context.Background()
	gl := &gitlab{base: base, token: token, c: http.Client{Timeout: 30 * time.Second}}
	run := fmt.Sprint(time.Now().Unix())
	var project struct {
		ID     int    `json:"id"`
		WebURL string `json:"web_url"`
	}
	if err := gl.call("POST", "/projects", map[string]any{"name": "gkt-e2e-" + run, "visibility": "private", "initialize_with_readme": true}, &project); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gl.call("DELETE", fmt.Sprintf("/projects/%d", project.ID), nil, nil) }()
	var runner struct {
		ID    int    `json:"id"`
		Token string `json:"token"`
	}
	if err := gl.call("POST", "/user/runners", map[string]any{"runner_type": "project_type", "project_id": project.ID, "tag_list": []string{"tenant-a"}, "description": "gkt-e2e " + run}, &runner); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gl.call("DELETE", fmt.Sprintf("/runners/%d", runner.ID), nil, nil) }()
	gitlabCIDR := os.Getenv("GITLAB_EGRESS_CIDR")
	if gitlabCIDR == "" {
		gitlabCIDR = "0.0.0.0/0"
	}
	defaults := values(t, filepath.Join(repo, "charts/gitlab-kaniko-tenant/values.yaml"))
	defJobs := defaults["jobs"].(map[string]any)
	p := setupPlatform(t, func(tenant string) map[string]any {
		if tenant != "tenant-a" {
			return nil
		}
		return map[string]any{
			"managerDisabled": false,
			"gitlab":          map[string]any{"url": base, "egress": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": gitlabCIDR}}}}},
			// the upstream images, pulled: the chart's pinned Kaniko and the real runner helper
			"jobs": map[string]any{"image": defJobs["image"], "helper": map[string]any{"image": defJobs["helper"].(map[string]any)["image"]}},
		}
	})
	a := p.set.Tenants["tenant-a"]
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-runner-token", Namespace: a.Namespace}, StringData: map[string]string{"runner-token": runner.Token}}
	_ = p.cs.CoreV1().Secrets(a.Namespace).Delete(ctx, sec.Name, metav1.DeleteOptions{})
	if _, err := p.cs.CoreV1().Secrets(a.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := waitDeployment(ctx, p.cs, a.Namespace, "tenant-a-runner", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	tpl, err := os.ReadFile(filepath.Join(repo, "ci/templates/kaniko.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files := sample("tenant-a", "hello from the runner tier "+run)
	files["kaniko.gitlab-ci.yml"] = string(tpl)
	files[".gitlab-ci.yml"] = fmt.Sprintf(`include:
  - local: kaniko.gitlab-ci.yml
build:
  extends: .kaniko-build
  tags: [tenant-a]
  variables:
    KANIKO_DESTINATION: %s/tenant-a/runner-tier:%s
`, kindworld.DestRegistryHost, run)
	var actions []map[string]any
	for path, content := range files {
		actions = append(actions, map[string]any{"action": "create", "file_path": path, "content": content})
	}
	var commit struct {
		ID string `json:"id"`
	}
	if err := gl.call("POST", fmt.Sprintf("/projects/%d/repository/commits", project.ID), map[string]any{"branch": "main", "commit_message": "gkt e2e runner tier", "actions": actions}, &commit); err != nil {
		t.Fatal(err)
	}
	// Watch for the job pod the runner creates and compare it with the model's prediction.
	r, err := runnerConfig(ctx, p.cs, a.Namespace, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	var seen *corev1.Pod
	deadline := time.Now().Add(20 * time.Minute)
	status := ""
	for time.Now().Before(deadline) {
		if seen == nil {
			pods, _ := p.cs.CoreV1().Pods(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job.runner.gitlab.com/pod"})
			if len(pods.Items) > 0 {
				seen = pods.Items[0].DeepCopy()
			}
		}
		var pipes []struct {
			Status string `json:"status"`
		}
		if err := gl.call("GET", fmt.Sprintf("/projects/%d/pipelines?sha=%s", project.ID, url.QueryEscape(commit.ID)), nil, &pipes); err == nil && len(pipes) > 0 {
			status = pipes[0].Status
			if status == "success" || status == "failed" || status == "canceled" {
				break
			}
		}
		time.Sleep(2 * time.Second)
	}
	if status != "success" {
		t.Fatalf("pipeline %s: %s", project.WebURL, status)
	}
	if seen == nil {
		t.Fatal("never saw the runner's job pod")
	}
	predicted, err := jobpod.Pod(r, jobpod.Job{ProjectID: int64(project.ID), JobID: 1, TimeoutSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range jobpod.Compare(predicted, seen) {
		t.Errorf("model vs runner: %s", d)
	}
	if !contains(a.Nodes, seen.Spec.NodeName) {
		t.Errorf("the runner's job pod ran on %s, not on tenant-a's nodes %v", seen.Spec.NodeName, a.Nodes)
	}
	if !waitGone(ctx, p.cs, a.Namespace, seen.Name, 2*time.Minute) {
		t.Errorf("the runner left its job pod %s behind", seen.Name)
	}
	logf("runner tier: pipeline %s succeeded on %s; the job pod matches the model", project.WebURL, seen.Spec.NodeName)
}
