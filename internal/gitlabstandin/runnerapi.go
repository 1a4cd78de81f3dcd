package gitlabstandin

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Runner API: what gitlab-runner's network/gitlab.go calls, answered as GitLab (and Workhorse, for the long
// poll) answers.

func readJSON(r *http.Request, v any) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// runnerByTokenLocked finds the runner of an authentication token; an expired token finds none (GitLab answers 403
// once token_expires_at has passed: Ci::Runner#token_expired?). Callers hold s.mu.
func (s *Server) runnerByTokenLocked(token string) *runner {
	for _, r := range s.runners {
		if token != "" && r.Token == token {
			if !r.TokenExpiresAt.IsZero() && !time.Now().Before(r.TokenExpiresAt) {
				s.logf("runner %d: its token expired at %s: 403", r.ID, r.TokenExpiresAt.UTC().Format(time.RFC3339))
				return nil
			}
			return r
		}
	}
	return nil
}

// tokenExpiresAt is the runner's token_expires_at as GitLab sends it (null when it does not expire).
func (rn *runner) tokenExpiresAt() any {
	if rn.TokenExpiresAt.IsZero() {
		return nil
	}
	return rn.TokenExpiresAt.UTC().Format(time.RFC3339)
}

func (s *Server) verifyRunner(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token    string `json:"token"`
		SystemID string `json:"system_id"`
	}
	if err := readJSON(r, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	rn := s.runnerByTokenLocked(body.Token)
	if rn != nil {
		rn.ContactedAt = time.Now()
	}
	s.mu.Unlock()
	if rn == nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": rn.ID, "token": rn.Token, "token_expires_at": rn.tokenExpiresAt()})
}

