package gitlabstandin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config configures the stand-in.
type Config struct {
	// ExternalURL is the URL the runner and jobs reach the stand-in at (CI_SERVER_URL, clone URLs), e.g.
	// https://gitlab-standin.gitlab-standin.svc.cluster.local.
	ExternalURL string
	// AdminToken is the personal access token the REST API accepts (PRIVATE-TOKEN), as a GitLab admin's would be.
	AdminToken string
	// DataDir holds the bare repositories.
	DataDir string
	// LongPoll is how long jobs/request is held when nothing changed since the runner's last_update (Workhorse's
	// apiCiLongPollingDuration; GitLab's default is 50 s).
	LongPoll time.Duration
	// RunningOutdated is how long a running job may go without an update from its runner before it is dropped as
	// stuck_or_timeout_failure (and retried if its retry rules say so). GitLab's Ci::StuckBuilds::DropRunningService
	// uses BUILD_RUNNING_OUTDATED_TIMEOUT = 1 hour and is not configurable there; 0 means GitLab's hour. The e2e
	// shortens it for the one scenario with a killed manager (PUT /-/standin/running-outdated), so it ends in minutes.
	RunningOutdated time.Duration
	// TimedOutBuffer is how long past its timeout a running job is dropped as job_execution_timeout: GitLab's
	// Ci::TimedOutBuilds::DropRunningService drops jobs whose running build started more than timeout +
	// MINUTE_BUFFER (15 minutes) ago, so a live runner's own timeout, at the timeout, decides almost always. 0 means
	// GitLab's 15 minutes; the e2e shortens it for the scenario whose manager dies mid-job (PUT
	// /-/standin/timed-out-buffer).
	TimedOutBuffer time.Duration
	// TraceInterval is what X-GitLab-Trace-Update-Interval tells the runner while nobody watches the job: GitLab's
	// Gitlab::Ci::Trace::UPDATE_FREQUENCY_DEFAULT, 60 s (0 means that). While someone watches the job's log (the job
	// page polls /<project>/-/jobs/<id>/trace.json, which marks it watched for WATCH_FLAG_TTL, 10 s) it is 3 s.
	TraceInterval time.Duration
	// Log receives one line per notable event (nil: silent).
	Log func(format string, args ...any)
}

// Job states, as GitLab names them.
const (
	StatusCreated  = "created"
	StatusPending  = "pending"
	StatusRunning  = "running"
	StatusSuccess  = "success"
	StatusFailed   = "failed"
	StatusCanceled = "canceled"
	// StatusCanceling is a running job whose cancel was asked for and whose runner supports graceful cancel: the
	// runner runs after_script and reports back; GitLab then records canceled (app/models/commit_status.rb).
	StatusCanceling = "canceling"
	StatusSkipped   = "skipped"
)

// Server is the stand-in. It keeps its state in memory (repositories on disk): a restart forgets projects.
type Server struct {
	cfg Config

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced whenever the job queue changes (wakes long polls)
	lastUpdate int64
	nextID     int64
	projects   map[int64]*project
	runners    map[int64]*runner
	pipelines  map[int64]*pipeline
	jobs       map[int64]*job
	outageEnd  time.Time // until then every request is dropped without an answer (PUT /-/standin/outage)
	// tokenLifetime is the instance's runner_token_expiration_interval (PUT /application/settings): a runner token
	// created or reset expires that long after; 0: tokens do not expire (GitLab's default).
	tokenLifetime time.Duration
}

type project struct {
	ID                    int64
	Name, Namespace, Path string // Path = Namespace/Name
	Repo                  string // bare repository directory
	DefaultBranch         string
	pipelineIID           int64
	// AutoCancelPending is the project's auto_cancel_pending_pipelines setting (GitLab's default: enabled): a new
	// pipeline on a ref cancels the older ones there that no non-interruptible job has started in.
	AutoCancelPending bool
}

