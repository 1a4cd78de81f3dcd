package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/k8sschema"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// BenchmarkMatrixVsCLI compares the in-process matrix with what users script today: `helm template … | kubeconform
// -strict …` as separate processes per permutation (both CLIs built from the Go proxy, same offline schemas).
// The in-process side does strictly more work per permutation (Pod Security, invariants, connectivity).
// Run with `make bench`; the ratio comes from one run on one machine.
func BenchmarkMatrixVsCLI(b *testing.B) {
	cache := cachedir.Root()
	root, err := k8sschema.Ensure(cache, SchemaSpec())
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(cache, "bin")
	for name, pkg := range map[string]string{"helm": "helm.sh/helm/v3/cmd/helm", "kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("building %s: %v", name, err)
			}
		}
	}
	space, err := LoadSpace("../../test/matrix/permutations.yaml")
	if err != nil {
		b.Fatal(err)
	}
	perms := space.Permutations(versions.KubernetesVersions)
	sample := []Permutation{}
	for i := 0; i < len(perms); i += 9 { // every 9th: a spread over modes and versions
		sample = append(sample, perms[i])
	}
	for b.Loop() {
		// 1. whole matrix in-process
		start := time.Now()
		s, err := RunMatrix(MatrixOptions{RepoRoot: "../..", CacheDir: cache, Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		whole := time.Since(start)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)

		// 2. the sample, in-process, one worker (like for like with the sequential CLI loop)
		c, err := NewChecker("../../charts", root, versions.KubernetesVersions)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for _, p := range sample {
			if r := c.Check(space, p); r.Invalid != 0 {
				b.Fatalf("%s: %v", p.Name(), r.Findings)
			}
		}
		inproc := time.Since(start)

		// 3. the CLI way, per permutation: sequential over the sample, then the whole matrix with 2 parallel workers
		tmp := b.TempDir()
		runCLI := func(i int, p Permutation) {
			in := space.Install(p)
			type run struct {
				chart, release, ns string
				values             map[string]any
			}
			runs := []run{{"tenant-bootstrap", "tenant-bootstrap", "gitlab-kaniko-system", in.Bootstrap}}
			for _, t := range sortedKeys(in.Tenants) {
				runs = append(runs, run{"gitlab-kaniko-tenant", t, in.Namespace[t], in.Tenants[t]})
			}
			for j, r := range runs {
				vf := filepath.Join(tmp, fmt.Sprintf("v-%d-%d.json", i, j))
				raw, _ := json.Marshal(r.values)
				if err := os.WriteFile(vf, raw, 0o644); err != nil {
					b.Error(err)
					return
				}
				args := []string{"template", r.release, filepath.Join("../../charts", r.chart), "-n", r.ns, "-f", vf, "--kube-version", p.KubeVersion}
				for _, a := range in.APIs {
					args = append(args, "--api-versions", a)
				}
				helm := exec.Command(filepath.Join(bin, "helm"), args...)
				var manifest, stderr bytes.Buffer
				helm.Stdout, helm.Stderr = &manifest, &stderr
				if err := helm.Run(); err != nil {
					b.Errorf("helm template: %v %s", err, stderr.String())
					return
				}
				kc := exec.Command(filepath.Join(bin, "kubeconform"), "-strict", "-summary", "-kubernetes-version", p.KubeVersion,
					"-schema-location", k8sschema.Location(root))
				kc.Stdin = &manifest
				if out, err := kc.CombinedOutput(); err != nil {
					b.Errorf("kubeconform: %v %s", err, out)
				}
			}
		}
		start = time.Now()
		for i, p := range sample {
			runCLI(i, p)
		}
		cli := time.Since(start)
		start = time.Now()
		work := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					runCLI(1000+i, perms[i])
				}
			}()
		}
		for i := range perms {
			work <- i
		}
		close(work)
		wg.Wait()
		cliWhole := time.Since(start)
		// RUSAGE_SELF only: a forked child inherits the parent's resident pages, so RUSAGE_CHILDREN would mislead.
		var self syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)

		ratio := float64(cli) / float64(inproc)
		wholeRatio := float64(cliWhole) / float64(whole)
		b.ReportMetric(wholeRatio, "x-faster-whole")
		b.ReportMetric(ratio, "x-faster-per-permutation")
		b.ReportMetric(whole.Seconds(), "matrix-s")
		b.ReportMetric(float64(self.Maxrss)/1024, "peak-rss-MiB")
		fmt.Printf("bench: whole matrix (%d permutations, 2 workers): in-process=%.2fs cli=%.2fs ratio=%.1fx | sequential sample of %d: in-process=%.2fs cli=%.2fs ratio=%.1fx | peak RSS in-process=%dMiB (heap-sys %dMiB)\n",
			s.Permutations, whole.Seconds(), cliWhole.Seconds(), wholeRatio, len(sample), inproc.Seconds(), cli.Seconds(), ratio, self.Maxrss/1024, ms.HeapSys>>20)
	}
}
