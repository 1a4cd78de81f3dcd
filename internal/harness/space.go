// Package harness renders every tenant permutation, validates it offline (schemas, Pod Security, policy invariants,
// static connectivity) and proves that bad values are rejected. The permutation space and the bad values are data
// files under test/matrix; this package only interprets them.
package harness

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Overlay is what one dimension value contributes.
type Overlay struct {
	Tenant    map[string]any `json:"tenant"`
	Bootstrap map[string]any `json:"bootstrap"`
	APIs      []string       `json:"apis"`
}

// Space is the permutation table (test/matrix/permutations.yaml).
type Space struct {
	Full       []string                      `json:"full"`
	Dimensions map[string]map[string]Overlay `json:"dimensions"`
	Exclude    []map[string]string           `json:"exclude"`
	Base       struct {
		Tenant    map[string]any            `json:"tenant"`
		Bootstrap map[string]any            `json:"bootstrap"`
		Tenants   map[string]map[string]any `json:"tenants"`
	} `json:"base"`
}

// Permutation is one point of the space: a value per dimension and a Kubernetes version.
type Permutation struct {
	Values      map[string]string
	KubeVersion string
}

// Name is stable and readable, e.g. "mode=shared,layerCache=off,...@1.37.2".
func (p Permutation) Name() string {
	keys := make([]string, 0, len(p.Values))
	for k := range p.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+p.Values[k])
	}
	return strings.Join(parts, ",") + "@" + p.KubeVersion
}

