package gitlabstandin

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabclient"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

const adminToken = "glpat-standin-test-admin-token"

// world is a stand-in on a TLS test server, the REST client on it, and a raw client for the Runner API calls the
// runner makes.
type world struct {
	t      *testing.T
	srv    *httptest.Server
	api    *gitlabclient.Client
	raw    *http.Client
	caFile string
	server *Server
}

func newWorld(t *testing.T, longPoll time.Duration) *world {
	t.Helper()
	w := &world{t: t}
	var err error
	var s *Server
	srvURL := ""
	s, err = New(Config{ExternalURL: "https://placeholder.invalid", AdminToken: adminToken, DataDir: t.TempDir(), LongPoll: longPoll, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewTLSServer(s.Handler())
	t.Cleanup(w.srv.Close)
	srvURL = w.srv.URL
	s.cfg.ExternalURL = srvURL // clone URLs must point at the test server
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.srv.Certificate().Raw})
	w.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(w.caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if w.api, err = gitlabclient.New(srvURL, adminToken, ca); err != nil {
		t.Fatal(err)
	}
	w.raw = w.srv.Client()
	w.server = s
	return w
}

// runnerCall is one Runner API request; it returns the status, headers and body.
func (w *world) runnerCall(method, path string, header map[string]string, body any) (int, http.Header, []byte) {
	w.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, w.srv.URL+"/api/v4"+path, rd)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := w.raw.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

type handedJob struct {
	ID        int64  `json:"id"`
	Token     string `json:"token"`
	Variables []Variable
	GitInfo   struct {
		RepoURL  string   `json:"repo_url"`
		Sha      string   `json:"sha"`
		Refspecs []string `json:"refspecs"`
	} `json:"git_info"`
	JobInfo struct {
		Name      string `json:"name"`
		Stage     string `json:"stage"`
		ProjectID int64  `json:"project_id"`
	} `json:"job_info"`
	Image *Image
	Cache []Cache
	Steps []struct {
		Name   string   `json:"name"`
		Script []string `json:"script"`
	}
}

func (j handedJob) variable(key string) (Variable, bool) {
	for _, v := range j.Variables {
		if v.Key == key {
			return v, true
		}
	}
	return Variable{}, false
}

// request is POST jobs/request as the runner sends it.
func (w *world) request(token, lastUpdate string) (int, string, *handedJob) {
	w.t.Helper()
	code, h, body := w.runnerCall("POST", "/jobs/request", nil, map[string]any{"token": token, "last_update": lastUpdate, "info": map[string]any{"name": "gitlab-runner", "version": "17.9.3"}})
	if code != http.StatusCreated {
		return code, h.Get("X-GitLab-Last-Update"), nil
	}
	var j handedJob
	if err := json.Unmarshal(body, &j); err != nil {
		w.t.Fatal(err)
	}
	return code, "", &j
}

func (w *world) trace(j *handedJob, start int, chunk string) (int, http.Header) {
	code, h, _ := w.runnerCall("PATCH", fmt.Sprintf("/jobs/%d/trace", j.ID),
		map[string]string{"JOB-TOKEN": j.Token, "Content-Range": fmt.Sprintf("%d-%d", start, start+len(chunk)-1)}, []byte(chunk))
	return code, h
}

func (w *world) finish(j *handedJob, state, reason, trace string) int {
	code, _, _ := w.runnerCall("PUT", fmt.Sprintf("/jobs/%d", j.ID), nil, map[string]any{"token": j.Token, "state": state, "failure_reason": reason,
		"output": map[string]any{"checksum": fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(trace))), "bytesize": len(trace)}})
	return code
}

