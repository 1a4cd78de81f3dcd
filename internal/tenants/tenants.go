// Package tenants reads the resolved tenant data that the tenant-bootstrap chart publishes (ConfigMap
// `<release>-tenants`), either by rendering the chart in-process from values files or from a cluster.
// The chart is the single source of truth for defaults and cross-tenant rules; this package only reads its output.
package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Tenant is one resolved tenant.
type Tenant struct {
	Name        string   `json:"name"`
	Namespace   string   `json:"namespace"`
	Mode        string   `json:"mode"`
	Bucket      string   `json:"bucket"`
	Nodes       []string `json:"nodes"`
	Concurrency int      `json:"concurrency"`
}

// NodePinning is how tenant nodes are marked.
type NodePinning struct {
	LabelKey    string            `json:"labelKey"`
	TaintKey    string            `json:"taintKey"`
	ExtraLabels map[string]string `json:"extraLabels"`
}

// S3 is the shared S3 endpoint data.
type S3 struct {
	Endpoint string   `json:"endpoint"`
	TLS      bool     `json:"tls"`
	Region   string   `json:"region"`
	Layout   []string `json:"layout"`
}

// Set is everything tenant-bootstrap publishes.
type Set struct {
	Tenants     map[string]Tenant `json:"tenants"`
	NodePinning NodePinning       `json:"nodePinning"`
	S3          S3                `json:"s3"`
}

// Sorted returns the tenants ordered by name.
func (s *Set) Sorted() []Tenant {
	out := make([]Tenant, 0, len(s.Tenants))
	for _, t := range s.Tenants {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Select narrows the set to the named tenants (all when names is empty).
func (s *Set) Select(names []string) ([]Tenant, error) {
	if len(names) == 0 {
		return s.Sorted(), nil
	}
	var out []Tenant
	for _, n := range names {
		t, ok := s.Tenants[n]
		if !ok {
			return nil, fmt.Errorf("tenant %q is not in tenant-bootstrap's values", n)
		}
		out = append(out, t)
	}
	return out, nil
}

const dataKey = "tenants.json"

// FromValues renders the tenant-bootstrap chart in chartDir with the values files and returns its tenant data.
// Values the chart rejects are rejected here with the chart's own message.
func FromValues(chartDir string, valuesFiles []string) (*Set, error) {
	c, err := render.Load(chartDir)
	if err != nil {
		return nil, err
	}
	vals, err := render.ValuesFromFiles(valuesFiles...)
	if err != nil {
		return nil, err
	}
	res, err := c.Render(render.Options{ReleaseName: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", KubeVersion: "v1.37.0", Values: vals})
	if err != nil {
		return nil, fmt.Errorf("tenant-bootstrap rejects these values: %w", err)
	}
	for _, o := range res.Objects() {
		if o.GetKind() == "ConfigMap" && o.GetLabels()["gitlab-kaniko-tenant.io/tenants-data"] == "true" {
			data, _, _ := unstructured.NestedString(o.Object, "data", dataKey)
			return parse(data)
		}
	}
	return nil, fmt.Errorf("tenant-bootstrap rendered no tenants ConfigMap")
}

// FromCluster reads the tenant data of an installed tenant-bootstrap release.
func FromCluster(ctx context.Context, cs kubernetes.Interface, namespace, release string) (*Set, error) {
	cm, err := cs.CoreV1().ConfigMaps(namespace).Get(ctx, release+"-tenants", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading tenant data of release %s in %s: %w", release, namespace, err)
	}
	return parse(cm.Data[dataKey])
}

func parse(data string) (*Set, error) {
	var s Set
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		return nil, fmt.Errorf("tenant data: %w", err)
	}
	return &s, nil
}