// LoadSpace reads the permutation table.
func LoadSpace(path string) (*Space, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Space
	if err := yaml.UnmarshalStrict(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range s.Full {
		if _, ok := s.Dimensions[f]; !ok {
			return nil, fmt.Errorf("%s: full dimension %q is not defined", path, f)
		}
	}
	return &s, nil
}

func (s *Space) dims() []string {
	out := make([]string, 0, len(s.Dimensions))
	for d := range s.Dimensions {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func (s *Space) values(d string) []string {
	out := make([]string, 0, len(s.Dimensions[d]))
	for v := range s.Dimensions[d] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func (s *Space) excluded(row map[string]string) bool {
	for _, ex := range s.Exclude {
		match := true
		for d, v := range ex {
			if got, ok := row[d]; !ok || got != v {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

type pair struct{ d1, v1, d2, v2 string }

// Rows returns the value combinations: the full product of the `full` dimensions, then every other pair of values
// covered at least once (greedy all-pairs), never an excluded combination. Deterministic.
func (s *Space) Rows() []map[string]string {
	cov := &coverage{s: s, dims: s.dims(), need: s.neededPairs(), use: map[string]int{}}
	rows := s.fullRows()
	for _, r := range rows {
		cov.fill(r)
	}
	for len(cov.need) > 0 {
		first := cov.firstNeeded()
		r := map[string]string{first.d1: first.v1, first.d2: first.v2}
		cov.fill(r)
		rows = append(rows, r)
	}
	return rows
}

// fullRows is the cross product of the dimensions tested in full (one empty row when there are none).
func (s *Space) fullRows() []map[string]string {
	rows := []map[string]string{{}}
	for _, d := range s.Full {
		var next []map[string]string
		for _, r := range rows {
			for _, v := range s.values(d) {
				n := clone(r)
				n[d] = v
				next = append(next, n)
			}
		}
		rows = next
	}
	return rows
}

// neededPairs are all value pairs of two dimensions that must be covered (and are not excluded on their own).
func (s *Space) neededPairs() map[pair]bool {
	dims := s.dims()
	need := map[pair]bool{}
	for i, d1 := range dims {
		for _, d2 := range dims[i+1:] {
			for _, v1 := range s.values(d1) {
				for _, v2 := range s.values(d2) {
					if !s.excluded(map[string]string{d1: v1, d2: v2}) {
						need[pair{d1, v1, d2, v2}] = true
					}
				}
			}
		}
	}
	return need
}

// coverage is the greedy pairwise fill: the pairs still needed and how often each value was used.
type coverage struct {
	s    *Space
	dims []string
	need map[pair]bool
	use  map[string]int
}

// fill completes row r: each unset dimension gets the allowed value that covers the most needed pairs (ties: the
// least used value), then the row's pairs are no longer needed.
func (c *coverage) fill(r map[string]string) {
	for _, d := range c.dims {
		if _, set := r[d]; set {
			continue
		}
		best, bestScore := "", -1
		for _, v := range c.s.values(d) {
			r[d] = v
			if c.s.excluded(r) {
				delete(r, d)
				continue
			}
			score := 0
			for d2, v2 := range r {
				if d2 != d && c.need[ordered(d, v, d2, v2)] {
					score++
				}
			}
			score = score*1000 - c.use[d+"="+v]
			if score > bestScore {
				best, bestScore = v, score
			}
			delete(r, d)
		}
		r[d] = best
		c.use[d+"="+best]++
	}
	for i, d1 := range c.dims {
		for _, d2 := range c.dims[i+1:] {
			delete(c.need, pair{d1, r[d1], d2, r[d2]})
		}
	}
}

// firstNeeded is the needed pair that sorts first (a deterministic start for the next row).
func (c *coverage) firstNeeded() pair {
	keys := make([]string, 0, len(c.need))
	byKey := map[string]pair{}
	for p := range c.need {
		k := fmt.Sprint(p)
		keys = append(keys, k)
		byKey[k] = p
	}
	sort.Strings(keys)
	return byKey[keys[0]]
}

func ordered(d1, v1, d2, v2 string) pair {
	if d1 > d2 {
		d1, v1, d2, v2 = d2, v2, d1, v1
	}
	return pair{d1, v1, d2, v2}
}

// Permutations is Rows × Kubernetes versions.
func (s *Space) Permutations(kubeVersions []string) []Permutation {
	var out []Permutation
	for _, r := range s.Rows() {
		for _, v := range kubeVersions {
			out = append(out, Permutation{Values: r, KubeVersion: v})
		}
	}
	return out
}

// Install is what one permutation installs: tenant-bootstrap values and each tenant chart's values.
type Install struct {
	Bootstrap map[string]any
	Tenants   map[string]map[string]any // tenant name → gitlab-kaniko-tenant values
	Namespace map[string]string         // tenant name → release namespace
	APIs      []string
}

// Install builds the values of a permutation.
func (s *Space) Install(p Permutation) Install {
	in := Install{Tenants: map[string]map[string]any{}, Namespace: map[string]string{}}
	boot := deepCopy(s.Base.Bootstrap)
	tenants := map[string]any{}
	names := make([]string, 0, len(s.Base.Tenants))
	for n := range s.Base.Tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	apis := map[string]bool{}
	for _, n := range names {
		tv := substitute(deepCopy(s.Base.Tenant), n).(map[string]any)
		bv := deepCopy(s.Base.Tenants[n])
		for _, d := range s.dims() {
			o := s.Dimensions[d][p.Values[d]]
			tv = render.MergeValues(tv, substitute(deepCopy(o.Tenant), n).(map[string]any))
			bv = render.MergeValues(bv, substitute(deepCopy(o.Bootstrap), n).(map[string]any))
			for _, a := range o.APIs {
				apis[a] = true
			}
		}
		in.Tenants[n] = tv
		bv["concurrency"] = BootstrapConcurrency(tv)
		tenants[n] = bv
		ns := n
		if p.Values["mode"] == "shared" {
			ns = "gitlab-runners-shared"
		}
		in.Namespace[n] = ns
	}
	boot["tenants"] = tenants
	in.Bootstrap = boot
	for a := range apis {
		in.APIs = append(in.APIs, a)
	}
	sort.Strings(in.APIs)
	return in
}

// BootstrapConcurrency is the tenant-bootstrap `concurrency` of a tenant's chart values: the jobs of all its managers
// together (runner.replicas × runner.concurrent, capped by runner.limit or the runner profiles' limits together), per
// node in daemonset mode. The install
// derives it, so the quota always matches what the tenant's managers can run.
func BootstrapConcurrency(tenantValues map[string]any) int64 {
	runner, _ := tenantValues["runner"].(map[string]any)
	num := func(m map[string]any, key string, def int64) int64 {
		switch v := m[key].(type) {
		case int:
			return int64(v)
		case int64:
			return v
		case float64:
			return int64(v)
		}
		return def
	}
	perManager := num(runner, "concurrent", 20) // the chart's default
	limits := num(runner, "limit", 20)
	if profiles, ok := tenantValues["profiles"].(map[string]any); ok && len(profiles) > 0 {
		limits = 0 // the profiles' limits together replace runner.limit
		for _, p := range profiles {
			pm, _ := p.(map[string]any)
			limits += num(pm, "limit", 0)
		}
	}
	if limits > 0 && limits < perManager {
		perManager = limits
	}
	if tenantValues["mode"] == "daemonset" {
		return perManager
	}
	return perManager * num(runner, "replicas", 1)
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return copyAny(m).(map[string]any)
}

func copyAny(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = copyAny(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyAny(e)
		}
		return out
	}
	return v
}

func substitute(v any, tenant string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = substitute(e, tenant)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = substitute(e, tenant)
		}
		return t
	case string:
		return strings.ReplaceAll(t, "{{tenant}}", tenant)
	}
	return v
}
