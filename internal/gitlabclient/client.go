package gitlabclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// Client is GitLab's official client for one GitLab (or the stand-in) and a personal access token (scope api).
type Client struct {
	// API is the official client, for calls this package does not wrap.
	API  *gitlab.Client
	http *http.Client
}

// New returns a client for base (https://gitlab.example.com). ca, when set, is the PEM CA the server's certificate
// chains to (the stand-in's private CA).
func New(base, token string, ca []byte) (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("gitlab: the CA is not PEM")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return NewWithHTTP(base, token, &http.Client{Transport: tr, Timeout: 60 * time.Second})
}

// NewWithHTTP is New with the HTTP client given (its transport trusts the server).
func NewWithHTTP(base, token string, hc *http.Client) (*Client, error) {
	if base == "" || token == "" {
		return nil, errors.New("gitlab: URL and token are required")
	}
	api, err := gitlab.NewClient(token, gitlab.WithBaseURL(strings.TrimSuffix(base, "/")+"/api/v4"), gitlab.WithHTTPClient(hc), gitlab.WithoutRetries())
	if err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	return &Client{API: api, http: hc}, nil
}

// HTTP is the HTTP client the API calls go through.
func (c *Client) HTTP() *http.Client { return c.http }

// ProjectRunners counts the runners assigned to the project (GET /projects/:id/runners).
func (c *Client) ProjectRunners(ctx context.Context, projectID int64) (int, error) {
	rs, _, err := c.API.Runners.ListProjectRunners(projectID, nil, gitlab.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("runners of project %d: %w", projectID, err)
	}
	return len(rs), nil
}

// CreateProject creates a private project named name in the token user's namespace, default branch main.
func (c *Client) CreateProject(ctx context.Context, name string) (*gitlab.Project, error) {
	p, _, err := c.API.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: &name, Path: &name,
		Visibility: gitlab.Ptr(gitlab.PrivateVisibility), DefaultBranch: gitlab.Ptr("main")}, gitlab.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("creating project %s: %w", name, err)
	}
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main" // an empty project has no default branch until its first commit
	}
	return p, nil
}

// DeleteProject deletes the project.
func (c *Client) DeleteProject(ctx context.Context, id int64) error {
	_, err := c.API.Projects.DeleteProject(id, nil, gitlab.WithContext(ctx))
	return err
}

// SetAutoCancel turns the project's auto-cancel of redundant pipelines on or off (auto_cancel_pending_pipelines;
// GitLab's default is on: a new pipeline on a ref cancels the older pending ones there).
func (c *Client) SetAutoCancel(ctx context.Context, projectID int64, on bool) error {
	v := "disabled"
	if on {
		v = "enabled"
	}
	_, _, err := c.API.Projects.EditProject(projectID, &gitlab.EditProjectOptions{AutoCancelPendingPipelines: &v}, gitlab.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("project %d: auto_cancel_pending_pipelines %s: %w", projectID, v, err)
	}
	return nil
}

// CreateRunner creates a project runner (POST /user/runners) that takes jobs tagged with (a subset of) tags only.
func (c *Client) CreateRunner(ctx context.Context, projectID int64, description string, tags []string) (*gitlab.UserRunner, error) {
	r, _, err := c.API.Users.CreateUserRunner(&gitlab.CreateUserRunnerOptions{RunnerType: gitlab.Ptr("project_type"), ProjectID: &projectID,
		Description: &description, TagList: &tags, RunUntagged: gitlab.Ptr(false)}, gitlab.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("creating runner %q: %w", description, err)
	}
	return r, nil
}

// AssignRunner makes a project runner take another project's jobs too (POST /projects/:id/runners): e.g. a tenant's
// second runner profile serving a project whose pipeline has jobs for both.
func (c *Client) AssignRunner(ctx context.Context, projectID, runnerID int64) error {
	if _, _, err := c.API.Runners.EnableProjectRunner(projectID, &gitlab.EnableProjectRunnerOptions{RunnerID: runnerID}, gitlab.WithContext(ctx)); err != nil {
		return fmt.Errorf("assigning runner %d to project %d: %w", runnerID, projectID, err)
	}
	return nil
}

