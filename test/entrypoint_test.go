package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// TestManagerPicksUpRotatedSecretsWithoutRestart runs the manager's rendered entrypoint.sh under sh, with its
// absolute paths moved into a temporary directory and a stand-in `gitlab-runner` that only stays alive, and
// rotates the token Secret's file as the kubelet does: config.toml must carry the new token without a restart, and a
// malformed new token must leave the previous config.toml in place.
func TestManagerPicksUpRotatedSecretsWithoutRestart(t *testing.T) {
	m := startManager(t, nil)
	if err := m.waitToken("the first token in config.toml", "glrt-first-token-0123"); err != nil {
		t.Fatalf("%v\n%s", err, m.out())
	}
	writeFile(t, m.token, "glrt-rotated-token-4567", 0o600)
	if err := m.waitToken("the rotated token in config.toml", "glrt-rotated-token-4567"); err != nil {
		t.Fatalf("%v\n%s", err, m.out())
	}
	writeFile(t, m.token, "not a token!", 0o600)
	if err := wait.For(m.ctx, "the refusal of a malformed token", 200*time.Millisecond, 15*time.Second, func(context.Context) (bool, error) {
		return strings.Contains(m.out(), "previous config.toml stays"), nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, m.out())
	}
	if ok, _ := m.hasToken("glrt-rotated-token-4567"); !ok {
		t.Errorf("a malformed token replaced the working config.toml:\n%s", m.out())
	}
	if err := m.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the manager process ended (%v): a Secret change must not restart it:\n%s", err, m.out())
	}
}

// TestManagerPicksUpASecretRotatedDuringItsFirstRender swaps the token file while the first render runs, every
// time and not only when the machine is slow: the config template is a FIFO the test serves, and render opens it
// only after it has read the Secrets, so the swap lands between the first config.toml and the watcher's snapshot.
// The watcher must see it as a change and config.toml must end with the rotated token (found by a cold CI run
// under load: the snapshot was taken after the render, and a rotation in between was lost).
func TestManagerPicksUpASecretRotatedDuringItsFirstRender(t *testing.T) {
	var reading func() (serve func())
	var token string
	m := startManager(t, func(dir string) {
		token = filepath.Join(dir, "secrets/runner/token")
		reading = holdFirstRender(t, filepath.Join(dir, "template/config.template.toml"))
	})
	serve := reading() // the first render has read the Secrets and opened the template
	writeFile(t, token, "glrt-rotated-token-4567", 0o600)
	serve()
	if err := m.waitToken("the token rotated during the first render in config.toml", "glrt-rotated-token-4567"); err != nil {
		t.Fatalf("%v\n%s", err, m.out())
	}
}

// A manager deleted while it starts gets preStop's SIGQUIT before the runner runs (PID 1 ignores a signal it has no
// handler for: the runner would start and take jobs for the whole grace period, seen live). The entrypoint notes the
// signal and does not start the runner. Control: the same start without the signal starts it.
func TestManagerAskedToStopWhileStartingNeverStartsTheRunner(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal bool
	}{{"SIGQUIT during the first render", true}, {"control: no signal", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var reading func() (serve func())
			var marker string
			m := startManager(t, func(dir string) {
				marker = filepath.Join(dir, "runner-started")
				writeFile(t, filepath.Join(dir, "bin/gitlab-runner"), "#!/bin/sh\ntouch "+marker+"\nexec sleep 60\n", 0o755)
				reading = holdFirstRender(t, filepath.Join(dir, "template/config.template.toml"))
			})
			serve := reading() // the entrypoint is in its first render now, past its trap
			if tc.signal {
				if err := m.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
					t.Fatal(err)
				}
			}
			serve()
			var exitErr error
			done := false
			// whichever comes first: the runner starts (its marker), or the entrypoint ends
			err := wait.For(m.ctx, "the runner to start or the entrypoint to end", 100*time.Millisecond, 20*time.Second, func(context.Context) (bool, error) {
				select {
				case <-m.exited:
					exitErr, done = m.exitErr, true
					return true, nil
				default:
				}
				_, err := os.Stat(marker)
				return err == nil, nil
			})
			_, statErr := os.Stat(marker)
			started := statErr == nil
			switch {
			case err != nil:
				t.Fatalf("%v\n%s", err, m.out())
			case tc.signal && (started || !done || exitErr != nil || !strings.Contains(m.out(), "the runner is not started")):
				t.Fatalf("asked to stop while starting: runner started %t, entrypoint ended %t (%v); want no runner and exit 0 saying so:\n%s", started, done, exitErr, m.out())
			case !tc.signal && !started:
				t.Fatalf("without the signal the runner did not start (the entrypoint ended: %v):\n%s", exitErr, m.out())
			}
		})
	}
}

