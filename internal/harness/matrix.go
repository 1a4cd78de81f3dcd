package harness

import (
	"fmt"
	"path/filepath"
	"runtime/debug"
	"sync"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/k8sschema"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// MatrixOptions say where things are.
type MatrixOptions struct {
	RepoRoot string
	CacheDir string // schema cache
	Workers  int
}

// Summary of a matrix run.
type Summary struct {
	Permutations int
	KubeVersions int
	Objects      int
	Invalid      int
	Findings     []Finding
	Bad          []BadOutcome
	Probes       int
	Exposures    map[string]bool // distinct shared-mode exposures (tenant names generalised)
	// InstallTimeOnly are the cluster lookups of the charts: the matrix renders without a cluster (as GitOps tools
	// do), so what hangs on them is checked only at install time (see InstallTimeLookups).
	InstallTimeOnly []string
}

// Rejected counts bad cases rejected with the expected message.
func (s Summary) Rejected() int {
	n := 0
	for _, b := range s.Bad {
		if b.Rejected {
			n++
		}
	}
	return n
}

// OK is the exit condition: no invalid object and every bad case rejected.
func (s Summary) OK() bool { return s.Invalid == 0 && s.Rejected() == len(s.Bad) }

// Line is the one-line summary `make matrix` ends with.
func (s Summary) Line() string {
	return fmt.Sprintf("matrix: permutations=%d k8s-versions=%d objects=%d invalid=%d bad-values=%d rejected=%d install-time-only=%d",
		s.Permutations, s.KubeVersions, s.Objects, s.Invalid, len(s.Bad), s.Rejected(), len(s.InstallTimeOnly))
}

// SchemaSpec is what the matrix validates against.
func SchemaSpec() k8sschema.Spec {
	return k8sschema.Spec{KubernetesVersions: versions.KubernetesVersions, Kinds: Kinds, CRDs: CRDs}
}

// RunMatrix checks every permutation against every supported version and runs the bad-values catalogue.
func RunMatrix(o MatrixOptions) (Summary, error) {
	root, err := k8sschema.Ensure(o.CacheDir, SchemaSpec())
	if err != nil {
		return Summary{}, fmt.Errorf("schemas: %w", err)
	}
	space, err := LoadSpace(filepath.Join(o.RepoRoot, "test", "matrix", "permutations.yaml"))
	if err != nil {
		return Summary{}, err
	}
	bad, err := LoadBadCases(filepath.Join(o.RepoRoot, "test", "matrix", "bad-values.yaml"))
	if err != nil {
		return Summary{}, err
	}
	installTime, err := InstallTimeLookups(filepath.Join(o.RepoRoot, "charts"))
	if err != nil {
		return Summary{}, err
	}
	perms := space.Permutations(versions.KubernetesVersions)
	// Renders allocate a lot of short-lived garbage; trading memory for fewer GC cycles halves the wall time here.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	workers := o.Workers
	if workers < 1 {
		workers = 2
	}
	results := make([]Result, len(perms))
	var wg sync.WaitGroup
	next := make(chan int)
	nv := len(versions.KubernetesVersions)
	// One checker: kubeconform's validators (and their compiled schemas) are shared by the workers, as in its CLI.
	shared, err := NewChecker(filepath.Join(o.RepoRoot, "charts"), root, versions.KubernetesVersions)
	if err != nil {
		return Summary{}, err
	}
	// The bad values render beside the permutations (same charts, own goroutines), so neither waits for the other.
	var badOut []BadOutcome
	wg.Add(1)
	go func() {
		defer wg.Done()
		badOut = shared.RunBad(space, bad, versions.KubernetesVersions[0], workers)
	}()
	for w := 0; w < workers; w++ {
		c := *shared
		c.renders = map[string]*Rendered{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range next {
				// every version of one row on one worker, so a version-independent render is reused
				for i := row * nv; i < (row+1)*nv; i++ {
					results[i] = c.Check(space, perms[i])
				}
				clear(c.renders)
			}
		}()
	}
	for row := 0; row < len(perms)/nv; row++ {
		next <- row
	}
	close(next)
	wg.Wait()
	s := Summary{Permutations: len(perms), KubeVersions: len(versions.KubernetesVersions), Exposures: map[string]bool{}, InstallTimeOnly: installTime}
	for _, r := range results {
		s.Objects += r.Objects
		s.Invalid += r.Invalid
		s.Findings = append(s.Findings, r.Findings...)
		s.Probes += r.Probes
		for _, e := range r.Exposures {
			s.Exposures[e] = true
		}
	}
	s.Bad = badOut
	return s, nil
}
