package harness

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/podsecurity"
)

// TenantLabel marks every object of a tenant.
const TenantLabel = "gitlab-kaniko-tenant.io/tenant"

// ComponentLabel names the component of a tenant object (manager, job, layer-cache, ...).
const ComponentLabel = "gitlab-kaniko-tenant.io/component"

// ProfileLabel names the runner profile a job pod was started for (only with the chart's `profiles`).
const ProfileLabel = "gitlab-kaniko-tenant.io/profile"

const sharedNamespace = "gitlab-runners-shared"

type objCtx struct {
	chart, tenant string
	obj           *unstructured.Unstructured
	r             *Rendered
	psa           *podsecurity.Evaluator
	minor         int
	// decoded once per object: the pod template (workloads) and the pod spec (workloads and pods)
	tmpl      *corev1.PodTemplateSpec
	spec      *corev1.PodSpec
	podLabels func(tenant string) []map[string]string
}

func newObjCtx(chart, tenant string, o *unstructured.Unstructured, r *Rendered, podLabels func(string) []map[string]string) *objCtx {
	c := &objCtx{chart: chart, tenant: tenant, obj: o, r: r, podLabels: podLabels}
	c.tmpl, _ = podTemplate(o)
	if c.tmpl != nil {
		c.spec = &c.tmpl.Spec
	} else {
		c.spec, _ = podSpecOf(o)
	}
	return c
}

// forVersion returns the context with what depends on the Kubernetes version: the Pod Security evaluator and the
// minor version, for perVersion checks; nil and 0 for the others (they must not read them: see invariant.perVersion).
func (c *objCtx) forVersion(perVersion bool, psa *podsecurity.Evaluator, minor int) *objCtx {
	c.psa, c.minor = nil, 0
	if perVersion {
		c.psa, c.minor = psa, minor
	}
	return c
}

type invariant struct {
	name   string
	charts []string // empty: every chart
	// perVersion: the check depends on the Kubernetes version (it reads objCtx.minor or the Pod Security evaluator).
	// Every other check's findings are reused for the other versions of a render RunMatrix reuses.
	perVersion bool
	check      func(c *objCtx) error
}

func (i invariant) applies(chart string) bool {
	if len(i.charts) == 0 {
		return true
	}
	for _, c := range i.charts {
		if c == chart {
			return true
		}
	}
	return false
}

var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "Node": true,
	"PersistentVolume": true, "StorageClass": true, "CustomResourceDefinition": true, "PriorityClass": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true, "RuntimeClass": true}

