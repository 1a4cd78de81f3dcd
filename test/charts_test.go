package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/schemagen"
)

const (
	tenantChart    = "../charts/gitlab-kaniko-tenant"
	bootstrapChart = "../charts/tenant-bootstrap"
)

// valuesCases lists the default values plus every example values file of a chart.
func valuesCases(t *testing.T, chart string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{"defaults": {}}
	files, _ := filepath.Glob(filepath.Join(chart, "ci", "*.yaml"))
	for _, f := range files {
		out[filepath.Base(f)] = readValues(t, f)
	}
	return out
}

func readValues(t *testing.T, files ...string) map[string]any {
	t.Helper()
	vals, err := render.ValuesFromFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// TestChartsLintStrict is `helm lint --strict` on both charts with defaults and every example values file.
func TestChartsLintStrict(t *testing.T) {
	for _, chart := range []string{tenantChart, bootstrapChart} {
		for name, vals := range valuesCases(t, chart) {
			t.Run(filepath.Base(chart)+"/"+name, func(t *testing.T) {
				kv, _ := chartutil.ParseKubeVersion("v1.37.0")
				l := lint.AllWithKubeVersion(chart, vals, "tenant-a", kv)
				for _, m := range l.Messages {
					// --strict: warnings fail too; INFO (e.g. "icon is recommended") does not.
					if m.Severity >= support.WarningSev {
						t.Errorf("%s", m.Error())
					}
				}
			})
		}
	}
}

// TestSchemaIsGeneratedFromValues fails when values.yaml changed but `make schema` was not run.
func TestSchemaIsGeneratedFromValues(t *testing.T) {
	for _, chart := range []string{tenantChart, bootstrapChart} {
		want, err := schemagen.Generate(chart)
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join(chart, "values.schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		if string(have) != string(want) {
			t.Errorf("%s/values.schema.json is stale: run `make schema`", chart)
		}
	}
}

// TestTenantChartRendersEveryComponentPerMode: each mode renders the objects the seeds need, and only those.
func TestTenantChartRendersEveryComponentPerMode(t *testing.T) {
	c := loadChart(t, tenantChart)
	common := []string{"ConfigMap/tenant-x-runner", "ServiceAccount/tenant-x-runner", "ServiceAccount/tenant-x-jobs",
		"Role/tenant-x-runner", "RoleBinding/tenant-x-runner", "Service/tenant-x-runner-metrics",
		"NetworkPolicy/tenant-x-default-deny", "NetworkPolicy/tenant-x-runner", "NetworkPolicy/tenant-x-jobs"}
	registry := []string{"Deployment/tenant-x-layer-cache", "Service/tenant-x-layer-cache", "ConfigMap/tenant-x-layer-cache",
		"ServiceAccount/tenant-x-layer-cache", "NetworkPolicy/tenant-x-layer-cache"}
	cases := []struct {
		name   string
		values map[string]any
		want   []string
		absent []string
	}{
		{"namespace mode", map[string]any{"tenant": map[string]any{"name": "tenant-x"}},
			append(append([]string{"Deployment/tenant-x-runner", "PodDisruptionBudget/tenant-x-runner"}, common...), registry...),
			[]string{"DaemonSet/tenant-x-runner", "PodMonitor/tenant-x-runner"}},
		{"shared mode", map[string]any{"mode": "shared", "tenant": map[string]any{"name": "tenant-x"}},
			append(append([]string{"Deployment/tenant-x-runner"}, common...), registry...), []string{"DaemonSet/tenant-x-runner"}},
		{"daemonset mode", map[string]any{"mode": "daemonset", "tenant": map[string]any{"name": "tenant-x"}},
			append(append([]string{"DaemonSet/tenant-x-runner"}, common...), registry...),
			[]string{"Deployment/tenant-x-runner", "PodDisruptionBudget/tenant-x-runner"}},
		{"PodMonitor when the API is served", map[string]any{"tenant": map[string]any{"name": "tenant-x"}, "_apis": true},
			[]string{"PodMonitor/tenant-x-runner"}, []string{"ServiceMonitor/tenant-x-runner"}},
		{"layer cache off", map[string]any{"tenant": map[string]any{"name": "tenant-x"}, "layerCache": map[string]any{"mode": "off"}},
			common, registry},
		{"offline switch keeps everything but the manager", map[string]any{"tenant": map[string]any{"name": "tenant-x"}, "managerDisabled": true},
			append([]string{"Role/tenant-x-runner"}, registry...), []string{"Deployment/tenant-x-runner", "Service/tenant-x-runner-metrics"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var apis []string
			if _, ok := tc.values["_apis"]; ok {
				delete(tc.values, "_apis")
				apis = []string{"monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/ServiceMonitor"}
			}
			res, err := c.Render(render.Options{ReleaseName: "r", Namespace: "tenant-x", KubeVersion: "v1.37.0", APIVersions: apis, Values: tc.values, Cluster: render.InstallCluster()})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, o := range res.Objects() {
				got[o.GetKind()+"/"+o.GetName()] = true
			}
			wantSet(t, "rendered", got, tc.want, tc.absent)
		})
	}
}

// TestRenderHoldsNoSecret: the token and S3 keys are placeholders filled at start, never rendered.
func TestRenderHoldsNoSecret(t *testing.T) {
	c := loadChart(t, tenantChart)
	res, err := c.Render(render.Options{ReleaseName: "r", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: map[string]any{}, Cluster: render.InstallCluster()})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.YAML()) + res.Notes
	found := false
	for _, o := range res.Objects() {
		if o.GetKind() == "Secret" {
			t.Errorf("the chart must not render Secrets, found %s", o.GetName())
		}
		if o.GetKind() != "ConfigMap" || o.GetName() != "tenant-a-runner" {
			continue
		}
		found = true
		tmpl, _, _ := unstructured.NestedString(o.Object, "data", "config.template.toml")
		for _, ph := range []string{`token = "@RUNNER_TOKEN@"`, `AccessKey = "@S3_ACCESS_KEY@"`, `SecretKey = "@S3_SECRET_KEY@"`} {
			if strings.Count(tmpl, ph) != 1 {
				t.Errorf("config.template.toml must hold %s exactly once", ph)
			}
		}
	}
	if !found {
		t.Errorf("no ConfigMap tenant-a-runner in the render: the placeholder check did not run")
	}
	if tok := regexp.MustCompile(`glrt-[A-Za-z0-9_-]{8,}`).FindString(out); tok != "" {
		t.Errorf("render contains a runner token: %s", tok)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRenderWithAndWithoutACluster: what `lookup` decides, rendered both ways a user renders. helm install sees the
// cluster (render.Options.Cluster); helm template, --dry-run and GitOps tools do not (nil), and must then either be
// told the value or fail naming it, never fall back quietly to 0.0.0.0/0.
func TestRenderWithAndWithoutACluster(t *testing.T) {
	c := loadChart(t, tenantChart)
	given := map[string]any{"kubernetesApi": map[string]any{"egress": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.7/32"}}}}}}
	fallback := map[string]any{"kubernetesApi": map[string]any{"egress": map[string]any{"allowAnyAddressFallback": true}}}
	smallQuota := []*unstructured.Unstructured{render.APIServerEndpoints("172.18.0.9"), render.ResourceQuota("tenant-a", "tenant-a-quota", map[string]string{"limits.cpu": "10"})}
	// 20 jobs of one manager fit 50 CPUs, but not the 40 of a surge rollout (old manager draining, new one working).
	steadyQuota := []*unstructured.Unstructured{render.APIServerEndpoints("172.18.0.9"), render.ResourceQuota("tenant-a", "tenant-a-quota", map[string]string{"limits.cpu": "50"})}
	recreate := map[string]any{"runner": map[string]any{"rollout": "recreate"}}
	cases := []struct {
		name      string
		values    map[string]any
		cluster   []*unstructured.Unstructured
		wantErr   []string // substrings; empty: must render
		wantPeers []string // CIDRs of the manager's API egress rule
	}{
		{"install: the endpoints of default/kubernetes", nil, render.InstallCluster(), nil, []string{"172.18.0.4/32"}},
		{"install: the value wins over the lookup", given, render.InstallCluster(), nil, []string{"192.0.2.7/32"}},
		{"GitOps: no value fails naming it and the opt-in", nil, nil, []string{"kubernetesApi.egress.to is empty", "kubectl get endpointslice -n default kubernetes", "kubernetesApi.egress.allowAnyAddressFallback=true"}, nil},
		{"GitOps: the value is rendered", given, nil, nil, []string{"192.0.2.7/32"}},
		{"GitOps: the explicit opt-in renders 0.0.0.0/0", fallback, nil, nil, []string{"0.0.0.0/0"}},
		{"install: the quota check runs and refuses 20 jobs in 10 CPUs", nil, smallQuota, []string{"x 20 jobs each", "limits.cpu=10"}, nil},
		{"install: a surge rollout needs room for the draining manager's jobs", nil, steadyQuota, []string{"2 managers (runner.replicas=1, x2 during a runner.rollout=surge upgrade)", "limits.cpu=50", "runner.rollout=recreate"}, nil},
		{"install: recreate rollouts need room for one manager's jobs", recreate, steadyQuota, nil, []string{"172.18.0.9/32"}},
		{"GitOps: the quota check cannot run (install time only)", given, nil, nil, []string{"192.0.2.7/32"}},
		{"GitOps on Cilium: no address needed, no address rule", map[string]any{"kubernetesApi": map[string]any{"cilium": "always"}}, nil, nil, nil},
		{"GitOps with Cilium off: the address is still required", map[string]any{"kubernetesApi": map[string]any{"cilium": "never"}}, nil, []string{"kubernetesApi.egress.to is empty"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := tc.values
			if vals == nil {
				vals = map[string]any{}
			}
			res, err := c.Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: vals, Cluster: tc.cluster})
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("rendered; want an error containing %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := apiEgressCIDRs(t, res)
			if strings.Join(got, ",") != strings.Join(tc.wantPeers, ",") {
				t.Errorf("manager API egress to %v, want %v", got, tc.wantPeers)
			}
		})
	}
}

// apiEgressCIDRs returns the ipBlock CIDRs of the manager policy's egress rule on port 6443.
func apiEgressCIDRs(t *testing.T, res *render.Result) []string {
	t.Helper()
	for _, o := range res.Objects() {
		if o.GetKind() != "NetworkPolicy" || o.GetName() != "tenant-a-runner" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "egress")
		for _, r := range rules {
			rule := r.(map[string]any)
			ports, _ := rule["ports"].([]any)
			api := false
			for _, p := range ports {
				if fmt.Sprint(p.(map[string]any)["port"]) == "6443" {
					api = true
				}
			}
			if !api {
				continue
			}
			var out []string
			to, _ := rule["to"].([]any)
			for _, peer := range to {
				cidr, _, _ := unstructured.NestedString(peer.(map[string]any), "ipBlock", "cidr")
				out = append(out, cidr)
			}
			return out
		}
	}
	return nil // no API rule (the Cilium policy carries it)
}

// TestCiliumPolicyForTheManagersAPIEgress: on Cilium an ipBlock never selects the API server (reserved identity
// kube-apiserver), so the chart adds a CiliumNetworkPolicy for the manager, and only for it.
func TestCiliumPolicyForTheManagersAPIEgress(t *testing.T) {
	c := loadChart(t, tenantChart)
	cases := []struct {
		name   string
		values map[string]any
		apis   []string
		want   bool
	}{
		{"auto, Cilium served", nil, []string{"cilium.io/v2/CiliumNetworkPolicy"}, true},
		{"auto, no Cilium", nil, nil, false},
		{"always", map[string]any{"kubernetesApi": map[string]any{"cilium": "always"}}, nil, true},
		{"never, Cilium served", map[string]any{"kubernetesApi": map[string]any{"cilium": "never"}}, []string{"cilium.io/v2/CiliumNetworkPolicy"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := tc.values
			if vals == nil {
				vals = map[string]any{}
			}
			res, err := c.Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", APIVersions: tc.apis, Values: vals, Cluster: render.InstallCluster()})
			if err != nil {
				t.Fatal(err)
			}
			var cnp *unstructured.Unstructured
			for _, o := range res.Objects() {
				if o.GetKind() == "CiliumNetworkPolicy" {
					cnp = o
				}
			}
			if (cnp != nil) != tc.want {
				t.Fatalf("CiliumNetworkPolicy rendered=%t, want %t", cnp != nil, tc.want)
			}
			if cnp == nil {
				return
			}
			entities, _, _ := unstructured.NestedSlice(cnp.Object, "spec", "egress")
			sel, _, _ := unstructured.NestedMap(cnp.Object, "spec", "endpointSelector")
			if fmt.Sprint(entities) != "[map[toEntities:[kube-apiserver] toPorts:[map[ports:[map[port:443 protocol:TCP] map[port:6443 protocol:TCP]]]]]]" {
				t.Errorf("egress %v, want only kube-apiserver on 443/6443", entities)
			}
			if fmt.Sprint(sel) != "map[matchExpressions:[map[key:gitlab-kaniko-tenant.io/component operator:In values:[manager manager-test]]] matchLabels:map[gitlab-kaniko-tenant.io/tenant:tenant-a]]" {
				t.Errorf("selects %v, want the tenant's managers only", sel)
			}
		})
	}
}

// The Role follows the config: proxy Services and service logs only when jobs may start services, events only with
// rbac.events, and never `get` on Secrets (the runner reads one only after a create conflict).
func TestRoleGrantsOnlyWhatTheRenderedConfigCalls(t *testing.T) {
	c := loadChart(t, tenantChart)
	cases := []struct {
		name         string
		values       map[string]any
		want, absent []string
	}{
		{"defaults", map[string]any{}, []string{"pods/attach:create", "secrets:update", "events:list"}, []string{"secrets:get", "services:create", "pods/log:get", "serviceaccounts:get", "events:watch", "pods/exec:get"}},
		{"services allowed", map[string]any{"jobs": map[string]any{"allowedServices": []any{"registry.example.com/postgres:16"}}}, []string{"services:create", "services:get", "pods/log:get"}, []string{"secrets:get"}},
		{"no events", map[string]any{"rbac": map[string]any{"events": false}}, []string{"pods:create"}, []string{"events:list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: tc.values, Cluster: render.InstallCluster()})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, o := range res.Objects() {
				if o.GetKind() != "Role" {
					continue
				}
				rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
				for _, r := range rules {
					res, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
					verbs, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "verbs")
					for _, x := range res {
						for _, v := range verbs {
							got[x+":"+v] = true
						}
					}
				}
			}
			wantSet(t, "the Role", got, tc.want, tc.absent)
		})
	}
}

