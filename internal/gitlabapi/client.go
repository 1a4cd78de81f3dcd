package gitlabapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// Client talks to one GitLab (or the stand-in) with a personal access token (scope api).
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for base (https://gitlab.example.com). ca, when set, is the PEM CA the server's certificate
// chains to (the stand-in's private CA).
func New(base, token string, ca []byte) (*Client, error) {
	if base == "" || token == "" {
		return nil, fmt.Errorf("gitlab: URL and token are required")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("gitlab: the CA is not PEM")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), token: token, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v4"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("PRIVATE-TOKEN", c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(raw)
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// Project is a GitLab project.
type Project struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	DefaultBranch     string `json:"default_branch"`
	WebURL            string `json:"web_url"`
}

// CreateProject creates a private project named name in the token user's namespace, default branch main.
func (c *Client) CreateProject(ctx context.Context, name string) (Project, error) {
	var p Project
	err := c.call(ctx, "POST", "/projects", map[string]any{"name": name, "path": name, "visibility": "private", "default_branch": "main"}, &p)
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main"
	}
	return p, err
}

// DeleteProject deletes the project.
func (c *Client) DeleteProject(ctx context.Context, id int64) error {
	return c.call(ctx, "DELETE", fmt.Sprintf("/projects/%d", id), nil, nil)
}

// Runner is a runner with its authentication token (glrt-…), the token the tenant chart's Secret holds.
type Runner struct {
	ID    int64  `json:"id"`
	Token string `json:"token"`
}

// CreateRunner creates a project runner that takes jobs tagged with (a subset of) tags only.
func (c *Client) CreateRunner(ctx context.Context, projectID int64, description string, tags []string) (Runner, error) {
	var r Runner
	err := c.call(ctx, "POST", "/user/runners", map[string]any{"runner_type": "project_type", "project_id": projectID, "description": description,
		"tag_list": strings.Join(tags, ","), "run_untagged": false}, &r)
	return r, err
}

// DeleteRunner deletes the runner.
func (c *Client) DeleteRunner(ctx context.Context, id int64) error {
	return c.call(ctx, "DELETE", fmt.Sprintf("/runners/%d", id), nil, nil)
}

// Commit commits files (path → content) to branch: create for paths in created, update for the rest. GitLab starts
// a pipeline for the commit.
func (c *Client) Commit(ctx context.Context, projectID int64, branch, message string, files map[string]string, existing map[string]bool) (string, error) {
	var actions []map[string]string
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		action := "create"
		if existing[p] {
			action = "update"
		}
		actions = append(actions, map[string]string{"action": action, "file_path": p, "content": files[p]})
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, "POST", fmt.Sprintf("/projects/%d/repository/commits", projectID), map[string]any{"branch": branch, "commit_message": message, "actions": actions}, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// Pipeline is a pipeline's state.
type Pipeline struct {
	ID         int64  `json:"id"`
	SHA        string `json:"sha"`
	Status     string `json:"status"`
	YAMLErrors string `json:"yaml_errors"`
}

// Finished reports whether the pipeline reached a final status.
func (p Pipeline) Finished() bool {
	return slices.Contains([]string{"success", "failed", "canceled", "skipped"}, p.Status)
}

// PipelineFor waits until GitLab created the commit's pipeline and returns it.
func (c *Client) PipelineFor(ctx context.Context, projectID int64, sha string, timeout time.Duration) (Pipeline, error) {
	var found Pipeline
	err := wait.For(ctx, "the pipeline of commit "+sha, time.Second, timeout, func(ctx context.Context) (bool, error) {
		var list []Pipeline
		if err := c.call(ctx, "GET", fmt.Sprintf("/projects/%d/pipelines?sha=%s", projectID, url.QueryEscape(sha)), nil, &list); err != nil {
			return false, wait.Retry(err)
		}
		if len(list) == 0 {
			return false, nil
		}
		found = list[0]
		return true, nil
	})
	return found, err
}

// WaitPipeline waits until the pipeline finishes (any final status) and returns it.
func (c *Client) WaitPipeline(ctx context.Context, projectID, pipelineID int64, timeout time.Duration) (Pipeline, error) {
	var p Pipeline
	err := wait.For(ctx, fmt.Sprintf("pipeline %d to finish", pipelineID), 2*time.Second, timeout, func(ctx context.Context) (bool, error) {
		if err := c.call(ctx, "GET", fmt.Sprintf("/projects/%d/pipelines/%d", projectID, pipelineID), nil, &p); err != nil {
			return false, wait.Retry(err)
		}
		return p.Finished(), nil
	})
	return p, err
}

// Job is one job of a pipeline.
type Job struct {
	ID             int64      `json:"id"`
	Name           string     `json:"name"`
	Stage          string     `json:"stage"`
	Status         string     `json:"status"`
	FailureReason  string     `json:"failure_reason"`
	Retried        bool       `json:"retried"`
	QueuedDuration float64    `json:"queued_duration"` // seconds pending before a runner took it
	Duration       float64    `json:"duration"`        // seconds running
	StartedAt      *time.Time `json:"started_at"`
	FinishedAt     *time.Time `json:"finished_at"`
	Runner         *struct {
		ID          int64  `json:"id"`
		Description string `json:"description"`
	} `json:"runner"`
	// StandinTraceChecksumMismatch is set by the stand-in only: the runner's final trace checksum did not match.
	StandinTraceChecksumMismatch string `json:"standin_trace_checksum_mismatch"`
}

// Jobs lists the pipeline's jobs, retried runs included, oldest first.
func (c *Client) Jobs(ctx context.Context, projectID, pipelineID int64) ([]Job, error) {
	var jobs []Job
	if err := c.call(ctx, "GET", fmt.Sprintf("/projects/%d/pipelines/%d/jobs?include_retried=true&per_page=100", projectID, pipelineID), nil, &jobs); err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, func(a, b Job) int { return int(a.ID - b.ID) })
	return jobs, nil
}

// Trace returns the job's log.
func (c *Client) Trace(ctx context.Context, projectID, jobID int64) (string, error) {
	var s string
	err := c.call(ctx, "GET", fmt.Sprintf("/projects/%d/jobs/%d/trace", projectID, jobID), nil, &s)
	return s, err
}

// CancelJob cancels the job.
func (c *Client) CancelJob(ctx context.Context, projectID, jobID int64) error {
	return c.call(ctx, "POST", fmt.Sprintf("/projects/%d/jobs/%d/cancel", projectID, jobID), nil, nil)
}

// ResetRunnerToken gives the runner a new authentication token; the old one stops working at once.
func (c *Client) ResetRunnerToken(ctx context.Context, runnerID int64) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := c.call(ctx, "POST", fmt.Sprintf("/runners/%d/reset_authentication_token", runnerID), nil, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("reset of runner %d's token: no token in the answer", runnerID)
	}
	return out.Token, nil
}

// VerifyRunner asks GitLab which runner an authentication token (glrt-…) belongs to, as a runner does at start
// (POST /runners/verify), and returns the runner's ID: whoever holds the token can take that runner's jobs.
func (c *Client) VerifyRunner(ctx context.Context, token string) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "/runners/verify", map[string]string{"token": token}, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}