// projectFiles are the e2e project's files as the e2e commits them (internal/pipelines).
func projectFiles(t *testing.T, project string) map[string]string {
	t.Helper()
	files, err := pipelines.ProjectFiles("../..", project, 1)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRunnerProtocol plays the runner's side of every Runner API call against the stand-in, with the example Java
// project's real pipeline: job hand-out by tags and project, the Workhorse long poll, trace ranges, final updates,
// retries, cancellation through Job-Status, and clone access with the job token.
func TestRunnerProtocol(t *testing.T) {
	w := newWorld(t, 20*time.Second)
	ctx := context.Background()
	proj, err := w.api.CreateProject(ctx, "java-maven")
	if err != nil {
		t.Fatal(err)
	}
	other, err := w.api.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	rn, err := w.api.CreateRunner(ctx, proj.ID, "tenant-a", []string{"tenant-a"})
	if err != nil {
		t.Fatal(err)
	}
	wrongTags, _ := w.api.CreateRunner(ctx, proj.ID, "tenant-b tags", []string{"tenant-b"})
	otherProject, _ := w.api.CreateRunner(ctx, other.ID, "other project", []string{"tenant-a"})
	if !strings.HasPrefix(rn.Token, "glrt-") || len(rn.Token) < 14 {
		t.Fatalf("runner token %q: the runner needs glrt- and ≥ 14 characters", rn.Token)
	}
	if code, _, _ := w.runnerCall("POST", "/runners/verify", nil, map[string]string{"token": rn.Token}); code != http.StatusOK {
		t.Fatalf("verify with the runner's token: %d", code)
	}
	if code, _, _ := w.runnerCall("POST", "/runners/verify", nil, map[string]string{"token": "glrt-not-a-runner-token"}); code != http.StatusForbidden {
		t.Fatalf("verify with a wrong token: %d, want 403", code)
	}
	sha, err := w.api.Commit(ctx, proj.ID, "main", "v1", projectFiles(t, "java-maven"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := w.api.PipelineFor(ctx, proj.ID, sha, 10*time.Second)
	if err != nil || pl.Status != StatusPending {
		t.Fatalf("pipeline %+v, %v: want pending", pl, err)
	}

	// Neither a runner without the job's tags nor another project's runner gets the job.
	for name, tok := range map[string]string{"wrong tags": wrongTags.Token, "other project": otherProject.Token} {
		if code, _, j := w.request(tok, ""); code != http.StatusNoContent || j != nil {
			t.Fatalf("%s runner got a job (%d)", name, code)
		}
	}
	if code, _, _ := w.request("glrt-unknown-token-xyz", ""); code != http.StatusForbidden {
		t.Fatalf("unknown runner token: %d, want 403", code)
	}
	code, _, test := w.request(rn.Token, "")
	if code != http.StatusCreated || test.JobInfo.Name != "test" {
		t.Fatalf("first request: %d %+v, want the test job", code, test)
	}
	if test.GitInfo.Sha != sha || !strings.Contains(test.GitInfo.RepoURL, "gitlab-ci-token:"+test.Token+"@") || len(test.GitInfo.Refspecs) == 0 {
		t.Errorf("git_info %+v", test.GitInfo)
	}
	if tok, ok := test.variable("CI_JOB_TOKEN"); !ok || !tok.Masked || tok.Public || tok.Value != test.Token {
		t.Errorf("CI_JOB_TOKEN %+v: must be the job token, masked, not public", tok)
	}
	for key, want := range map[string]string{"CI_PROJECT_PATH": proj.PathWithNamespace, "CI_COMMIT_SHA": sha, "CI_COMMIT_SHORT_SHA": sha[:8], "CI_JOB_NAME": "test", "CI_COMMIT_BRANCH": "main"} {
		if v, _ := test.variable(key); v.Value != want {
			t.Errorf("%s=%q, want %q", key, v.Value, want)
		}
	}
	if len(test.Cache) != 1 || test.Cache[0].Key != "java-builds-protected" || test.Cache[0].Paths[0] != ".m2/repository" {
		t.Errorf("cache %+v: want GitLab's protected suffix on the key", test.Cache)
	}
	if test.Image == nil || test.Image.Name != "gkt.local/java-builder:17-maven3.8" || len(test.Steps) == 0 || test.Steps[0].Name != "script" {
		t.Errorf("image %+v steps %+v", test.Image, test.Steps)
	}

	// git clone with the job token while the job runs; a wrong token is refused.
	clone := func(token string) error {
		dir := t.TempDir()
		url := strings.Replace(w.srv.URL, "https://", "https://gitlab-ci-token:"+token+"@", 1) + "/" + proj.PathWithNamespace + ".git"
		cmd := exec.Command("git", "clone", "-q", url, dir)
		cmd.Env = append(os.Environ(), "GIT_SSL_CAINFO="+w.caFile, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "pom.xml")); err != nil {
			return err
		}
		return nil
	}
	if err := clone(test.Token); err != nil {
		t.Errorf("clone with the running job's token: %v", err)
	}
	if err := clone("glcbt-wrong"); err == nil {
		t.Errorf("clone with a wrong token worked")
	}

	// Nothing else is pending (build-image waits for test): 204 with the queue's value; then the long poll holds
	// a request with that value until test finishes and build-image is queued, and hands it out.
	code, last, _ := w.request(rn.Token, "")
	if code != http.StatusNoContent || last == "" {
		t.Fatalf("second request: %d last_update=%q, want 204 with X-GitLab-Last-Update", code, last)
	}
	held := make(chan *handedJob, 1)
	go func() { _, _, j := w.request(rn.Token, last); held <- j }()
	select {
	case j := <-held:
		t.Fatalf("the long poll answered before anything changed: %+v", j)
	case <-time.After(300 * time.Millisecond):
	}

	// Trace: appends at the stored end are accepted; anything else is 416 with the stored range.
	log := "hello "
	if code, h := w.trace(test, 0, log); code != http.StatusAccepted || h.Get("Range") != "0-6" {
		t.Fatalf("trace append: %d Range=%q", code, h.Get("Range"))
	}
	if code, h := w.trace(test, 3, "again"); code != http.StatusRequestedRangeNotSatisfiable || h.Get("Range") != "0-6" {
		t.Fatalf("trace at a wrong offset: %d Range=%q, want 416 0-6", code, h.Get("Range"))
	}
	log += "world\n"
	if code, _ := w.trace(test, 6, "world\n"); code != http.StatusAccepted {
		t.Fatalf("trace append: %d", code)
	}
	if code := w.finish(test, StatusSuccess, "", log); code != http.StatusOK {
		t.Fatalf("final update: %d", code)
	}
	var image *handedJob
	select {
	case image = <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not hand out build-image after test succeeded")
	}
	if image == nil || image.JobInfo.Name != "build-image" {
		t.Fatalf("held request answered %+v, want build-image", image)
	}
	if err := clone(test.Token); err == nil {
		t.Errorf("clone with a finished job's token worked")
	}

	// A runner system failure is retried (the template's retry rules); a cancel reaches the runner as Job-Status.
	if code := w.finish(image, StatusFailed, "runner_system_failure", ""); code != http.StatusOK {
		t.Fatalf("final update: %d", code)
	}
	code, _, retry := w.request(rn.Token, "")
	if code != http.StatusCreated || retry.JobInfo.Name != "build-image" || retry.ID == image.ID {
		t.Fatalf("after a runner system failure: %d %+v, want a new build-image job", code, retry)
	}
	if err := w.api.CancelJob(ctx, proj.ID, retry.ID); err != nil {
		t.Fatal(err)
	}
	if _, h := w.trace(retry, 0, "x"); h.Get("Job-Status") != StatusCanceled {
		t.Fatalf("Job-Status after cancel: %q", h.Get("Job-Status"))
	}
	w.finish(retry, StatusFailed, "script_failure", "x")
	pl, err = w.api.WaitPipeline(ctx, proj.ID, pl.ID, 10*time.Second)
	if err != nil || pl.Status != StatusCanceled {
		t.Fatalf("pipeline %+v, %v: want canceled", pl, err)
	}
	jobs, err := w.api.Jobs(ctx, proj.ID, pl.ID)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, j := range jobs {
		states = append(states, fmt.Sprintf("%s:%s:retried=%v", j.Name, j.Status, gitlabclient.Retried(jobs, j)))
	}
	if got := strings.Join(states, " "); got != "test:success:retried=false build-image:failed:retried=true build-image:canceled:retried=false" {
		t.Errorf("jobs: %s", got)
	}
	trace, err := w.api.Trace(ctx, proj.ID, test.ID)
	if err != nil || trace != "hello world\n" {
		t.Errorf("trace %q, %v", trace, err)
	}
}

// TestLongPollTimesOut: with nothing to hand out, a held request ends with 204 after the long poll.
func TestLongPollTimesOut(t *testing.T) {
	w := newWorld(t, 200*time.Millisecond)
	p, err := w.api.CreateProject(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	rn, _ := w.api.CreateRunner(context.Background(), p.ID, "r", []string{"x"})
	_, last, _ := w.request(rn.Token, "")
	code, again, j := w.request(rn.Token, last)
	if code != http.StatusNoContent || j != nil || again != last {
		t.Fatalf("held request: %d %q %+v, want 204 with the same last_update", code, again, j)
	}
}

// TestInvalidPipelineIsFailedWithYAMLErrors: a file the stand-in cannot run is a failed pipeline naming the reason.
func TestInvalidPipelineIsFailedWithYAMLErrors(t *testing.T) {
	w := newWorld(t, time.Second)
	ctx := context.Background()
	p, _ := w.api.CreateProject(ctx, "bad")
	sha, err := w.api.Commit(ctx, p.ID, "main", "bad", map[string]string{CIFile: "a:\n  script: [x]\n  artifacts: {paths: [y]}\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := w.api.PipelineFor(ctx, p.ID, sha, 5*time.Second)
	if err != nil || pl.Status != StatusFailed || !strings.Contains(pl.YamlErrors, "artifacts") {
		t.Fatalf("pipeline %+v, %v", pl, err)
	}
	if _, err := w.api.Commit(ctx, p.ID, "main", "again", map[string]string{CIFile: "x"}, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create of an existing file: %v", err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.srv.Certificate().Raw})
	stranger, err := gitlabclient.New(w.srv.URL, "glpat-not-the-admin-token", ca)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.CreateProject(ctx, "x"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("REST call with a wrong token: %v, want 401", err)
	}
}

// TestStuckRunningJobsAreDroppedAndRetried: a running job whose runner went silent is failed as
// stuck_or_timeout_failure once RunningOutdated passes, and retried when its retry rules name that reason (the
// Kaniko template's do); a job whose runner keeps updating it is left alone.
func TestStuckRunningJobsAreDroppedAndRetried(t *testing.T) {
	w := newWorld(t, time.Second)
	ctx := context.Background()
	p, _ := w.api.CreateProject(ctx, "stuck")
	rn, _ := w.api.CreateRunner(ctx, p.ID, "r", []string{"x"})
	ci := "stages: [a]\n" +
		"silent: {stage: a, tags: [x], script: [sleep], timeout: 3h, retry: {max: 2, when: [stuck_or_timeout_failure]}}\n" +
		"alive: {stage: a, tags: [x], script: [sleep], timeout: 3h, retry: {max: 2, when: [runner_system_failure]}}\n"
	sha, err := w.api.Commit(ctx, p.ID, "main", "v1", map[string]string{CIFile: ci}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := w.api.PipelineFor(ctx, p.ID, sha, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _, a := w.request(rn.Token, "")
	_, _, b := w.request(rn.Token, "")
	if a == nil || b == nil {
		t.Fatal("both jobs should be handed out")
	}
	silent, alive := a, b
	if silent.JobInfo.Name != "silent" {
		silent, alive = b, a
	}
	s := w.server
	// Both were last updated at start (set here, so the test does not depend on how long the hand-out took).
	start := time.Now()
	s.mu.Lock()
	s.jobs[silent.ID].UpdatedAt, s.jobs[alive.ID].UpdatedAt = start, start
	s.mu.Unlock()
	if got := s.DropStuck(start.Add(s.cfg.RunningOutdated - time.Second)); len(got) != 0 {
		t.Fatalf("dropped %v before RunningOutdated passed", got)
	}
	// alive's runner sends a trace chunk late; silent's sends nothing.
	s.mu.Lock()
	s.jobs[alive.ID].UpdatedAt = start.Add(s.cfg.RunningOutdated)
	s.mu.Unlock()
	if got := s.DropStuck(start.Add(s.cfg.RunningOutdated + time.Second)); len(got) != 1 || got[0] != silent.ID {
		t.Fatalf("dropped %v, want only the silent job %d", got, silent.ID)
	}
	if _, h := w.trace(silent, 0, "late"); h.Get("Job-Status") != StatusFailed {
		t.Errorf("the dropped job's runner is told %q, want failed", h.Get("Job-Status"))
	}
	jobs, _ := w.api.Jobs(ctx, p.ID, pl.ID)
	var states []string
	for _, j := range jobs {
		states = append(states, fmt.Sprintf("%s:%s:%s:retried=%v", j.Name, j.Status, j.FailureReason, gitlabclient.Retried(jobs, j)))
	}
	if got := strings.Join(states, " "); got != "alive:running::retried=false silent:failed:stuck_or_timeout_failure:retried=true silent:pending::retried=false" {
		t.Errorf("jobs: %s", got)
	}
}

// TestResetRunnerTokenRevokesTheOldOne: after a reset the old token is refused and the new one takes jobs; a job
// handed out before goes on with its job token.
func TestResetRunnerTokenRevokesTheOldOne(t *testing.T) {
	w := newWorld(t, time.Second)
	ctx := context.Background()
	p, _ := w.api.CreateProject(ctx, "rotate")
	rn, _ := w.api.CreateRunner(ctx, p.ID, "r", []string{"x"})
	sha, _ := w.api.Commit(ctx, p.ID, "main", "v1", map[string]string{CIFile: "a: {tags: [x], script: [x]}\nb: {tags: [x], script: [x]}\n"}, nil)
	if _, err := w.api.PipelineFor(ctx, p.ID, sha, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, _, first := w.request(rn.Token, "")
	token, err := w.api.ResetRunnerToken(ctx, rn.ID)
	if err != nil || token == rn.Token || !strings.HasPrefix(token, "glrt-") {
		t.Fatalf("reset: %q, %v", token, err)
	}
	if code, _, _ := w.request(rn.Token, ""); code != http.StatusForbidden {
		t.Errorf("the old token after the reset: %d, want 403", code)
	}
	if code, _, j := w.request(token, ""); code != http.StatusCreated || j == nil {
		t.Errorf("the new token: %d, want a job", code)
	}
	if code, _ := w.trace(first, 0, "still here"); code != http.StatusAccepted {
		t.Errorf("the job handed out before the reset: trace %d, want 202", code)
	}
	if _, err := w.api.ResetRunnerToken(ctx, 999999); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("reset of an unknown runner: %v, want 404", err)
	}
}

// TestKnobsAreSettable: the stand-in's own knobs (running-outdated: when a silent job counts as stuck;
// timed-out-buffer: how long past its timeout a running job is dropped) change with the admin token only; bad
// bodies are refused and change nothing.
func TestKnobsAreSettable(t *testing.T) {
	for _, knob := range []struct {
		path string
		read func(c Config) time.Duration
	}{
		{"running-outdated", func(c Config) time.Duration { return c.RunningOutdated }},
		{"timed-out-buffer", func(c Config) time.Duration { return c.TimedOutBuffer }},
	} {
		t.Run(knob.path, func(t *testing.T) {
			w := newWorld(t, time.Second)
			for _, tc := range []struct {
				body string
				code int
				want time.Duration
			}{
				{`{"seconds": 60}`, http.StatusOK, time.Minute},
				{`{"seconds": 0}`, http.StatusBadRequest, time.Minute},
				{`{"seconds": "x"}`, http.StatusBadRequest, time.Minute},
				{`nonsense`, http.StatusBadRequest, time.Minute},
			} {
				req, _ := http.NewRequest("PUT", w.srv.URL+"/-/standin/"+knob.path, strings.NewReader(tc.body))
				req.Header.Set("PRIVATE-TOKEN", adminToken)
				resp, err := w.raw.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				w.server.mu.Lock()
				got := knob.read(w.server.cfg)
				w.server.mu.Unlock()
				if resp.StatusCode != tc.code || got != tc.want {
					t.Errorf("%s: %d, %s %s; want %d, %s", tc.body, resp.StatusCode, knob.path, got, tc.code, tc.want)
				}
			}
			req, _ := http.NewRequest("PUT", w.srv.URL+"/-/standin/"+knob.path, strings.NewReader(`{"seconds": 5}`))
			if resp, err := w.raw.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("without the admin token: %v %v, want 401", resp.StatusCode, err)
			}
		})
	}
}

// TestOutageDropsEveryRequestThenRecovers: during an outage a held long poll and every new request end without an
// answer; afterwards the same runner and jobs go on where they were (state is kept).
func TestOutageDropsEveryRequestThenRecovers(t *testing.T) {
	w := newWorld(t, 20*time.Second)
	ctx := context.Background()
	p, _ := w.api.CreateProject(ctx, "outage")
	rn, _ := w.api.CreateRunner(ctx, p.ID, "r", []string{"x"})
	sha, _ := w.api.Commit(ctx, p.ID, "main", "v1", map[string]string{CIFile: "a: {tags: [x], script: [x]}\n"}, nil)
	if _, err := w.api.PipelineFor(ctx, p.ID, sha, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, _, j := w.request(rn.Token, "")
	if code, _ := w.trace(j, 0, "before "); code != http.StatusAccepted {
		t.Fatalf("trace before the outage: %d", code)
	}
	_, last, _ := w.request(rn.Token, "")
	held := make(chan error, 1)
	go func() {
		raw, _ := json.Marshal(map[string]any{"token": rn.Token, "last_update": last})
		resp, err := w.raw.Post(w.srv.URL+"/api/v4/jobs/request", "application/json", bytes.NewReader(raw))
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		held <- err
	}()
	time.Sleep(200 * time.Millisecond) // the request is held now (nothing changes)
	req, _ := http.NewRequest("PUT", w.srv.URL+"/-/standin/outage", strings.NewReader(`{"seconds": 2}`))
	req.Header.Set("PRIVATE-TOKEN", adminToken)
	resp, err := w.raw.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("start the outage: %v %v", resp, err)
	}
	resp.Body.Close()
	select {
	case err := <-held:
		if err == nil || strings.Contains(err.Error(), "answered") {
			t.Errorf("the held long poll during the outage: %v, want the connection dropped", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the held long poll was not dropped by the outage")
	}
	for _, path := range []string{"/api/v4/version", "/-/standin/health"} {
		if resp, err := w.raw.Get(w.srv.URL + path); err == nil {
			resp.Body.Close()
			t.Errorf("GET %s during the outage answered %d, want no answer", path, resp.StatusCode)
		}
	}
	if err := wait.For(ctx, "the outage to end", 200*time.Millisecond, 10*time.Second, func(context.Context) (bool, error) {
		resp, err := w.raw.Get(w.srv.URL + "/-/standin/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Fatal(err)
	}
	if code, _ := w.trace(j, 7, "after\n"); code != http.StatusAccepted {
		t.Errorf("the job's trace after the outage: %d, want 202 (appended where it stopped)", code)
	}
	if code := w.finish(j, StatusSuccess, "", "before after\n"); code != http.StatusOK {
		t.Errorf("the job's final update after the outage: %d", code)
	}
	if tr, _ := w.api.Trace(ctx, p.ID, j.ID); tr != "before after\n" {
		t.Errorf("trace %q: the outage lost part of it", tr)
	}
}