// UnassignRunner undoes AssignRunner (DELETE /projects/:id/runners/:runner_id).
func (c *Client) UnassignRunner(ctx context.Context, projectID, runnerID int64) error {
	if _, err := c.API.Runners.DisableProjectRunner(projectID, runnerID, gitlab.WithContext(ctx)); err != nil {
		return fmt.Errorf("unassigning runner %d from project %d: %w", runnerID, projectID, err)
	}
	return nil
}

// JobManager is the runner manager that took a job, from GitLab's record of the job (GET /projects/:id/jobs/:job_id,
// its runner_manager: system_id, ip_address, version …); nil before a manager took it. client-go's Job type does not
// carry the field, so the job is read with client-go's request and decoded into its RunnerManager type.
func (c *Client) JobManager(ctx context.Context, projectID, jobID int64) (*gitlab.RunnerManager, error) {
	req, err := c.API.NewRequest(http.MethodGet, fmt.Sprintf("projects/%d/jobs/%d", projectID, jobID), nil, []gitlab.RequestOptionFunc{gitlab.WithContext(ctx)})
	if err != nil {
		return nil, err
	}
	var job struct {
		RunnerManager *gitlab.RunnerManager `json:"runner_manager"`
	}
	if _, err := c.API.Do(req, &job); err != nil {
		return nil, fmt.Errorf("job %d of project %d: %w", jobID, projectID, err)
	}
	return job.RunnerManager, nil
}

// DeleteRunner deletes the runner.
func (c *Client) DeleteRunner(ctx context.Context, id int64) error {
	_, err := c.API.Runners.DeleteRegisteredRunnerByID(id, gitlab.WithContext(ctx))
	return err
}

// Commit commits files (path → content) to branch: create for paths not in existing, update for the rest. GitLab
// starts a pipeline for the commit. It returns the commit's SHA.
func (c *Client) Commit(ctx context.Context, projectID int64, branch, message string, files map[string]string, existing map[string]bool) (string, error) {
	var actions []*gitlab.CommitActionOptions
	for _, p := range slices.Sorted(maps.Keys(files)) {
		action := gitlab.FileCreate
		if existing[p] {
			action = gitlab.FileUpdate
		}
		actions = append(actions, &gitlab.CommitActionOptions{Action: gitlab.Ptr(action), FilePath: gitlab.Ptr(p), Content: gitlab.Ptr(files[p])})
	}
	cm, _, err := c.API.Commits.CreateCommit(projectID, &gitlab.CreateCommitOptions{Branch: &branch, CommitMessage: &message, Actions: actions}, gitlab.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("commit to project %d: %w", projectID, err)
	}
	return cm.ID, nil
}

// Finished reports whether a pipeline (or job) status is final.
func Finished(status string) bool {
	return slices.Contains([]string{"success", "failed", "canceled", "skipped"}, status)
}

