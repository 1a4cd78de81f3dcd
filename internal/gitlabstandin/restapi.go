package gitlabstandin

import (
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The REST API subset the tests drive, with GitLab's paths, parameters and field names (docs/api), so that
// internal/gitlabclient (GitLab's official Go client) serves a real GitLab unchanged.

func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("PRIVATE-TOKEN")
		if tok == "" {
			tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
			return
		}
		h(w, r)
	}
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": "0.0.0-standin", "revision": "standin"})
}

var projectName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,99}$`)

// StandinNamespace is the namespace of every project: the admin user's, as POST /projects without namespace_id
// puts it in GitLab.
const StandinNamespace = "e2e"

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name                       string `json:"name"`
		Path                       string `json:"path"`
		DefaultBranch              string `json:"default_branch"`
		AutoCancelPendingPipelines string `json:"auto_cancel_pending_pipelines"`
	}
	if err := readJSON(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if body.Path == "" {
		body.Path = body.Name
	}
	if !projectName.MatchString(body.Path) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": map[string][]string{"path": {"must be letters, digits, _ . - (GitLab's rule)"}}})
		return
	}
	if body.DefaultBranch == "" {
		body.DefaultBranch = "main"
	}
	s.mu.Lock()
	for _, p := range s.projects {
		if p.Name == body.Path {
			s.mu.Unlock()
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": map[string][]string{"path": {"has already been taken"}}})
			return
		}
	}
	autoCancel, ok := autoCancelSetting(body.AutoCancelPendingPipelines)
	if !ok {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "auto_cancel_pending_pipelines does not have a valid value"})
		return
	}
	p := &project{ID: s.newIDLocked(), Name: body.Path, Namespace: StandinNamespace, Path: StandinNamespace + "/" + body.Path, DefaultBranch: body.DefaultBranch, AutoCancelPending: autoCancel}
	p.Repo = filepath.Join(s.cfg.DataDir, "repos", p.Path+".git")
	s.mu.Unlock()
	if err := initBare(p.Repo, p.DefaultBranch); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	s.mu.Lock()
	s.projects[p.ID] = p
	s.mu.Unlock()
	s.logf("project %d: %s", p.ID, p.Path)
	writeJSON(w, http.StatusCreated, s.projectJSON(p))
}

func (s *Server) projectJSON(p *project) map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "path": p.Name, "path_with_namespace": p.Path, "default_branch": p.DefaultBranch,
		"web_url": s.cfg.ExternalURL + "/" + p.Path, "http_url_to_repo": s.cfg.ExternalURL + "/" + p.Path + ".git",
		"namespace": map[string]any{"path": p.Namespace, "full_path": p.Namespace}}
}

// projectOf finds the project of the request's :id, a numeric ID or the URL-encoded path (GitLab takes both).
func (s *Server) projectOf(w http.ResponseWriter, r *http.Request) *project {
	key := r.PathValue("id")
	id, _ := strconv.ParseInt(key, 10, 64)
	s.mu.Lock()
	p := s.projects[id]
	if p == nil {
		for _, c := range s.projects {
			if c.Path == key {
				p = c
			}
		}
	}
	s.mu.Unlock()
	if p == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
	}
	return p
}

// autoCancelSetting reads auto_cancel_pending_pipelines: enabled (GitLab's default, also when empty) or disabled.
func autoCancelSetting(v string) (enabled, ok bool) {
	switch v {
	case "", "enabled":
		return true, true
	case "disabled":
		return false, true
	}
	return false, false
}

// updateProject is PUT /projects/:id; the stand-in changes auto_cancel_pending_pipelines only, and refuses any other
// attribute by name.
func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	var body map[string]any
	if err := readJSON(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	for k := range body {
		if k != "auto_cancel_pending_pipelines" && k != "id" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": k + " cannot be changed in this GitLab stand-in (auto_cancel_pending_pipelines can)"})
			return
		}
	}
	v, _ := body["auto_cancel_pending_pipelines"].(string)
	enabled, ok := autoCancelSetting(v)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "auto_cancel_pending_pipelines does not have a valid value"})
		return
	}
	s.mu.Lock()
	p.AutoCancelPending = enabled
	out := s.projectJSON(p)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	if p := s.projectOf(w, r); p != nil {
		s.mu.Lock()
		out := s.projectJSON(p)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	s.mu.Lock()
	delete(s.projects, p.ID)
	for _, pl := range s.pipelines {
		if pl.Project == p {
			for _, j := range pl.Jobs {
				if j.Status == StatusPending || j.Status == StatusCreated {
					j.Status = StatusCanceled
				}
			}
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"message": "202 Accepted"})
}

// createCommit is POST /projects/:id/repository/commits: the actions become a commit on branch, and the commit
// starts a pipeline (as a push does in GitLab).
func (s *Server) createCommit(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	var body struct {
		Branch        string         `json:"branch"`
		CommitMessage string         `json:"commit_message"`
		Actions       []CommitAction `json:"actions"`
	}
	if err := readJSON(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if body.Branch != p.DefaultBranch {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": fmt.Sprintf("this GitLab stand-in runs pipelines for the default branch %s only", p.DefaultBranch)})
		return
	}
	before, sha, err := commit(p.Repo, body.Branch, body.CommitMessage, body.Actions)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	s.startPipeline(p, body.Branch, before, sha, body.CommitMessage)
	writeJSON(w, http.StatusCreated, map[string]any{"id": sha, "short_id": sha[:8], "title": strings.SplitN(body.CommitMessage, "\n", 2)[0], "message": body.CommitMessage})
}

// startPipeline compiles the commit's .gitlab-ci.yml and queues its first jobs. A file the stand-in cannot run
// gives a failed pipeline with yaml_errors, as GitLab shows an invalid file.
func (s *Server) startPipeline(p *project, ref, before, sha, message string) {
	spec, err := CompileFrom(Source{
		Local:   func(file string) ([]byte, error) { return showFile(p.Repo, sha, file) },
		Project: s.projectFile,
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	p.pipelineIID++
	pl := &pipeline{ID: s.newIDLocked(), IID: p.pipelineIID, Project: p, SHA: sha, BeforeSHA: before, Ref: ref, Message: message, Spec: spec, CreatedAt: time.Now()}
	s.pipelines[pl.ID] = pl
	if err != nil {
		pl.YAMLErrors = err.Error()
		s.logf("pipeline %d (%s %s): invalid: %v", pl.ID, p.Path, sha[:8], err)
		return
	}
	if err := updateRef(p.Repo, fmt.Sprintf("refs/pipelines/%d", pl.ID), sha); err != nil {
		pl.YAMLErrors = "internal: " + err.Error()
		return
	}
	for _, js := range spec.Jobs {
		j := &job{ID: s.newIDLocked(), Pipeline: pl, Spec: js, Token: randomToken("glcbt-", 16), Status: StatusCreated, Run: 1, CreatedAt: time.Now()}
		pl.Jobs = append(pl.Jobs, j)
		s.jobs[j.ID] = j
	}
	s.logf("pipeline %d (%s %s): %d jobs", pl.ID, p.Path, sha[:8], len(pl.Jobs))
	s.cancelRedundantLocked(pl)
	s.advanceLocked(pl)
}

// cancelRedundantLocked is GitLab's auto-cancel of redundant pipelines (Ci::PipelineCreation::
// CancelRedundantPipelinesService, auto_cancel_on_new_commit: conservative, the default): a new pipeline on a ref
// cancels the older unfinished pipelines of that ref in which no non-interruptible job has started. Their pending
// and created jobs are canceled, their running (interruptible) jobs too. Off when the project's
// auto_cancel_pending_pipelines is disabled. Callers hold s.mu.
func (s *Server) cancelRedundantLocked(newer *pipeline) {
	if !newer.Project.AutoCancelPending {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(s.pipelines)) {
		pl := s.pipelines[id]
		if pl == newer || pl.Project != newer.Project || pl.Ref != newer.Ref || pl.ID > newer.ID || pl.Spec == nil {
			continue
		}
		if st := pl.status(); st != StatusCreated && st != StatusPending && st != StatusRunning {
			continue
		}
		blocked := false
		for _, j := range pl.Jobs {
			if !j.StartedAt.IsZero() && !j.Spec.Interruptible {
				blocked = true
			}
		}
		if blocked {
			continue
		}
		s.logf("pipeline %d: auto-canceled by pipeline %d on %s (redundant; no non-interruptible job started)", pl.ID, newer.ID, pl.Ref)
		for _, j := range pl.current() {
			switch j.Status {
			case StatusCreated, StatusPending:
				j.Status, j.FinishedAt = StatusCanceled, time.Now()
			case StatusRunning:
				if j.Graceful {
					j.Status = StatusCanceling
				} else {
					j.Status, j.FinishedAt = StatusCanceled, time.Now()
				}
			}
		}
		s.notifyLocked()
	}
}

// projectFile reads file of the project at path from ref (its default branch when empty), for include:project.
func (s *Server) projectFile(path, ref, file string) ([]byte, error) {
	s.mu.Lock()
	var found *project
	for _, p := range s.projects {
		if p.Path == path {
			found = p
		}
	}
	s.mu.Unlock()
	if found == nil {
		return nil, fmt.Errorf("project `%s` not found or access denied", path)
	}
	if ref == "" {
		ref = found.DefaultBranch
	}
	return showFile(found.Repo, ref, file)
}

// pipelineJSON is a pipeline as GitLab's API shows it: the list's entity (Entities::Ci::PipelineBasic), or with
// detailed (GET of one pipeline: Entities::Ci::Pipeline) also before_sha and yaml_errors.
func (s *Server) pipelineJSON(pl *pipeline, detailed bool) map[string]any {
	out := map[string]any{"id": pl.ID, "iid": pl.IID, "project_id": pl.Project.ID, "sha": pl.SHA, "ref": pl.Ref, "status": pl.status(),
		"source": "push", "created_at": pl.CreatedAt.UTC().Format(time.RFC3339Nano),
		"web_url": fmt.Sprintf("%s/%s/-/pipelines/%d", s.cfg.ExternalURL, pl.Project.Path, pl.ID)}
	if detailed {
		out["before_sha"] = pl.BeforeSHA
		out["tag"] = false
		out["yaml_errors"] = nil
		if pl.YAMLErrors != "" {
			out["yaml_errors"] = pl.YAMLErrors
		}
	}
	return out
}

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	sha := r.URL.Query().Get("sha")
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for id, pl := range s.pipelines {
		if pl.Project == p && (sha == "" || pl.SHA == sha) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids) // newest first, as GitLab lists them
	out := []map[string]any{}
	for _, id := range ids {
		out = append(out, s.pipelineJSON(s.pipelines[id], false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) pipelineOf(w http.ResponseWriter, r *http.Request, p *project) *pipeline {
	id, _ := strconv.ParseInt(r.PathValue("pid"), 10, 64)
	pl := s.pipelines[id]
	if pl == nil || pl.Project != p {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
		return nil
	}
	return pl
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pl := s.pipelineOf(w, r, p); pl != nil {
		writeJSON(w, http.StatusOK, s.pipelineJSON(pl, true))
	}
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// jobJSON is a job as GitLab's Jobs API shows it (Entities::Ci::Job): a retried attempt is told apart only by a later
// job of the same name, and failure_reason is there for failed jobs only.
func (s *Server) jobJSON(j *job) map[string]any {
	tags := j.Spec.Tags
	if tags == nil {
		tags = []string{}
	}
	out := map[string]any{"id": j.ID, "name": j.Spec.Name, "stage": j.Spec.Stage, "status": j.Status, "ref": j.Pipeline.Ref, "tag": false,
		"allow_failure": false, "tag_list": tags,
		"created_at": timeOrNil(j.CreatedAt), "started_at": timeOrNil(j.StartedAt), "finished_at": timeOrNil(j.FinishedAt),
		"pipeline": map[string]any{"id": j.Pipeline.ID, "sha": j.Pipeline.SHA},
		"web_url":  fmt.Sprintf("%s/%s/-/jobs/%d", s.cfg.ExternalURL, j.Pipeline.Project.Path, j.ID)}
	if !j.QueuedAt.IsZero() && !j.StartedAt.IsZero() {
		out["queued_duration"] = j.StartedAt.Sub(j.QueuedAt).Seconds()
	}
	if !j.StartedAt.IsZero() && !j.FinishedAt.IsZero() {
		out["duration"] = j.FinishedAt.Sub(j.StartedAt).Seconds()
	}
	if j.FailureReason != "" && j.Status == StatusFailed {
		out["failure_reason"] = j.FailureReason
	}
	if j.Runner != nil {
		out["runner"] = map[string]any{"id": j.Runner.ID, "description": j.Runner.Description}
	}
	out["runner_manager"] = nil // API::Entities::Ci::Job: the manager that took the job (null before one did)
	if j.Manager != nil {
		out["runner_manager"] = j.Manager.entity()
	}
	return out
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	withRetried := r.URL.Query().Get("include_retried") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	pl := s.pipelineOf(w, r, p)
	if pl == nil {
		return
	}
	out := []map[string]any{}
	for i := len(pl.Jobs) - 1; i >= 0; i-- { // newest first, as GitLab lists them
		if j := pl.Jobs[i]; withRetried || !j.Retried {
			out = append(out, s.jobJSON(j))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) jobOf(w http.ResponseWriter, r *http.Request, p *project) *job {
	id, _ := strconv.ParseInt(r.PathValue("jid"), 10, 64)
	j := s.jobs[id]
	if j == nil || j.Pipeline.Project != p {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
		return nil
	}
	return j
}

// getJob is GET /projects/:id/jobs/:job_id (API::Entities::Ci::Job).
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobOf(w, r, p); j != nil {
		writeJSON(w, http.StatusOK, s.jobJSON(j))
	}
}

func (s *Server) getTrace(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobOf(w, r, p); j != nil {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(j.Trace)
	}
}

// cancelJob is POST /projects/:id/jobs/:jid/cancel: a pending job is canceled at once; a running one is told
// through Job-Status on the runner's next trace or update call.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobOf(w, r, p)
	if j == nil {
		return
	}
	switch j.Status {
	case StatusCreated, StatusPending:
		s.finishLocked(j, StatusCanceled, "", 0)
	case StatusRunning:
		if j.Graceful {
			// Ci::Build#cancel with a runner that supports graceful cancel: canceling until the runner reports
			j.Status = StatusCanceling
			s.logf("job %d (%s): canceling (its runner cancels gracefully: after_script runs)", j.ID, j.Spec.Name)
			s.notifyLocked()
		} else {
			s.finishLocked(j, StatusCanceled, "", 0)
		}
	}
	writeJSON(w, http.StatusCreated, s.jobJSON(j))
}

// createRunner is POST /user/runners: a runner with an authentication token (glrt-…), as the new registration
// workflow creates it in GitLab.
func (s *Server) createRunner(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RunnerType     string `json:"runner_type"`
		ProjectID      int64  `json:"project_id"`
		Description    string `json:"description"`
		TagList        any    `json:"tag_list"`
		RunUntagged    bool   `json:"run_untagged"`
		Locked         bool   `json:"locked"`
		MaximumTimeout int64  `json:"maximum_timeout"`
	}
	if err := readJSON(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	var tags []string
	switch t := body.TagList.(type) {
	case string:
		for _, tag := range strings.Split(t, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				tags = append(tags, tag)
			}
		}
	case []any:
		for _, tag := range t {
			tags = append(tags, fmt.Sprint(tag))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch body.RunnerType {
	case "project_type":
		if s.projects[body.ProjectID] == nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "project_id: no such project"})
			return
		}
	case "instance_type":
		body.ProjectID = 0
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "runner_type must be project_type or instance_type in this GitLab stand-in"})
		return
	}
	if body.MaximumTimeout != 0 && body.MaximumTimeout < 600 {
		// Ci::Runner validates maximum_timeout: at least 10 minutes
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": map[string][]string{"maximum_timeout": {"needs to be at least 10 minutes"}}})
		return
	}
	rn := &runner{ID: s.newIDLocked(), Description: body.Description, Tags: tags, RunUntagged: body.RunUntagged, ProjectID: body.ProjectID,
		Locked: body.Locked, MaximumTimeout: time.Duration(body.MaximumTimeout) * time.Second}
	s.resetTokenLocked(rn)
	s.runners[rn.ID] = rn
	s.logf("runner %d: %s tags=%v project=%d", rn.ID, rn.Description, rn.Tags, rn.ProjectID)
	writeJSON(w, http.StatusCreated, map[string]any{"id": rn.ID, "token": rn.Token, "token_expires_at": rn.tokenExpiresAt()})
}

// projectRunners is GET /projects/:id/runners: the runners that take the project's jobs (Entities::Ci::Runner).
func (s *Server) projectRunners(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(s.runners)) {
		rn := s.runners[id]
		if rn.servesProject(p.ID) {
			out = append(out, rn.basic())
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// servesProject: a project runner's owner project or one it was assigned to.
func (rn *runner) servesProject(id int64) bool {
	return rn.ProjectID != 0 && (rn.ProjectID == id || slices.Contains(rn.Assigned, id))
}

// assignRunner is POST /projects/:id/runners (runner_id): a project runner takes this project's jobs as well
// (lib/api/ci/runners.rb `post ':id/runners'`, Ci::Runners::AssignRunnerService, Ci::Runner#assign_to). An
// administrator may assign a locked runner; a group runner is refused (403), an instance runner cannot become a
// project runner (assign_to raises: 500), and a runner the project already has is a validation error (400).
func (s *Server) assignRunner(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	var body struct {
		RunnerID int64 `json:"runner_id"`
	}
	if err := readJSON(r, &body); err != nil || body.RunnerID == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "runner_id is missing"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runners[body.RunnerID]
	switch {
	case rn == nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Runner Not Found"})
	case rn.ProjectID == 0:
		s.logf("runner %d: assign to project %d: Transitioning an instance runner to a project runner is not supported", rn.ID, p.ID)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "500 Internal Server Error"})
	case rn.servesProject(p.ID):
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": []string{"Assign to Validation failed: Runner has already been taken"}})
	default:
		rn.Assigned = append(rn.Assigned, p.ID)
		s.logf("runner %d: assigned to project %d (owner %d)", rn.ID, p.ID, rn.ProjectID)
		s.notifyLocked()
		writeJSON(w, http.StatusCreated, rn.basic())
	}
}

// unassignRunner is DELETE /projects/:id/runners/:runner_id (Ci::Runners::UnassignRunnerService): the runner no
// longer takes the project's jobs. Not from its owner project (403: delete the runner instead); a runner the
// project does not have is 404.
func (s *Server) unassignRunner(w http.ResponseWriter, r *http.Request) {
	p := s.projectOf(w, r)
	if p == nil {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("runner_id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runners[id]
	switch {
	case rn == nil || !rn.servesProject(p.ID):
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Runner Not Found"})
	case rn.ProjectID == p.ID:
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden - You cannot unassign a runner from the owner project. Delete the runner instead"})
	default:
		rn.Assigned = slices.DeleteFunc(rn.Assigned, func(a int64) bool { return a == p.ID })
		s.logf("runner %d: unassigned from project %d", rn.ID, p.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}

// runnerOfLocked finds the runner of the request's :id, or answers 404 and returns nil. Callers hold s.mu.
func (s *Server) runnerOfLocked(w http.ResponseWriter, r *http.Request) *runner {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	rn := s.runners[id]
	if rn == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Runner Not Found"})
	}
	return rn
}

func (s *Server) deleteRunner(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runnerOfLocked(w, r)
	if rn == nil {
		return
	}
	delete(s.runners, rn.ID)
	w.WriteHeader(http.StatusNoContent)
}

// resetRunnerToken is POST /runners/:id/reset_authentication_token: a new glrt- token; the old one stops working at
// once (running jobs go on: they authenticate with their job tokens).
func (s *Server) resetRunnerToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runnerOfLocked(w, r)
	if rn == nil {
		return
	}
	s.resetTokenLocked(rn)
	writeJSON(w, http.StatusCreated, map[string]any{"token": rn.Token, "token_expires_at": rn.tokenExpiresAt()})
}

// resetTokenLocked gives the runner a new token, expiring after the instance's token lifetime. Callers hold s.mu.
func (s *Server) resetTokenLocked(rn *runner) {
	rn.Token = randomToken("glrt-", 12)
	rn.TokenExpiresAt = time.Time{}
	if s.tokenLifetime > 0 {
		rn.TokenExpiresAt = time.Now().Add(s.tokenLifetime)
	}
	s.logf("runner %d: authentication token reset (expires: %v)", rn.ID, rn.tokenExpiresAt())
}

// resetOwnRunnerToken is the Runner API's POST /runners/reset_authentication_token: a runner rotates its own token
// with the current one (gitlab-runner does this before token_expires_at), as lib/api/ci/runner.rb does.
func (s *Server) resetOwnRunnerToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := readJSON(r, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runnerByTokenLocked(body.Token)
	if rn == nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	s.resetTokenLocked(rn)
	writeJSON(w, http.StatusCreated, map[string]any{"token": rn.Token, "token_expires_at": rn.tokenExpiresAt()})
}

// updateRunner is PUT /runners/:id; the stand-in changes paused only (and its older name, active), and refuses any
// other attribute by name.
func (s *Server) updateRunner(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := readJSON(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runnerOfLocked(w, r)
	if rn == nil {
		return
	}
	for k, v := range body {
		b, isBool := v.(bool)
		switch {
		case k == "paused" && isBool:
			rn.Paused = b
		case k == "active" && isBool:
			rn.Paused = !b
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": k + " cannot be changed in this GitLab stand-in (paused can)"})
			return
		}
	}
	s.logf("runner %d: paused=%v", rn.ID, rn.Paused)
	s.notifyLocked()
	writeJSON(w, http.StatusOK, s.runnerDetailsLocked(rn))
}

// runnerManagers is GET /runners/:id/managers (Entities::Ci::RunnerManager), oldest first.
func (s *Server) runnerManagers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runnerOfLocked(w, r)
	if rn == nil {
		return
	}
	out := []map[string]any{}
	for _, m := range rn.Managers {
		out = append(out, m.entity())
	}
	slices.SortFunc(out, func(a, b map[string]any) int { return int(a["id"].(int64) - b["id"].(int64)) })
	writeJSON(w, http.StatusOK, out)
}

// getRunner is GET /runners/:id (Entities::Ci::RunnerDetails).
func (s *Server) getRunner(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn := s.runnerOfLocked(w, r)
	if rn == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.runnerDetailsLocked(rn))
}

// basic is a runner as GitLab's lists show it (Entities::Ci::Runner).
func (rn *runner) basic() map[string]any {
	return map[string]any{"id": rn.ID, "description": rn.Description, "paused": rn.Paused, "active": !rn.Paused, "is_shared": false,
		"runner_type": map[bool]string{true: "project_type", false: "instance_type"}[rn.ProjectID != 0], "online": time.Since(rn.ContactedAt) < RunnerOnline}
}

// runnerDetailsLocked is a runner as GitLab's Entities::Ci::RunnerDetails shows it. Callers hold s.mu.
func (s *Server) runnerDetailsLocked(rn *runner) map[string]any {
	out := rn.basic()
	out["tag_list"], out["run_untagged"], out["locked"], out["maximum_timeout"] = rn.Tags, rn.RunUntagged, rn.Locked, int(rn.MaximumTimeout.Seconds())
	return out
}

// updateSettings is PUT /application/settings; the stand-in changes runner_token_expiration_interval (seconds; 0 or
// null: tokens do not expire) only, and refuses any other setting by name.
func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := readJSON(r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range body {
		if k != "runner_token_expiration_interval" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": k + " cannot be changed in this GitLab stand-in (runner_token_expiration_interval can)"})
			return
		}
		n, _ := v.(float64)
		if n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "runner_token_expiration_interval must be ≥ 0"})
			return
		}
		s.tokenLifetime = time.Duration(n) * time.Second
	}
	writeJSON(w, http.StatusOK, map[string]any{"runner_token_expiration_interval": int(s.tokenLifetime.Seconds())})
}

// watchTrace is the job page's log, GET /<project>/-/jobs/:id/trace.json: a running job's log is being watched for
// the next 10 s (Gitlab::Ci::Trace#being_watched!, WATCH_FLAG_TTL), so its runner is told to send the trace every 3 s.
func (s *Server) watchTrace(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("jid"), 10, 64)
	path := r.PathValue("namespace") + "/" + r.PathValue("project")
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil || j.Pipeline.Project.Path != path {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
		return
	}
	if j.Status == StatusRunning || j.Status == StatusCanceling {
		j.WatchedUntil = time.Now().Add(10 * time.Second)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": j.ID, "status": j.Status, "complete": j.Status != StatusRunning && j.Status != StatusCanceling,
		"size": len(j.Trace), "html": string(j.Trace)})
}
