package harness

import (
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/k8sschema"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

func testChecker(t *testing.T) (*Checker, *Space) {
	t.Helper()
	root, err := k8sschema.Ensure(cachedir.Root(), SchemaSpec())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChecker("../../charts", root, versions.KubernetesVersions)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpace("../../test/matrix/permutations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// attackPermutation is the clean install every attack tampers with: namespace mode, both caches, PodMonitor.
func attackPermutation() Permutation {
	return Permutation{Values: map[string]string{"mode": "namespace", "layerCache": "tenantRegistry", "runnerCache": "on",
		"monitoring": "PodMonitor", "pinning": "nodeSelector", "replicas": "one", "concurrency": "twenty", "s3TLS": "off"}, KubeVersion: versions.KubernetesVersions[0]}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

// Each attack tampers with one rendered object the way a careless chart change would; the named check must fire.
// Together they prove that no check of the matrix is one that cannot fail.
func TestEveryCheckCatchesItsAttack(t *testing.T) {
	c, s := testChecker(t)
	perm := attackPermutation()
	attacks := []struct {
		name, check string
		tamper      func(r *Rendered)
	}{
		{"unknown field in a Deployment", "schema", func(r *Rendered) {
			_ = unstructured.SetNestedField(find(r.Tenants["tenant-a"].Objects(), "Deployment", "tenant-a-runner").Object, true, "spec", "hostNetwork")
		}},
		{"CiliumNetworkPolicy with a field Cilium does not know", "schema", func(r *Rendered) {
			cnp := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
				"metadata": map[string]any{"name": "x", "namespace": "tenant-a", "labels": map[string]any{TenantLabel: "tenant-a"}},
				"spec":     map[string]any{"endpointSelector": map[string]any{}, "egress": []any{map[string]any{"toEverything": true}}}}}
			r.Tenants["tenant-a"].Manifests[0].Objects = append(r.Tenants["tenant-a"].Manifests[0].Objects, cnp)
		}},
		{"wrong type in a Service", "schema", func(r *Rendered) {
			_ = unstructured.SetNestedField(find(r.Tenants["tenant-a"].Objects(), "Service", "").Object, "many", "spec", "ports")
		}},
		{"object without tenant label", "tenant label on every object", func(r *Rendered) {
			find(r.Tenants["tenant-a"].Objects(), "ConfigMap", "").SetLabels(map[string]string{})
		}},
		{"object in another tenant's namespace", "namespaced objects only in the tenant's namespace", func(r *Rendered) {
			find(r.Tenants["tenant-a"].Objects(), "Role", "").SetNamespace("tenant-b")
		}},
		{"wildcard verb", "no RBAC wildcard", func(r *Rendered) {
			role := find(r.Tenants["tenant-a"].Objects(), "Role", "")
			rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
			rules[0].(map[string]any)["verbs"] = []any{"*"}
			_ = unstructured.SetNestedSlice(role.Object, rules, "rules")
		}},
		{"RoleBinding to a ClusterRole", "no cluster-scoped RBAC in the tenant chart", func(r *Rendered) {
			_ = unstructured.SetNestedField(find(r.Tenants["tenant-a"].Objects(), "RoleBinding", "").Object, "ClusterRole", "roleRef", "kind")
		}},
		{"admin bound to cluster-admin", "admin bindings are namespaced view/edit only", func(r *Rendered) {
			rb := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
				"metadata": map[string]any{"name": "x", "namespace": "tenant-a", "labels": map[string]any{TenantLabel: "tenant-a"}},
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
				"subjects": []any{map[string]any{"kind": "Group", "name": "g", "apiGroup": "rbac.authorization.k8s.io"}}}}
			r.Bootstrap.Manifests[0].Objects = append(r.Bootstrap.Manifests[0].Objects, rb)
		}},
		{"service selector matching nothing", "selectors match their pods", func(r *Rendered) {
			_ = unstructured.SetNestedStringMap(find(r.Tenants["tenant-a"].Objects(), "Service", "tenant-a-runner-metrics").Object, map[string]string{"app": "nothing"}, "spec", "selector")
		}},
		{"container without limits", "requests and limits on every container", func(r *Rendered) {
			d := find(r.Tenants["tenant-a"].Objects(), "Deployment", "tenant-a-layer-cache")
			cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			delete(cs[0].(map[string]any), "resources")
			_ = unstructured.SetNestedSlice(d.Object, cs, "spec", "template", "spec", "containers")
		}},
		{"image on latest", "images pinned", func(r *Rendered) {
			r.JobPods["tenant-a"].Spec.Containers[0].Image = "kaniko:latest"
		}},
		{"long-running container without probes", "probes on long-running containers", func(r *Rendered) {
			d := find(r.Tenants["tenant-a"].Objects(), "Deployment", "tenant-a-layer-cache")
			cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			delete(cs[0].(map[string]any), "livenessProbe")
			_ = unstructured.SetNestedSlice(d.Object, cs, "spec", "template", "spec", "containers")
		}},
		{"registry liveness on its storage-dependent HTTP check", "liveness independent of dependencies", func(r *Rendered) {
			d := find(r.Tenants["tenant-a"].Objects(), "Deployment", "tenant-a-layer-cache")
			cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			c := cs[0].(map[string]any)
			c["livenessProbe"] = c["readinessProbe"]
			_ = unstructured.SetNestedSlice(d.Object, cs, "spec", "template", "spec", "containers")
		}},
		{"token in a ConfigMap", "no secret material in a ConfigMap", func(r *Rendered) {
			_ = unstructured.SetNestedField(find(r.Tenants["tenant-a"].Objects(), "ConfigMap", "tenant-a-runner").Object, `token = "glrt-abcdefghijklmnop"`, "data", "leak")
		}},
		{"privileged job pod", "Pod Security", func(r *Rendered) {
			yes := true
			r.JobPods["tenant-a"].Spec.Containers[0].SecurityContext.Privileged = &yes
		}},
		{"manager running as root", "Pod Security", func(r *Rendered) {
			_ = unstructured.SetNestedField(find(r.Tenants["tenant-a"].Objects(), "Deployment", "tenant-a-runner").Object, false, "spec", "template", "spec", "securityContext", "runAsNonRoot")
		}},
		{"job pod with a token", "no service account token", func(r *Rendered) {
			yes := true
			r.JobPods["tenant-a"].Spec.AutomountServiceAccountToken = &yes
		}},
		{"no default deny", "default deny present", func(r *Rendered) {
			for i := range r.Bootstrap.Manifests {
				var keep []*unstructured.Unstructured
				for _, o := range r.Bootstrap.Manifests[i].Objects {
					if !(o.GetKind() == "NetworkPolicy" && o.GetName() == "default-deny" && o.GetNamespace() == "tenant-b") {
						keep = append(keep, o)
					}
				}
				r.Bootstrap.Manifests[i].Objects = keep
			}
		}},
		{"secret in NOTES", "no secret material in NOTES", func(r *Rendered) {
			r.Tenants["tenant-b"].Notes += "token: glrt-abcdefghijklmnop"
		}},
		{"label overwrite allowed in config.toml", "config.toml holds the keys the runner reads", func(r *Rendered) {
			cm := find(r.Tenants["tenant-a"].Objects(), "ConfigMap", "tenant-a-runner")
			s, _, _ := unstructured.NestedString(cm.Object, "data", "config.template.toml")
			_ = unstructured.SetNestedField(cm.Object, strings.Replace(s, `pod_labels_overwrite_allowed = ""`, `pod_labels_overwrite_allowed = ".*"`, 1), "data", "config.template.toml")
		}},
		{"a pinned feature flag left to the job", "feature flags that shape the job are pinned", func(r *Rendered) {
			cm := find(r.Tenants["tenant-a"].Objects(), "ConfigMap", "tenant-a-runner")
			s, _, _ := unstructured.NestedString(cm.Object, "data", "config.template.toml")
			re := regexp.MustCompile(`(?m)^\s*FF_KUBERNETES_HONOR_ENTRYPOINT = .*\n`)
			if !re.MatchString(s) {
				panic("the flag is not rendered: the attack would prove nothing")
			}
			_ = unstructured.SetNestedField(cm.Object, re.ReplaceAllString(s, ""), "data", "config.template.toml")
		}},
		{"a pinned feature flag with the unsafe value", "feature flags that shape the job are pinned", func(r *Rendered) {
			cm := find(r.Tenants["tenant-b"].Objects(), "ConfigMap", "tenant-b-runner")
			s, _, _ := unstructured.NestedString(cm.Object, "data", "config.template.toml")
			_ = unstructured.SetNestedField(cm.Object, strings.Replace(s, "FF_USE_POD_ACTIVE_DEADLINE_SECONDS = true", "FF_USE_POD_ACTIVE_DEADLINE_SECONDS = false", 1), "data", "config.template.toml")
		}},
		{"metrics opened to another tenant's namespace", "no allow rule names another tenant's namespace", func(r *Rendered) {
			np := find(r.Tenants["tenant-a"].Objects(), "NetworkPolicy", "tenant-a-runner")
			ingress, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
			from := ingress[0].(map[string]any)["from"].([]any)
			_ = unstructured.SetNestedField(from[0].(map[string]any), "tenant-b", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")
			_ = unstructured.SetNestedSlice(np.Object, ingress, "spec", "ingress")
		}},
		{"a verb the runner never calls", "Role equals the runner's call sites", func(r *Rendered) {
			role := find(r.Tenants["tenant-a"].Objects(), "Role", "")
			rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
			rules = append(rules, map[string]any{"apiGroups": []any{""}, "resources": []any{"secrets"}, "verbs": []any{"get"}})
			_ = unstructured.SetNestedSlice(role.Object, rules, "rules")
		}},
		{"a call the runner makes, not granted", "Role equals the runner's call sites", func(r *Rendered) {
			role := find(r.Tenants["tenant-b"].Objects(), "Role", "")
			rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
			_ = unstructured.SetNestedSlice(role.Object, rules[1:], "rules")
		}},
		{"a third manager the quota does not count", "the quota holds every job the managers can run", func(r *Rendered) {
			_ = unstructured.SetNestedField(find(r.Tenants["tenant-a"].Objects(), "Deployment", "tenant-a-runner").Object, int64(3), "spec", "replicas")
		}},
		{"a quota without the plan the install is checked against", "every tenant's quota records the plan", func(r *Rendered) {
			find(r.Bootstrap.Objects(), "ResourceQuota", "tenant-a-quota").SetAnnotations(nil)
		}},
		{"a plan that gives the tenant another mode", "every tenant's quota records the plan", func(r *Rendered) {
			q := find(r.Bootstrap.Objects(), "ResourceQuota", "tenant-b-quota")
			q.SetAnnotations(map[string]string{"gitlab-kaniko-tenant.io/plan": strings.Replace(q.GetAnnotations()["gitlab-kaniko-tenant.io/plan"], `"mode":"namespace"`, `"mode":"shared"`, 1)})
		}},
		{"a plan with fewer jobs than the managers run", "every tenant's quota records the plan", func(r *Rendered) {
			q := find(r.Bootstrap.Objects(), "ResourceQuota", "tenant-a-quota")
			q.SetAnnotations(map[string]string{"gitlab-kaniko-tenant.io/plan": strings.Replace(q.GetAnnotations()["gitlab-kaniko-tenant.io/plan"], `"concurrency":20`, `"concurrency":19`, 1)})
		}},
		{"job pod without a seccomp profile", "job pods get the seccomp profile", func(r *Rendered) {
			r.JobPods["tenant-a"].Spec.SecurityContext.SeccompProfile = nil
		}},
		{"job pod on the host's UIDs (no user namespace)", "job pods run in a user namespace", func(r *Rendered) {
			r.JobPods["tenant-b"].Spec.HostUsers = nil
		}},
		{"a runner profile whose jobs run under another service account", "every runner profile keeps the tenant's isolation", func(r *Rendered) {
			p := addProfilePod(r, "tenant-a")
			p.Spec.ServiceAccountName = "default"
		}},
		{"a runner profile whose jobs leave the tenant's nodes", "every runner profile keeps the tenant's isolation", func(r *Rendered) {
			p := addProfilePod(r, "tenant-a")
			delete(p.Spec.NodeSelector, TenantLabel)
			p.Spec.NodeSelector["disk"] = "ssd"
		}},
		{"a runner profile bigger than the plan", "every tenant's quota records the plan", func(r *Rendered) {
			p := addProfilePod(r, "tenant-b")
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("64")
		}},
		{"platform file not mounted", "job pods get the seccomp profile and the platform file", func(r *Rendered) {
			c := &r.JobPods["tenant-b"].Spec.Containers[0]
			var keep []corev1.VolumeMount
			for _, m := range c.VolumeMounts {
				if m.MountPath != "/etc/gitlab-kaniko-tenant" {
					keep = append(keep, m)
				}
			}
			c.VolumeMounts = keep
		}},
	}
	clean, err := c.Render(s, perm)
	if err != nil {
		t.Fatal(err)
	}
	if res := c.CheckRendered("clean", perm.KubeVersion, clean); len(res.Findings) != 0 {
		t.Fatalf("the untampered install must be clean, got %v", res.Findings)
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			r, err := c.Render(s, perm)
			if err != nil {
				t.Fatal(err)
			}
			a.tamper(r)
			res := c.CheckRendered(a.name, perm.KubeVersion, r)
			for _, f := range res.Findings {
				if strings.HasPrefix(f.Check, a.check) {
					return
				}
			}
			t.Errorf("check %q did not fire; findings: %v", a.check, res.Findings)
		})
	}
}