func (s *Server) unregisterManager(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	_ = readJSON(r, &body)
	s.mu.Lock()
	rn := s.runnerByTokenLocked(body.Token)
	s.mu.Unlock()
	if rn == nil {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requestJob hands out a pending job (201 + the job JSON) or, when there is none, holds the request as Workhorse
// does: if the runner's last_update equals the queue's current value, wait until the queue changes or LongPoll
// passes, then answer 204 with X-GitLab-Last-Update.
func (s *Server) requestJob(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token      string `json:"token"`
		SystemID   string `json:"system_id"`
		LastUpdate string `json:"last_update"`
		Info       struct {
			Version, Revision, Platform, Architecture string
			Features                                  struct {
				CancelGracefully bool `json:"cancel_gracefully"`
			} `json:"features"`
		} `json:"info"`
	}
	if err := readJSON(r, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	deadline := time.NewTimer(s.cfg.LongPoll)
	defer deadline.Stop()
	for held := false; ; held = true {
		s.mu.Lock()
		rn := s.runnerByTokenLocked(body.Token)
		if rn == nil {
			s.mu.Unlock()
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
			return
		}
		rn.ContactedAt = time.Now()
		mgr := s.managerLocked(rn, body.SystemID, r.RemoteAddr, [4]string{body.Info.Version, body.Info.Revision, body.Info.Platform, body.Info.Architecture})
		if rn.Paused {
			// a paused runner gets no job (Ci::RegisterJobService: only active runners), and is told so at once
			current := strconv.FormatInt(s.lastUpdate, 10)
			s.mu.Unlock()
			w.Header().Set("X-GitLab-Last-Update", current)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if j := s.pickLocked(rn); j != nil {
			j.Graceful, j.Manager = body.Info.Features.CancelGracefully, mgr
			payload := s.jobPayloadLocked(j, rn)
			s.mu.Unlock()
			writeJSON(w, http.StatusCreated, payload)
			return
		}
		current := strconv.FormatInt(s.lastUpdate, 10)
		changed := s.changed
		s.mu.Unlock()
		if held || body.LastUpdate != current {
			w.Header().Set("X-GitLab-Last-Update", current)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-changed:
			s.dropDuringOutage()
		case <-deadline.C:
			w.Header().Set("X-GitLab-Last-Update", current)
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// pickLocked assigns the oldest pending job this runner may take: its project's (project runners), tags all among
// the runner's, untagged jobs only with run_untagged. Callers hold s.mu.
// legacySystemID is GitLab's system_id for a runner that sends none (Ci::RunnerManager::LEGACY_SYSTEM_ID… in
// lib/api/ci/helpers/runner.rb: params[:system_id] || LEGACY_SYSTEM_ID).
const legacySystemID = "<legacy>"

// managerLocked records the runner manager behind a job request (lib/api/ci/helpers/runner.rb
// current_runner_manager: ensure_manager by system_id, its version info and contacted_at, the caller's IP).
// info is version, revision, platform and architecture. Callers hold s.mu.
func (s *Server) managerLocked(rn *runner, systemID, remoteAddr string, info [4]string) *runnerManager {
	if systemID == "" {
		systemID = legacySystemID
	}
	if rn.Managers == nil {
		rn.Managers = map[string]*runnerManager{}
	}
	m := rn.Managers[systemID]
	if m == nil {
		m = &runnerManager{ID: s.newIDLocked(), SystemID: systemID, CreatedAt: time.Now()}
		rn.Managers[systemID] = m
		s.logf("runner %d: manager %d (system_id %s) from %s", rn.ID, m.ID, systemID, remoteAddr)
	}
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		m.IPAddress = host
	}
	m.Version, m.Revision, m.Platform, m.Architecture = info[0], info[1], info[2], info[3]
	m.ContactedAt = time.Now()
	return m
}

func (s *Server) pickLocked(rn *runner) *job {
	var best *job
	for _, j := range s.jobs {
		if j.Status == StatusPending && rn.canTake(j) && (best == nil || j.ID < best.ID) {
			best = j
		}
	}
	if best != nil {
		best.Status, best.Runner, best.StartedAt, best.UpdatedAt = StatusRunning, rn, time.Now(), time.Now()
		s.logf("job %d (%s): running on runner %d after %s in the queue", best.ID, best.Spec.Name, rn.ID, best.StartedAt.Sub(best.QueuedAt).Round(time.Millisecond))
		s.notifyLocked()
	}
	return best
}

// canTake reports whether the runner may run the job: a project it serves (project runners: its owner project and
// those it was assigned to), every tag of the job among the runner's, an untagged job only with run_untagged.
func (rn *runner) canTake(j *job) bool {
	if rn.ProjectID != 0 && !rn.servesProject(j.Pipeline.Project.ID) {
		return false
	}
	if len(j.Spec.Tags) == 0 && !rn.RunUntagged {
		return false
	}
	for _, t := range j.Spec.Tags {
		if !slices.Contains(rn.Tags, t) {
			return false
		}
	}
	return true
}

// jobByToken authenticates a job call (JOB-TOKEN header or body token).
func (s *Server) jobByTokenLocked(r *http.Request, bodyToken string) (*job, int) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, http.StatusNotFound
	}
	j := s.jobs[id]
	if j == nil {
		return nil, http.StatusNotFound
	}
	token := r.Header.Get("JOB-TOKEN")
	if token == "" {
		token = bodyToken
	}
	if token != j.Token {
		return nil, http.StatusForbidden
	}
	return j, 0
}

// runningJobLocked authenticates a job call and sets Job-Status and X-GitLab-Trace-Update-Interval, as GitLab does
// on every job update and trace append (lib/api/ci/runner.rb); it answers and returns nil for a wrong token or a job
// that is no longer running or canceling (GitLab's 403: the runner stops updating it; Job-Status canceled or failed
// makes it abort, canceling makes it run after_script first). Callers hold s.mu.
func (s *Server) runningJobLocked(w http.ResponseWriter, r *http.Request, bodyToken string) *job {
	j, code := s.jobByTokenLocked(r, bodyToken)
	if j == nil {
		w.WriteHeader(code)
		return nil
	}
	w.Header().Set("Job-Status", j.Status)
	w.Header().Set("X-GitLab-Trace-Update-Interval", strconv.Itoa(int(s.traceIntervalLocked(j).Seconds())))
	if j.Status != StatusRunning && j.Status != StatusCanceling {
		w.WriteHeader(http.StatusForbidden)
		return nil
	}
	return j
}

// traceIntervalLocked is Gitlab::Ci::Trace#update_interval: 3 s while someone watches the job, else the default.
func (s *Server) traceIntervalLocked(j *job) time.Duration {
	if time.Now().Before(j.WatchedUntil) {
		return 3 * time.Second
	}
	return s.cfg.TraceInterval
}

func (s *Server) updateJob(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token         string `json:"token"`
		State         string `json:"state"`
		FailureReason string `json:"failure_reason"`
		ExitCode      int    `json:"exit_code"`
		Output        struct {
			Checksum string `json:"checksum"`
			Bytesize int    `json:"bytesize"`
		} `json:"output"`
	}
	if err := readJSON(r, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.runningJobLocked(w, r, body.Token)
	if j == nil {
		return
	}
	j.UpdatedAt = time.Now()
	switch body.State {
	case "running", "":
		w.WriteHeader(http.StatusOK)
		return
	case StatusSuccess, StatusFailed:
	default:
		http.Error(w, "unknown state "+body.State, http.StatusBadRequest)
		return
	}
	if body.Output.Checksum != "" {
		want := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(j.Trace))
		if body.Output.Checksum != want || body.Output.Bytesize != len(j.Trace) {
			// GitLab keeps the trace and counts the mismatch (Gitlab::Ci::Trace::Checksum, a metric): nothing in the
			// REST API shows it, so the stand-in says it in its log only
			s.logf("job %d: trace checksum mismatch: runner sent %s/%d bytes, stand-in holds %s/%d bytes", j.ID, body.Output.Checksum, body.Output.Bytesize, want, len(j.Trace))
		}
	}
	status, reason := body.State, body.FailureReason
	if j.Status == StatusCanceling {
		// a canceling job ends canceled whatever the runner reports (commit_status.rb: drop and success from
		// canceling transition to canceled)
		status, reason = StatusCanceled, ""
	}
	if status == StatusFailed && !slices.Contains(FailureReasons, reason) {
		// GitLab records a reason it does not know (or none) as unknown_failure (Ci::Build's failure_reason enum)
		reason = "unknown_failure"
	}
	s.finishLocked(j, status, reason, body.ExitCode)
	w.WriteHeader(http.StatusOK)
}

// FailureReasons are GitLab's job failure reasons (app/models/concerns/enums/ci/commit_status.rb, failure_reasons),
// which GitLab sends the runner as features.failure_reasons (Ci::Build#features): the runner reports only these,
// and falls back to runner_system_failure or script_failure for its own finer reasons (image_pull_failure is not
// one of GitLab's). The stand-in sends and accepts exactly these.
var FailureReasons = []string{
	"unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure", "runner_system_failure",
	"missing_dependency_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure",
	"unmet_prerequisites", "scheduler_failure", "data_integrity_failure", "forward_deployment_failure", "user_blocked",
	"project_deleted", "ci_quota_exceeded", "pipeline_loop_detected", "no_matching_runner", "trace_size_exceeded",
	"builds_disabled", "environment_creation_failure", "deployment_rejected", "failed_outdated_deployment_job",
	"protected_environment_failure", "insufficient_bridge_permissions", "downstream_bridge_project_not_found",
	"invalid_bridge_trigger", "upstream_bridge_project_not_found", "insufficient_upstream_permissions",
	"bridge_pipeline_is_child_pipeline", "downstream_pipeline_creation_failed", "secrets_provider_not_found",
	"reached_max_descendant_pipelines_depth", "ip_restriction_failure", "reached_max_pipeline_hierarchy_size",
	"reached_downstream_pipeline_trigger_rate_limit",
}

var contentRange = regexp.MustCompile(`^(\d+)-(\d+)$`)

// appendTrace stores a trace chunk. The range must start where the stored trace ends; otherwise 416 with the
// stored length, and the runner resends from there (helpers/trace and network/trace.go of the runner).
func (s *Server) appendTrace(w http.ResponseWriter, r *http.Request) {
	chunk, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.runningJobLocked(w, r, "")
	if j == nil {
		return
	}
	j.UpdatedAt = time.Now()
	m := contentRange.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		http.Error(w, "Content-Range start-end required", http.StatusBadRequest)
		return
	}
	start, _ := strconv.Atoi(m[1])
	if start != len(j.Trace) {
		w.Header().Set("Range", fmt.Sprintf("0-%d", len(j.Trace)))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	j.Trace = append(j.Trace, chunk...)
	w.Header().Set("Range", fmt.Sprintf("0-%d", len(j.Trace)))
	w.WriteHeader(http.StatusAccepted)
}

// jobPayloadLocked is the job JSON GitLab sends the runner (common/network.go JobResponse). Callers hold s.mu.
func (s *Server) jobPayloadLocked(j *job, rn *runner) map[string]any {
	p := j.Pipeline
	pr := p.Project
	u, _ := url.Parse(s.cfg.ExternalURL)
	repoURL := fmt.Sprintf("%s://gitlab-ci-token:%s@%s/%s.git", u.Scheme, j.Token, u.Host, pr.Path)
	timeout := j.timeout()
	if rn.MaximumTimeout > 0 && rn.MaximumTimeout < timeout {
		// the runner's maximum_timeout caps the job's (Ci::Build#update_timeout_state, Ci::BuildMetadata)
		timeout = rn.MaximumTimeout
	}
	j.RunTimeout = timeout
	var img map[string]any
	if j.Spec.Image != nil {
		img = imageJSON(*j.Spec.Image)
	}
	services := []any{}
	for _, sv := range j.Spec.Services {
		services = append(services, imageJSON(sv))
	}
	caches := []map[string]any{}
	for _, c := range j.Spec.Cache {
		// GitLab suffixes cache keys by the ref's protection ("Use separate caches for protected branches", on by
		// default): the default branch is protected.
		caches = append(caches, map[string]any{"key": c.Key + "-protected", "untracked": false, "policy": c.Policy, "paths": c.Paths, "when": c.When, "fallback_keys": []string{}})
	}
	return map[string]any{
		"id": j.ID, "token": j.Token, "allow_git_fetch": true,
		"job_info": map[string]any{"id": j.ID, "name": j.Spec.Name, "stage": j.Spec.Stage, "project_id": pr.ID, "project_name": pr.Name,
			"time_in_queue_seconds": j.StartedAt.Sub(j.QueuedAt).Seconds()},
		"git_info": map[string]any{"repo_url": repoURL, "repo_object_format": "sha1", "ref": p.Ref, "sha": p.SHA, "before_sha": p.BeforeSHA, "ref_type": "branch",
			"refspecs": []string{fmt.Sprintf("+refs/pipelines/%d:refs/pipelines/%d", p.ID, p.ID), fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", p.Ref, p.Ref)}, "depth": 20},
		"runner_info":  map[string]any{"timeout": int(timeout.Seconds())},
		"variables":    append(s.predefinedVariables(j, rn, u, repoURL), j.Spec.Variables...),
		"steps":        jobSteps(j, timeout),
		"image":        img,
		"services":     services,
		"artifacts":    []any{},
		"cache":        caches,
		"credentials":  []any{},
		"dependencies": []any{},
		"features": map[string]any{"trace_sections": true, "token_mask_prefixes": []string{"glpat-", "glcbt-", "glrt-"},
			"failure_reasons": FailureReasons},
	}
}

// jobSteps are the job's script step (before_script and script, with the job's timeout) and its after_script step.
func jobSteps(j *job, timeout time.Duration) []map[string]any {
	script := append(slices.Clone(j.Spec.BeforeScript), j.Spec.Script...)
	steps := []map[string]any{{"name": "script", "script": script, "timeout": int(timeout.Seconds()), "when": "on_success", "allow_failure": false}}
	if len(j.Spec.AfterScript) > 0 {
		steps = append(steps, map[string]any{"name": "after_script", "script": j.Spec.AfterScript, "timeout": 300, "when": "always", "allow_failure": true})
	}
	return steps
}

// predefinedVariables are the CI_* and GITLAB_* variables GitLab sends with every job, before the job's own.
func (s *Server) predefinedVariables(j *job, rn *runner, u *url.URL, repoURL string) []Variable {
	p := j.Pipeline
	pr := p.Project
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	short := p.SHA
	if len(short) > 8 {
		short = short[:8]
	}
	return []Variable{
		{Key: "CI", Value: "true", Public: true}, {Key: "GITLAB_CI", Value: "true", Public: true},
		{Key: "CI_SERVER_URL", Value: s.cfg.ExternalURL, Public: true}, {Key: "CI_SERVER_HOST", Value: u.Hostname(), Public: true},
		{Key: "CI_SERVER_PORT", Value: port, Public: true}, {Key: "CI_SERVER_PROTOCOL", Value: u.Scheme, Public: true},
		{Key: "CI_SERVER_NAME", Value: "GitLab stand-in (gitlab-kaniko-tenant e2e)", Public: true},
		{Key: "CI_API_V4_URL", Value: s.cfg.ExternalURL + "/api/v4", Public: true},
		{Key: "CI_PROJECT_ID", Value: fmt.Sprint(pr.ID), Public: true}, {Key: "CI_PROJECT_NAME", Value: pr.Name, Public: true},
		{Key: "CI_PROJECT_PATH", Value: pr.Path, Public: true}, {Key: "CI_PROJECT_PATH_SLUG", Value: slug(pr.Path), Public: true},
		{Key: "CI_PROJECT_NAMESPACE", Value: pr.Namespace, Public: true}, {Key: "CI_PROJECT_NAMESPACE_ID", Value: "1", Public: true},
		{Key: "CI_PROJECT_ROOT_NAMESPACE", Value: strings.SplitN(pr.Namespace, "/", 2)[0], Public: true}, {Key: "CI_PROJECT_URL", Value: s.cfg.ExternalURL + "/" + pr.Path, Public: true},
		{Key: "CI_PROJECT_VISIBILITY", Value: "private", Public: true}, {Key: "CI_DEFAULT_BRANCH", Value: pr.DefaultBranch, Public: true},
		{Key: "CI_PIPELINE_ID", Value: fmt.Sprint(p.ID), Public: true}, {Key: "CI_PIPELINE_IID", Value: fmt.Sprint(p.IID), Public: true},
		{Key: "CI_PIPELINE_SOURCE", Value: "push", Public: true}, {Key: "CI_PIPELINE_URL", Value: fmt.Sprintf("%s/%s/-/pipelines/%d", s.cfg.ExternalURL, pr.Path, p.ID), Public: true},
		{Key: "CI_COMMIT_SHA", Value: p.SHA, Public: true}, {Key: "CI_COMMIT_SHORT_SHA", Value: short, Public: true},
		{Key: "CI_COMMIT_BEFORE_SHA", Value: p.BeforeSHA, Public: true}, {Key: "CI_COMMIT_REF_NAME", Value: p.Ref, Public: true},
		{Key: "CI_COMMIT_REF_SLUG", Value: slug(p.Ref), Public: true}, {Key: "CI_COMMIT_BRANCH", Value: p.Ref, Public: true},
		{Key: "CI_COMMIT_REF_PROTECTED", Value: "true", Public: true}, {Key: "CI_COMMIT_MESSAGE", Value: p.Message, Public: true},
		{Key: "CI_COMMIT_TITLE", Value: strings.SplitN(p.Message, "\n", 2)[0], Public: true},
		{Key: "CI_JOB_ID", Value: fmt.Sprint(j.ID), Public: true}, {Key: "CI_JOB_NAME", Value: j.Spec.Name, Public: true},
		{Key: "CI_JOB_NAME_SLUG", Value: slug(j.Spec.Name), Public: true}, {Key: "CI_JOB_STAGE", Value: j.Spec.Stage, Public: true},
		{Key: "CI_JOB_URL", Value: fmt.Sprintf("%s/%s/-/jobs/%d", s.cfg.ExternalURL, pr.Path, j.ID), Public: true},
		{Key: "CI_JOB_TOKEN", Value: j.Token, Public: false, Masked: true},
		{Key: "CI_JOB_STARTED_AT", Value: j.StartedAt.UTC().Format(time.RFC3339), Public: true},
		{Key: "CI_REPOSITORY_URL", Value: repoURL, Public: false},
		{Key: "CI_RUNNER_ID", Value: fmt.Sprint(rn.ID), Public: true}, {Key: "CI_RUNNER_DESCRIPTION", Value: rn.Description, Public: true},
		{Key: "CI_RUNNER_TAGS", Value: runnerTagsJSON(rn.Tags), Public: true},
		{Key: "CI_NODE_TOTAL", Value: "1", Public: true}, {Key: "CI_CONFIG_PATH", Value: CIFile, Public: true},
		{Key: "GITLAB_USER_LOGIN", Value: "e2e", Public: true}, {Key: "GITLAB_USER_NAME", Value: "gitlab-kaniko-tenant e2e", Public: true},
		{Key: "GITLAB_FEATURES", Value: "", Public: true},
	}
}

func imageJSON(im Image) map[string]any {
	out := map[string]any{"name": im.Name}
	if im.Entrypoint != nil {
		out["entrypoint"] = im.Entrypoint
	}
	if len(im.PullPolicy) > 0 {
		out["pull_policy"] = im.PullPolicy
	}
	return out
}

func runnerTagsJSON(tags []string) string {
	raw, _ := json.Marshal(tags)
	return string(raw)
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slug is GitLab's *_SLUG: lower-cased, non-alphanumerics as -, at most 63 characters, no - at either end.
func slug(s string) string {
	out := nonSlug.ReplaceAllString(strings.ToLower(s), "-")
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "-")
}
