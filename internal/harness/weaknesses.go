package harness

import (
	"fmt"
	"regexp"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Weakness is one thing a weaker mode gives up, as a named case. The matrix finds the network ones statically
// (exposure probes of the truth table name their case); `make e2e-modes` reproduces every case live, with its
// control, next to namespace mode blocking the same attack (test/e2e/modes.go); docs/architecture.md names each.
type Weakness struct {
	Name    string // <mode>/<case>, stable: the docs, the matrix's exposures and the e2e's live cases use it
	Mode    string
	GivesUp string // one sentence for the docs and the summary
}

var weaknesses = []Weakness{
	{Name: "shared/layer-cache-through-borrowed-labels", Mode: "shared",
		GivesUp: "a pod that one tenant's manager creates with another tenant's job labels reaches that tenant's layer-cache registry: NetworkPolicies can only tell tenants apart by labels inside one namespace"},
	{Name: "shared/secrets-through-pod-mounts", Mode: "shared",
		GivesUp: "one tenant's manager can create a pod that mounts another tenant's Secrets (S3 keys, runner token) and use them: RBAC cannot be narrower than a namespace, and the Role needs pods create"},
	{Name: "shared/quota-starvation", Mode: "shared",
		GivesUp: "one tenant's pods can use up the namespace's one ResourceQuota, so another tenant's jobs are refused: quotas cannot be narrower than a namespace"},
}

// Weaknesses are the cases of every weaker mode, in a stable order.
func Weaknesses() []Weakness { return append([]Weakness(nil), weaknesses...) }

// exposureName is how an exposure string names its weakness: "[<name>] <probe> is reachable".
var exposureName = regexp.MustCompile(`^\[([a-z]+/[a-z-]+)\] `)

// WeaknessOf returns the weakness an exposure (ConnectivityReport.Exposures) names, or an error if it names none
// of the catalogue: a new static finding must get a name, docs and a live case.
func WeaknessOf(exposure string) (Weakness, error) {
	m := exposureName.FindStringSubmatch(exposure)
	if m == nil {
		return Weakness{}, fmt.Errorf("exposure %q names no weakness case", exposure)
	}
	for _, w := range weaknesses {
		if w.Name == m[1] {
			return w, nil
		}
	}
	return Weakness{}, fmt.Errorf("exposure %q names %s, which is not in the weakness catalogue (internal/harness/weaknesses.go)", exposure, m[1])
}

// sharedNamespaceFindings are the catalogue's findings that RBAC and quota make when tenants share a namespace,
// named like the truth table's exposures: a manager whose Role creates pods in a namespace holding another tenant's
// Secrets, and tenants under one ResourceQuota.
func sharedNamespaceFindings(r *Rendered) []string {
	var out []string
	tenants := sortedKeys(r.Tenants)
	for _, b := range tenants {
		ns := r.Namespace[b]
		if !managerCreatesPods(r.Tenants[b].Objects()) {
			continue
		}
		for _, a := range tenants {
			if a != b && r.Namespace[a] == ns {
				out = append(out, fmt.Sprintf("[shared/secrets-through-pod-mounts] %s's manager (Role: pods create) can create pods in namespace %s, where %s's Secrets are", b, ns, a))
			}
		}
	}
	for _, o := range r.Bootstrap.Objects() {
		if o.GetKind() != "ResourceQuota" {
			continue
		}
		var under []string
		for _, t := range tenants {
			if r.Namespace[t] == o.GetNamespace() {
				under = append(under, t)
			}
		}
		if len(under) > 1 {
			out = append(out, fmt.Sprintf("[shared/quota-starvation] tenants %v share ResourceQuota %s/%s", under, o.GetNamespace(), o.GetName()))
		}
	}
	return out
}

// managerCreatesPods reports whether a tenant render's manager Role grants pods create.
func managerCreatesPods(objs []*unstructured.Unstructured) bool {
	for _, o := range objs {
		if o.GetKind() != "Role" || o.GetLabels()[ComponentLabel] != "manager" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, raw := range rules {
			rule, _ := raw.(map[string]any)
			resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
			verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
			if slices.Contains(resources, "pods") && slices.Contains(verbs, "create") {
				return true
			}
		}
	}
	return false
}