// PipelineFor waits until GitLab created the commit's pipeline and returns it as the single-pipeline endpoint shows
// it (with yaml_errors, which the list does not carry).
func (c *Client) PipelineFor(ctx context.Context, projectID int64, sha string, timeout time.Duration) (*gitlab.Pipeline, error) {
	var id int64
	err := wait.For(ctx, "the pipeline of commit "+sha, time.Second, timeout, func(ctx context.Context) (bool, error) {
		list, _, err := c.API.Pipelines.ListProjectPipelines(projectID, &gitlab.ListProjectPipelinesOptions{SHA: &sha}, gitlab.WithContext(ctx))
		if err != nil {
			return false, wait.Retry(err)
		}
		if len(list) == 0 {
			return false, nil
		}
		id = list[0].ID
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	p, _, err := c.API.Pipelines.GetPipeline(projectID, id, gitlab.WithContext(ctx))
	return p, err
}

// WaitPipeline waits until the pipeline finishes (any final status) and returns it.
func (c *Client) WaitPipeline(ctx context.Context, projectID, pipelineID int64, timeout time.Duration) (*gitlab.Pipeline, error) {
	var p *gitlab.Pipeline
	err := wait.For(ctx, fmt.Sprintf("pipeline %d to finish", pipelineID), 2*time.Second, timeout, func(ctx context.Context) (bool, error) {
		got, _, err := c.API.Pipelines.GetPipeline(projectID, pipelineID, gitlab.WithContext(ctx))
		if err != nil {
			return false, wait.Retry(err)
		}
		p = got
		return Finished(p.Status), nil
	})
	return p, err
}

// Jobs lists the pipeline's jobs, retried attempts included, oldest first.
func (c *Client) Jobs(ctx context.Context, projectID, pipelineID int64) ([]gitlab.Job, error) {
	var out []gitlab.Job
	opt := &gitlab.ListJobsOptions{ListOptions: gitlab.ListOptions{PerPage: 100, Page: 1}, IncludeRetried: gitlab.Ptr(true)}
	for {
		page, resp, err := c.API.Jobs.ListPipelineJobs(projectID, pipelineID, opt, gitlab.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("jobs of pipeline %d: %w", pipelineID, err)
		}
		for _, j := range page {
			out = append(out, *j)
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	slices.SortFunc(out, func(a, b gitlab.Job) int { return int(a.ID - b.ID) })
	return out, nil
}

// Retried reports whether job j was retried: GitLab shows a retry as a later job of the same name in the pipeline
// (the REST API has no "retried" field).
func Retried(jobs []gitlab.Job, j gitlab.Job) bool {
	return slices.ContainsFunc(jobs, func(o gitlab.Job) bool { return o.Name == j.Name && o.ID > j.ID })
}

// Latest keeps the last attempt of each job name, oldest first.
func Latest(jobs []gitlab.Job) []gitlab.Job {
	var out []gitlab.Job
	for _, j := range jobs {
		if !Retried(jobs, j) {
			out = append(out, j)
		}
	}
	return out
}

// Trace returns the job's log.
func (c *Client) Trace(ctx context.Context, projectID, jobID int64) (string, error) {
	r, _, err := c.API.Jobs.GetTraceFile(projectID, jobID, gitlab.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("trace of job %d: %w", jobID, err)
	}
	raw, err := io.ReadAll(r)
	return string(raw), err
}

// CancelJob cancels the job.
func (c *Client) CancelJob(ctx context.Context, projectID, jobID int64) error {
	_, _, err := c.API.Jobs.CancelJob(projectID, jobID, gitlab.WithContext(ctx))
	return err
}

// ResetRunnerToken gives the runner a new authentication token; the old one stops working at once.
func (c *Client) ResetRunnerToken(ctx context.Context, runnerID int64) (string, error) {
	t, _, err := c.API.Runners.ResetRunnerAuthenticationToken(runnerID, gitlab.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("reset of runner %d's token: %w", runnerID, err)
	}
	if t.Token == nil || *t.Token == "" {
		return "", fmt.Errorf("reset of runner %d's token: no token in the answer", runnerID)
	}
	return *t.Token, nil
}

// VerifyRunner asks GitLab which runner an authentication token (glrt-…) belongs to, as a runner does at start
// (POST /runners/verify), and returns the runner's ID: whoever holds the token can take that runner's jobs. The
// official client's VerifyRegisteredRunner discards the answer's body, so this goes through its NewRequest and Do.
func (c *Client) VerifyRunner(ctx context.Context, token string) (int64, error) {
	req, err := c.API.NewRequest(http.MethodPost, "runners/verify", map[string]string{"token": token}, []gitlab.RequestOptionFunc{gitlab.WithContext(ctx)})
	if err != nil {
		return 0, err
	}
	var out struct {
		ID int64 `json:"id"`
	}
	if _, err := c.API.Do(req, &out); err != nil {
		return 0, fmt.Errorf("runners/verify: %w", err)
	}
	return out.ID, nil
}