// secretPatterns find secret material: runner tokens, AWS/MinIO-style keys, private keys, inline passwords. Each
// runs only where its literal occurs (the case-insensitive one on an ASCII-lowered copy): one combined
// case-insensitive pattern has no literal to skip ahead by and took a tenth of the matrix's CPU (make bench profile).
var secretPatterns = []struct {
	literal string // present in the (lowered, for lower) text wherever the pattern can match
	lower   bool
	re      *regexp.Regexp
}{
	{"glrt-", false, regexp.MustCompile(`glrt-[A-Za-z0-9_-]{8,}`)},
	{"AKIA", false, regexp.MustCompile(`AKIA[0-9A-Z]{16}`)},
	{"PRIVATE KEY-----", false, regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
	{"password", true, regexp.MustCompile(`password\s*[=:]\s*"?[a-z0-9/+]{12,}`)},
	// Two patterns, each with a literal prefix the matcher skips ahead by ("key" alone is in most manifests).
	{"secret", true, regexp.MustCompile(`secret_?key\s*[=:]\s*"?[a-z0-9/+]{12,}`)},
	{"access", true, regexp.MustCompile(`access_?key\s*[=:]\s*"?[a-z0-9/+]{12,}`)},
}

// findSecret returns the first secret-looking text in s ("" when none).
func findSecret(s string) string {
	lower := ""
	for _, p := range secretPatterns {
		text := s
		if p.lower {
			if lower == "" {
				b := []byte(s)
				for i, c := range b {
					if 'A' <= c && c <= 'Z' {
						b[i] = c + 'a' - 'A'
					}
				}
				lower = string(b)
			}
			text = lower
		}
		if !strings.Contains(text, p.literal) {
			continue
		}
		if loc := p.re.FindStringIndex(text); loc != nil {
			return s[loc[0]:loc[1]] // ASCII lowering keeps offsets
		}
	}
	return ""
}

var invariants = []invariant{
	{name: "tenant label on every object", check: func(c *objCtx) error {
		got := c.obj.GetLabels()[TenantLabel]
		if c.chart != "tenant-bootstrap" {
			if got != c.tenant {
				return fmt.Errorf("label %s=%q, want %q", TenantLabel, got, c.tenant)
			}
			return nil
		}
		ns := c.obj.GetNamespace()
		if c.obj.GetKind() == "Namespace" {
			ns = c.obj.GetName()
		}
		if got == "" && ns != sharedNamespace && ns != "gitlab-kaniko-system" {
			return fmt.Errorf("tenant object without %s", TenantLabel)
		}
		return nil
	}},
	{name: "namespaced objects only in the tenant's namespace", check: func(c *objCtx) error {
		if c.chart == "tenant-bootstrap" {
			if t := c.obj.GetLabels()[TenantLabel]; t != "" && c.obj.GetKind() != "Namespace" && c.obj.GetNamespace() != c.r.Namespace[t] {
				return fmt.Errorf("in namespace %q, tenant %s lives in %q", c.obj.GetNamespace(), t, c.r.Namespace[t])
			}
			return nil
		}
		if clusterScoped[c.obj.GetKind()] {
			return fmt.Errorf("cluster-scoped %s in a tenant chart", c.obj.GetKind())
		}
		if want := c.r.Namespace[c.tenant]; c.obj.GetNamespace() != want {
			return fmt.Errorf("in namespace %q, want %q", c.obj.GetNamespace(), want)
		}
		return nil
	}},
	{name: "no RBAC wildcard", check: func(c *objCtx) error {
		if k := c.obj.GetKind(); k != "Role" && k != "ClusterRole" {
			return nil
		}
		rules, _, _ := unstructured.NestedSlice(c.obj.Object, "rules")
		for i, r := range rules {
			m, _ := r.(map[string]any)
			for _, f := range []string{"apiGroups", "resources", "verbs", "resourceNames"} {
				vals, _, _ := unstructured.NestedStringSlice(m, f)
				for _, v := range vals {
					if strings.Contains(v, "*") {
						return fmt.Errorf("rules[%d].%s contains %q", i, f, v)
					}
				}
			}
		}
		return nil
	}},
	{name: "no cluster-scoped RBAC in the tenant chart", charts: []string{"gitlab-kaniko-tenant"}, check: func(c *objCtx) error {
		if k := c.obj.GetKind(); k == "ClusterRole" || k == "ClusterRoleBinding" {
			return fmt.Errorf("%s in the tenant chart", k)
		}
		if c.obj.GetKind() == "RoleBinding" {
			if k, _, _ := unstructured.NestedString(c.obj.Object, "roleRef", "kind"); k != "Role" {
				return fmt.Errorf("RoleBinding to a %s", k)
			}
		}
		return nil
	}},
	{name: "admin bindings are namespaced view/edit only", charts: []string{"tenant-bootstrap"}, check: func(c *objCtx) error {
		if c.obj.GetKind() != "RoleBinding" {
			return nil
		}
		kind, _, _ := unstructured.NestedString(c.obj.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(c.obj.Object, "roleRef", "name")
		if kind == "ClusterRole" && name != "view" && name != "edit" {
			return fmt.Errorf("binds ClusterRole %s", name)
		}
		return nil
	}},
	{name: "selectors match their pods", check: func(c *objCtx) error {
		sel, ok := selectorOf(c.obj)
		if !ok {
			return nil
		}
		if c.obj.GetKind() == "NetworkPolicy" && sel.Empty() {
			return nil // namespace-wide on purpose (default deny, DNS)
		}
		if w := c.tmpl; w != nil {
			if !sel.Matches(labels.Set(w.Labels)) {
				return fmt.Errorf("selector %s does not match its own pod template %v", sel, w.Labels)
			}
			return nil
		}
		for _, l := range c.podLabels(c.tenant) {
			if sel.Matches(labels.Set(l)) {
				return nil
			}
		}
		return fmt.Errorf("selector %s matches no pod of tenant %s", sel, c.tenant)
	}},
	{name: "requests and limits on every container", check: func(c *objCtx) error {
		spec := c.spec
		if spec == nil {
			return nil
		}
		for _, ctr := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
				req, okR := ctr.Resources.Requests[res]
				lim, okL := ctr.Resources.Limits[res]
				if !okR || !okL {
					return fmt.Errorf("container %s has no %s request and limit", ctr.Name, res)
				}
				if req.Cmp(lim) > 0 || lim.Cmp(resource.MustParse("0")) <= 0 {
					return fmt.Errorf("container %s: %s request %s / limit %s", ctr.Name, res, req.String(), lim.String())
				}
			}
		}
		return nil
	}},
	{name: "images pinned", check: func(c *objCtx) error {
		spec := c.spec
		if spec == nil {
			return nil
		}
		for _, ctr := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			if err := pinned(ctr.Image); err != nil {
				return fmt.Errorf("container %s: %w", ctr.Name, err)
			}
		}
		return nil
	}},
	{name: "probes on long-running containers", check: func(c *objCtx) error {
		if c.tmpl == nil { // long-running workloads only (Deployment, DaemonSet)
			return nil
		}
		for _, ctr := range c.spec.Containers {
			if ctr.LivenessProbe == nil || ctr.ReadinessProbe == nil {
				return fmt.Errorf("container %s lacks a liveness or readiness probe", ctr.Name)
			}
		}
		return nil
	}},
	{name: "liveness independent of dependencies", check: func(c *objCtx) error {
		// A liveness probe that repeats the readiness check restarts the container whenever what readiness
		// depends on (GitLab, S3) is down, and a restart cannot bring that back.
		if c.tmpl == nil { // long-running workloads only (Deployment, DaemonSet)
			return nil
		}
		for _, ctr := range c.spec.Containers {
			if ctr.LivenessProbe != nil && ctr.ReadinessProbe != nil && equality.Semantic.DeepEqual(ctr.LivenessProbe.ProbeHandler, ctr.ReadinessProbe.ProbeHandler) {
				return fmt.Errorf("container %s: the liveness probe repeats the readiness check", ctr.Name)
			}
		}
		return nil
	}},
	{name: "no secret material in a ConfigMap", check: func(c *objCtx) error {
		switch c.obj.GetKind() {
		case "Secret":
			return fmt.Errorf("charts never render Secrets (credentials come from existing Secrets)")
		case "ConfigMap":
			data, _, _ := unstructured.NestedStringMap(c.obj.Object, "data")
			for k, v := range data {
				if m := findSecret(v); m != "" {
					return fmt.Errorf("data.%s holds secret-looking %q", k, m)
				}
			}
		}
		return nil
	}},
	{name: "Pod Security: manager, registry and tests restricted; job pods baseline", perVersion: true, check: func(c *objCtx) error {
		spec := c.spec
		if spec == nil {
			return nil
		}
		meta := metav1.ObjectMeta{Labels: c.obj.GetLabels()}
		if c.tmpl != nil {
			meta = c.tmpl.ObjectMeta
		}
		pod := &corev1.Pod{ObjectMeta: meta, Spec: *spec}
		level := "restricted"
		if c.chart == "job-pod" {
			level = "baseline"
		}
		v, err := c.psa.Violations(pod, level, c.minor)
		if err != nil {
			return err
		}
		if v != nil {
			return fmt.Errorf("violates %s: %s", level, strings.Join(v, "; "))
		}
		return nil
	}},
	{name: "no service account token where none is needed", check: func(c *objCtx) error {
		if c.obj.GetKind() == "ServiceAccount" {
			if v, ok, _ := unstructured.NestedBool(c.obj.Object, "automountServiceAccountToken"); !ok || v {
				return fmt.Errorf("ServiceAccount automounts its token")
			}
			return nil
		}
		spec := c.spec
		if spec == nil {
			return nil
		}
		isManager := c.obj.GetLabels()["gitlab-kaniko-tenant.io/component"] == "manager" && (c.obj.GetKind() == "Deployment" || c.obj.GetKind() == "DaemonSet")
		if isManager {
			return nil // the manager talks to the API server: it is the one pod with a token
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			return fmt.Errorf("pod gets a service account token (automountServiceAccountToken not false)")
		}
		return nil
	}},
}