type runner struct {
	ID          int64
	Token       string
	Description string
	Tags        []string
	RunUntagged bool
	ProjectID   int64 // project_type runners: the owner project, whose jobs they take
	// Assigned are further projects whose jobs a project runner takes (POST /projects/:id/runners), in order.
	Assigned    []int64
	ContactedAt time.Time
	// TokenExpiresAt, when set, is when the authentication token stops working (token_expires_at; GitLab's
	// runner_token_expiration_interval settings). After it every Runner API call with the token is 403.
	TokenExpiresAt time.Time
	// Paused runners take no jobs (POST /jobs/request answers 204) but keep their token.
	Paused bool
	// Locked: only an administrator may assign the runner to other projects (every REST caller of the stand-in is
	// one, so assigning a locked runner succeeds, as it does for GitLab's administrators).
	Locked bool
	// MaximumTimeout caps every job's timeout on this runner (0: none), as GitLab does when it hands out a job.
	MaximumTimeout time.Duration
	// Managers are the processes that use the runner's token, by the system_id each sends (Ci::RunnerManager: one
	// per manager pod of a tenant, a new one after a restart that loses the runner's .runner_system_id file).
	Managers map[string]*runnerManager
}

// runnerManager is one manager process of a runner as GitLab records it (ci_runner_machines) from its job
// requests: its system_id, what its info says, the address it calls from, when it was first and last seen.
type runnerManager struct {
	ID                                        int64
	SystemID                                  string
	Version, Revision, Platform, Architecture string
	IPAddress                                 string
	CreatedAt, ContactedAt                    time.Time
}

// entity is the manager as GitLab's API::Entities::Ci::RunnerManager shows it.
func (m *runnerManager) entity() map[string]any {
	status := "offline"
	if time.Since(m.ContactedAt) < RunnerOnline {
		status = "online"
	}
	return map[string]any{"id": m.ID, "system_id": m.SystemID, "version": m.Version, "revision": m.Revision, "platform": m.Platform,
		"architecture": m.Architecture, "created_at": m.CreatedAt.UTC().Format(time.RFC3339Nano), "contacted_at": m.ContactedAt.UTC().Format(time.RFC3339Nano),
		"ip_address": m.IPAddress, "status": status}
}

type pipeline struct {
	ID, IID    int64
	Project    *project
	SHA, Ref   string
	BeforeSHA  string
	Message    string
	Spec       *Pipeline
	YAMLErrors string
	Jobs       []*job
	CreatedAt  time.Time
}

type job struct {
	ID            int64
	Pipeline      *pipeline
	Spec          JobSpec
	Token         string
	Status        string
	FailureReason string
	ExitCode      int
	Trace         []byte
	Runner        *runner
	// Manager is the runner manager (one process with its system_id) that took the job (Ci::RunnerManagerBuild).
	Manager *runnerManager
	Run     int  // 1 for the first run, 2 for the first retry …
	Retried bool // a later run replaced this one
	// Graceful is set when the runner manager that took the job advertised features.cancel_gracefully.
	Graceful bool
	// RunTimeout is the timeout the job runs with: its own (or the project's 1 h), capped by its runner's maximum.
	RunTimeout time.Duration
	// WatchedUntil: someone watches the job's log until then (the trace interval is 3 s).
	WatchedUntil                   time.Time
	CreatedAt, QueuedAt, StartedAt time.Time
	UpdatedAt                      time.Time // the runner's last update or trace chunk (what the stuck drop looks at)
	FinishedAt                     time.Time
}

