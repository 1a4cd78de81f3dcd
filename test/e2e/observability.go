//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"

	"github.com/prometheus/prometheus/promql/parser"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/dashboard"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/promrules"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// The e2e's Prometheus: namespace monitoring (the namespace the tenant charts open 9252 to), ServiceAccount
// prometheus (the one tenant-bootstrap's monitoring Role and RoleBinding name), NodePort for the test's queries.
const (
	promNamespace = "monitoring"
	promName      = "prometheus"
	promNodePort  = 30990
)

// e2eRuleValues turn the alert rules on with durations short enough for the e2e to see each alert fire; the rest
// (thresholds, windows) stay the chart's defaults. The PodMonitor is rendered (the cluster has no prometheus-operator)
// with a 5 s interval so the scrape config below is the operator's for it.
var e2eRuleValues = map[string]any{"monitoring": map[string]any{
	"kind": "PodMonitor", "force": true, "interval": "5s",
	"rules":     map[string]any{"enabled": true, "managerDownFor": "10s", "failureFor": "0s", "saturatedFor": "10s", "requestErrorsFor": "0s"},
	"dashboard": map[string]any{"enabled": true},
}}

// renderMonitoring renders a tenant's chart as installed plus e2eRuleValues and returns its PodMonitor, its
// PrometheusRule and the queries of its dashboard (Grafana's interval variable set to 1m).
func renderMonitoring(t *testing.T, rt *runnerTier, tp *tenantProject) (podMonitor, rule *unstructured.Unstructured, dashboardExprs []string) {
	t.Helper()
	c, err := render.Load(repo + "/charts/gitlab-kaniko-tenant")
	if err != nil {
		t.Fatal(err)
	}
	sv, err := rt.p.cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Render(render.Options{ReleaseName: tp.tn.Name, Namespace: tp.tn.Namespace, KubeVersion: sv.GitVersion,
		Values: rt.tenantValues(t, tp, e2eRuleValues), Cluster: liveCluster(t, rt.p.cs, tp.tn.Namespace)})
	if err != nil {
		t.Fatalf("%s: rendering the PodMonitor and PrometheusRule: %v", tp.tn.Name, err)
	}
	for _, o := range res.Objects() {
		switch o.GetKind() {
		case "PodMonitor":
			podMonitor = o
		case "PrometheusRule":
			rule = o
		case "ConfigMap":
			raw, ok := o.Object["data"].(map[string]any)["gitlab-runner-"+tp.tn.Name+".json"]
			if !ok {
				continue
			}
			var d struct {
				Panels []struct{ Targets []struct{ Expr string } }
			}
			if err := json.Unmarshal([]byte(fmt.Sprint(raw)), &d); err != nil {
				t.Fatalf("%s: dashboard: %v", tp.tn.Name, err)
			}
			for _, p := range d.Panels {
				for _, q := range p.Targets {
					dashboardExprs = append(dashboardExprs, dashboard.PromQL(q.Expr))
				}
			}
		}
	}
	if podMonitor == nil || rule == nil || len(dashboardExprs) == 0 {
		t.Fatalf("%s: the chart rendered no PodMonitor, PrometheusRule or dashboard with monitoring.force", tp.tn.Name)
	}
	return podMonitor, rule, dashboardExprs
}

