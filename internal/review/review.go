// Package review renders the platform's tenants at two git revisions and writes a Markdown report for a merge
// request: semantic diff of the rendered objects (dyff), harness findings, static connectivity changes, a capacity
// check and the blast radius. It reuses the harness (rendering, checks, policy engine); it adds only the comparison.
package review

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gonvenience/bunt"
	"github.com/gonvenience/ytbx"
	"github.com/homeport/dyff/pkg/dyff"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/k8sschema"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// Options of a review.
type Options struct {
	RepoRoot   string
	Base, Head string // git refs; Head "" = the working tree
	CacheDir   string
	// Node capacity of one tenant node, for the capacity check (seeds: at least 8 cores, 16 GiB).
	NodeCPU, NodeMemory string
}

// Finding of a review.
type Finding struct {
	Tenant, Check, Message string
	Blocking               bool
}

// Report is everything the Markdown is made of.
type Report struct {
	Changed     []string          // tenants whose rendered objects change (blast radius)
	Diffs       map[string]string // release → dyff output
	Findings    []Finding
	Reach       []harness.ReachChange // connectivity changes
	Capacity    []string
	BaseMissing bool
	// InstallTimeOnly: the charts' cluster lookups. The review renders without a cluster, as GitOps tools do, so what
	// hangs on them (the API server's addresses, the quota capacity check) is checked only at install time.
	InstallTimeOnly []string
}

// Blocking counts blocking findings.
func (r *Report) Blocking() int {
	n := 0
	for _, f := range r.Findings {
		if f.Blocking {
			n++
		}
	}
	return n
}

type side struct {
	dir      string
	rendered *harness.Rendered
	err      error
	findings []harness.InstallFinding
	values   map[string]map[string]any
}

// Run performs the review, in steps: render both revisions, the head's own findings, the releases that changed and
// their diffs, the connectivity that changed, then the head's capacity.
func Run(o Options) (*Report, error) {
	if o.NodeCPU == "" {
		o.NodeCPU = "8"
	}
	if o.NodeMemory == "" {
		o.NodeMemory = "16Gi"
	}
	tmp, err := os.MkdirTemp("", "gkt-review-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	base, head, err := renderSides(o, tmp)
	if err != nil {
		return nil, err
	}
	installTime, err := harness.InstallTimeLookups(filepath.Join(head.dir, "charts"))
	if err != nil {
		return nil, err
	}
	rep := &Report{Diffs: map[string]string{}, InstallTimeOnly: installTime}
	if head.err != nil {
		rep.Findings = append(rep.Findings, Finding{"-", "render", head.err.Error(), true})
		return rep, nil
	}
	rep.addRenderFindings(base, head)
	if err := rep.addReleaseDiffs(base, head); err != nil {
		return nil, err
	}
	if rep.Reach, err = harness.ReachChanges(base.rendered, head.rendered); err != nil {
		return nil, err
	}
	for _, r := range rep.Reach {
		if r.CrossTenant {
			rep.Findings = append(rep.Findings, Finding{"-", "connectivity", r.Line, true})
		}
	}
	caps, capFindings := capacity(head, o.NodeCPU, o.NodeMemory)
	rep.Capacity = caps
	rep.Findings = append(rep.Findings, capFindings...)
	return rep, nil
}

// renderSides exports the base (and the head, when it is a revision) into tmp and renders both.
func renderSides(o Options, tmp string) (base, head side, err error) {
	baseDir := filepath.Join(tmp, "base")
	if err := export(o.RepoRoot, o.Base, baseDir); err != nil {
		return side{}, side{}, err
	}
	headDir := o.RepoRoot
	if o.Head != "" {
		headDir = filepath.Join(tmp, "head")
		if err := export(o.RepoRoot, o.Head, headDir); err != nil {
			return side{}, side{}, err
		}
	}
	schemaRoot, err := ensureSchemas(o.CacheDir)
	if err != nil {
		return side{}, side{}, err
	}
	return load(baseDir, schemaRoot), load(headDir, schemaRoot), nil
}

// addRenderFindings reports a base that does not render (every tenant then counts as changed) and the head's
// install findings, each blocking.
func (rep *Report) addRenderFindings(base, head side) {
	if base.err != nil {
		rep.BaseMissing = true
		rep.Findings = append(rep.Findings, Finding{"-", "base render", "base revision does not render (" + firstLine(base.err.Error()) + "): every tenant is treated as changed", false})
	}
	for _, f := range head.findings {
		tenant := f.Tenant
		if tenant == "" {
			tenant = "-"
		}
		rep.Findings = append(rep.Findings, Finding{tenant, f.Check, f.Object + ": " + f.Message, true})
	}
}

// addReleaseDiffs is the blast radius: each release whose rendered YAML differs gets a semantic diff, and a tenant
// counts as changed when its release changed or tenant-bootstrap changed something in its namespace.
func (rep *Report) addReleaseDiffs(base, head side) error {
	releases := map[string][2][]byte{}
	for i, s := range []side{base, head} {
		if s.rendered == nil {
			continue
		}
		pair := releases["tenant-bootstrap"]
		pair[i] = s.rendered.Bootstrap.YAML()
		releases["tenant-bootstrap"] = pair
		for t, res := range s.rendered.Tenants {
			pair := releases[t]
			pair[i] = res.YAML()
			releases[t] = pair
		}
	}
	changedBootstrapNS := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(releases)) {
		pair := releases[n]
		if bytes.Equal(pair[0], pair[1]) {
			continue
		}
		d, err := diff(n, pair[0], pair[1])
		if err != nil {
			return err
		}
		rep.Diffs[n] = d
		if n == "tenant-bootstrap" {
			for _, ns := range changedNamespaces(base, head) {
				changedBootstrapNS[ns] = true
			}
			continue
		}
		rep.Changed = append(rep.Changed, n)
	}
	for t, ns := range head.rendered.Namespace {
		if changedBootstrapNS[ns] && !contains(rep.Changed, t) {
			rep.Changed = append(rep.Changed, t)
		}
	}
	sort.Strings(rep.Changed)
	return nil
}

