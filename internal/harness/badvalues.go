package harness

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// BadCase is one entry of test/matrix/bad-values.yaml.
type BadCase struct {
	Name   string         `json:"name"`
	Chart  string         `json:"chart"` // tenant | bootstrap
	Values map[string]any `json:"values"`
	Want   []string       `json:"want"`
	// Cluster "bootstrap": the case is what `helm install` renders in a cluster holding the Namespaces tenant-bootstrap
	// renders from the base (labelled as it labels tenant namespaces), so the tenant chart's lookups of namespaces
	// answer. Empty: no cluster, as helm template and GitOps tools render (every lookup returns nothing).
	Cluster string `json:"cluster"`
}

// BadOutcome is what happened to a bad case.
type BadOutcome struct {
	Case     BadCase
	Rejected bool   // rendering failed AND the message holds every wanted substring
	Err      string // the error (empty if it rendered)
}

// LoadBadCases reads the catalogue.
func LoadBadCases(path string) ([]BadCase, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []BadCase
	if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, c := range cases {
		if c.Name == "" || len(c.Want) == 0 || (c.Chart != "tenant" && c.Chart != "bootstrap") {
			return nil, fmt.Errorf("%s: case %d needs name, chart (tenant|bootstrap) and want", path, i)
		}
		if c.Cluster != "" && (c.Cluster != "bootstrap" || c.Chart != "tenant") {
			return nil, fmt.Errorf("%s: case %q: cluster can only be \"bootstrap\", for chart tenant", path, c.Name)
		}
	}
	return cases, nil
}

// RunBad renders every bad case on top of the permutation base values (tenant-a, namespace mode, the chart's default
// runner version, user namespaces on, newest Kubernetes version), on workers goroutines; outcomes keep the cases' order.
func (c *Checker) RunBad(s *Space, cases []BadCase, kubeVersion string, workers int) []BadOutcome {
	base := Permutation{Values: map[string]string{}, KubeVersion: kubeVersion}
	for _, d := range s.dims() {
		base.Values[d] = s.values(d)[0]
	}
	for d, v := range map[string]string{"mode": "namespace", "layerCache": "tenantRegistry", "runnerCache": "on", "replicas": "one", "concurrency": "twenty", "runner": "19.4", "pinning": "nodeSelector", "userNamespaces": "on", "profiles": "none"} {
		if _, ok := s.Dimensions[d][v]; ok {
			base.Values[d] = v
		}
	}
	in := s.Install(base)
	// The modelled cluster of `cluster: bootstrap` cases is the same for every case: rendered once.
	cluster := sync.OnceValues(func() ([]*unstructured.Unstructured, error) {
		return BootstrapNamespaces(c.bootstrap, in.Bootstrap, kubeVersion)
	})
	out := make([]BadOutcome, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = c.runBadCase(in, cases[i], kubeVersion, cluster)
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// runBadCase renders one bad case; cluster gives the modelled cluster for `cluster: bootstrap` cases.
func (c *Checker) runBadCase(in Install, bc BadCase, kubeVersion string, cluster func() ([]*unstructured.Unstructured, error)) BadOutcome {
	var err error
	switch bc.Chart {
	case "tenant":
		vals := render.MergeValues(deepCopy(in.Tenants["tenant-a"]), deepCopy(bc.Values))
		opts := render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v" + kubeVersion, Values: vals}
		if bc.Cluster == "bootstrap" {
			opts.Cluster, err = cluster()
		}
		if err == nil {
			_, err = c.tenant.Render(opts)
		}
	case "bootstrap":
		vals := render.MergeValues(deepCopy(in.Bootstrap), deepCopy(bc.Values))
		_, err = c.bootstrap.Render(render.Options{ReleaseName: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", KubeVersion: "v" + kubeVersion, Values: vals})
	}
	o := BadOutcome{Case: bc}
	if err != nil {
		o.Err = err.Error()
		o.Rejected = containsAll(o.Err, bc.Want)
	}
	return o
}

// BootstrapNamespaces renders tenant-bootstrap with values and returns the Namespaces it creates, labels included:
// the cluster a tenant install looks its peer namespaces up in (bad-values cases with `cluster: bootstrap`).
func BootstrapNamespaces(boot interface {
	Render(render.Options) (*render.Result, error)
}, values map[string]any, kubeVersion string) ([]*unstructured.Unstructured, error) {
	res, err := boot.Render(render.Options{ReleaseName: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", KubeVersion: "v" + kubeVersion, Values: deepCopy(values)})
	if err != nil {
		return nil, fmt.Errorf("modelled cluster (tenant-bootstrap): %w", err)
	}
	out := []*unstructured.Unstructured{}
	for _, o := range res.Objects() {
		if o.GetKind() == "Namespace" {
			out = append(out, o)
		}
	}
	return out, nil
}

// containsAll reports whether msg names every wanted substring (a rejection for the reason the case expects).
func containsAll(msg string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(msg, w) {
			return false
		}
	}
	return true
}