type globalInvariant struct {
	name  string
	check func(r *Rendered) error
}

var globalInvariants = []globalInvariant{
	{"default deny present in every tenant namespace", func(r *Rendered) error {
		for t, ns := range r.Namespace {
			found := false
			for _, o := range r.Bootstrap.Objects() {
				if o.GetKind() != "NetworkPolicy" || o.GetNamespace() != ns {
					continue
				}
				sel, _, _ := unstructured.NestedMap(o.Object, "spec", "podSelector")
				types, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "policyTypes")
				_, hasIn := o.Object["spec"].(map[string]any)["ingress"]
				_, hasEg := o.Object["spec"].(map[string]any)["egress"]
				if len(sel) == 0 && strings.Join(types, ",") == "Ingress,Egress" && !hasIn && !hasEg {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("namespace %s of tenant %s has no default-deny NetworkPolicy", ns, t)
			}
		}
		return nil
	}},
	{"no secret material in NOTES", func(r *Rendered) error {
		for t, res := range r.Tenants {
			if m := findSecret(res.Notes); m != "" {
				return fmt.Errorf("NOTES of %s hold %q", t, m)
			}
		}
		if m := findSecret(r.Bootstrap.Notes); m != "" {
			return fmt.Errorf("tenant-bootstrap NOTES hold %q", m)
		}
		return nil
	}},
	{"config.toml holds the keys the runner reads", func(r *Rendered) error {
		for t, res := range r.Tenants {
			cfg, err := configToml(res)
			if err != nil {
				return err
			}
			for _, ru := range cfg.Runners {
				k := ru.Kubernetes
				switch {
				case cfg.Concurrent < 1:
					return fmt.Errorf("%s: concurrent %d", t, cfg.Concurrent)
				case cfg.ListenAddress != ":9252":
					return fmt.Errorf("%s: listen_address %q", t, cfg.ListenAddress)
				case ru.Executor != "kubernetes" || !tokenPlaceholder.MatchString(ru.Token) || ru.URL == "":
					return fmt.Errorf("%s (%s): executor/token/url not set as the runner needs", t, ru.Name)
				case ru.RequestConcurrency < 2:
					return fmt.Errorf("%s: request_concurrency %d starves concurrency", t, ru.RequestConcurrency)
				case k == nil || k.Namespace != r.Namespace[t] || k.ServiceAccount == "":
					return fmt.Errorf("%s: [runners.kubernetes] namespace/service_account wrong", t)
				case k.PodLabels[TenantLabel] != t:
					return fmt.Errorf("%s: job pods would not carry the tenant label", t)
				case k.NamespaceOverwriteAllowed != "" || k.ServiceAccountOverwriteAllowed != "" || k.PodLabelsOverwriteAllowed != "" || k.NodeSelectorOverwriteAllowed != "" || k.BearerTokenOverwriteAllowed:
					return fmt.Errorf("%s: an isolation-relevant overwrite is allowed", t)
				}
			}
		}
		return nil
	}},
	{"feature flags that shape the job are pinned", func(r *Rendered) error {
		for t, res := range r.Tenants {
			cfg, err := configToml(res)
			if err != nil {
				return err
			}
			for _, ru := range cfg.Runners {
				ff := ru.FeatureFlags
				for _, p := range PinnedFeatureFlags {
					got, set := ff[p.Name]
					if !p.exists(cfg) {
						continue
					}
					if !set {
						return fmt.Errorf("%s (%s): %s is not set in [runners.feature_flags], so a job's variables decide it (%s)", t, ru.Name, p.Name, p.Why)
					}
					if want := p.Value(cfg); got != want {
						return fmt.Errorf("%s: %s = %t, want %t (%s)", t, p.Name, got, want, p.Why)
					}
				}
			}
		}
		return nil
	}},
	{"every runner profile keeps the tenant's isolation; only its size, images and nodes differ", func(r *Rendered) error {
		for _, t := range sortedKeys(r.RunnerPods) {
			pods := r.RunnerPods[t]
			for _, pod := range pods[1:] {
				for _, d := range jobpod.ShapeDiff(pods[0], pod) {
					field, _, _ := strings.Cut(d, ":")
					switch {
					case field == "build.resources", strings.HasPrefix(field, "label "+ProfileLabel):
					case field == "nodeSelector" && onlyAdds(pods[0].Spec.NodeSelector, pod.Spec.NodeSelector):
					default:
						return fmt.Errorf("tenant %s: runner profile %s's job pod differs from profile %s's in %s", t, pod.Labels[ProfileLabel], pods[0].Labels[ProfileLabel], d)
					}
				}
			}
		}
		return nil
	}},
	{"every tenant's quota records the plan its install is checked against", func(r *Rendered) error {
		for _, t := range sortedKeys(r.Tenants) {
			ns := r.Namespace[t]
			var raw string
			for _, o := range r.Bootstrap.Objects() {
				if o.GetKind() == "ResourceQuota" && o.GetNamespace() == ns {
					raw = o.GetAnnotations()["gitlab-kaniko-tenant.io/plan"]
				}
			}
			var plan map[string]struct {
				Mode        string            `json:"mode"`
				Concurrency int64             `json:"concurrency"`
				Job         map[string]string `json:"job"`
			}
			if err := json.Unmarshal([]byte(raw), &plan); err != nil {
				return fmt.Errorf("namespace %s: the quota's plan annotation %q: %v", ns, raw, err)
			}
			p, ok := plan[t]
			if !ok {
				return fmt.Errorf("namespace %s: the quota's plan has no entry for tenant %s", ns, t)
			}
			mode, _ := r.Values[t]["mode"].(string)
			if mode == "" {
				mode = "namespace"
			}
			if p.Mode != mode {
				return fmt.Errorf("tenant %s: the plan says mode %s, the tenant chart renders mode %s", t, p.Mode, mode)
			}
			jobs, err := TenantJobs(r.Tenants[t])
			if err != nil {
				return err
			}
			steady := jobs.Steady()
			if jobs.Strategy == "DaemonSet" {
				steady = jobs.PerManager
			}
			if jobs.Strategy != "no manager rendered" && steady > p.Concurrency {
				return fmt.Errorf("tenant %s: its managers run %d jobs (%s), the plan holds %d", t, steady, jobs, p.Concurrency)
			}
			for _, pod := range r.RunnerPods[t] {
				for _, c := range pod.Spec.Containers {
					if c.Name != "build" {
						continue
					}
					for name, q := range c.Resources.Limits {
						planned, err := resource.ParseQuantity(p.Job[string(name)])
						if err != nil || q.Cmp(planned) > 0 {
							return fmt.Errorf("tenant %s: the build container's %s limit %s is above the plan's %q", t, name, q.String(), p.Job[string(name)])
						}
					}
				}
			}
		}
		return nil
	}},
	{"the quota holds every job the managers can run, rollouts included", func(r *Rendered) error {
		need := map[string]map[string]int64{} // namespace → "limits.cpu" → milli
		for t, res := range r.Tenants {
			jobs, err := TenantJobs(res)
			if err != nil {
				return err
			}
			if jobs.Strategy == "DaemonSet" || jobs.Strategy == "no manager rendered" {
				continue // per node; the bootstrap derives nodes × concurrency
			}
			ns := r.Namespace[t]
			if need[ns] == nil {
				need[ns] = map[string]int64{}
			}
			// any job may be the biggest runner entry's (profiles differ in size); init containers run before the
			// containers: they do not add up
			biggest := map[string]int64{}
			for _, pod := range r.RunnerPods[t] {
				perJob := map[string]int64{}
				for _, c := range pod.Spec.Containers {
					for name, q := range c.Resources.Limits {
						perJob["limits."+string(name)] += q.MilliValue()
					}
				}
				for k, v := range perJob {
					biggest[k] = max(biggest[k], v)
				}
			}
			for k, v := range biggest {
				need[ns][k] += v * jobs.Peak()
			}
			need[ns]["pods"] += 1000 * jobs.Peak()
		}
		for ns, n := range need {
			var hard map[string]string
			for _, o := range r.Bootstrap.Objects() {
				if o.GetKind() == "ResourceQuota" && o.GetNamespace() == ns {
					hard, _, _ = unstructured.NestedStringMap(o.Object, "spec", "hard")
				}
			}
			if hard == nil {
				return fmt.Errorf("namespace %s has no ResourceQuota", ns)
			}
			for key, milli := range n {
				h, ok := hard[key]
				if !ok {
					continue
				}
				q, err := resource.ParseQuantity(h)
				if err != nil {
					return fmt.Errorf("quota %s %s=%q: %w", ns, key, h, err)
				}
				if q.MilliValue() < milli {
					return fmt.Errorf("namespace %s: the managers' peak jobs need %s=%s, the quota holds %s (jobs would fail with \"exceeded quota\" during a rollout)", ns, key, resource.NewMilliQuantity(milli, resource.DecimalSI), h)
				}
			}
		}
		return nil
	}},
	{"no allow rule names another tenant's namespace", func(r *Rendered) error {
		owner := map[string]string{} // namespace → tenant (namespace mode: one each)
		for t, ns := range r.Namespace {
			if prev, ok := owner[ns]; ok && prev != t {
				owner[ns] = "" // shared: several tenants, no single owner
				continue
			}
			owner[ns] = t
		}
		for t, res := range r.Tenants {
			for _, o := range res.Objects() {
				if o.GetKind() != "NetworkPolicy" {
					continue
				}
				for _, dir := range []string{"ingress", "egress"} {
					rules, _, _ := unstructured.NestedSlice(o.Object, "spec", dir)
					for _, rule := range rules {
						peers, _ := rule.(map[string]any)["from"].([]any)
						if dir == "egress" {
							peers, _ = rule.(map[string]any)["to"].([]any)
						}
						for _, p := range peers {
							ns, _, _ := unstructured.NestedString(p.(map[string]any), "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")
							if other, ok := owner[ns]; ok && other != "" && other != t {
								return fmt.Errorf("%s: NetworkPolicy %s allows %s with namespace %s, which is tenant %s's", t, o.GetName(), dir, ns, other)
							}
						}
					}
				}
			}
		}
		return nil
	}},
	{"Role equals the runner's call sites", func(r *Rendered) error {
		for t, res := range r.Tenants {
			cfg, err := configToml(res)
			if err != nil {
				return err
			}
			var role *unstructured.Unstructured
			for _, o := range res.Objects() {
				if o.GetKind() == "Role" && o.GetLabels()[ComponentLabel] == "manager" {
					role = o
				}
			}
			if role == nil {
				continue // rbac.create=false: the platform provides the Role
			}
			got := map[string]bool{}
			rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
			for _, raw := range rules {
				rule := raw.(map[string]any)
				groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
				resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
				verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
				for _, g := range groups {
					for _, res := range resources {
						for _, v := range verbs {
							got[g+"/"+res+":"+v] = true
						}
					}
				}
			}
			want, optional := map[string]bool{}, map[string]bool{}
			for _, c := range RunnerCallSites {
				if c.When == nil || c.When(cfg) {
					want["/"+c.Resource+":"+c.Verb] = true
					optional["/"+c.Resource+":"+c.Verb] = c.Optional
				}
			}
			for k := range got {
				if !want[k] {
					return fmt.Errorf("%s: the Role grants %s, which the runner never calls for this config.toml", t, k)
				}
			}
			for k := range want {
				if !got[k] && !optional[k] {
					return fmt.Errorf("%s: the Role lacks %s, which the runner calls for this config.toml", t, k)
				}
			}
		}
		return nil
	}},
	{"job pods run in a user namespace unless the tenant turns it off", func(r *Rendered) error {
		for t, pod := range r.JobPods {
			want := true // the secure default: only jobs.userNamespaces=false puts job pods on the host's UIDs
			if jobs, ok := r.Values[t]["jobs"].(map[string]any); ok {
				if v, ok := jobs["userNamespaces"].(bool); ok {
					want = v
				}
			}
			got := pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers
			if got != want {
				return fmt.Errorf("%s: jobs.userNamespaces=%t but the job pod has hostUsers=%s (the pod_spec patch or FF_USE_ADVANCED_POD_SPEC_CONFIGURATION is missing or stray)", t, want, boolPtr(pod.Spec.HostUsers))
			}
		}
		return nil
	}},
	{"job pods get the seccomp profile and the platform file", func(r *Rendered) error {
		for t, pod := range r.JobPods {
			if sc := pod.Spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				return fmt.Errorf("%s: the job pod has no RuntimeDefault seccomp profile (the runner version may ignore the key the chart renders)", t)
			}
			found := false
			for _, m := range pod.Spec.Containers[0].VolumeMounts {
				if m.MountPath == "/etc/gitlab-kaniko-tenant" && m.ReadOnly {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("%s: the build container does not get the platform file read-only at /etc/gitlab-kaniko-tenant", t)
			}
		}
		return nil
	}},
}