// holdFirstRender replaces the template with a FIFO that holds the entrypoint's first render: reading returns once
// the render opened it, and serve then gives it the template's content once and leaves a plain file for later renders.
func holdFirstRender(t *testing.T, template string) (reading func() (serve func())) {
	t.Helper()
	content, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(template); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(template, 0o644); err != nil {
		t.Fatal(err)
	}
	return func() func() {
		// a non-blocking open fails (ENXIO) until render's awk opened the FIFO: poll, so an entrypoint that died
		// before its render fails the test instead of hanging it
		var f *os.File
		if err := wait.For(context.Background(), "the entrypoint's first render to open the template", 50*time.Millisecond, 20*time.Second, func(context.Context) (bool, error) {
			var err error
			f, err = os.OpenFile(template, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			return err == nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		return func() {
			writeFile(t, template, string(content), 0o644) // renames over the FIFO: awk keeps the one it opened
			_, _ = f.Write(content)
			_ = f.Close()
		}
	}
}

// manager is the rendered entrypoint.sh running `run` in a temporary directory (see managerScripts).
type manager struct {
	ctx   context.Context
	cmd   *exec.Cmd
	token string // the runner token Secret's file
	conf  string // the rendered config.toml
	buf   *syncBuffer
	// exited is closed when the entrypoint process has ended and its output is read; exitErr is then its Wait error.
	exited  chan struct{}
	exitErr error
}

// startManager writes the Secrets' files with a first token and S3 keys and a stand-in gitlab-runner that stays
// alive, lets prepare add to the directory, and starts the entrypoint with a 1 s watch interval. The processes are
// ended when the test ends.
func startManager(t *testing.T, prepare func(dir string)) *manager {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal("sh is needed: the manager's entrypoint is a POSIX shell script")
	}
	dir := managerScripts(t, map[string]any{"runner": map[string]any{"secretsReloadSeconds": 1}})
	token := filepath.Join(dir, "secrets/runner/token")
	writeFile(t, token, "glrt-first-token-0123", 0o600)
	writeFile(t, filepath.Join(dir, "secrets/s3/accessKey"), "AKIAEXAMPLE", 0o600)
	writeFile(t, filepath.Join(dir, "secrets/s3/secretKey"), "secret0123", 0o600)
	writeFile(t, filepath.Join(dir, "bin/gitlab-runner"), "#!/bin/sh\nexec sleep 60\n", 0o755)
	if prepare != nil {
		prepare(dir)
	}
	m := runManager(t, dir)
	m.token, m.conf = token, filepath.Join(dir, "home/.gitlab-runner/config.toml")
	return m
}

// runManager starts the entrypoint in dir (written by managerScripts, with its Secrets' files and a stand-in
// gitlab-runner in place) with `run`; the processes are ended when the test ends.
func runManager(t *testing.T, dir string) *manager {
	t.Helper()
	m := &manager{buf: &syncBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	m.ctx = ctx
	m.cmd = exec.CommandContext(ctx, shellOf(t, dir), filepath.Join(dir, "template/entrypoint.sh"), "run")
	m.cmd.Env = scriptEnv(dir)
	m.cmd.Stdout, m.cmd.Stderr = m.buf, m.buf
	if err := m.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	// One Wait for the process (a second concurrent Wait would block for ever): tests read m.exited.
	m.exited = make(chan struct{})
	go func() { m.exitErr = m.cmd.Wait(); close(m.exited) }()
	// The watcher is a child of the shell that became gitlab-runner: end the whole process group afterwards.
	t.Cleanup(func() { _ = exec.Command("pkill", "-f", dir).Run(); cancel(); <-m.exited })
	return m
}

// runScript runs the entrypoint in dir with arg to its end (a refusal ends it at once) and returns its output.
func runScript(t *testing.T, dir, arg string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, shellOf(t, dir), filepath.Join(dir, "template/entrypoint.sh"), arg)
	cmd.Env = scriptEnv(dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (m *manager) out() string { return m.buf.String() }

func (m *manager) hasToken(tok string) (bool, error) {
	raw, err := os.ReadFile(m.conf)
	return err == nil && strings.Contains(string(raw), `"`+tok+`"`), nil
}

// waitToken waits until config.toml carries tok (polling; the bound only ends a test that would otherwise hang).
func (m *manager) waitToken(what, tok string) error {
	return wait.For(m.ctx, what, 100*time.Millisecond, 20*time.Second, func(context.Context) (bool, error) { return m.hasToken(tok) })
}

// syncBuffer is the scripts' output, written by the process's pipes and read by the test's polls.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// managerScripts renders the tenant chart with values and writes the manager's scripts (its ConfigMap) into a
// temporary directory, with their absolute paths moved into it: template/, secrets/, home/ and bin/ (first on PATH
// for the scripts, where a test puts its stand-in gitlab-runner).
func managerScripts(t *testing.T, values map[string]any) string {
	t.Helper()
	c := loadChart(t, tenantChart)
	res, err := c.Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Cluster: render.InstallCluster(), Values: values})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	relocate := strings.NewReplacer("/secrets/", dir+"/secrets/", "/home/gitlab-runner", dir+"/home", "/etc/gitlab-runner/template/", dir+"/template/")
	for _, o := range res.Objects() {
		if o.GetKind() != "ConfigMap" || !strings.HasSuffix(o.GetName(), "-runner") {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		for name, content := range data {
			writeFile(t, filepath.Join(dir, "template", name), relocate.Replace(content), 0o644)
		}
		return dir
	}
	t.Fatal("no runner ConfigMap rendered")
	return ""
}

// TestManagerReadinessFailsOnlyOnARejectedToken runs the manager's readiness script against what `gitlab-runner
// verify` (17.9, network/gitlab.go) prints: only a token GitLab rejects makes the manager unready; every way of
// GitLab being slow or unreachable counts as ready.
func TestManagerReadinessFailsOnlyOnARejectedToken(t *testing.T) {
	dir := managerScripts(t, nil)
	for _, tc := range []struct {
		name, output string
		ready        bool
	}{
		{"token accepted", `Verifying runner... is valid  runner=abc`, true},
		{"token rejected (glrt-)", `Verifying runner... is not valid  runner=abc`, false},
		{"runner removed (legacy token)", `ERROR: Verifying runner... is removed  runner=abc status=403 Forbidden`, false},
		{"connection dropped (EOF)", `ERROR: Verifying runner... failed  runner=abc status=couldn't execute POST against https://gitlab/api/v4/runners/verify: Post "https://gitlab/api/v4/runners/verify": EOF`, true},
		{"connection reset", `ERROR: Verifying runner... failed  status=...: read tcp 10.0.0.1:1234->10.0.0.2:443: read: connection reset by peer`, true},
		{"connection refused", `ERROR: Verifying runner... failed  status=...: dial tcp 10.0.0.2:443: connect: connection refused`, true},
		{"bad gateway", `ERROR: Verifying runner... failed  runner=abc status=502 Bad Gateway`, true},
		{"timeout", `ERROR: Verifying runner... failed  status=...: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "bin/gitlab-runner"), "#!/bin/sh\ncat <<'OUT'\n"+tc.output+"\nOUT\n", 0o755)
			cmd := exec.Command(shellOf(t, dir), filepath.Join(dir, "template/check-ready.sh"))
			cmd.Env = scriptEnv(dir)
			out, err := cmd.CombinedOutput()
			if ready := err == nil; ready != tc.ready {
				t.Errorf("ready=%t (%v, %s), want %t", ready, err, out, tc.ready)
			}
		})
	}
}

// shellOf gives the scripts the manager image's toolset where it can: with a busybox on the machine, bin/ holds its
// applets and nothing else is on PATH (the image built here is busybox + gitlab-runner, so a script that calls a
// tool busybox lacks fails here as it fails in the pod). Without one, the machine's sh and tools are used.
func shellOf(t *testing.T, dir string) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Log("no busybox on this machine: the scripts run with the machine's sh and tools, not the image's")
		return "sh"
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if _, err := os.Lstat(filepath.Join(dir, "bin", applet)); err == nil {
			continue // the test's own gitlab-runner
		}
		if err := os.Symlink(bb, filepath.Join(dir, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", ".busybox"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "bin", "sh")
}

// scriptEnv is the scripts' environment: only bin/ on PATH when it holds busybox's applets.
func scriptEnv(dir string) []string {
	path := filepath.Join(dir, "bin") + ":" + os.Getenv("PATH")
	if _, err := os.Stat(filepath.Join(dir, "bin", ".busybox")); err == nil {
		path = filepath.Join(dir, "bin")
	}
	return append(os.Environ(), "PATH="+path)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as the kubelet's swap of a Secret volume
		t.Fatal(err)
	}
}
