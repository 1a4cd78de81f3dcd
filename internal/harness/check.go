package harness

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/k8sschema"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/podsecurity"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// Kinds the charts render; their schemas are generated for every supported version. A rendered kind missing here
// fails validation ("could not find schema"), so the list cannot silently fall behind the charts.
var Kinds = []k8sschema.GVK{
	{Version: "v1", Kind: "Namespace"}, {Version: "v1", Kind: "ResourceQuota"}, {Version: "v1", Kind: "LimitRange"},
	{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "ServiceAccount"}, {Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "Pod"}, {Version: "v1", Kind: "Secret"},
	{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "DaemonSet"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
}

// CRDs are the custom kinds the tenant chart may render: prometheus-operator's monitors, and the Cilium policy of the
// manager's API-server egress (from the Cilium module the e2e cluster runs).
var CRDs = []k8sschema.CRDSource{
	k8sschema.PrometheusOperatorCRD(versions.PrometheusOperator, k8sschema.GVK{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}),
	k8sschema.PrometheusOperatorCRD(versions.PrometheusOperator, k8sschema.GVK{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}),
	{Kind: k8sschema.GVK{Group: "cilium.io", Version: "v2", Kind: "CiliumNetworkPolicy"}, Module: "github.com/cilium/cilium", Version: versions.Cilium,
		File: "pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnetworkpolicies.yaml"},
}

// Finding is one failed check.
type Finding struct {
	Permutation string
	Object      string
	Check       string
	Message     string
	// Tenant is the tenant whose object (or job pod) the finding is about; "" for the install as a whole and for
	// tenant-bootstrap's objects that belong to no tenant.
	Tenant string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: [%s] %s", f.Permutation, f.Object, f.Check, f.Message)
}

// Result of checking one permutation.
type Result struct {
	Objects  int
	Invalid  int // objects with at least one finding
	Findings []Finding
	// Probes is how many connectivity probes the policy engine answered; Exposures lists what shared mode opens.
	Probes    int
	Exposures []string
}

// Rendered is everything a permutation installs, with the job pod each tenant's runner would create.
type Rendered struct {
	Bootstrap *render.Result
	Tenants   map[string]*render.Result
	// JobPods is the job pod of each tenant's first runner entry; RunnerPods has one per entry (one per runner
	// profile), in config.toml's order.
	JobPods    map[string]*corev1.Pod
	RunnerPods map[string][]*corev1.Pod
	Namespace  map[string]string
	// Values are each tenant's gitlab-kaniko-tenant values as given (the chart's defaults not merged in).
	Values map[string]map[string]any
	// reuse holds what the checks found that cannot depend on the Kubernetes version, once this render has been
	// checked for one version: RunMatrix reuses a render across versions (Checker.renders), and then only the
	// version's own checks (schemas, Pod Security) run again. Nil until then, and always nil outside RunMatrix.
	reuse *versionless
}

// versionless are the findings of the version-independent checks of one render.
type versionless struct {
	findings     []savedFinding
	connectivity ConnectivityReport
	connErr      error
	connDone     bool
}

type savedFinding struct{ tenant, obj, check, msg string }

// Checker holds what is reused across permutations.
type Checker struct {
	tenant, bootstrap *render.Chart
	validators        map[string]validator.Validator
	psa               *podsecurity.Evaluator
	// renders caches installs across Kubernetes versions when both charts are version-independent (RunMatrix
	// turns it on; tests that tamper with a render leave it off).
	renders map[string]*Rendered
	// verdicts memoizes kubeconform per (schema, exact object bytes): the same input always gets the same verdict,
	// and most objects repeat across permutations. A valid verdict is keyed by the schema file's digest, so it holds
	// for every Kubernetes version whose schema for the kind is identical (most kinds); a refusal is keyed by the
	// version, so its message names that version's schema. Shared by the workers.
	verdicts *sync.Map
	firstUse *sync.Map // (version, schema file) → *sync.Once around kubeconform's first use of that schema
	// schemaIDs: Kubernetes version → schema file name → digest of its content (k8sschema.Identities).
	schemaIDs map[string]map[string]string
}

// NewChecker loads the charts and builds a strict offline kubeconform validator per Kubernetes version.
func NewChecker(chartsDir, schemaRoot string, kubeVersions []string) (*Checker, error) {
	tc, err := render.Load(filepath.Join(chartsDir, "gitlab-kaniko-tenant"))
	if err != nil {
		return nil, err
	}
	bc, err := render.Load(filepath.Join(chartsDir, "tenant-bootstrap"))
	if err != nil {
		return nil, err
	}
	psa, err := podsecurity.New()
	if err != nil {
		return nil, err
	}
	ids, err := k8sschema.Identities(schemaRoot, kubeVersions)
	if err != nil {
		return nil, err
	}
	c := &Checker{tenant: tc, bootstrap: bc, psa: psa, validators: map[string]validator.Validator{}, verdicts: &sync.Map{}, firstUse: &sync.Map{}, schemaIDs: ids}
	for _, v := range kubeVersions {
		val, err := validator.New([]string{k8sschema.Location(schemaRoot)}, validator.Opts{Strict: true, KubernetesVersion: v})
		if err != nil {
			return nil, fmt.Errorf("kubeconform for %s: %w", v, err)
		}
		c.validators[v] = val
	}
	return c, nil
}

// Render renders a permutation: tenant-bootstrap, then each tenant chart in its namespace, then each job pod.
func (c *Checker) Render(s *Space, p Permutation) (*Rendered, error) {
	key := ""
	if c.renders != nil && c.tenant.VersionIndependent() && c.bootstrap.VersionIndependent() {
		key = fmt.Sprint(p.Values)
	}
	return c.RenderInstall(s.Install(p), p.KubeVersion, key)
}

// RenderInstall renders an install for a Kubernetes version (e.g. 1.37.2). A non-empty cacheKey reuses an
// earlier render with the same key (callers only pass one when the charts are version-independent).
func (c *Checker) RenderInstall(in Install, kubeVersion, cacheKey string) (*Rendered, error) {
	kv := "v" + kubeVersion
	if cacheKey != "" {
		// The kubeVersion constraints are still checked for this version; the objects are reused.
		if err := c.tenant.CheckKubeVersion(kv); err != nil {
			return nil, err
		}
		if err := c.bootstrap.CheckKubeVersion(kv); err != nil {
			return nil, err
		}
		if r, ok := c.renders[cacheKey]; ok {
			return r, nil
		}
	}
	boot, err := c.bootstrap.Render(render.Options{ReleaseName: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", KubeVersion: kv, APIVersions: in.APIs, Values: in.Bootstrap})
	if err != nil {
		return nil, fmt.Errorf("tenant-bootstrap: %w", err)
	}
	out := &Rendered{Bootstrap: boot, Tenants: map[string]*render.Result{}, JobPods: map[string]*corev1.Pod{}, RunnerPods: map[string][]*corev1.Pod{}, Namespace: in.Namespace, Values: in.Tenants}
	for _, name := range sortedKeys(in.Tenants) {
		res, err := c.tenant.Render(render.Options{ReleaseName: name, Namespace: in.Namespace[name], KubeVersion: kv, APIVersions: in.APIs, Values: in.Tenants[name]})
		if err != nil {
			return nil, fmt.Errorf("gitlab-kaniko-tenant %s: %w", name, err)
		}
		out.Tenants[name] = res
		cfg, err := configToml(res)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", name, err)
		}
		for i := range cfg.Runners {
			pod, err := jobpod.Pod(&cfg.Runners[i], jobpod.Job{ProjectID: 1, JobID: 1, TimeoutSeconds: 3600})
			if err != nil {
				return nil, fmt.Errorf("tenant %s job pod (%s): %w", name, cfg.Runners[i].Name, err)
			}
			out.RunnerPods[name] = append(out.RunnerPods[name], pod)
		}
		out.JobPods[name] = out.RunnerPods[name][0]
	}
	if cacheKey != "" {
		c.renders[cacheKey] = out
	}
	return out, nil
}

// ConfigTomlText is the config.toml template a tenant chart render holds (the runner ConfigMap), unparsed.
func ConfigTomlText(res *render.Result) (string, error) {
	for _, o := range res.Objects() {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-runner") {
			s, _, _ := unstructured.NestedString(o.Object, "data", "config.template.toml")
			return s, nil
		}
	}
	return "", fmt.Errorf("no runner ConfigMap rendered")
}

// ConfigToml parses the config.toml a tenant chart render holds (the runner ConfigMap).
func ConfigToml(res *render.Result) (*jobpod.Config, error) { return configToml(res) }

func configToml(res *render.Result) (*jobpod.Config, error) {
	s, err := ConfigTomlText(res)
	if err != nil {
		return nil, err
	}
	return jobpod.Parse([]byte(s))
}

// Check renders and checks one permutation.
func (c *Checker) Check(s *Space, p Permutation) Result {
	name := p.Name()
	r, err := c.Render(s, p)
	if err != nil {
		return Result{Invalid: 1, Findings: []Finding{{Permutation: name, Object: "-", Check: "render", Message: err.Error()}}}
	}
	res := c.CheckRendered(name, p.KubeVersion, r)
	// Static connectivity reads the objects and the permutation's values, both the same for each version of a row.
	var rep ConnectivityReport
	if r.reuse != nil {
		if !r.reuse.connDone {
			r.reuse.connectivity, r.reuse.connErr = CheckConnectivity(r, p.Values)
			r.reuse.connDone = true
		}
		rep, err = r.reuse.connectivity, r.reuse.connErr
	} else {
		rep, err = CheckConnectivity(r, p.Values)
	}
	if err != nil {
		res.Findings = append(res.Findings, Finding{Permutation: name, Object: "(install)", Check: "static connectivity", Message: err.Error()})
		res.Invalid++
		return res
	}
	res.Probes, res.Exposures = rep.Probes, slices.Concat(rep.Exposures, sharedNamespaceFindings(r))
	for _, f := range rep.Failures {
		res.Findings = append(res.Findings, Finding{Permutation: name, Object: "(network)", Check: "static connectivity", Message: f})
	}
	if len(rep.Failures) > 0 {
		res.Invalid++
	}
	return res
}

// CheckRendered runs every check on an already rendered install (exported for attack tests that tamper with it).
func (c *Checker) CheckRendered(name, kubeVersion string, r *Rendered) Result {
	var res Result
	bad := map[string]bool{}
	add := func(tenant, obj, check, msg string) {
		res.Findings = append(res.Findings, Finding{Permutation: name, Object: obj, Check: check, Message: msg, Tenant: tenant})
		bad[obj] = true
	}
	val := c.validators[kubeVersion]
	// A render reused across versions (RunMatrix) runs its version-independent checks once: record them the first
	// time, reuse them after.
	reused := r.reuse != nil
	record := c.renders != nil && !reused
	saved := &versionless{}
	all := checkedObjects(r)
	labelCache := map[string][]map[string]string{}
	podLabels := func(t string) []map[string]string {
		if l, ok := labelCache[t]; ok {
			return l
		}
		labelCache[t] = tenantPodLabels(r, t)
		return labelCache[t]
	}
	for _, it := range all {
		id := fmt.Sprintf("%s/%s %s/%s", it.chart, it.tenant, it.o.GetKind(), it.o.GetName())
		res.Objects++
		msg := c.verdict(val, kubeVersion, id, it.o)
		if msg != "" {
			add(it.tenant, id, "schema "+kubeVersion, msg)
		}
		var ctx *objCtx
		for _, inv := range invariants {
			if !inv.applies(it.chart) || (reused && !inv.perVersion) {
				continue
			}
			if ctx == nil {
				ctx = newObjCtx(it.chart, it.tenant, it.o, r, podLabels)
			}
			if err := inv.check(ctx.forVersion(inv.perVersion, c.psa, minor(kubeVersion))); err != nil {
				add(it.tenant, id, inv.name, err.Error())
				if record && !inv.perVersion {
					saved.findings = append(saved.findings, savedFinding{it.tenant, id, inv.name, err.Error()})
				}
			}
		}
	}
	if !reused {
		for _, g := range globalInvariants {
			if err := g.check(r); err != nil {
				add("", "(install)", g.name, err.Error())
				if record {
					saved.findings = append(saved.findings, savedFinding{"", "(install)", g.name, err.Error()})
				}
			}
		}
	}
	if reused {
		for _, f := range r.reuse.findings {
			add(f.tenant, f.obj, f.check, f.msg)
		}
	}
	if record {
		r.reuse = saved
	}
	res.Invalid = len(bad)
	sort.Slice(res.Findings, func(i, j int) bool { return res.Findings[i].String() < res.Findings[j].String() })
	return res
}

// checkedObject is one object the checks see: which chart made it (or "job-pod") and for which tenant.
type checkedObject struct {
	chart, tenant string
	o             *unstructured.Unstructured
}

// checkedObjects are the install's objects in check order: tenant-bootstrap's, then each tenant's (hooks included)
// followed by its job pod.
func checkedObjects(r *Rendered) []checkedObject {
	var all []checkedObject
	for _, o := range append(r.Bootstrap.Objects(), r.Bootstrap.HookObjects()...) {
		all = append(all, checkedObject{"tenant-bootstrap", o.GetLabels()[TenantLabel], o})
	}
	for _, t := range sortedKeys(r.Tenants) {
		tr := r.Tenants[t]
		for _, o := range append(tr.Objects(), tr.HookObjects()...) {
			all = append(all, checkedObject{"gitlab-kaniko-tenant", t, o})
		}
		jp, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r.JobPods[t])
		if err == nil {
			all = append(all, checkedObject{"job-pod", t, &unstructured.Unstructured{Object: jp}})
		}
	}
	return all
}