// RunnerCallSite is one Kubernetes API call of the runner's Kubernetes executor (gitlab-runner v17.9.3
// executors/kubernetes, its `// kubeAPI:` annotations), with the config.toml condition under which it happens.
type RunnerCallSite struct {
	Resource, Verb, Site string
	When                 func(cfg *jobpod.Config) bool // nil: always
	// Optional: the runner works without it (it only loses a detail of the job log), so the Role may leave it out.
	Optional bool
}

// tokenPlaceholder is a runner entry's token in the rendered config.toml: the single runner's, or a profile's.
var tokenPlaceholder = regexp.MustCompile(`^@RUNNER_TOKEN(:[a-z0-9]([-a-z0-9]*[a-z0-9])?)?@$`)

// onlyAdds reports whether two profiles' node selectors differ only by labels each adds to the tenant's: no key with
// two values, and neither leaves out the tenant label or the daemonset manager's node.
func onlyAdds(a, b map[string]string) bool {
	for _, pair := range [][2]map[string]string{{a, b}, {b, a}} {
		for k, v := range pair[0] {
			w, ok := pair[1][k]
			switch {
			case ok && w != v:
				return false
			case !ok && (k == TenantLabel || k == "kubernetes.io/hostname"):
				return false
			}
		}
	}
	return true
}

