package harness

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Peer namespaces that are a tenant's. The tenant chart refuses them at install time by looking each namespace's
// labels up (templates/_validate-peers.tpl); a render without a cluster (gkt review, the matrix, GitOps tools) cannot,
// so this is the same rule on tenant-bootstrap's rendered Namespaces, which carry the labels the cluster would hold.

// PeerNamespaceCheck is the name of the check in findings.
const PeerNamespaceCheck = "peer namespace of another tenant"

// peerNamespace is one namespace a tenant's values name as a NetworkPolicy peer.
type peerNamespace struct {
	key, namespace string
	what           string // what stops working when the rule opens nothing
	fix            string
	// byName: monitoring.namespace and dns.namespace, rendered with notATenantNamespace (any tenant namespace,
	// this tenant's own included, matches nothing); the egress peers are rendered as given.
	byName bool
}

// peerNamespaces lists the peer namespaces a tenant's values (chart defaults merged in) name, with their keys, in the
// order of templates/_validate-peers.tpl.
func peerNamespaces(v map[string]any) []peerNamespace {
	str := func(fields ...string) string { s, _, _ := unstructured.NestedString(v, fields...); return s }
	out := []peerNamespace{
		{key: "monitoring.namespace", namespace: str("monitoring", "namespace"), what: "scraping of the manager's metrics", byName: true,
			fix: "name the namespace your Prometheus runs in"},
		{key: "dns.namespace", namespace: str("dns", "namespace"), what: "DNS through this chart's rule", byName: true,
			fix: "name the namespace of the cluster DNS pods (kube-system on most clusters)"},
	}
	type list struct {
		key, what string
		peers     []any
	}
	slice := func(fields ...string) []any {
		f, _, _ := unstructured.NestedFieldNoCopy(v, fields...) // values may hold Go ints, which NestedSlice cannot copy
		s, _ := f.([]any)
		return s
	}
	lists := []list{
		{"gitlab.egress.to", "GitLab", slice("gitlab", "egress", "to")},
		{"s3.egress.to", "S3", slice("s3", "egress", "to")},
		{"destinationRegistry.egress.to", "the destination registry", slice("destinationRegistry", "egress", "to")},
		{"layerCache.external.egress.to", "the external layer cache", slice("layerCache", "external", "egress", "to")},
		{"kubernetesApi.egress.to", "the API server", slice("kubernetesApi", "egress", "to")},
	}
	for i, p := range slice("artifactProxies") {
		pm, _ := p.(map[string]any)
		to, _ := pm["to"].([]any)
		lists = append(lists, list{fmt.Sprintf("artifactProxies[%d].to", i), fmt.Sprintf("artifact proxy %v", pm["name"]), to})
	}
	for _, l := range lists {
		for j, p := range l.peers {
			pm, _ := p.(map[string]any)
			sel, _ := pm["namespaceSelector"].(map[string]any)
			at := fmt.Sprintf("%s[%d].namespaceSelector", l.key, j)
			what, fix := "traffic to "+l.what, "point it at the namespace that runs "+l.what+", which is no tenant's"
			labels, _ := sel["matchLabels"].(map[string]any)
			if ns, _ := labels["kubernetes.io/metadata.name"].(string); ns != "" {
				out = append(out, peerNamespace{key: at + ".matchLabels.kubernetes.io/metadata.name", namespace: ns, what: what, fix: fix})
			}
			exprs, _ := sel["matchExpressions"].([]any)
			for k, e := range exprs {
				em, _ := e.(map[string]any)
				if em["key"] != "kubernetes.io/metadata.name" || em["operator"] != "In" {
					continue
				}
				vals, _ := em["values"].([]any)
				for _, ns := range vals {
					if s, _ := ns.(string); s != "" {
						out = append(out, peerNamespace{key: fmt.Sprintf("%s.matchExpressions[%d].values", at, k), namespace: s, what: what, fix: fix})
					}
				}
			}
		}
	}
	return out
}

// PeerNamespaceFindings refuses, for each tenant, a peer namespace its values name that tenant-bootstrap's Namespaces
// (namespaces: the bootstrap render's objects) mark as a tenant's where the chart's policy would open nothing:
// monitoring.namespace and dns.namespace naming any tenant namespace (the policies add notATenantNamespace), an egress
// peer's namespaceSelector (kubernetes.io/metadata.name) naming another tenant's namespace or a shared namespace the
// tenant does not live in (its default-deny admits nothing from outside). values are each tenant's values with the
// chart's defaults merged in; releaseNS is where each tenant is installed. CrossTenant: the namespace is another's.
func PeerNamespaceFindings(name string, namespaces []*unstructured.Unstructured, releaseNS map[string]string, values map[string]map[string]any) []InstallFinding {
	type mark struct {
		tenant string
		shared bool
	}
	marks := map[string]mark{}
	for _, o := range namespaces {
		if o.GetKind() != "Namespace" {
			continue
		}
		l := o.GetLabels()
		_, shared := l["gitlab-kaniko-tenant.io/shared"]
		marks[o.GetName()] = mark{tenant: l[TenantLabel], shared: shared}
	}
	var out []InstallFinding
	for _, t := range sortedKeys(values) {
		v := values[t]
		if on, found, _ := unstructured.NestedBool(v, "networkPolicy", "enabled"); found && !on {
			continue
		}
		tenant, _, _ := unstructured.NestedString(v, "tenant", "name")
		if tenant == "" {
			tenant = releaseNS[t]
		}
		for _, p := range peerNamespaces(v) {
			m, ok := marks[p.namespace]
			if !ok || (m.tenant == "" && !m.shared) {
				continue
			}
			whose := fmt.Sprintf("tenant %s's namespace", m.tenant)
			switch {
			case m.shared:
				whose = "tenant-bootstrap's shared tenant namespace"
			case m.tenant == tenant:
				whose = fmt.Sprintf("tenant %s's own namespace", tenant)
			}
			other := (m.tenant != "" && m.tenant != tenant) || (m.shared && p.namespace != releaseNS[t])
			var msg string
			switch {
			case p.byName:
				msg = fmt.Sprintf("%s=%s is %s: the chart selects a peer named here only if it is no tenant's namespace (no %s or gitlab-kaniko-tenant.io/shared label, see notATenantNamespace), so this rule would allow nothing and %s would stop without an error; %s", p.key, p.namespace, whose, TenantLabel, p.what, p.fix)
			case other:
				msg = fmt.Sprintf("%s=%s is %s: nothing there admits traffic from another tenant's pods (tenant-bootstrap's default-deny), so this rule would reach nothing and %s would fail without an error; %s", p.key, p.namespace, whose, p.what, p.fix)
			default:
				continue
			}
			out = append(out, InstallFinding{Finding: Finding{Permutation: name, Object: "gitlab-kaniko-tenant/" + t + " values", Check: PeerNamespaceCheck, Message: msg, Tenant: t}, CrossTenant: other})
		}
	}
	return out
}

// withDefaults is each tenant's values over the tenant chart's own defaults (what the chart's templates read).
func (c *Checker) withDefaults(given map[string]map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for t, v := range given {
		out[t] = render.MergeValues(deepCopy(c.tenant.Defaults()), deepCopy(v))
	}
	return out
}
