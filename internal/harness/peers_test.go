package harness

import (
	"strings"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// TestPeerNamespacesOfAnotherTenantAreRefused: a peer namespace in a tenant's values that tenant-bootstrap labels as
// a tenant's renders a rule that opens nothing. One table drives both places that refuse it: gkt review's check
// (PeerNamespaceFindings, on the bootstrap's rendered Namespaces) and the tenant chart's install-time lookup
// (templates/_validate-peers.tpl, rendered in a cluster holding those same Namespaces). Without a cluster (helm
// template, GitOps) the chart cannot look them up and renders every row.
func TestPeerNamespacesOfAnotherTenantAreRefused(t *testing.T) {
	boot, err := render.Load("../../charts/tenant-bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := render.Load("../../charts/gitlab-kaniko-tenant")
	if err != nil {
		t.Fatal(err)
	}
	node := func(n string) map[string]any { return map[string]any{"nodes": []any{n}} }
	shared := func(n string) map[string]any { return map[string]any{"nodes": []any{n}, "mode": "shared"} }
	namespaces, err := BootstrapNamespaces(boot, map[string]any{"tenants": map[string]any{
		"tenant-a": node("node-a"), "tenant-b": node("node-b"), "tenant-c": shared("node-c"), "tenant-d": shared("node-d"),
	}}, "1.37.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(namespaces) != 3 {
		t.Fatalf("tenant-bootstrap rendered %d Namespaces, want tenant-a, tenant-b and the shared one", len(namespaces))
	}
	releaseNS := map[string]string{"tenant-a": "tenant-a", "tenant-c": "gitlab-runners-shared"}
	base := map[string]map[string]any{
		"tenant-a": {"kubernetesApi": map[string]any{"egress": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.1/32"}}}}}},
		"tenant-c": {"mode": "shared", "tenant": map[string]any{"name": "tenant-c"}, "kubernetesApi": map[string]any{"egress": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.1/32"}}}}}},
	}
	byName := func(ns string) map[string]any {
		return map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": ns}}}
	}
	to := func(peers ...any) map[string]any { return map[string]any{"egress": map[string]any{"to": peers}} }
	cases := []struct {
		name, tenant string
		values       map[string]any
		want         string // "key=namespace" the refusal names; "" = accepted
		cross        bool   // the namespace is another tenant's
	}{
		{"defaults", "tenant-a", nil, "", false},
		{"GitLab in a namespace that is no tenant's", "tenant-a", map[string]any{"gitlab": to(byName("gitlab"))}, "", false},
		{"an egress peer in the tenant's own namespace", "tenant-a", map[string]any{"s3": to(byName("tenant-a"))}, "", false},
		{"a shared tenant's egress peer in its own shared namespace", "tenant-c", map[string]any{"s3": to(byName("gitlab-runners-shared"))}, "", false},
		{"NetworkPolicies off: no rule is rendered", "tenant-a", map[string]any{"networkPolicy": map[string]any{"enabled": false}, "monitoring": map[string]any{"namespace": "tenant-b"}}, "", false},
		{"monitoring in another tenant's namespace", "tenant-a", map[string]any{"monitoring": map[string]any{"namespace": "tenant-b"}},
			"monitoring.namespace=tenant-b is tenant tenant-b's namespace", true},
		{"DNS in the tenant's own namespace", "tenant-a", map[string]any{"dns": map[string]any{"namespace": "tenant-a"}},
			"dns.namespace=tenant-a is tenant tenant-a's own namespace", false},
		{"DNS in the shared namespace the tenant lives in", "tenant-c", map[string]any{"dns": map[string]any{"namespace": "gitlab-runners-shared"}},
			"dns.namespace=gitlab-runners-shared is tenant-bootstrap's shared tenant namespace", false},
		{"S3 in another tenant's namespace", "tenant-a", map[string]any{"s3": to(byName("tenant-b"))},
			"s3.egress.to[0].namespaceSelector.matchLabels.kubernetes.io/metadata.name=tenant-b is tenant tenant-b's namespace", true},
		{"GitLab in the shared namespace of other tenants", "tenant-a", map[string]any{"gitlab": to(map[string]any{"ipBlock": map[string]any{"cidr": "203.0.113.10/32"}}, byName("gitlab-runners-shared"))},
			"gitlab.egress.to[1].namespaceSelector.matchLabels.kubernetes.io/metadata.name=gitlab-runners-shared is tenant-bootstrap's shared tenant namespace", true},
		{"an artifact proxy selected by a matchExpressions In", "tenant-a", map[string]any{"artifactProxies": []any{
			map[string]any{"name": "maven", "to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "203.0.113.30/32"}}}, "ports": []any{443}},
			map[string]any{"name": "nuget", "to": []any{map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{
				map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{"proxies", "tenant-b"}}}}}}, "ports": []any{443}}}},
			"artifactProxies[1].to[0].namespaceSelector.matchExpressions[0].values=tenant-b is tenant tenant-b's namespace", true},
		{"a shared tenant's API egress to a namespace-mode tenant", "tenant-c", map[string]any{"kubernetesApi": to(byName("tenant-a"))},
			"kubernetesApi.egress.to[0].namespaceSelector.matchLabels.kubernetes.io/metadata.name=tenant-a is tenant tenant-a's namespace", true},
		{"the destination registry in another tenant's namespace", "tenant-a", map[string]any{"destinationRegistry": map[string]any{"host": "registry.example.com", "egress": map[string]any{"to": []any{byName("tenant-b")}}}},
			"destinationRegistry.egress.to[0].namespaceSelector.matchLabels.kubernetes.io/metadata.name=tenant-b is tenant tenant-b's namespace", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := render.MergeValues(deepCopy(base[tc.tenant]), deepCopy(tc.values))
			// gkt review: the tenants file's Namespaces
			got := PeerNamespaceFindings("peers", namespaces, releaseNS, map[string]map[string]any{tc.tenant: render.MergeValues(deepCopy(tenant.Defaults()), deepCopy(vals))})
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("review refuses %v", got)
			case tc.want != "" && len(got) != 1:
				t.Errorf("review: %d findings %v, want one naming %q", len(got), got, tc.want)
			case tc.want != "":
				f := got[0]
				if !strings.HasPrefix(f.Message, tc.want+":") || f.Tenant != tc.tenant || f.Check != PeerNamespaceCheck || f.CrossTenant != tc.cross {
					t.Errorf("review finding %+v (cross-tenant %v), want %q for %s (cross-tenant %v)", f.Finding, f.CrossTenant, tc.want, tc.tenant, tc.cross)
				}
			}
			// helm install: the chart looks the same Namespaces up, and refuses in the review's words
			opts := render.Options{ReleaseName: tc.tenant, Namespace: releaseNS[tc.tenant], KubeVersion: "v1.37.0", Values: deepCopy(vals), Cluster: namespaces}
			_, err := tenant.Render(opts)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("install refuses: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("install renders; want a refusal naming %q", tc.want)
			case tc.want != "" && len(got) == 1 && !strings.HasSuffix(err.Error(), ": "+got[0].Message):
				t.Errorf("install refuses with\n %v\nwant the review's message\n %s", err, got[0].Message)
			}
			// helm template / GitOps: nothing to look up, nothing refused here
			opts.Cluster, opts.Values = nil, deepCopy(vals)
			if _, err := tenant.Render(opts); err != nil {
				t.Errorf("render without a cluster: %v", err)
			}
		})
	}
}