// invalidLabelChars are what prometheus-operator replaces by "_" when it turns a Kubernetes label name into a
// discovery meta label (__meta_kubernetes_pod_label_<name>).
var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// podMonitorScrapeConfig is the scrape config prometheus-operator generates for a PodMonitor's endpoint: pods of its
// namespace with the selector's labels and the named container port, labelled namespace, pod, container, job
// (<namespace>/<name>) and endpoint.
func podMonitorScrapeConfig(pm *unstructured.Unstructured) (map[string]any, error) {
	sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(sel) == 0 || len(eps) != 1 {
		return nil, fmt.Errorf("PodMonitor %s: want matchLabels and one endpoint, have %v and %d", pm.GetName(), sel, len(eps))
	}
	ep := eps[0].(map[string]any)
	relabel := []any{}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range sel {
			if !yield(k) {
				return
			}
		}
	}) {
		l := invalidLabelChars.ReplaceAllString(k, "_")
		relabel = append(relabel, map[string]any{"action": "keep", "source_labels": []any{"__meta_kubernetes_pod_label_" + l, "__meta_kubernetes_pod_labelpresent_" + l}, "regex": "(" + sel[k] + ");true"})
	}
	relabel = append(relabel,
		map[string]any{"action": "keep", "source_labels": []any{"__meta_kubernetes_pod_container_port_name"}, "regex": ep["port"]},
		map[string]any{"action": "drop", "source_labels": []any{"__meta_kubernetes_pod_phase"}, "regex": "(Failed|Succeeded)"},
		map[string]any{"source_labels": []any{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
		map[string]any{"source_labels": []any{"__meta_kubernetes_pod_container_name"}, "target_label": "container"},
		map[string]any{"source_labels": []any{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
		map[string]any{"target_label": "job", "replacement": pm.GetNamespace() + "/" + pm.GetName()},
		map[string]any{"target_label": "endpoint", "replacement": ep["port"]},
	)
	return map[string]any{
		"job_name":        fmt.Sprintf("podMonitor/%s/%s/0", pm.GetNamespace(), pm.GetName()),
		"scrape_interval": ep["interval"], "metrics_path": ep["path"],
		"kubernetes_sd_configs": []any{map[string]any{"role": "pod", "namespaces": map[string]any{"names": []any{pm.GetNamespace()}}}},
		"relabel_configs":       relabel,
	}, nil
}

// promServer is the e2e's Prometheus as the test sees it.
type promServer struct {
	base       string
	http       *http.Client
	rules      []alertRule         // every tenant's alerts as Prometheus loaded them
	dashboards map[string][]string // each tenant's dashboard queries
}

// alertRule is one alert of a rendered PrometheusRule.
type alertRule struct {
	Tenant, Name, Expr string
}

// deployPrometheus builds and loads the Prometheus image, configures it from every tenant's rendered PodMonitor and
// PrometheusRule, runs it in the monitoring namespace as ServiceAccount prometheus and waits until it answers.
func deployPrometheus(ctx context.Context, t *testing.T, rt *runnerTier) *promServer {
	t.Helper()
	if err := rt.p.w.LoadPrometheus(); err != nil {
		t.Fatalf("prometheus image: %v", err)
	}
	ps := &promServer{base: fmt.Sprintf("http://%s:%d", rt.p.nodeIP, promNodePort), http: &http.Client{Timeout: 30 * time.Second}, dashboards: map[string][]string{}}
	var scrapes, groups []any
	for _, tp := range rt.projects {
		pm, rule, dash := renderMonitoring(t, rt, tp)
		ps.dashboards[tp.tn.Name] = dash
		sc, err := podMonitorScrapeConfig(pm)
		if err != nil {
			t.Fatal(err)
		}
		scrapes = append(scrapes, sc)
		gs, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
		for _, g := range gs {
			rs, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
			for _, r := range rs {
				m := r.(map[string]any)
				ps.rules = append(ps.rules, alertRule{Tenant: tp.tn.Name, Name: fmt.Sprint(m["alert"]), Expr: fmt.Sprint(m["expr"])})
			}
		}
		groups = append(groups, gs...)
	}
	cfg, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "5s", "evaluation_interval": "5s"},
		"rule_files":     []any{"/etc/prometheus/rules.yaml"},
		"scrape_configs": scrapes,
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := applyPrometheus(ctx, rt.p.cs, string(cfg), string(rules)); err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	if err := wait.For(ctx, "prometheus to be ready", 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
		resp, err := ps.http.Get(ps.base + "/-/ready")
		if err != nil {
			return false, wait.Retry(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Fatal(err)
	}
	return ps
}

// applyPrometheus (re)creates Prometheus' ConfigMap, ServiceAccount, Deployment and NodePort Service. A new config
// restarts the pod (its hash is a pod annotation), so every run starts from an empty TSDB.
func applyPrometheus(ctx context.Context, cs kubernetes.Interface, cfg, rules string) error {
	if _, err := cs.CoreV1().ServiceAccounts(promNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: promName}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: promName}, Data: map[string]string{"prometheus.yml": cfg, "rules.yaml": rules}}
	_ = cs.CoreV1().ConfigMaps(promNamespace).Delete(ctx, promName, metav1.DeleteOptions{})
	if _, err := cs.CoreV1().ConfigMaps(promNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return err
	}
	labels := map[string]string{"app": promName}
	c := corev1.Container{Name: promName, Image: kindworld.PrometheusImage, ImagePullPolicy: corev1.PullNever,
		Args:           []string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090", "--storage.tsdb.retention.time=1d"},
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 9090}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/-/ready", Port: intstr.FromInt32(9090)}}, PeriodSeconds: 2},
		VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/prometheus", ReadOnly: true}, {Name: "data", MountPath: "/prometheus"}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr(int64(65534)), RunAsNonRoot: ptr(true), AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem: ptr(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
	d := deployment(promNamespace, promName, labels, c,
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: promName}}}},
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	d.Spec.Template.Spec.ServiceAccountName = promName
	d.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(65534)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	d.Spec.Template.Annotations = map[string]string{"gitlab-kaniko-tenant.io/config-hash": shortHash(cfg + rules)}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := cs.AppsV1().Deployments(promNamespace).Get(ctx, promName, metav1.GetOptions{}); err == nil {
		if _, err := cs.AppsV1().Deployments(promNamespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			return err
		}
	} else if _, err := cs.AppsV1().Deployments(promNamespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: promName, Namespace: promNamespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Name: "http", Port: 9090, TargetPort: intstr.FromInt32(9090), NodePort: promNodePort}}}}
	if _, err := cs.CoreV1().Services(promNamespace).Get(ctx, svc.Name, metav1.GetOptions{}); err != nil {
		if _, err := cs.CoreV1().Services(promNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return waitDeployment(ctx, cs, promNamespace, promName, 3*time.Minute)
}

// get decodes the data of a Prometheus API answer.
func (ps *promServer) get(ctx context.Context, path string, q url.Values, into any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", ps.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := ps.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		return fmt.Errorf("prometheus %s %s: %s %s %v", path, q.Encode(), resp.Status, strings.TrimSpace(string(body)), err)
	}
	return json.Unmarshal(env.Data, into)
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string
	Value  [2]any
}