// New returns a stand-in serving cfg.
func New(cfg Config) (*Server, error) {
	if cfg.ExternalURL == "" || cfg.AdminToken == "" || cfg.DataDir == "" {
		return nil, fmt.Errorf("gitlab stand-in: ExternalURL, AdminToken and DataDir are required")
	}
	if len(cfg.AdminToken) < 20 {
		return nil, fmt.Errorf("gitlab stand-in: the admin token must have at least 20 characters")
	}
	cfg.ExternalURL = strings.TrimSuffix(cfg.ExternalURL, "/")
	if cfg.LongPoll == 0 {
		cfg.LongPoll = 50 * time.Second
	}
	if cfg.RunningOutdated == 0 {
		cfg.RunningOutdated = time.Hour
	}
	if cfg.TimedOutBuffer == 0 {
		cfg.TimedOutBuffer = TimedOutMinuteBuffer
	}
	if cfg.TraceInterval == 0 {
		cfg.TraceInterval = 60 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "repos"), 0o755); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, changed: make(chan struct{}), projects: map[int64]*project{}, runners: map[int64]*runner{},
		pipelines: map[int64]*pipeline{}, jobs: map[int64]*job{}}, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log(format, args...)
	}
}

// Handler serves the Runner API, the REST API subset and git over HTTP.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// Runner API (network/gitlab.go of the runner).
	mux.HandleFunc("POST /api/v4/runners/verify", s.verifyRunner)
	mux.HandleFunc("DELETE /api/v4/runners/managers", s.unregisterManager)
	mux.HandleFunc("POST /api/v4/jobs/request", s.requestJob)
	mux.HandleFunc("PUT /api/v4/jobs/{id}", s.updateJob)
	mux.HandleFunc("PATCH /api/v4/jobs/{id}/trace", s.appendTrace)
	mux.HandleFunc("POST /api/v4/jobs/{id}/artifacts", s.unsupported("job artifacts"))
	mux.HandleFunc("POST /api/v4/jobs/{id}/artifacts/authorize", s.unsupported("job artifacts"))
	// REST API subset (what internal/gitlabclient calls; GitLab's own paths and shapes).
	mux.HandleFunc("GET /api/v4/version", s.admin(s.version))
	mux.HandleFunc("POST /api/v4/projects", s.admin(s.createProject))
	mux.HandleFunc("DELETE /api/v4/projects/{id}", s.admin(s.deleteProject))
	mux.HandleFunc("GET /api/v4/projects/{id}", s.admin(s.getProject))
	mux.HandleFunc("GET /api/v4/projects/{id}/runners", s.admin(s.projectRunners))
	mux.HandleFunc("POST /api/v4/projects/{id}/runners", s.admin(s.assignRunner))
	mux.HandleFunc("DELETE /api/v4/projects/{id}/runners/{runner_id}", s.admin(s.unassignRunner))
	mux.HandleFunc("GET /api/v4/groups/{id}", s.unsupported("groups (and group runners)"))
	mux.HandleFunc("POST /api/v4/projects/{id}/repository/commits", s.admin(s.createCommit))
	mux.HandleFunc("GET /api/v4/projects/{id}/pipelines", s.admin(s.listPipelines))
	mux.HandleFunc("GET /api/v4/projects/{id}/pipelines/{pid}", s.admin(s.getPipeline))
	mux.HandleFunc("GET /api/v4/projects/{id}/pipelines/{pid}/jobs", s.admin(s.listJobs))
	mux.HandleFunc("GET /api/v4/projects/{id}/jobs/{jid}", s.admin(s.getJob))
	mux.HandleFunc("GET /api/v4/projects/{id}/jobs/{jid}/trace", s.admin(s.getTrace))
	mux.HandleFunc("POST /api/v4/projects/{id}/jobs/{jid}/cancel", s.admin(s.cancelJob))
	mux.HandleFunc("POST /api/v4/user/runners", s.admin(s.createRunner))
	mux.HandleFunc("DELETE /api/v4/runners/{id}", s.admin(s.deleteRunner))
	mux.HandleFunc("POST /api/v4/runners/{id}/reset_authentication_token", s.admin(s.resetRunnerToken))
	mux.HandleFunc("POST /api/v4/runners/reset_authentication_token", s.resetOwnRunnerToken)
	mux.HandleFunc("PUT /api/v4/runners/{id}", s.admin(s.updateRunner))
	mux.HandleFunc("GET /api/v4/runners/{id}", s.admin(s.getRunner))
	mux.HandleFunc("GET /api/v4/runners/{id}/managers", s.admin(s.runnerManagers))
	mux.HandleFunc("PUT /api/v4/projects/{id}", s.admin(s.updateProject))
	mux.HandleFunc("PUT /api/v4/application/settings", s.admin(s.updateSettings))
	// the job page's log, which marks the job watched (the stand-in takes the admin token where GitLab's UI has a session)
	mux.HandleFunc("GET /{namespace}/{project}/-/jobs/{jid}/trace.json", s.admin(s.watchTrace))
	// running-outdated: one e2e scenario waits for a stuck drop in a minute while the others keep GitLab's hour;
	// timed-out-buffer: how long past its timeout a running job is dropped (GitLab: MINUTE_BUFFER, a constant).
	mux.HandleFunc("PUT /-/standin/running-outdated", s.admin(s.durationKnob(func(c *Config) *time.Duration { return &c.RunningOutdated },
		"running jobs without an update for %s are now dropped as stuck")))
	mux.HandleFunc("PUT /-/standin/timed-out-buffer", s.admin(s.durationKnob(func(c *Config) *time.Duration { return &c.TimedOutBuffer },
		"running jobs %s past their timeout are now dropped as job_execution_timeout")))
	mux.HandleFunc("GET /-/standin/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok: this is a GitLab stand-in, not GitLab")
	})
	mux.HandleFunc("PUT /-/standin/outage", s.admin(s.startOutage))
	mux.Handle("/", http.HandlerFunc(s.git))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.dropDuringOutage()
		mux.ServeHTTP(w, r)
	})
}