// wantSet fails for every wanted name missing from got and every absent one present.
func wantSet(t *testing.T, what string, got map[string]bool, want, absent []string) {
	t.Helper()
	for _, w := range want {
		if !got[w] {
			t.Errorf("%s lacks %s; it has %v", what, w, keys(got))
		}
	}
	for _, a := range absent {
		if got[a] {
			t.Errorf("%s has %s, which it must not", what, a)
		}
	}
}

// TestTenantInstallFollowsThePlan: in every mode, tenant-bootstrap's ResourceQuota records the plan it was sized from
// (annotation gitlab-kaniko-tenant.io/plan), and a tenant install, which looks that quota up, renders only when its
// mode, namespace, job count and job size are what the plan holds room for. The modelled cluster is the bootstrap's
// own rendered quotas, so the two charts are checked against each other, not against hand-written numbers.
// profiles are a java and a dotnet runner profile with these limits; dotnetResources, when set, sizes dotnet's jobs.
func profiles(java, dotnet int, dotnetResources map[string]any) map[string]any {
	d := map[string]any{"tags": []any{"dotnet"}, "limit": dotnet}
	if dotnetResources != nil {
		d["resources"] = dotnetResources
	}
	return map[string]any{"profiles": map[string]any{"java": map[string]any{"tags": []any{"java"}, "limit": java}, "dotnet": d}}
}

