//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// The e2e's helpers that every file uses: where the repository is, the progress line, a trace's tail, the runner
// tier's state and a test phase's failure count. Scenarios live in the _test.go files.

// repo is the repository root, seen from this package's directory (where go test runs it).
const repo = "../.."

func cacheDir() string { return cachedir.E2E() }

func logf(format string, args ...any) {
	fmt.Printf("[e2e %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runnerTier is the installed platform with every tenant's manager on, the forge and each tenant's project.
type runnerTier struct {
	p        *platform
	f        *forge
	rw       kindworld.RunnerWorld
	archive  string
	run      string
	projects []*tenantProject // one per tenant: its example project
	// extra are the projects of tenants' further runner profiles (profileProjects), in a tier with profiles.
	extra []*tenantProject
	pull  bool // the official images instead of the ones built here (GKT_E2E_MODE=pull)
	// profiles: tenants with a profiles overlay (values/<tenant>-profiles.yaml) install their runner profiles
	// (the runner tier, make e2e and make demo); the other suites install the single runner.
	profiles bool
	steps    steps
}

// profileValues are the tenant's runner profiles overlay when the tier installs profiles (nil otherwise).
func (rt *runnerTier) profileValues(t *testing.T, tenant string) map[string]any {
	t.Helper()
	if !rt.profiles {
		return nil
	}
	v, err := tenantProfiles(tenant)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// steps records where a run's time went, in order, for the demo's closing table.
type steps struct {
	mu    sync.Mutex
	names []string
	took  []time.Duration
}

// add records that step took d.
func (s *steps) add(step string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = append(s.names, step)
	s.took = append(s.took, d)
}

// since records step as the time since start and returns now, the next step's start.
func (s *steps) since(step string, start time.Time) time.Time {
	s.add(step, time.Since(start))
	return time.Now()
}

// table is the steps as an aligned table with each step's share of the whole.
func (s *steps) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total time.Duration
	for _, d := range s.took {
		total += d
	}
	width := len("total")
	for _, n := range s.names {
		width = max(width, len(n))
	}
	var b strings.Builder
	for i, n := range s.names {
		share := 0.0
		if total > 0 {
			share = 100 * s.took[i].Seconds() / total.Seconds()
		}
		fmt.Fprintf(&b, "  %-*s %8s %4.0f%%\n", width, n, s.took[i].Round(time.Second), share)
	}
	fmt.Fprintf(&b, "  %-*s %8s\n", width, "total", total.Round(time.Second))
	return b.String()
}

// phase counts the failures of one part of TestModes, so the summary says which mode failed.
type phase struct {
	t      *testing.T
	name   string
	mu     sync.Mutex
	failed int
}

func (p *phase) Errorf(format string, args ...any) {
	p.t.Helper()
	p.mu.Lock()
	p.failed++
	p.mu.Unlock()
	p.t.Errorf(format, args...)
}

func (p *phase) Fatalf(format string, args ...any) {
	p.t.Helper()
	p.Errorf(format, args...)
	p.t.FailNow()
}

// String is "ok", or "FAIL(n)" with the phase's failure count.
func (p *phase) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed == 0 {
		return "ok"
	}
	return fmt.Sprintf("FAIL(%d)", p.failed)
}

// values reads values files (paths under test/e2e) into one map, as helm merges -f files.
func values(t *testing.T, files ...string) map[string]any {
	t.Helper()
	v, err := render.ValuesFromFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tenantValues are the tenant's values as setupRunnerTier installed them, with overlays (files under test/e2e, then
// extra) on top: what a scenario applies with `helm upgrade`.
func (rt *runnerTier) tenantValues(t *testing.T, tp *tenantProject, extra map[string]any, overlays ...string) map[string]any {
	t.Helper()
	vals := values(t, append([]string{"values/" + tp.tn.Name + ".yaml"}, overlays...)...)
	vals = render.MergeValues(vals, runnerValues(rt.f, rt.rw, tp.exampleProject, rt.pull, rt.profileValues(t, tp.tn.Name)))
	if extra != nil {
		vals = render.MergeValues(vals, extra)
	}
	return vals
}

// project is the tenant's example project (its first one: with profiles a tenant may have more).
func (rt *runnerTier) project(tenant string) *tenantProject {
	for _, tp := range rt.projects {
		if tp.tn.Name == tenant {
			return tp
		}
	}
	return nil
}

// profileProject is the tenant's project served by that runner profile (nil: none), among its example project and
// the extra ones.
func (rt *runnerTier) profileProject(tenant, profile string) *tenantProject {
	for _, tp := range append(slices.Clone(rt.projects), rt.extra...) {
		if tp.tn.Name == tenant && tp.profile == profile {
			return tp
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