func servicesAllowed(cfg *jobpod.Config) bool {
	for _, s := range cfg.Runners[0].Kubernetes.AllowedServices {
		if !strings.HasSuffix(s, ".invalid/no-services-allowed") {
			return true
		}
	}
	return false
}

// RunnerCallSites are the calls for the config.toml the chart renders (attach strategy, the pinned flags, no
// namespace_per_job, resource_availability_check_max_attempts = 0). Calls the chart makes impossible on purpose are
// absent: secrets get (only after a create conflict, kubernetes.go:1912; it would let the manager read every
// Secret), serviceaccounts get (availability check), events watch (FF_PRINT_POD_EVENTS, pinned off), pods/log get
// without services (FF_KUBERNETES_HONOR_ENTRYPOINT, FF_WAIT_FOR_POD_TO_BE_REACHABLE: pinned off).
var RunnerCallSites = []RunnerCallSite{
	{"pods", "create", "kubernetes.go:2024", nil, false},
	{"pods", "get", "kubernetes.go:2035, exec.go:98", nil, false},
	{"pods", "delete", "kubernetes.go:1307", nil, false},
	{"pods", "list", "internal/watchers/pod.go:58", nil, false},
	{"pods", "watch", "internal/watchers/pod.go:58", nil, false},
	{"pods/attach", "create", "exec.go:115 (SPDY POST)", nil, false},
	{"pods/exec", "create", "exec.go:176 (SPDY POST)", nil, false},
	{"secrets", "create", "kubernetes.go:1901", nil, false},
	{"secrets", "update", "kubernetes.go:2473", nil, false},
	{"secrets", "delete", "kubernetes.go:1323", nil, false},
	{"services", "create", "kubernetes.go:2667", servicesAllowed, false},
	{"services", "get", "kubernetes.go:2678", servicesAllowed, false},
	{"pods/log", "get", "kubernetes.go:3072 (CI_DEBUG_SERVICES)", servicesAllowed, false},
	// a failed pod's warning events in the job log (rbac.events)
	{"events", "list", "kubernetes.go:651", nil, true},
}

