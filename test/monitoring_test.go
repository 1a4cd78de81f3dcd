package test

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"golang.org/x/mod/modfile"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/dashboard"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gomod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/promrules"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// alertRule is one alert of the rendered PrometheusRule.
type alertRule struct {
	Name, Expr  string
	Labels      map[string]string
	Annotations map[string]string
}

// renderAlerts renders the tenant chart with the rules on and returns the PrometheusRule's alerts.
func renderAlerts(t *testing.T) []alertRule {
	t.Helper()
	var alerts []alertRule
	for _, g := range renderRuleGroups(t) {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			m := r.(map[string]any)
			a := alertRule{}
			a.Name, _, _ = unstructured.NestedString(m, "alert")
			a.Expr, _, _ = unstructured.NestedString(m, "expr")
			a.Labels, _, _ = unstructured.NestedStringMap(m, "labels")
			a.Annotations, _, _ = unstructured.NestedStringMap(m, "annotations")
			alerts = append(alerts, a)
		}
	}
	return alerts
}

// renderRuleGroups renders the tenant chart for tenant-a with the rules on and returns the PrometheusRule's
// spec.groups: a Prometheus rule file's groups, as prometheus-operator hands them to Prometheus.
func renderRuleGroups(t *testing.T) []any {
	t.Helper()
	vals := render.MergeValues(readValues(t, "e2e/values/tenant-a.yaml"), map[string]any{
		"managerDisabled": false,
		"monitoring":      map[string]any{"force": true, "rules": map[string]any{"enabled": true}},
	})
	res, err := loadChart(t, tenantChart).Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: vals, Cluster: render.InstallCluster()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects() {
		if o.GetKind() == "PrometheusRule" {
			groups, _, _ := unstructured.NestedSlice(o.Object, "spec", "groups")
			return groups
		}
	}
	t.Fatal("the tenant chart rendered no PrometheusRule with monitoring.rules.enabled")
	return nil
}

// targetLabels are added by the scrape (prometheus-operator's PodMonitor and ServiceMonitor), not by the runner.
var targetLabels = []string{"namespace", "pod", "job", "instance", "container", "endpoint", "service"}

// TestAlertRulesParseAndNameWhatTheRunnerExports: every alert of the PrometheusRule parses as PromQL, selects only
// this tenant's manager pods, has a runbook line that exists in docs/operations.md, and every metric it names is one
// gitlab-runner 19.4 registers (its source, read through the Go proxy), with label names that metric's source file
// declares. (Not yet checked against a real scrape: issue 18.)
func TestAlertRulesParseAndNameWhatTheRunnerExports(t *testing.T) {
	alerts := renderAlerts(t)
	want := []string{"GitLabRunnerJobFailureRate", "GitLabRunnerJobTimeouts", "GitLabRunnerManagerDown", "GitLabRunnerRequestErrors", "GitLabRunnerSaturated"}
	var names []string
	for _, a := range alerts {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("alerts %v, want %v", names, want)
	}
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	source := runnerMetricSources(t)
	for _, a := range alerts {
		t.Run(a.Name, func(t *testing.T) {
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(a.Expr)
			if err != nil {
				t.Fatalf("does not parse: %v\n%s", err, a.Expr)
			}
			if a.Labels["tenant"] != "tenant-a" || a.Labels["severity"] == "" {
				t.Errorf("labels %v: want tenant=tenant-a and a severity", a.Labels)
			}
			anchor, ok := strings.CutPrefix(a.Annotations["runbook"], "docs/operations.md#")
			if !ok || anchor != strings.ToLower(a.Name) || !regexp.MustCompile(`(?m)^#+ `+a.Name+`$`).Match(ops) {
				t.Errorf("runbook %q: want docs/operations.md#%s and a heading %q there", a.Annotations["runbook"], strings.ToLower(a.Name), a.Name)
			}
			checkRunnerQuery(t, expr, source)
		})
	}
}