// verdict is kubeconform's verdict on o for kubeVersion: "" when valid, else its message (memoized, see verdicts).
func (c *Checker) verdict(val validator.Validator, kubeVersion, id string, o *unstructured.Unstructured) string {
	b, _ := json.Marshal(o.Object)
	file := k8sschema.GVKOf(o.GetAPIVersion(), o.GetKind()).FileName()
	schema := kubeVersion
	if digest := c.schemaIDs[kubeVersion][file]; digest != "" {
		schema = digest
	}
	validKey, refusedKey := "valid\x00"+schema+"\x00"+string(b), "refused\x00"+kubeVersion+"\x00"+string(b)
	if _, ok := c.verdicts.Load(validKey); ok {
		return ""
	}
	if msg, ok := c.verdicts.Load(refusedKey); ok {
		return msg.(string)
	}
	// kubeconform compiles a kind's schema on its first use and caches it; workers that meet the kind at once would
	// each compile it, so the first use per (version, kind) runs alone and the others wait for its cached schema.
	var vr validator.Result
	first := false
	once, _ := c.firstUse.LoadOrStore(kubeVersion+"\x00"+file, &sync.Once{})
	once.(*sync.Once).Do(func() { vr, first = val.ValidateResource(resource.Resource{Path: id, Bytes: b}), true })
	if !first {
		vr = val.ValidateResource(resource.Resource{Path: id, Bytes: b})
	}
	if vr.Status == validator.Valid {
		c.verdicts.Store(validKey, "")
		return ""
	}
	msg := fmt.Sprint(vr.Err)
	for _, ve := range vr.ValidationErrors {
		msg += "; " + ve.Path + ": " + ve.Msg
	}
	c.verdicts.Store(refusedKey, msg)
	return msg
}

func minor(v string) int {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0
	}
	m, _ := strconv.Atoi(parts[1])
	return m
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