// PinnedFeatureFlag is a feature flag the chart must set, so that a job's variables cannot: the check's own table,
// independent of the chart's (templates/_runner.tpl).
type PinnedFeatureFlag struct {
	Name string
	// Value is the safe value for a rendered config (some depend on the runner version).
	Value func(cfg *jobpod.Config) bool
	// In are the runner minor versions that have the flag (nil: every supported one).
	In  []string
	Why string
}

// exists reports whether the config's runner version has the flag (jobpod.RunnerVersion, from the helper tag).
func (p PinnedFeatureFlag) exists(cfg *jobpod.Config) bool {
	v, ok := jobpod.RunnerVersion(cfg.Runners[0].Kubernetes)
	return p.In == nil || !ok || slices.Contains(p.In, fmt.Sprintf("%d.%d", v[0], v[1]))
}

func always(v bool) func(*jobpod.Config) bool { return func(*jobpod.Config) bool { return v } }

// podSpecPatched is true for a config that needs pod_spec patches: a runner older than 18.0 gets its seccomp
// profile from one, and every version gets the user namespace (hostUsers: false) from one.
func podSpecPatched(cfg *jobpod.Config) bool {
	v, ok := jobpod.RunnerVersion(cfg.Runners[0].Kubernetes)
	if ok && v[0] < 18 {
		return true
	}
	for _, p := range cfg.Runners[0].Kubernetes.PodSpec {
		if p.Name == "user-namespace" {
			return true
		}
	}
	return false
}