func ensureSchemas(cache string) (string, error) {
	return k8sschema.Ensure(cache, harness.SchemaSpec())
}

// load renders one side: tenants/bootstrap.yaml and tenants/<tenant>.yaml with that side's charts.
func load(dir, schemaRoot string) side {
	s := side{dir: dir}
	c, err := harness.NewChecker(filepath.Join(dir, "charts"), schemaRoot, versions.KubernetesVersions[:1])
	if err != nil {
		s.err = err
		return s
	}
	in, err := harness.LoadInstall(dir, filepath.Join(dir, "charts"))
	vals := in.Tenants
	if err != nil {
		s.err = err
		return s
	}
	s.values = vals
	s.rendered, s.findings, s.err = c.CheckInstall("head", in, versions.KubernetesVersions[:1])
	return s
}

// export writes the tree of a git ref into dir (charts and tenants only).
func export(repo, ref, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "-C", repo, "archive", "--format=tar", ref, "charts", "tenants")
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	out, err := archive.Output()
	if err != nil {
		return fmt.Errorf("git archive %s: %v %s", ref, err, stderr.String())
	}
	untar := exec.Command("tar", "-x", "-C", dir)
	untar.Stdin = bytes.NewReader(out)
	if o, err := untar.CombinedOutput(); err != nil {
		return fmt.Errorf("extracting %s: %v %s", ref, err, o)
	}
	return nil
}