// inOutage reports whether the stand-in plays an unreachable GitLab now.
func (s *Server) inOutage() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.outageEnd)
}

// dropDuringOutage ends the request without an answer while an outage lasts: net/http closes the connection, so
// the runner sees what an unreachable GitLab gives it (EOF, connection reset), not an HTTP error.
func (s *Server) dropDuringOutage() {
	if s.inOutage() {
		panic(http.ErrAbortHandler)
	}
}

// startOutage is PUT /-/standin/outage {"seconds": N}: for N seconds every request, this one's successors and the
// long polls already held, is dropped without an answer. The stand-in's own knob for the e2e's GitLab-outage
// scenario; its state (jobs, traces) is kept, as GitLab's is when only the network fails.
func (s *Server) startOutage(w http.ResponseWriter, r *http.Request) {
	d, ok := knobSeconds(w, r, 3600)
	if !ok {
		return
	}
	s.mu.Lock()
	s.outageEnd = time.Now().Add(d)
	s.logf("outage: every request is dropped for %s", d)
	s.notifyLocked() // wakes the held long polls, which then see the outage
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"seconds": int(d.Seconds())})
}

// knobSeconds reads a knob's body {"seconds": N} with 1 ≤ N ≤ most; on anything else it answers 400 and says no.
func knobSeconds(w http.ResponseWriter, r *http.Request, most int) (time.Duration, bool) {
	var body struct {
		Seconds int `json:"seconds"`
	}
	if err := readJSON(r, &body); err != nil || body.Seconds < 1 || body.Seconds > most {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("want {\"seconds\": N} with 1 ≤ N ≤ %d", most)})
		return 0, false
	}
	return time.Duration(body.Seconds) * time.Second, true
}

func (s *Server) unsupported(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, what+" are not supported by this GitLab stand-in", http.StatusNotImplemented)
	}
}

// notifyLocked records a change of the job queue and wakes the long polls. Callers hold s.mu.
func (s *Server) notifyLocked() {
	s.lastUpdate++
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) newIDLocked() int64 {
	s.nextID++
	return s.nextID
}