// Connectivity attacks: each opens or closes a path the truth table pins; the engine must notice.
func TestTruthTableCatchesPolicyChanges(t *testing.T) {
	c, s := testChecker(t)
	perm := attackPermutation()
	allowAll := func(ns string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
			"metadata": map[string]any{"name": "allow-all", "namespace": ns},
			"spec": map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress", "Egress"},
				"ingress": []any{map[string]any{}}, "egress": []any{map[string]any{}}}}}
	}
	attacks := []struct {
		name   string
		want   string
		tamper func(r *Rendered)
	}{
		{"allow-all in both tenant namespaces", "tenant-a job → tenant-b layer-cache registry:5000", func(r *Rendered) {
			r.Bootstrap.Manifests[0].Objects = append(r.Bootstrap.Manifests[0].Objects, allowAll("tenant-a"), allowAll("tenant-b"))
		}},
		{"allow-all in tenant-b's namespace only opens tenant-b's own egress", "tenant-b job → internet:443", func(r *Rendered) {
			r.Bootstrap.Manifests[0].Objects = append(r.Bootstrap.Manifests[0].Objects, allowAll("tenant-b"))
		}},
		{"job policy removed", "tenant-a job → GitLab:443", func(r *Rendered) {
			for i, m := range r.Tenants["tenant-a"].Manifests {
				var keep []*unstructured.Unstructured
				for _, o := range m.Objects {
					if !(o.GetKind() == "NetworkPolicy" && o.GetName() == "tenant-a-jobs") {
						keep = append(keep, o)
					}
				}
				r.Tenants["tenant-a"].Manifests[i].Objects = keep
			}
		}},
		{"metrics opened to every namespace", "pod in default → tenant-a manager:9252", func(r *Rendered) {
			np := find(r.Tenants["tenant-a"].Objects(), "NetworkPolicy", "tenant-a-runner")
			ing, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
			ing[0].(map[string]any)["from"] = []any{map[string]any{"namespaceSelector": map[string]any{}}}
			_ = unstructured.SetNestedSlice(np.Object, ing, "spec", "ingress")
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			r, err := c.Render(s, perm)
			if err != nil {
				t.Fatal(err)
			}
			if rep, _ := CheckConnectivity(r, perm.Values); len(rep.Failures) != 0 {
				t.Fatalf("clean install fails the truth table: %v", rep.Failures)
			}
			a.tamper(r)
			rep, err := CheckConnectivity(r, perm.Values)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Failures {
				if strings.HasPrefix(f, a.want) {
					return
				}
			}
			t.Errorf("probe %q did not fail; failures: %v", a.want, rep.Failures)
		})
	}
}