func diff(name string, from, to []byte) (string, error) {
	bunt.SetColorSettings(bunt.OFF, bunt.OFF)
	load := func(loc string, b []byte) (ytbx.InputFile, error) {
		docs, err := ytbx.LoadDocuments(b)
		return ytbx.InputFile{Location: loc, Documents: docs}, err
	}
	a, err := load("base/"+name, from)
	if err != nil {
		return "", err
	}
	b, err := load("head/"+name, to)
	if err != nil {
		return "", err
	}
	rep, err := dyff.CompareInputFiles(a, b, dyff.KubernetesEntityDetection(true))
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	hr := &dyff.HumanReport{Report: rep, OmitHeader: true, NoTableStyle: true, MultilineContextLines: 3}
	if err := hr.WriteReport(&out); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

func changedNamespaces(base, head side) []string {
	objs := func(s side) map[string]string {
		out := map[string]string{}
		if s.rendered == nil {
			return out
		}
		for _, o := range s.rendered.Bootstrap.Objects() {
			ns := o.GetNamespace()
			if o.GetKind() == "Namespace" {
				ns = o.GetName()
			}
			out[ns] += string(mustJSON(o))
		}
		return out
	}
	a, b := objs(base), objs(head)
	var out []string
	for ns, v := range b {
		if a[ns] != v {
			out = append(out, ns)
		}
	}
	for ns := range a {
		if _, ok := b[ns]; !ok {
			out = append(out, ns)
		}
	}
	return out
}

// capacity: the jobs the tenant's managers can run at the rollout peak (harness.TenantJobs: replicas × per-manager
// jobs, doubled by a surge rollout) × per-job limits against the namespace quota (blocking: those jobs would fail
// with "exceeded quota"), and the steady-state jobs' requests against the tenant's node capacity (warning).
func capacity(s side, nodeCPU, nodeMem string) ([]string, []Finding) {
	var lines []string
	var findings []Finding
	r := s.rendered
	nodes := map[string]int{}
	for _, o := range r.Bootstrap.Objects() {
		if o.GetKind() == "ConfigMap" && o.GetLabels()["gitlab-kaniko-tenant.io/tenants-data"] == "true" {
			data, _, _ := unstructured.NestedString(o.Object, "data", "tenants.json")
			for _, t := range parseNodes(data) {
				nodes[t.name] = t.nodes
			}
		}
	}
	for _, t := range sortedKeys(r.Tenants) {
		cfg, err := harness.ConfigToml(r.Tenants[t])
		if err != nil {
			findings = append(findings, Finding{t, "capacity", "config.toml unreadable, capacity not checked: " + err.Error(), true})
			continue
		}
		jobs, err := harness.TenantJobs(r.Tenants[t])
		if err != nil {
			findings = append(findings, Finding{t, "capacity", "manager count unreadable, capacity not checked: " + err.Error(), true})
			continue
		}
		// Limits against the quota at the rollout peak (draining managers and their replacements); requests against
		// the nodes in steady state. Daemonset mode: one manager per node, counted by the bootstrap.
		peak, steady := jobs.Peak(), jobs.Steady()
		if jobs.Strategy == "DaemonSet" {
			peak, steady = int64(cfg.Concurrent), int64(cfg.Concurrent)
		}
		conc := steady
		lim := map[string]resource.Quantity{}
		req := map[string]resource.Quantity{}
		// per job: the biggest [[runners]] entry's (runner profiles differ in size; any job may be the biggest)
		for _, ru := range cfg.Runners {
			k := ru.Kubernetes
			for name, pair := range map[string][4]string{
				"cpu":    {k.CPULimit, k.HelperCPULimit, k.CPURequest, k.HelperCPURequest},
				"memory": {k.MemoryLimit, k.HelperMemoryLimit, k.MemoryRequest, k.HelperMemoryRequest},
			} {
				l := resource.MustParse(pair[0])
				l.Add(resource.MustParse(pair[1]))
				rq := resource.MustParse(pair[2])
				rq.Add(resource.MustParse(pair[3]))
				if l, rq = mul(l, peak), mul(rq, steady); l.Cmp(lim[name]) > 0 {
					lim[name] = l
				}
				if rq.Cmp(req[name]) > 0 {
					req[name] = rq
				}
			}
		}
		quota := map[string]string{}
		for _, o := range r.Bootstrap.Objects() {
			if o.GetKind() == "ResourceQuota" && o.GetNamespace() == r.Namespace[t] {
				quota, _, _ = unstructured.NestedStringMap(o.Object, "spec", "hard")
			}
		}
		n := nodes[t]
		nodeCap := map[string]resource.Quantity{"cpu": mul(resource.MustParse(nodeCPU), int64(n)), "memory": mul(resource.MustParse(nodeMem), int64(n))}
		line := fmt.Sprintf("| %s | %d | %s / %s | %s / %s | %s / %s | %d × (%s, %s) |", t, conc,
			qs(lim["cpu"]), quota["limits.cpu"], qs(lim["memory"]), quota["limits.memory"], qs(req["cpu"]), qs(nodeCap["cpu"]), n, nodeCPU, nodeMem)
		lines = append(lines, line)
		for _, res := range []string{"cpu", "memory"} {
			if q, ok := quota["limits."+res]; ok {
				l := lim[res]
				if l.Cmp(resource.MustParse(q)) > 0 {
					findings = append(findings, Finding{t, "capacity", fmt.Sprintf("%d jobs at the rollout peak (%s) × per-job %s limits = %s exceed the namespace quota limits.%s=%s: jobs beyond the quota will fail with \"exceeded quota\"", peak, jobs, res, qs(l), res, q), true})
				}
			}
			rq := req[res]
			if c := nodeCap[res]; n > 0 && rq.Cmp(c) > 0 {
				findings = append(findings, Finding{t, "capacity", fmt.Sprintf("%d jobs × per-job %s requests = %s exceed the %d tenant node(s) (%s): jobs will wait Pending", conc, res, qs(rq), n, qs(c)), false})
			}
		}
	}
	return lines, findings
}

func mul(q resource.Quantity, n int64) resource.Quantity {
	out := resource.NewMilliQuantity(q.MilliValue()*n, q.Format)
	return *out
}

func qs(q resource.Quantity) string { return q.String() }

// Markdown writes the MR comment. First line `## Chart review`, last line the summary.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintln(w, "## Chart review")
	fmt.Fprintln(w)
	if len(r.Changed) == 0 {
		fmt.Fprintln(w, "**Blast radius:** no tenant's rendered objects change.")
	} else {
		fmt.Fprintf(w, "**Blast radius:** %d tenant(s) change: %s.\n", len(r.Changed), strings.Join(r.Changed, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Findings")
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "None: schemas, Pod Security, policy invariants and connectivity all pass.")
	}
	for _, f := range r.Findings {
		mark := "warning"
		if f.Blocking {
			mark = "**blocking**"
		}
		fmt.Fprintf(w, "- %s `%s` (%s): %s\n", mark, f.Check, f.Tenant, f.Message)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Connectivity changes")
	if len(r.Reach) == 0 {
		fmt.Fprintln(w, "No path opens or closes.")
	}
	for _, c := range r.Reach {
		fmt.Fprintln(w, "- "+c.Line)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Capacity (head)")
	fmt.Fprintln(w, "| tenant | concurrent | limits.cpu jobs / quota | limits.memory jobs / quota | requests.cpu jobs / nodes | nodes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, l := range r.Capacity {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	if len(r.InstallTimeOnly) > 0 {
		fmt.Fprintln(w, "### Checked only at install time")
		fmt.Fprintln(w, "This review renders without a cluster, as `helm template` and GitOps tools do. The charts look these up")
		fmt.Fprintln(w, "when `helm install` runs, so what depends on them was not checked here:")
		for _, l := range r.InstallTimeOnly {
			fmt.Fprintf(w, "- lookup of %s\n", l)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "### Rendered changes")
	if len(r.Diffs) == 0 {
		fmt.Fprintln(w, "None.")
	}
	for _, n := range sortedKeys(r.Diffs) {
		fmt.Fprintf(w, "<details><summary>%s</summary>\n\n```\n%s\n```\n</details>\n\n", n, r.Diffs[n])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "review: tenants-changed=%d findings=%d blocking=%d\n", len(r.Changed), len(r.Findings), r.Blocking())
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

type tenantNodes struct {
	name  string
	nodes int
}

func parseNodes(data string) []tenantNodes {
	var d struct {
		Tenants map[string]struct {
			Nodes []string `json:"nodes"`
		} `json:"tenants"`
	}
	_ = json.Unmarshal([]byte(data), &d)
	var out []tenantNodes
	for n, t := range d.Tenants {
		out = append(out, tenantNodes{n, len(t.Nodes)})
	}
	return out
}

func mustJSON(o *unstructured.Unstructured) []byte {
	b, _ := json.Marshal(o.Object)
	return b
}