func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// advanceLocked moves the pipeline's created jobs to pending once what they wait for succeeded, and skips those
// whose dependencies failed, until nothing changes. Callers hold s.mu.
func (s *Server) advanceLocked(p *pipeline) {
	for changed := true; changed; {
		changed = false
		current := p.current()
		for _, j := range current {
			if j.Status != StatusCreated {
				continue
			}
			ready, dead := true, false
			for _, d := range current {
				if d == j || !dependsOn(p, j, d) {
					continue
				}
				switch d.Status {
				case StatusSuccess:
				case StatusFailed, StatusCanceled, StatusSkipped:
					dead = true
				default:
					ready = false
				}
			}
			switch {
			case dead:
				j.Status, changed = StatusSkipped, true
			case ready:
				j.Status, j.QueuedAt, changed = StatusPending, time.Now(), true
				s.logf("job %d (%s, pipeline %d): pending", j.ID, j.Spec.Name, p.ID)
				s.notifyLocked()
			}
		}
	}
}

// dependsOn reports whether j waits for d: its needs, or else every job of an earlier stage.
func dependsOn(p *pipeline, j, d *job) bool {
	if j.Spec.Needs != nil {
		return slices.Contains(j.Spec.Needs, d.Spec.Name)
	}
	return slices.Index(p.Spec.Stages, d.Spec.Stage) < slices.Index(p.Spec.Stages, j.Spec.Stage)
}

// current is the pipeline's jobs without the runs a retry replaced.
func (p *pipeline) current() []*job {
	var out []*job
	for _, j := range p.Jobs {
		if !j.Retried {
			out = append(out, j)
		}
	}
	return out
}

// status is the pipeline's status as GitLab derives it from its jobs.
func (p *pipeline) status() string {
	if p.YAMLErrors != "" {
		return StatusFailed
	}
	counts := map[string]int{}
	jobs := p.current()
	for _, j := range jobs {
		counts[j.Status]++
	}
	switch {
	case counts[StatusCanceling] > 0:
		return StatusCanceling
	case counts[StatusRunning] > 0:
		return StatusRunning
	case counts[StatusPending] > 0:
		return StatusPending
	case counts[StatusCreated] > 0:
		if counts[StatusFailed]+counts[StatusCanceled] > 0 {
			return StatusRunning
		}
		return StatusCreated
	case counts[StatusFailed] > 0:
		return StatusFailed
	case counts[StatusCanceled] > 0:
		return StatusCanceled
	case counts[StatusSuccess] == len(jobs)-counts[StatusSkipped] && counts[StatusSuccess] > 0:
		return StatusSuccess
	}
	return StatusSkipped
}

// finishLocked ends a job and retries it when its retry rules say so. Callers hold s.mu.
func (s *Server) finishLocked(j *job, status, reason string, exitCode int) {
	j.Status, j.FailureReason, j.ExitCode, j.FinishedAt = status, reason, exitCode, time.Now()
	s.logf("job %d (%s): %s %s", j.ID, j.Spec.Name, status, reason)
	if status == StatusFailed && j.Spec.Retry.Retries(reason, j.Run) {
		j.Retried = true
		next := &job{ID: s.newIDLocked(), Pipeline: j.Pipeline, Spec: j.Spec, Token: randomToken("glcbt-", 16), Status: StatusPending,
			Run: j.Run + 1, CreatedAt: time.Now(), QueuedAt: time.Now()}
		j.Pipeline.Jobs = append(j.Pipeline.Jobs, next)
		s.jobs[next.ID] = next
		s.logf("job %d (%s): retried as job %d (run %d)", j.ID, j.Spec.Name, next.ID, next.Run)
	}
	s.advanceLocked(j.Pipeline)
	s.notifyLocked()
}

// GitLab's limits on how long a job may wait or run (app/services/ci/stuck_builds/drop_pending_service.rb,
// drop_running_service.rb; app/services/ci/timed_out_builds/drop_running_service.rb; Ci::Runner::ONLINE_CONTACT_TIMEOUT).
const (
	PendingOutdated = 24 * time.Hour // BUILD_PENDING_OUTDATED_TIMEOUT: any pending job is dropped after a day
	// TimedOutMinuteBuffer: Ci::TimedOutBuilds::DropRunningService::MINUTE_BUFFER, how long past its timeout a
	// running job must be before GitLab drops it (the default of Config.TimedOutBuffer).
	TimedOutMinuteBuffer = 15 * time.Minute
	PendingStuck         = time.Hour     // BUILD_PENDING_STUCK_TIMEOUT: … after an hour if no online runner can take it
	RunnerOnline         = 2 * time.Hour // a runner is online when it called within this
)