// query evaluates an instant query.
func (ps *promServer) query(ctx context.Context, expr string) ([]promSample, error) {
	var data struct {
		ResultType string
		Result     []promSample
	}
	if err := ps.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	return data.Result, nil
}

// value of a one-element query result (0 when empty).
func value(s []promSample) float64 {
	if len(s) == 0 {
		return 0
	}
	var v float64
	fmt.Sscan(fmt.Sprint(s[0].Value[1]), &v)
	return v
}

// upTargets counts the active targets that are up, by namespace.
func (ps *promServer) upTargets(ctx context.Context) (map[string]int, error) {
	var data struct {
		ActiveTargets []struct {
			Labels map[string]string
			Health string
		}
	}
	if err := ps.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, err
	}
	up := map[string]int{}
	for _, tg := range data.ActiveTargets {
		if tg.Health == "up" {
			up[tg.Labels["namespace"]]++
		}
	}
	return up, nil
}

// firing is the alerts Prometheus has firing now, as "<alertname>/<tenant>".
func (ps *promServer) firing(ctx context.Context) ([]string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string
			State  string
		}
	}
	if err := ps.get(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	var out []string
	for _, a := range data.Alerts {
		if a.State == "firing" {
			out = append(out, a.Labels["alertname"]+"/"+a.Labels["tenant"])
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// waitFiring waits until alert fires for tenant.
func (ps *promServer) waitFiring(ctx context.Context, alert, tenant string, timeout time.Duration) error {
	var last []string
	err := wait.For(ctx, fmt.Sprintf("alert %s to fire for %s", alert, tenant), 3*time.Second, timeout, func(ctx context.Context) (bool, error) {
		f, err := ps.firing(ctx)
		if err != nil {
			return false, wait.Retry(err)
		}
		last = f
		return slices.Contains(f, alert+"/"+tenant), nil
	})
	if err != nil {
		return fmt.Errorf("%w (firing: %v)", err, last)
	}
	return nil
}

// seriesLabels are the label names of the series Prometheus has of a metric in a namespace (what the real runner
// exported and the scrape added), over the last hour.
func (ps *promServer) seriesLabels(ctx context.Context, metric, namespace string) (map[string]bool, error) {
	var data []map[string]string
	q := url.Values{"match[]": {fmt.Sprintf("%s{namespace=%q}", metric, namespace)}, "start": {fmt.Sprint(time.Now().Add(-time.Hour).Unix())}}
	if err := ps.get(ctx, "/api/v1/series", q, &data); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, s := range data {
		for k := range s {
			out[k] = true
		}
	}
	return out, nil
}

// queriedNames are the metrics, and the labels of each, that the tenant's alert rules and dashboard name.
func queriedNames(exprs []string) (map[string]map[string]bool, error) {
	names := map[string]map[string]bool{}
	for _, e := range exprs {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(e)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, e)
		}
		for metric, labels := range promrules.Names(expr) {
			if names[metric] == nil {
				names[metric] = map[string]bool{}
			}
			maps.Copy(names[metric], labels)
		}
	}
	return names, nil
}

// observability is the e2e's observability check after the pipelines (issue 18): a real Prometheus scrapes both
// managers through their PodMonitors' config, its queries see each tenant's jobs, every metric and label the rules
// and the dashboard name is in the real scrape, and each alert fires for what it is about: a failing and a
// timed-out job (GitLabRunnerJobFailureRate, GitLabRunnerJobTimeouts), a tenant held at its limit
// (GitLabRunnerSaturated), a killed manager (GitLabRunnerManagerDown) and a GitLab outage
// (GitLabRunnerRequestErrors, stand-in only). Returns the summary line's fields.
func observability(ctx context.Context, t *testing.T, rt *runnerTier, jobsRun map[string]int) string {
	t.Helper()
	ps := deployPrometheus(ctx, t, rt)

	// Both managers' targets are up, found through the PodMonitor's selector and port.
	var up map[string]int
	err := wait.For(ctx, "prometheus to scrape both managers", 3*time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		var err error
		if up, err = ps.upTargets(ctx); err != nil {
			return false, wait.Retry(err)
		}
		for _, tp := range rt.projects {
			if up[tp.tn.Namespace] == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	targets := 0
	for _, tp := range rt.projects {
		if up[tp.tn.Namespace] > 0 {
			targets++
		}
	}
	if err != nil {
		t.Errorf("observability: %v (up targets by namespace: %v)", err, up)
	}

	// Queries show each tenant's jobs: the manager's counter holds at least the jobs this run gave it.
	var seen []string
	for _, tp := range rt.projects {
		var n float64
		q := fmt.Sprintf("sum(gitlab_runner_jobs_total{namespace=%q})", tp.tn.Namespace)
		_ = wait.For(ctx, "prometheus to have "+tp.tn.Name+"'s jobs", 3*time.Second, time.Minute, func(ctx context.Context) (bool, error) {
			s, err := ps.query(ctx, q)
			if err != nil {
				return false, wait.Retry(err)
			}
			n = value(s)
			return int(n) >= jobsRun[tp.tn.Name], nil
		})
		if int(n) < jobsRun[tp.tn.Name] {
			t.Errorf("observability: %s = %.0f, want at least the %d jobs this run", q, n, jobsRun[tp.tn.Name])
		}
		seen = append(seen, fmt.Sprintf("%s:%.0f", tp.tn.Name, n))
	}

	fired := map[string]bool{}
	fire := func(alert string, tp *tenantProject, timeout time.Duration) {
		if err := ps.waitFiring(ctx, alert, tp.tn.Name, timeout); err != nil {
			t.Errorf("observability: %v", err)
			return
		}
		logf("observability: %s fired for %s", alert, tp.tn.Name)
		fired[alert] = true
	}
	a, b := rt.projects[0], rt.projects[1]

	// A failing job and one that hits its timeout: the failure ratio and the timeout alert. The ratio is over every
	// job of the tenant in the window, this run's pipelines included (more with runner profiles: tenant-a's dotnet
	// project), so the pipeline runs, one after the other (a newer one would auto-cancel an older pending one), until
	// its failures pass the ratio the chart ships.
	ratio := shippedFailureRatio(t)
	failures, failed := 0, true
	for round := 1; failed && float64(failures)/float64(jobsRun[a.tn.Name]+failures) <= ratio; round++ {
		failed = false
		if p, err := startPipeline(ctx, rt.f, a, "observability-failures", pipelines.Scenario("observability-failures", pipelines.Params{})); err != nil {
			t.Errorf("observability: %v", err)
		} else if jobs, _, err := p.finish(ctx, rt.f, 5*time.Minute); err != nil {
			t.Errorf("observability: %v", err)
		} else {
			for _, j := range jobs {
				logf("observability: %s round %d: job %s %s (%s)", a.tn.Name, round, j.Name, j.Status, j.FailureReason)
				if j.Status == "failed" {
					failures++
					failed = true
				}
			}
		}
	}
	if failed {
		logf("observability: %s: %d failed of %d jobs (%.2f > %.2f, the shipped failureRatio)", a.tn.Name, failures, jobsRun[a.tn.Name]+failures, float64(failures)/float64(jobsRun[a.tn.Name]+failures), ratio)
		fire("GitLabRunnerJobFailureRate", a, 2*time.Minute)
		fire("GitLabRunnerJobTimeouts", a, 2*time.Minute)
	}

	// As many held jobs as the manager may run: the tenant is saturated.
	if s, err := ps.query(ctx, fmt.Sprintf(`min(gitlab_runner_concurrent{namespace=%[1]q} or (gitlab_runner_limit{namespace=%[1]q} > 0))`, a.tn.Namespace)); err != nil || value(s) < 1 || value(s) > 8 {
		t.Errorf("observability: %s's job limit: %v %v (want 1..8 to saturate it)", a.tn.Name, s, err)
	} else {
		// The jobs hold at a gate until the alert has fired (or its wait gave up), so saturation lasts as long as the
		// alert's for: and the scrapes need, however slowly the pods start.
		g := newGate("observability-saturated")
		jobs := pipelines.Scenario("observability-saturated", pipelines.Params{Gate: g.Wait(), Held: int(value(s))})
		if p, err := startPipeline(ctx, rt.f, a, "observability-saturated", jobs); err != nil {
			t.Errorf("observability: %v", err)
		} else {
			fire("GitLabRunnerSaturated", a, 5*time.Minute)
			if err := g.Open(rt.p.nodeIP); err != nil {
				t.Errorf("observability: %v", err)
			} else if _, _, err := p.finish(ctx, rt.f, 5*time.Minute); err != nil {
				t.Errorf("observability: %v", err)
			}
		}
	}

	// A killed manager: tenant-b's Deployment scaled to 0, then back.
	scale := func(n int32) error {
		sc, err := rt.p.cs.AppsV1().Deployments(b.tn.Namespace).GetScale(ctx, b.tn.Name+"-runner", metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = n
		_, err = rt.p.cs.AppsV1().Deployments(b.tn.Namespace).UpdateScale(ctx, b.tn.Name+"-runner", sc, metav1.UpdateOptions{})
		return err
	}
	if err := scale(0); err != nil {
		t.Errorf("observability: scaling %s's manager to 0: %v", b.tn.Name, err)
	} else {
		fire("GitLabRunnerManagerDown", b, 2*time.Minute)
		if err := scale(1); err != nil {
			t.Errorf("observability: scaling %s's manager back: %v", b.tn.Name, err)
		} else if _, err := readyManager(ctx, rt.p.cs, b.tn, 3*time.Minute); err != nil {
			t.Errorf("observability: %s's manager is not back: %v", b.tn.Name, err)
		}
	}

	// GitLab unreachable: the stand-in drops every request for a while.
	if rt.f.Standin {
		if err := rt.f.admin.put(ctx, "outage", 60); err != nil {
			t.Errorf("observability: %v", err)
		} else {
			fire("GitLabRunnerRequestErrors", a, 3*time.Minute)
			_ = wait.For(ctx, "the stand-in to answer again", 2*time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) { return rt.f.admin.reachable(ctx), nil })
		}
	}

	// Every metric and label the rules and the dashboard name is in the real scrape (tenant-a's series: it ran every
	// kind of job above). up is the scrape's own.
	var exprs []string
	for _, r := range ps.rules {
		if r.Tenant == a.tn.Name {
			exprs = append(exprs, r.Expr)
		}
	}
	names, err := queriedNames(append(exprs, ps.dashboards[a.tn.Name]...))
	if err != nil {
		t.Errorf("observability: %v", err)
	}
	found := 0
	for _, metric := range slices.Sorted(maps.Keys(names)) {
		have, err := ps.seriesLabels(ctx, metric, a.tn.Namespace)
		if err != nil || len(have) == 0 {
			t.Errorf("observability: the real scrape of %s has no series of %s (%v)", a.tn.Name, metric, err)
			continue
		}
		ok := true
		for _, l := range slices.Sorted(maps.Keys(names[metric])) {
			if !have[l] {
				t.Errorf("observability: %s in the real scrape has no label %s (it has %v)", metric, l, slices.Sorted(maps.Keys(have)))
				ok = false
			}
		}
		if ok {
			found++
		}
	}

	suite, err := promrules.Read(repo + "/test/alerts/tenant-a.test.yaml")
	if err != nil {
		t.Errorf("observability: %v", err)
	}
	var alertNames []string
	for _, r := range ps.rules {
		if r.Tenant == a.tn.Name {
			alertNames = append(alertNames, r.Name)
		}
	}
	var firedNames []string
	for _, n := range alertNames {
		if fired[n] {
			firedNames = append(firedNames, strings.TrimPrefix(n, "GitLabRunner"))
		}
	}
	return fmt.Sprintf("rules=%d tested=%d prometheus-targets=%d/%d alerts-fired=%d/%d(%s) names-in-scrape=%d/%d jobs-seen=%s",
		len(alertNames), suite.Tested(alertNames), targets, len(rt.projects), len(firedNames), len(alertNames), strings.Join(firedNames, ","),
		found, len(names), strings.Join(seen, ","))
}

// shippedFailureRatio is the tenant chart's default monitoring.rules.failureRatio, the share of failed jobs at which
// GitLabRunnerJobFailureRate fires.
func shippedFailureRatio(t *testing.T) float64 {
	t.Helper()
	c, err := render.Load(filepath.Join(repo, "charts/gitlab-kaniko-tenant"))
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := unstructured.NestedFloat64(c.Defaults(), "monitoring", "rules", "failureRatio")
	if r <= 0 || r >= 1 {
		t.Fatalf("the chart's monitoring.rules.failureRatio is %v", r)
	}
	return r
}