// A peer chosen by name (monitoring, DNS) never matches a tenant namespace: tenant-a naming tenant-b's namespace as
// its monitoring or DNS namespace selects nothing, because the selector excludes the namespaces tenant-bootstrap
// labels as a tenant's (tenants cannot label namespaces). The control: the same selector matches the namespace
// once it is not a tenant's; the attack: without the exclusion it matches tenant-b's.
func TestPeersChosenByNameNeverMatchATenantNamespace(t *testing.T) {
	c, s := testChecker(t)
	perm := attackPermutation()
	in := s.Install(perm)
	in.Tenants["tenant-a"]["monitoring"] = map[string]any{"namespace": "tenant-b"}
	in.Tenants["tenant-a"]["dns"] = map[string]any{"namespace": "tenant-b"}
	r, err := c.RenderInstall(in, perm.KubeVersion, "")
	if err != nil {
		t.Fatal(err)
	}
	var nsLabels map[string]string
	for _, o := range r.Bootstrap.Objects() {
		if o.GetKind() == "Namespace" && o.GetName() == "tenant-b" {
			nsLabels = o.GetLabels()
		}
	}
	if nsLabels == nil {
		t.Fatal("tenant-bootstrap rendered no namespace tenant-b")
	}
	nsLabels["kubernetes.io/metadata.name"] = "tenant-b" // set by the API server
	var selectors []*metav1.LabelSelector
	for _, sel := range namedPeerSelectors(t, r.Tenants["tenant-a"]) {
		if sel.MatchLabels["kubernetes.io/metadata.name"] == "tenant-b" { // the monitoring and DNS peers set above
			selectors = append(selectors, sel)
		}
	}
	if len(selectors) < 2 {
		t.Fatalf("want the monitoring and the DNS selectors, found %d", len(selectors))
	}
	plain := map[string]string{"kubernetes.io/metadata.name": "tenant-b"}
	for _, sel := range selectors {
		ls, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		if ls.Matches(labels.Set(nsLabels)) {
			t.Errorf("%s selects tenant-b's namespace", ls)
		}
		if !ls.Matches(labels.Set(plain)) {
			t.Errorf("control: %s does not select the namespace once it is not a tenant's", ls)
		}
		sel.MatchExpressions = nil // the attack: the exclusion removed
		if ls, _ := metav1.LabelSelectorAsSelector(sel); !ls.Matches(labels.Set(nsLabels)) {
			t.Errorf("attack: without the exclusion %s still does not select tenant-b: the test proves nothing", ls)
		}
	}
}

// namedPeerSelectors are the namespaceSelectors of a tenant's NetworkPolicies that pick a namespace by name.
func namedPeerSelectors(t *testing.T, res *render.Result) []*metav1.LabelSelector {
	t.Helper()
	var out []*metav1.LabelSelector
	for _, o := range res.Objects() {
		if o.GetKind() != "NetworkPolicy" {
			continue
		}
		var np networkingv1.NetworkPolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &np); err != nil {
			t.Fatal(err)
		}
		var peers []networkingv1.NetworkPolicyPeer
		for _, r := range np.Spec.Ingress {
			peers = append(peers, r.From...)
		}
		for _, r := range np.Spec.Egress {
			peers = append(peers, r.To...)
		}
		for _, p := range peers {
			if p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "" {
				out = append(out, p.NamespaceSelector)
			}
		}
	}
	return out
}

// addProfilePod adds a second runner profile's job pod to tenant's render, a copy of its first with the profile label.
func addProfilePod(r *Rendered, tenant string) *corev1.Pod {
	p := r.RunnerPods[tenant][0].DeepCopy()
	p.Labels[ProfileLabel] = "extra"
	r.RunnerPods[tenant] = append(r.RunnerPods[tenant], p)
	return p
}