// DropStuck does what GitLab's scheduled workers do to jobs that wait or run too long, and returns the jobs it
// dropped:
//   - a running job past started + its timeout fails with job_execution_timeout (Ci::TimedOutBuilds::DropRunningService);
//   - a running job whose runner has not updated it for RunningOutdated fails with stuck_or_timeout_failure
//     (Ci::StuckBuilds::DropRunningService);
//   - a pending job fails with stuck_or_timeout_failure after PendingOutdated, or after PendingStuck when no online
//     runner could take it (Ci::StuckBuilds::DropPendingService).
//
// Each dropped job's retry rules apply.
func (s *Server) DropStuck(now time.Time) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dropped []int64
	for _, id := range slices.Sorted(maps.Keys(s.jobs)) {
		j := s.jobs[id]
		reason := ""
		switch j.Status {
		case StatusRunning, StatusCanceling:
			switch {
			case now.After(j.StartedAt.Add(j.timeout() + s.cfg.TimedOutBuffer)):
				reason = "job_execution_timeout"
				s.logf("job %d (%s): running for %s, past its timeout %s: dropped", j.ID, j.Spec.Name, now.Sub(j.StartedAt).Round(time.Second), j.timeout())
			case now.Sub(j.UpdatedAt) >= s.cfg.RunningOutdated:
				reason = "stuck_or_timeout_failure"
				s.logf("job %d (%s): no update from its runner for %s: dropped as stuck", j.ID, j.Spec.Name, now.Sub(j.UpdatedAt).Round(time.Second))
			}
		case StatusPending:
			waited := now.Sub(j.QueuedAt)
			switch {
			case waited >= PendingOutdated:
				reason = "stuck_or_timeout_failure"
				s.logf("job %d (%s): pending for %s: dropped", j.ID, j.Spec.Name, waited.Round(time.Second))
			case waited >= PendingStuck && !s.onlineRunnerForLocked(j, now):
				reason = "stuck_or_timeout_failure"
				s.logf("job %d (%s): pending for %s with no online runner that can take it: dropped", j.ID, j.Spec.Name, waited.Round(time.Second))
			}
		}
		if reason == "" {
			continue
		}
		dropped = append(dropped, j.ID)
		s.finishLocked(j, StatusFailed, reason, 0)
	}
	return dropped
}

// timeout is the job's timeout: what it runs with once handed out, else its own, else the project's default (1 h).
func (j *job) timeout() time.Duration {
	if j.RunTimeout > 0 {
		return j.RunTimeout
	}
	if j.Spec.Timeout > 0 {
		return j.Spec.Timeout
	}
	return time.Hour
}

// onlineRunnerForLocked reports whether a runner that called within RunnerOnline could take j. Callers hold s.mu.
func (s *Server) onlineRunnerForLocked(j *job, now time.Time) bool {
	for _, rn := range s.runners {
		if now.Sub(rn.ContactedAt) < RunnerOnline && !rn.Paused && rn.canTake(j) {
			return true
		}
	}
	return false
}

// SweepStuck runs DropStuck every interval until ctx ends (GitLab runs its worker on a schedule too).
func (s *Server) SweepStuck(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.DropStuck(now)
		}
	}
}

// durationKnob is a stand-in knob GitLab does not have, PUT with {"seconds": N} (1 ≤ N ≤ a day): it sets the
// duration field picks of the configuration and logs what it now means.
func (s *Server) durationKnob(field func(*Config) *time.Duration, means string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, ok := knobSeconds(w, r, 24*3600)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		*field(&s.cfg) = d
		s.logf(means, d)
		writeJSON(w, http.StatusOK, map[string]int{"seconds": int(d.Seconds())})
	}
}