// checkRunnerQuery: every selector of expr selects exactly tenant-a's manager pods and names a metric the runner
// registers (or up), with labels (matchers, by, on) the runner declares for it or the scrape adds.
func checkRunnerQuery(t *testing.T, expr parser.Expr, source map[string]string) {
	t.Helper()
	selectors := 0
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		selectors++
		var ns, pod bool
		for _, m := range vs.LabelMatchers {
			switch {
			case m.Name == "namespace":
				ns = m.Type == labels.MatchEqual && m.Value == "tenant-a"
			case m.Name == "pod":
				pod = m.Matches("tenant-a-runner-7d9f8c6b5-x2x9q") && m.Matches("tenant-a-runner-x2x9q") &&
					!m.Matches("tenant-b-runner-7d9f8c6b5-x2x9q") && !m.Matches("runner-abc-project-1-concurrent-0-xyz")
			}
		}
		if !ns || !pod {
			t.Errorf("%s does not select exactly tenant-a's manager pods (namespace %t, pod %t)", vs, ns, pod)
		}
		return nil
	})
	// Each metric is registered by the runner (up is the scrape's own), and each label it is selected, grouped or
	// matched by is declared for it or added by the scrape.
	for metric, labels := range promrules.Names(expr) {
		if metric == "up" {
			continue
		}
		file, ok := metricSource(source, metric)
		if !ok {
			t.Errorf("metric %s is not registered by gitlab-runner %s", metric, versions.RunnerModule19_4)
			continue
		}
		for l := range labels {
			if slices.Contains(targetLabels, l) || (l == "le" && strings.HasSuffix(metric, "_bucket")) {
				continue
			}
			if !strings.Contains(file, `"`+l+`"`) {
				t.Errorf("label %s is not one gitlab-runner declares for %s", l, metric)
			}
		}
	}
	if selectors == 0 {
		t.Error("selects no series")
	}
}

// metricSource is the source file declaring a metric; a histogram's _bucket, _sum and _count series are declared
// by its name.
func metricSource(source map[string]string, name string) (string, bool) {
	if file, ok := source[name]; ok {
		return file, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if file, ok := source[base]; ok && strings.Contains(file, "Histogram") {
				return file, true
			}
		}
	}
	return "", false
}