func boolPtr(b *bool) string {
	if b == nil {
		return "unset"
	}
	return fmt.Sprint(*b)
}

// PinnedFeatureFlags are the flags that change the job pod, the exec strategy, cleanup, deadlines or token masking.
// Which versions have them is checked against the runner sources: 19.4 by make test, 17.9 by make runner-keys.
var PinnedFeatureFlags = []PinnedFeatureFlag{
	{"FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY", always(false), nil, "exec instead of attach: another pod shape and RBAC"},
	{"FF_USE_POD_ACTIVE_DEADLINE_SECONDS", always(true), nil, "the kubelet ends a pod at the job timeout"},
	{"FF_USE_ADVANCED_POD_SPEC_CONFIGURATION", podSpecPatched, nil, "pod_spec patches: the user namespace and the 17.9 seccomp patch"},
	{"FF_KUBERNETES_HONOR_ENTRYPOINT", always(false), nil, "an image entrypoint before the script"},
	{"FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR", always(false), nil, "another build command"},
	{"FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR", always(false), nil, "an extra init container"},
	{"FF_WAIT_FOR_POD_TO_BE_REACHABLE", always(false), nil, "another start deadline"},
	{"FF_PRINT_POD_EVENTS", always(false), nil, "watches events, not granted"},
	{"FF_USE_LEGACY_S3_CACHE_ADAPTER", always(false), nil, "another cache adapter"},
	{"FF_MASK_ALL_DEFAULT_TOKENS", always(true), nil, "a job could unmask tokens in its trace"},
	{"FF_SECRET_RESOLVING_FAILS_IF_MISSING", always(true), nil, "a job running without its secret"},
	{"FF_SET_PERMISSIONS_BEFORE_CLEANUP", always(true), []string{"17.9"}, "cleanup"},
	{"FF_ENABLE_JOB_CLEANUP", always(false), nil, "cleanup"},
	{"FF_CONCRETE", always(false), []string{"19.4"}, "another build entrypoint"},
	{"FF_SUSPENDABLE_ENVIRONMENTS", always(false), []string{"19.4"}, "namespaces, ConfigMaps and PVCs"},
	{"FF_SCRIPT_TO_STEP_MIGRATION", always(false), []string{"19.4"}, "the script through the step-runner"},
}

