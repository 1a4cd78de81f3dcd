package gitlabstandin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// requestAs is POST jobs/request from a runner that advertises features (gitlab-runner 17.9.3 sends
// cancel_gracefully: true, network/gitlab.go).
func (w *world) requestAs(token string, features map[string]any) *handedJob {
	w.t.Helper()
	code, _, body := w.runnerCall("POST", "/jobs/request", nil, map[string]any{"token": token, "info": map[string]any{"name": "gitlab-runner", "version": "17.9.3", "features": features}})
	if code != http.StatusCreated {
		return nil
	}
	var j handedJob
	if err := json.Unmarshal(body, &j); err != nil {
		w.t.Fatal(err)
	}
	return &j
}

// pipelineOf commits ci to a new project with a runner tagged x, and returns the project, the runner's token and
// the pipeline.
func (w *world) pipelineOf(name, ci string) (*gitlab.Project, *gitlab.UserRunner, *gitlab.Pipeline) {
	w.t.Helper()
	ctx := context.Background()
	p, err := w.api.CreateProject(ctx, name)
	if err != nil {
		w.t.Fatal(err)
	}
	rn, err := w.api.CreateRunner(ctx, p.ID, "r", []string{"x"})
	if err != nil {
		w.t.Fatal(err)
	}
	pl := w.commit(p, ci)
	return p, rn, pl
}

func (w *world) commit(p *gitlab.Project, ci string) *gitlab.Pipeline {
	w.t.Helper()
	ctx := context.Background()
	existing := map[string]bool{}
	if list, _, _ := w.api.API.Pipelines.ListProjectPipelines(p.ID, nil); len(list) > 0 {
		existing[CIFile] = true
	}
	sha, err := w.api.Commit(ctx, p.ID, "main", "c", map[string]string{CIFile: ci}, existing)
	if err != nil {
		w.t.Fatal(err)
	}
	pl, err := w.api.PipelineFor(ctx, p.ID, sha, 5*time.Second)
	if err != nil {
		w.t.Fatal(err)
	}
	return pl
}

func (w *world) statuses(p *gitlab.Project, pl *gitlab.Pipeline) string {
	w.t.Helper()
	jobs, err := w.api.Jobs(context.Background(), p.ID, pl.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		s := j.Name + ":" + j.Status
		if j.FailureReason != "" {
			s += ":" + j.FailureReason
		}
		out = append(out, s)
	}
	got, _, _ := w.api.API.Pipelines.GetPipeline(p.ID, pl.ID)
	return got.Status + " " + strings.Join(out, " ")
}