// runnerMetricSources maps each metric name gitlab-runner 19.4 declares (a string literal "gitlab_runner_…" next to
// Name: or a NewDesc) to the source of the file that declares it.
func runnerMetricSources(t *testing.T) map[string]string {
	t.Helper()
	dir, err := gomod.Dir(versions.RunnerModule, versions.RunnerModule19_4)
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)(?:Name:\s*|NewDesc\(\s*|^\s*)"(gitlab_runner_[a-z_]+)"`)
	out := map[string]string{}
	for _, sub := range []string{"commands", "helpers/prometheus", "network", "common"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range decl.FindAllStringSubmatch(string(raw), -1) {
				out[m[1]] = string(raw)
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d runner metrics in %s: the source layout changed", len(out), dir)
	}
	return out
}

// TestAlertRulesUnderPromtool runs `promtool test rules` on test/alerts/tenant-a.test.yaml against the rules as the
// chart renders them for tenant-a. The test file must give every alert a case where it fires and one where it must
// not; promtool fails on any alert (labels, annotations, timing) that differs from what the case expects.
func TestAlertRulesUnderPromtool(t *testing.T) {
	const testFile = "alerts/tenant-a.test.yaml"
	suite, err := promrules.Read(testFile)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(suite.RuleFiles, []string{"tenant-a.rules.yaml"}) {
		t.Fatalf("%s: rule_files %v, want [tenant-a.rules.yaml] (the rendered rules are written there)", testFile, suite.RuleFiles)
	}
	alerts := renderAlerts(t)
	var names []string
	for _, a := range alerts {
		names = append(names, a.Name)
		if c := suite.PerAlert[a.Name]; c.Firing == 0 || c.Quiet == 0 {
			t.Errorf("%s: %s has %d firing and %d quiet cases; want at least one of each", testFile, a.Name, c.Firing, c.Quiet)
		}
	}
	tested := suite.Tested(names)
	raw, err := os.ReadFile(testFile)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := yaml.Marshal(map[string]any{"groups": renderRuleGroups(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tenant-a.rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenant-a.test.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := promtool(t)
	// promtool checks the rule file first (as `promtool check rules` would), then runs every case.
	cmd := exec.Command(bin, "test", "rules", "tenant-a.test.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s\nrules:\n%s", err, out, rules)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules did not report SUCCESS:\n%s", out)
	}
	t.Logf("alerts: rules=%d tested=%d cases=%d groups=%d (promtool test rules %s)", len(alerts), tested, suite.Cases, suite.Groups, testFile)
}

// renderDashboard renders the tenant chart for tenant-a with the dashboard on and returns the ConfigMap.
func renderDashboard(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	vals := render.MergeValues(readValues(t, "e2e/values/tenant-a.yaml"), map[string]any{
		"managerDisabled": false,
		"monitoring":      map[string]any{"dashboard": map[string]any{"enabled": true}},
	})
	res, err := loadChart(t, tenantChart).Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: vals, Cluster: render.InstallCluster()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects() {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboard") {
			return o
		}
	}
	t.Fatal("the tenant chart rendered no dashboard ConfigMap with monitoring.dashboard.enabled")
	return nil
}

// TestDashboardQueriesParseAndNameWhatTheRunnerExports: the ConfigMap carries the sidecar label and one dashboard
// for tenant-a (no placeholder left), and every query of every panel parses as PromQL, selects only tenant-a's
// manager pods and names metrics and labels the runner registers, like the alert rules.
func TestDashboardQueriesParseAndNameWhatTheRunnerExports(t *testing.T) {
	cm := renderDashboard(t)
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != "tenant-a" {
		t.Errorf("ConfigMap %s/%s labels %v: want grafana_dashboard=1 in tenant-a", cm.GetNamespace(), cm.GetName(), cm.GetLabels())
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	raw, ok := data["gitlab-runner-tenant-a.json"]
	if len(data) != 1 || !ok {
		t.Fatalf("data keys %v: want gitlab-runner-tenant-a.json only", slices.Collect(maps.Keys(data)))
	}
	if strings.Contains(raw, "__GKT_") {
		t.Fatalf("a placeholder is left in the rendered dashboard: %s", regexp.MustCompile(`__GKT_[A-Z_]+__`).FindString(raw))
	}
	var dash struct {
		UID, Title string
		Panels     []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(raw), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.UID != "gkt-runner-tenant-a" || !strings.Contains(dash.Title, "tenant-a") {
		t.Errorf("uid %q title %q: want gkt-runner-tenant-a and the tenant in the title", dash.UID, dash.Title)
	}
	source := runnerMetricSources(t)
	queries, panels := 0, 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		panels++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			t.Run(p.Title, func(t *testing.T) {
				expr, err := parser.NewParser(parser.Options{}).ParseExpr(dashboard.PromQL(target.Expr))
				if err != nil {
					t.Fatalf("does not parse: %v\n%s", err, target.Expr)
				}
				checkRunnerQuery(t, expr, source)
			})
		}
	}
	if want := len(dashboard.Panels("")); panels != want {
		t.Errorf("%d panels besides the rows, want %d (internal/dashboard.Panels)", panels, want)
	}
	t.Logf("dashboard: panels=%d queries=%d", panels, queries)
}

// TestDashboardIsGenerated: the chart's dashboard file and the panel table of docs/operations.md are what
// internal/dashboard generates (make dashboard).
func TestDashboardIsGenerated(t *testing.T) {
	want, err := dashboard.Chart()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join(tenantChart, "dashboards", "runner.json"))
	if err != nil || !bytes.Equal(have, want) {
		t.Errorf("%s/dashboards/runner.json is not what internal/dashboard generates (%v): run make dashboard", tenantChart, err)
	}
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	spliced, err := dashboard.SpliceDocs(doc)
	if err != nil {
		t.Fatalf("docs/operations.md: %v", err)
	}
	if !bytes.Equal(doc, spliced) {
		t.Error("docs/operations.md's dashboard panel table is stale: run make dashboard")
	}
}

// TestPrometheusVersionIsOne: the PromQL parser of these tests (go.mod), promtool and the e2e's Prometheus server
// (versions.Prometheus) are one release.
func TestPrometheusVersionIsOne(t *testing.T) {
	raw, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == "github.com/prometheus/prometheus" {
			if r.Mod.Version != versions.Prometheus {
				t.Errorf("go.mod requires prometheus %s, versions.Prometheus is %s", r.Mod.Version, versions.Prometheus)
			}
			return
		}
	}
	t.Error("go.mod does not require github.com/prometheus/prometheus")
}
