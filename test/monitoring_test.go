package test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gomod"
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
	vals := render.MergeValues(readValues(t, "e2e/values/tenant-a.yaml"), map[string]any{
		"managerDisabled": false,
		"monitoring":      map[string]any{"force": true, "rules": map[string]any{"enabled": true}},
	})
	res, err := loadChart(t, tenantChart).Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: vals, Cluster: render.InstallCluster()})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []alertRule
	for _, o := range res.Objects() {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		groups, _, _ := unstructured.NestedSlice(o.Object, "spec", "groups")
		for _, g := range groups {
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
	}
	return alerts
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
				if vs.Name == "up" {
					return nil
				}
				if _, ok := source[vs.Name]; !ok {
					t.Errorf("metric %s is not registered by gitlab-runner %s", vs.Name, versions.RunnerModule19_4)
					return nil
				}
				var labels []string
				for _, m := range vs.LabelMatchers {
					labels = append(labels, m.Name)
				}
				checkLabels(t, source, labels, vs)
				return nil
			})
			// Grouping labels (by) and matching labels (on) name labels of the selectors below them.
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				switch e := n.(type) {
				case *parser.AggregateExpr:
					checkLabels(t, source, e.Grouping, e.Expr)
				case *parser.BinaryExpr:
					if e.VectorMatching != nil {
						checkLabels(t, source, e.VectorMatching.MatchingLabels, e.LHS)
						checkLabels(t, source, e.VectorMatching.MatchingLabels, e.RHS)
					}
				}
				return nil
			})
			if selectors == 0 {
				t.Error("selects no series")
			}
		})
	}
}

// checkLabels: each label is added by the scrape or declared in the source of every runner metric selected below
// under (up has only target labels).
func checkLabels(t *testing.T, source map[string]string, labels []string, under parser.Node) {
	t.Helper()
	parser.Inspect(under, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, l := range labels {
			if l == "__name__" || slices.Contains(targetLabels, l) {
				continue
			}
			if file, ok := source[vs.Name]; !ok || !strings.Contains(file, `"`+l+`"`) {
				t.Errorf("label %s is not one gitlab-runner declares for %s", l, vs.Name)
			}
		}
		return nil
	})
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