// TestStandinDoesWhatGitLabDoes: GitLab's own behaviours that change what happens to a tenant's jobs, one subtest
// each, each naming where GitLab implements it.
func TestStandinDoesWhatGitLabDoes(t *testing.T) {
	graceful := map[string]any{"cancel_gracefully": true}
	t.Run("cancel with a runner that cancels gracefully: canceling, after_script, then canceled", func(t *testing.T) {
		t.Log("GitLab: app/models/ci/build.rb (cancel → canceling when the runner supports graceful cancel), app/models/commit_status.rb (drop from canceling → canceled), lib/api/ci/runner.rb (Job-Status)")
		w := newWorld(t, time.Second)
		p, rn, pl := w.pipelineOf("cancel-graceful", "j: {tags: [x], script: [sleep 60], after_script: [echo cleanup]}\n")
		j := w.requestAs(rn.Token, graceful)
		if j == nil {
			t.Fatal("no job handed out")
		}
		if err := w.api.CancelJob(context.Background(), p.ID, j.ID); err != nil {
			t.Fatal(err)
		}
		if got := w.statuses(p, pl); got != "canceling j:canceling" {
			t.Errorf("after cancel: %s, want the job and pipeline canceling", got)
		}
		if code, h := w.trace(j, 0, "running after_script\n"); code != http.StatusAccepted || h.Get("Job-Status") != StatusCanceling {
			t.Errorf("trace while canceling: %d Job-Status %q, want 202 and canceling (the runner runs after_script)", code, h.Get("Job-Status"))
		}
		// the runner reports its canceled script as a failure (job_canceled is the runner's own reason)
		if code := w.finish(j, StatusFailed, "job_canceled", "running after_script\n"); code != http.StatusOK {
			t.Errorf("final update: %d", code)
		}
		if got := w.statuses(p, pl); got != "canceled j:canceled" {
			t.Errorf("after the runner reported: %s, want canceled", got)
		}
	})
	t.Run("cancel with a runner that does not: canceled at once, the runner's next call 403 canceled", func(t *testing.T) {
		t.Log("GitLab: app/models/ci/build.rb, lib/api/ci/runner.rb (a job that is not running answers 403 with Job-Status)")
		w := newWorld(t, time.Second)
		p, rn, pl := w.pipelineOf("cancel-abort", "j: {tags: [x], script: [sleep 60]}\n")
		j := w.requestAs(rn.Token, map[string]any{})
		if err := w.api.CancelJob(context.Background(), p.ID, j.ID); err != nil {
			t.Fatal(err)
		}
		if code, h := w.trace(j, 0, "x"); code != http.StatusForbidden || h.Get("Job-Status") != StatusCanceled {
			t.Errorf("trace after cancel: %d Job-Status %q, want 403 canceled", code, h.Get("Job-Status"))
		}
		if got := w.statuses(p, pl); got != "canceled j:canceled" {
			t.Errorf("%s", got)
		}
	})
	t.Run("a running job past its timeout fails with job_execution_timeout, which the Kaniko template does not retry", func(t *testing.T) {
		t.Log("GitLab: app/services/ci/timed_out_builds/drop_running_service.rb; ci/templates/kaniko.gitlab-ci.yml retry.when")
		w := newWorld(t, time.Second)
		tpl := readTemplate(t)
		ctx := context.Background()
		p, _ := w.api.CreateProject(ctx, "timeout")
		rn, _ := w.api.CreateRunner(ctx, p.ID, "r", []string{"x"})
		sha, err := w.api.Commit(ctx, p.ID, "main", "c", map[string]string{CIFile: "include: {local: ci/templates/kaniko.gitlab-ci.yml}\nj: {tags: [x], extends: .kaniko-build, timeout: 10m}\n", "ci/templates/kaniko.gitlab-ci.yml": tpl}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pl, _ := w.api.PipelineFor(ctx, p.ID, sha, 5*time.Second)
		j := w.requestAs(rn.Token, graceful)
		started := time.Now()
		if got := w.server.DropStuck(started.Add(10*time.Minute + TimedOutMinuteBuffer - time.Second)); len(got) != 0 {
			t.Fatalf("dropped %v before the timeout and GitLab's MINUTE_BUFFER", got)
		}
		if got := w.server.DropStuck(started.Add(10*time.Minute + TimedOutMinuteBuffer + time.Second)); len(got) != 1 || got[0] != j.ID {
			t.Fatalf("dropped %v, want job %d", got, j.ID)
		}
		if got := w.statuses(p, pl); got != "failed j:failed:job_execution_timeout" {
			t.Errorf("%s: want the job failed with job_execution_timeout and not retried (the template retries lost runners, not timeouts)", got)
		}
	})
	t.Run("a failure reason GitLab does not know is recorded as unknown_failure; image_pull_failure is not offered", func(t *testing.T) {
		t.Log("GitLab: app/models/concerns/enums/ci/commit_status.rb failure_reasons; Ci::Build#features")
		w := newWorld(t, time.Second)
		p, rn, pl := w.pipelineOf("reasons", "j: {tags: [x], script: [x]}\n")
		code, _, raw := w.runnerCall("POST", "/jobs/request", nil, map[string]any{"token": rn.Token})
		if code != http.StatusCreated {
			t.Fatal(code)
		}
		var payload struct {
			ID       int64  `json:"id"`
			Token    string `json:"token"`
			Features struct {
				FailureReasons []string `json:"failure_reasons"`
			} `json:"features"`
		}
		_ = json.Unmarshal(raw, &payload)
		if slices.Contains(payload.Features.FailureReasons, "image_pull_failure") || !slices.Contains(payload.Features.FailureReasons, "job_execution_timeout") {
			t.Errorf("features.failure_reasons %v: want GitLab's enum", payload.Features.FailureReasons)
		}
		w.finish(&handedJob{ID: payload.ID, Token: payload.Token}, StatusFailed, "image_pull_failure", "")
		if got := w.statuses(p, pl); got != "failed j:failed:unknown_failure" {
			t.Errorf("%s", got)
		}
	})
	t.Run("auto-cancel: a new pipeline on the ref cancels older ones no non-interruptible job started in", func(t *testing.T) {
		t.Log("GitLab: app/services/ci/pipeline_creation/cancel_redundant_pipelines_service.rb (auto_cancel_on_new_commit: conservative)")
		w := newWorld(t, time.Second)
		p, rn, first := w.pipelineOf("autocancel", "j: {tags: [x], script: [a]}\n")
		second := w.commit(p, "j: {tags: [x], script: [b]}\n")
		if got := w.statuses(p, first); got != "canceled j:canceled" {
			t.Errorf("the older pending pipeline: %s, want canceled", got)
		}
		if w.requestAs(rn.Token, graceful) == nil {
			t.Fatal("the newer pipeline's job is not handed out")
		}
		w.commit(p, "j: {tags: [x], script: [c]}\n")
		if got := w.statuses(p, second); got != "running j:running" {
			t.Errorf("a pipeline whose non-interruptible job started: %s, want it left running", got)
		}
	})
	t.Run("auto-cancel is off when the project disables it", func(t *testing.T) {
		t.Log("GitLab: projects API auto_cancel_pending_pipelines")
		w := newWorld(t, time.Second)
		p, _, first := w.pipelineOf("noautocancel", "j: {tags: [x], script: [a]}\n")
		if _, _, err := w.api.API.Projects.EditProject(p.ID, &gitlab.EditProjectOptions{AutoCancelPendingPipelines: gitlab.Ptr("disabled")}); err != nil {
			t.Fatal(err)
		}
		w.commit(p, "j: {tags: [x], script: [b]}\n")
		if got := w.statuses(p, first); got != "pending j:pending" {
			t.Errorf("%s, want the older pipeline pending", got)
		}
	})
	t.Run("the trace interval is 60 s, 3 s while someone watches the job's log", func(t *testing.T) {
		t.Log("GitLab: lib/gitlab/ci/trace.rb (UPDATE_FREQUENCY_DEFAULT 60 s, UPDATE_FREQUENCY_WHEN_BEING_WATCHED 3 s, WATCH_FLAG_TTL 10 s); Projects::JobsController#trace")
		w := newWorld(t, time.Second)
		p, rn, _ := w.pipelineOf("interval", "j: {tags: [x], script: [a]}\n")
		j := w.requestAs(rn.Token, graceful)
		if _, h := w.trace(j, 0, "a\n"); h.Get("X-GitLab-Trace-Update-Interval") != "60" {
			t.Errorf("unwatched: interval %q, want 60", h.Get("X-GitLab-Trace-Update-Interval"))
		}
		if code := w.watch(p.PathWithNamespace, j.ID); code != http.StatusOK {
			t.Fatalf("the job page's log: %d", code)
		}
		if _, h := w.trace(j, 2, "b\n"); h.Get("X-GitLab-Trace-Update-Interval") != "3" {
			t.Errorf("watched: interval %q, want 3", h.Get("X-GitLab-Trace-Update-Interval"))
		}
		w.server.mu.Lock()
		w.server.jobs[j.ID].WatchedUntil = time.Now().Add(-time.Second) // 10 s later
		w.server.mu.Unlock()
		if code := w.finish(j, StatusSuccess, "", "a\nb\n"); code != http.StatusOK {
			t.Errorf("final update %d", code)
		}
	})
	t.Run("an expired runner token is refused; the runner rotates its own token before", func(t *testing.T) {
		t.Log("GitLab: application settings runner_token_expiration_interval; Ci::Runner#token_expired?; lib/api/ci/runner.rb POST /runners/reset_authentication_token")
		w := newWorld(t, time.Second)
		if _, _, err := w.api.API.Settings.UpdateSettings(&gitlab.UpdateSettingsOptions{RunnerTokenExpirationInterval: gitlab.Ptr(int64(3600))}); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		p, _ := w.api.CreateProject(ctx, "expiry")
		rn, err := w.api.CreateRunner(ctx, p.ID, "r", []string{"x"})
		if err != nil {
			t.Fatal(err)
		}
		if rn.TokenExpiresAt == nil || time.Until(*rn.TokenExpiresAt) < 59*time.Minute {
			t.Fatalf("token_expires_at %v, want an hour from now", rn.TokenExpiresAt)
		}
		code, _, raw := w.runnerCall("POST", "/runners/reset_authentication_token", nil, map[string]any{"token": rn.Token})
		var rotated struct {
			Token          string     `json:"token"`
			TokenExpiresAt *time.Time `json:"token_expires_at"`
		}
		_ = json.Unmarshal(raw, &rotated)
		if code != http.StatusCreated || rotated.Token == "" || rotated.Token == rn.Token || rotated.TokenExpiresAt == nil {
			t.Fatalf("self-rotation: %d %s", code, raw)
		}
		if _, err := w.api.VerifyRunner(ctx, rn.Token); err == nil {
			t.Error("the old token still verifies after the rotation")
		}
		w.server.mu.Lock()
		for _, r := range w.server.runners {
			r.TokenExpiresAt = time.Now().Add(-time.Second)
		}
		w.server.mu.Unlock()
		if _, err := w.api.VerifyRunner(ctx, rotated.Token); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("an expired token: %v, want 403", err)
		}
		if code, _, _ := w.runnerCall("POST", "/jobs/request", nil, map[string]any{"token": rotated.Token}); code != http.StatusForbidden {
			t.Errorf("jobs/request with an expired token: %d, want 403", code)
		}
	})
	t.Run("a project runner assigned to a second project takes that project's jobs, until unassigned", func(t *testing.T) {
		t.Log("GitLab: lib/api/ci/runners.rb (post ':id/runners', delete ':id/runners/:runner_id', authenticate_enable_runner!), app/services/ci/runners/assign_runner_service.rb, app/models/ci/runner.rb (assign_to), app/services/ci/runners/unassign_runner_service.rb")
		w := newWorld(t, time.Second)
		ctx := context.Background()
		owner, err := w.api.CreateProject(ctx, "assign-owner")
		if err != nil {
			t.Fatal(err)
		}
		// locked, as gkt runner creates runners: an administrator may still assign it
		rn, _, err := w.api.API.Users.CreateUserRunner(&gitlab.CreateUserRunnerOptions{RunnerType: gitlab.Ptr("project_type"), ProjectID: &owner.ID,
			TagList: &[]string{"x"}, Locked: gitlab.Ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		w.commit(owner, "j: {tags: [x], script: [echo ok]}\n")
		if j := w.requestAs(rn.Token, graceful); j == nil || j.JobInfo.ProjectID != owner.ID {
			t.Fatalf("the runner took no job of its owner project (%+v)", j)
		}
		other, err := w.api.CreateProject(ctx, "assign-other")
		if err != nil {
			t.Fatal(err)
		}
		pl := w.commit(other, "j: {tags: [x], script: [echo ok]}\n")
		if j := w.requestAs(rn.Token, graceful); j != nil {
			t.Fatalf("a project runner took job %d of a project it is not assigned to", j.ID)
		}
		if err := w.api.AssignRunner(ctx, other.ID, rn.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := w.api.ProjectRunners(ctx, other.ID); err != nil || n != 1 {
			t.Errorf("the second project lists %d runners (%v), want the assigned one", n, err)
		}
		if err := w.api.AssignRunner(ctx, other.ID, rn.ID); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("assigning the runner twice: %v, want 400 (already taken)", err)
		}
		if err := w.api.AssignRunner(ctx, other.ID, 99999); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("assigning a runner that does not exist: %v, want 404", err)
		}
		j := w.requestAs(rn.Token, graceful)
		if j == nil || j.JobInfo.ProjectID != other.ID {
			t.Fatalf("the assigned runner took no job of the second project (%+v)", j)
		}
		w.finish(j, StatusSuccess, "", "ok\n")
		if got := w.statuses(other, pl); got != "success j:success" {
			t.Errorf("the second project's pipeline: %s", got)
		}
		if _, err := w.api.API.Runners.DisableProjectRunner(owner.ID, rn.ID); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("unassigning the runner from its owner project: %v, want 403 (delete the runner instead)", err)
		}
		if err := w.api.UnassignRunner(ctx, other.ID, rn.ID); err != nil {
			t.Fatal(err)
		}
		w.commit(other, "j: {tags: [x], script: [exit 1]}\n")
		if j := w.requestAs(rn.Token, graceful); j != nil {
			t.Errorf("the unassigned runner took job %d of the second project", j.ID)
		}
		if err := w.api.UnassignRunner(ctx, other.ID, rn.ID); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("unassigning a runner the project does not have: %v, want 404", err)
		}
	})
	t.Run("the job's record names the runner manager that took it: system_id, version, address", func(t *testing.T) {
		t.Log("GitLab: lib/api/ci/helpers/runner.rb (current_runner_manager: ensure_manager by system_id), Ci::RunnerManagerBuild, lib/api/entities/ci/job.rb (runner_manager), lib/api/entities/ci/runner_manager.rb, lib/api/ci/runners.rb (get ':id/managers')")
		w := newWorld(t, time.Second)
		ctx := context.Background()
		p, rn, _ := w.pipelineOf("managers", "a: {tags: [x], script: [echo a]}\nb: {tags: [x], script: [echo b]}\n")
		take := func(systemID string) int64 {
			t.Helper()
			code, _, body := w.runnerCall("POST", "/jobs/request", nil, map[string]any{"token": rn.Token, "system_id": systemID,
				"info": map[string]any{"name": "gitlab-runner", "version": "17.9.3", "revision": "a1b2c3d4", "platform": "linux", "architecture": "amd64"}})
			var j handedJob
			if code != http.StatusCreated || json.Unmarshal(body, &j) != nil {
				t.Fatalf("manager %s got no job (%d)", systemID, code)
			}
			return j.ID
		}
		ja, jb := take("s_old0manager"), take("s_new0manager")
		for id, want := range map[int64]string{ja: "s_old0manager", jb: "s_new0manager"} {
			m, err := w.api.JobManager(ctx, p.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			if m == nil || m.SystemID != want || m.Version != "17.9.3" || m.IPAddress != "127.0.0.1" || m.Status != "online" {
				t.Errorf("job %d's runner_manager %+v, want system_id %s, version 17.9.3, ip 127.0.0.1, online", id, m, want)
			}
		}
		managers, _, err := w.api.API.Runners.ListRunnerManagers(rn.ID)
		if err != nil || len(managers) != 2 || managers[0].SystemID != "s_old0manager" {
			t.Errorf("the runner's managers: %+v (%v), want the two system_ids, oldest first", managers, err)
		}
		q, err := w.api.CreateProject(ctx, "managers-pending")
		if err != nil {
			t.Fatal(err)
		}
		pl := w.commit(q, "c: {tags: [y], script: [echo c]}\n")
		jobs, _ := w.api.Jobs(ctx, q.ID, pl.ID)
		if m, err := w.api.JobManager(ctx, q.ID, jobs[0].ID); err != nil || m != nil {
			t.Errorf("a pending job's runner_manager: %+v (%v), want null", m, err)
		}
	})
	t.Run("a paused runner gets no job until it is unpaused", func(t *testing.T) {
		t.Log("GitLab: Ci::RegisterJobService (active runners only); PUT /runners/:id paused")
		w := newWorld(t, time.Second)
		_, rn, _ := w.pipelineOf("paused", "j: {tags: [x], script: [a]}\n")
		if _, _, err := w.api.API.Runners.UpdateRunnerDetails(rn.ID, &gitlab.UpdateRunnerDetailsOptions{Paused: gitlab.Ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := w.runnerCall("POST", "/jobs/request", nil, map[string]any{"token": rn.Token}); code != http.StatusNoContent {
			t.Errorf("paused: %d, want 204", code)
		}
		if _, _, err := w.api.API.Runners.UpdateRunnerDetails(rn.ID, &gitlab.UpdateRunnerDetailsOptions{Paused: gitlab.Ptr(false)}); err != nil {
			t.Fatal(err)
		}
		if w.requestAs(rn.Token, graceful) == nil {
			t.Error("unpaused: no job")
		}
	})
	t.Run("pending jobs are dropped after a day, or after an hour with no online runner that can take them", func(t *testing.T) {
		t.Log("GitLab: app/services/ci/stuck_builds/drop_pending_service.rb (BUILD_PENDING_OUTDATED_TIMEOUT 1 day, BUILD_PENDING_STUCK_TIMEOUT 1 hour)")
		w := newWorld(t, time.Second)
		p, _, pl := w.pipelineOf("pending", "a: {tags: [x], script: [a]}\nb: {tags: [nobody], script: [b]}\n")
		now := time.Now()
		// the runner of tag x is online (it has not called yet: make it so); nobody serves tag nobody
		w.server.mu.Lock()
		for _, r := range w.server.runners {
			r.ContactedAt = now
		}
		w.server.mu.Unlock()
		if got := w.server.DropStuck(now.Add(30 * time.Minute)); len(got) != 0 {
			t.Fatalf("dropped %v after 30 min", got)
		}
		w.server.mu.Lock()
		for _, r := range w.server.runners {
			r.ContactedAt = now.Add(time.Hour)
		}
		w.server.mu.Unlock()
		if got := w.server.DropStuck(now.Add(time.Hour + time.Second)); len(got) != 1 {
			t.Fatalf("dropped %v after an hour, want only the job no runner can take", got)
		}
		w.server.mu.Lock()
		for _, r := range w.server.runners {
			r.ContactedAt = now.Add(24 * time.Hour)
		}
		w.server.mu.Unlock()
		if got := w.server.DropStuck(now.Add(24*time.Hour + time.Second)); len(got) != 1 {
			t.Fatalf("dropped %v after a day, want the other job too", got)
		}
		if got := w.statuses(p, pl); got != "failed a:failed:stuck_or_timeout_failure b:failed:stuck_or_timeout_failure" {
			t.Errorf("%s", got)
		}
	})
}

func readTemplate(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../ci/templates/kaniko.gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// watch opens the job page's log as a browser does (GitLab's UI path, not the API).
func (w *world) watch(projectPath string, jobID int64) int {
	w.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/%s/-/jobs/%d/trace.json", w.srv.URL, projectPath, jobID), nil)
	req.Header.Set("PRIVATE-TOKEN", adminToken)
	resp, err := w.raw.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