// FlagsOf are the pinned flags a runner minor version must have.
func FlagsOf(minor string) []string {
	var out []string
	for _, p := range PinnedFeatureFlags {
		if p.In == nil || slices.Contains(p.In, minor) {
			out = append(out, p.Name)
		}
	}
	return out
}

func pinned(image string) error {
	if image == "" {
		return fmt.Errorf("no image")
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	last := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(last, ":")
	if i < 0 {
		return fmt.Errorf("image %s has no tag (means latest)", image)
	}
	if last[i+1:] == "latest" {
		return fmt.Errorf("image %s uses latest", image)
	}
	return nil
}

func selectorOf(o *unstructured.Unstructured) (labels.Selector, bool) {
	var m map[string]any
	switch o.GetKind() {
	case "Deployment", "DaemonSet", "PodDisruptionBudget", "PodMonitor", "ServiceMonitor":
		m, _, _ = unstructured.NestedMap(o.Object, "spec", "selector")
	case "NetworkPolicy":
		m, _, _ = unstructured.NestedMap(o.Object, "spec", "podSelector")
	case "Service":
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
		return labels.SelectorFromSet(sel), true
	default:
		return nil, false
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return labels.Nothing(), true
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return labels.Nothing(), true
	}
	return s, true
}

func podTemplate(o *unstructured.Unstructured) (*corev1.PodTemplateSpec, bool) {
	switch o.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d) == nil {
			return &d.Spec.Template, true
		}
	case "DaemonSet":
		var d appsv1.DaemonSet
		if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d) == nil {
			return &d.Spec.Template, true
		}
	}
	return nil, false
}

// PodSpec returns the pod spec of a Deployment, DaemonSet or Pod.
func PodSpec(o *unstructured.Unstructured) (*corev1.PodSpec, bool) { return podSpecOf(o) }

func podSpecOf(o *unstructured.Unstructured) (*corev1.PodSpec, bool) {
	if t, ok := podTemplate(o); ok {
		return &t.Spec, true
	}
	if o.GetKind() == "Pod" {
		var p corev1.Pod
		if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &p) == nil {
			return &p.Spec, true
		}
	}
	return nil, false
}

// tenantPodLabels are the labels of every pod a tenant runs: workload templates, hook pods, the job pod.
// A ServiceMonitor selects Services, so Service labels count too.
func tenantPodLabels(r *Rendered, tenant string) []map[string]string {
	var out []map[string]string
	if res, ok := r.Tenants[tenant]; ok {
		for _, o := range append(res.Objects(), res.HookObjects()...) {
			if t, ok := podTemplate(o); ok {
				out = append(out, t.Labels)
			}
			if o.GetKind() == "Pod" || o.GetKind() == "Service" {
				out = append(out, o.GetLabels())
			}
		}
	}
	if p, ok := r.JobPods[tenant]; ok {
		out = append(out, p.Labels)
	}
	return out
}