// TestProfileNodesAreTheTenantsOwn: at install time a profile's nodeSelector must select some of the tenant's own
// nodes (looked up), never only another tenant's, and never none.
func TestProfileNodesAreTheTenantsOwn(t *testing.T) {
	node := func(name, tenant string, labels map[string]any) *unstructured.Unstructured {
		l := map[string]any{"kubernetes.io/hostname": name, harness.TenantLabel: tenant}
		for k, v := range labels {
			l[k] = v
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": name, "labels": l}}}
	}
	cluster := []*unstructured.Unstructured{render.APIServerEndpoints("172.18.0.9"),
		node("node-a1", "tenant-a", map[string]any{"disk": "ssd"}), node("node-a2", "tenant-a", nil), node("node-b1", "tenant-b", map[string]any{"disk": "ssd", "gpu": "true"})}
	c := loadChart(t, tenantChart)
	for _, tc := range []struct {
		name     string
		selector map[string]any
		wantErr  []string
	}{
		{"a label some of the tenant's nodes carry", map[string]any{"disk": "ssd"}, nil},
		{"one of the tenant's nodes by name", map[string]any{"kubernetes.io/hostname": "node-a2"}, nil},
		{"another tenant's node by name", map[string]any{"kubernetes.io/hostname": "node-b1"}, []string{"profiles.java.nodeSelector selects only nodes that are not tenant tenant-a's: node-b1 (tenant tenant-b)"}},
		{"a label only another tenant's nodes carry", map[string]any{"gpu": "true"}, []string{"profiles.java.nodeSelector selects only nodes that are not tenant tenant-a's: node-b1 (tenant tenant-b)"}},
		{"a label no node carries", map[string]any{"zone": "mars"}, []string{"profiles.java.nodeSelector", "selects none of tenant tenant-a's nodes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := profiles(2, 2, nil)
			v["profiles"].(map[string]any)["java"].(map[string]any)["nodeSelector"] = tc.selector
			v["tenant"] = map[string]any{"name": "tenant-a"}
			_, err := c.Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: v, Cluster: cluster})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatal(err)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("rendered; want an error containing %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestTenantInstallFollowsThePlan(t *testing.T) {
	boot, tenant := loadChart(t, bootstrapChart), loadChart(t, tenantChart)
	bootstrap := func(mode string, extra map[string]any) map[string]any {
		tn := func(node string) map[string]any {
			return map[string]any{"nodes": []any{node}, "concurrency": 4}
		}
		v := map[string]any{"defaults": map[string]any{"mode": mode}, "tenants": map[string]any{"tenant-a": tn("node-a"), "tenant-b": tn("node-b")}}
		return render.MergeValues(v, extra)
	}
	api := map[string]any{"kubernetesApi": map[string]any{"egress": map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.7/32"}}}}}}
	tenantValues := func(mode string, extra map[string]any) map[string]any {
		v := render.MergeValues(map[string]any{"mode": mode, "tenant": map[string]any{"name": "tenant-a"}, "runner": map[string]any{"concurrent": 4, "limit": 0}}, api)
		return render.MergeValues(v, extra)
	}
	recreate := map[string]any{"defaults": map[string]any{"rollout": "recreate"}}
	cases := []struct {
		name      string
		bootstrap map[string]any
		namespace string
		tenant    map[string]any
		wantErr   []string // substrings; empty: must render
	}{
		{"namespace mode as planned", bootstrap("namespace", nil), "tenant-a", tenantValues("namespace", nil), nil},
		{"shared mode as planned", bootstrap("shared", nil), "gitlab-runners-shared", tenantValues("shared", nil), nil},
		{"daemonset mode as planned (4 jobs per node)", bootstrap("daemonset", nil), "tenant-a", tenantValues("daemonset", nil), nil},
		{"shared: more jobs than the tenant's share of the one quota", bootstrap("shared", nil), "gitlab-runners-shared", tenantValues("shared", map[string]any{"runner": map[string]any{"concurrent": 8}}),
			[]string{"= 8 jobs", "planned concurrency 4 for tenant tenant-a", "namespace gitlab-runners-shared"}},
		{"namespace: two replicas double the planned jobs", bootstrap("namespace", nil), "tenant-a", tenantValues("namespace", map[string]any{"runner": map[string]any{"replicas": 2}}),
			[]string{"runner.replicas=2 x runner.concurrent/limit=4 = 8 jobs", "planned concurrency 4"}},
		{"daemonset: more jobs per node than planned", bootstrap("daemonset", nil), "tenant-a", tenantValues("daemonset", map[string]any{"runner": map[string]any{"concurrent": 5}}),
			[]string{"runner.concurrent/limit=5 jobs per node", "planned concurrency 4 per node", "1 nodes x 4 jobs"}},
		{"a mode the plan does not give the tenant", bootstrap("namespace", nil), "tenant-a", tenantValues("daemonset", nil),
			[]string{"mode=daemonset, but tenant-bootstrap plans tenant tenant-a as mode namespace"}},
		{"namespace mode inside the shared namespace", bootstrap("shared", nil), "gitlab-runners-shared", tenantValues("namespace", nil),
			[]string{"namespace gitlab-runners-shared is tenant-bootstrap's shared namespace", "use mode=shared"}},
		{"shared mode inside a tenant's own namespace", bootstrap("namespace", nil), "tenant-a", tenantValues("shared", nil),
			[]string{"mode=shared, but namespace tenant-a is tenant tenant-a's own"}},
		{"a tenant the shared namespace was not planned for", bootstrap("shared", nil), "gitlab-runners-shared", tenantValues("shared", map[string]any{"tenant": map[string]any{"name": "tenant-c"}}),
			[]string{"planned for tenants tenant-a, tenant-b, not for tenant-c"}},
		{"bigger jobs than the quota was sized for", bootstrap("shared", nil), "gitlab-runners-shared", tenantValues("shared", map[string]any{"jobs": map[string]any{"resources": map[string]any{"limits": map[string]any{"cpu": "3"}}}}),
			[]string{"jobs.resources.limits.cpu=3", "tenants.tenant-a.job.limits.cpu"}},
		{"bigger helpers than the quota was sized for", bootstrap("daemonset", nil), "tenant-a", tenantValues("daemonset", map[string]any{"jobs": map[string]any{"helper": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}}}}),
			[]string{"jobs.helper.resources.limits.memory=1Gi", "tenants.tenant-a.helper.limits.memory"}},
		{"a surge rollout against a quota sized for recreate", bootstrap("shared", recreate), "gitlab-runners-shared", tenantValues("shared", nil),
			[]string{"runner.rollout=surge", "for rollout recreate"}},
		{"runner profiles within the plan (2 + 2 jobs)", bootstrap("namespace", nil), "tenant-a", tenantValues("namespace", profiles(2, 2, nil)), nil},
		{"runner profiles whose limits together exceed the plan", bootstrap("namespace", nil), "tenant-a", tenantValues("namespace", render.MergeValues(profiles(3, 3, nil), map[string]any{"runner": map[string]any{"concurrent": 8}})),
			[]string{"runner.concurrent/limit=6 = 6 jobs", "planned concurrency 4"}},
		{"a runner profile bigger than the quota was sized for", bootstrap("namespace", nil), "tenant-a", tenantValues("namespace", profiles(2, 2, map[string]any{"requests": map[string]any{"cpu": "1", "memory": "2Gi", "ephemeral-storage": "10Gi"}, "limits": map[string]any{"cpu": "3", "memory": "4Gi", "ephemeral-storage": "20Gi"}})),
			[]string{"profiles.dotnet.resources.limits.cpu=3", "tenants.tenant-a.job.limits.cpu"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := boot.Render(render.Options{ReleaseName: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", KubeVersion: "v1.37.0", Values: tc.bootstrap})
			if err != nil {
				t.Fatalf("tenant-bootstrap: %v", err)
			}
			cluster := []*unstructured.Unstructured{render.APIServerEndpoints("172.18.0.9")}
			for _, o := range b.Objects() {
				if o.GetKind() == "ResourceQuota" {
					if o.GetAnnotations()["gitlab-kaniko-tenant.io/plan"] == "" {
						t.Fatalf("ResourceQuota %s/%s carries no plan", o.GetNamespace(), o.GetName())
					}
					cluster = append(cluster, o)
				}
			}
			_, err = tenant.Render(render.Options{ReleaseName: "tenant-a", Namespace: tc.namespace, KubeVersion: "v1.37.0", Values: tc.tenant, Cluster: cluster})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("rendered; want an error containing %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
