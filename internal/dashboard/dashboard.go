package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Placeholders the chart replaces per release (templates/dashboard-configmap.yaml): plain tokens, safe inside a
// JSON string and a PromQL label value, that no real value contains.
const (
	UIDPlaceholder       = "__GKT_UID__"
	TenantPlaceholder    = "__GKT_TENANT__"
	NamespacePlaceholder = "__GKT_NAMESPACE__"
	PodPlaceholder       = "__GKT_MANAGER_POD_REGEX__"
)

// Kind is a panel's visualisation.
type Kind string

const (
	TimeSeries Kind = "timeseries"
	Stat       Kind = "stat"
)

// Query is one PromQL target of a panel.
type Query struct {
	Expr   string
	Legend string
}

// Panel is one panel of the dashboard, in a row.
type Panel struct {
	Row         string
	Title       string
	Description string
	Kind        Kind
	Unit        string
	Queries     []Query
}

// Selector is the label selector of one tenant's manager targets, as the alert rules use it.
func Selector(namespace, podRegex string) string {
	return fmt.Sprintf("namespace=%q, pod=~%q", namespace, podRegex)
}

// Panels are the dashboard's panels, their queries selecting sel (Selector). Only metrics and labels that both
// gitlab-runner 17.9 and 19.4 export are used.
func Panels(sel string) []Panel {
	q := func(expr, legend string) Query {
		return Query{Expr: strings.ReplaceAll(expr, "SEL", sel), Legend: legend}
	}
	return []Panel{
		{Row: "Manager", Title: "Managers up", Kind: Stat, Unit: "none",
			Description: "Manager pods of the tenant that answer the scrape (GitLabRunnerManagerDown fires at 0).",
			Queries:     []Query{q(`sum(up{SEL})`, "up")}},
		{Row: "Manager", Title: "Concurrent jobs allowed", Kind: Stat, Unit: "none",
			Description: "The manager's global `concurrent` (runner.concurrent).",
			Queries:     []Query{q(`sum(gitlab_runner_concurrent{SEL})`, "concurrent")}},
		{Row: "Manager", Title: "Runner log errors by level", Kind: TimeSeries, Unit: "short",
			Description: "Warnings and errors the manager logged, per interval.",
			Queries:     []Query{q(`sum by (level) (increase(gitlab_runner_errors_total{SEL}[$__rate_interval]))`, "{{level}}")}},
		{Row: "Jobs", Title: "Jobs by state", Kind: TimeSeries, Unit: "none",
			Description: "Jobs the manager is handling, by state.",
			Queries:     []Query{q(`sum by (state) (gitlab_runner_jobs{SEL})`, "{{state}}")}},
		{Row: "Jobs", Title: "Running jobs against the limit", Kind: TimeSeries, Unit: "none",
			Description: "Jobs running against `concurrent` and the runner's `limit` (GitLabRunnerSaturated fires when they meet for long).",
			Queries: []Query{
				q(`sum(gitlab_runner_jobs{SEL})`, "jobs"),
				q(`sum(gitlab_runner_concurrent{SEL})`, "concurrent"),
				q(`sum by (runner) (gitlab_runner_limit{SEL} > 0)`, "limit {{runner}}"),
			}},
		{Row: "Jobs", Title: "Jobs handled and failed", Kind: TimeSeries, Unit: "short",
			Description: "Jobs the manager took, and those that failed by reason, per interval (GitLabRunnerJobFailureRate, GitLabRunnerJobTimeouts).",
			Queries: []Query{
				q(`sum(increase(gitlab_runner_jobs_total{SEL}[$__rate_interval]))`, "handled"),
				q(`sum by (failure_reason) (increase(gitlab_runner_failed_jobs_total{SEL}[$__rate_interval]))`, "failed: {{failure_reason}}"),
			}},
		{Row: "Jobs", Title: "Job duration", Kind: TimeSeries, Unit: "s",
			Description: "Median and 95th percentile of job durations (the runner's buckets start at 30 s).",
			Queries: []Query{
				q(`histogram_quantile(0.5, sum by (le) (rate(gitlab_runner_job_duration_seconds_bucket{SEL}[$__rate_interval])))`, "p50"),
				q(`histogram_quantile(0.95, sum by (le) (rate(gitlab_runner_job_duration_seconds_bucket{SEL}[$__rate_interval])))`, "p95"),
			}},
		{Row: "Jobs", Title: "Time jobs waited in GitLab", Kind: TimeSeries, Unit: "s",
			Description: "Median and 95th percentile of the time from a job's creation to its pickup by this manager.",
			Queries: []Query{
				q(`histogram_quantile(0.5, sum by (le) (rate(gitlab_runner_job_queue_duration_seconds_bucket{SEL}[$__rate_interval])))`, "p50"),
				q(`histogram_quantile(0.95, sum by (le) (rate(gitlab_runner_job_queue_duration_seconds_bucket{SEL}[$__rate_interval])))`, "p95"),
			}},
		{Row: "GitLab API", Title: "Requests to GitLab by status", Kind: TimeSeries, Unit: "reqps",
			Description: "The manager's API requests by endpoint and HTTP status.",
			Queries:     []Query{q(`sum by (endpoint, status) (rate(gitlab_runner_api_request_statuses_total{SEL}[$__rate_interval]))`, "{{endpoint}} {{status}}")}},
		{Row: "GitLab API", Title: "Request errors", Kind: TimeSeries, Unit: "short",
			Description: "Non-2xx answers (status -1: no answer at all, GitLab unreachable) and failed worker feeds, per interval (GitLabRunnerRequestErrors).",
			Queries: []Query{
				q(`sum by (endpoint, status) (increase(gitlab_runner_api_request_statuses_total{SEL, status!~"2.."}[$__rate_interval]))`, "{{endpoint}} {{status}}"),
				q(`sum(increase(gitlab_runner_worker_feed_failures_total{SEL}[$__rate_interval]))`, "failed feeds"),
			}},
		{Row: "GitLab API", Title: "Request duration (p95)", Kind: TimeSeries, Unit: "s",
			Description: "95th percentile of the API requests' duration, by endpoint (request_job includes the long poll).",
			Queries:     []Query{q(`histogram_quantile(0.95, sum by (le, endpoint) (rate(gitlab_runner_api_request_duration_seconds_bucket{SEL}[$__rate_interval])))`, "{{endpoint}}")}},
	}
}

// JSON builds the dashboard for the placeholders (the chart's file), or for one tenant when given real values. The
// chart sets the uid to "gkt-runner-<tenant>", cut to Grafana's 40 characters.
func JSON(uid, tenant, namespace, podRegex string) ([]byte, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
	b := sdk.NewDashboardBuilder("GitLab Runner: tenant "+tenant).
		Uid(uid).
		Description("Jobs, limits, durations and GitLab API errors of tenant "+tenant+"'s runner manager (namespace "+namespace+"). Generated by gitlab-kaniko-tenant (internal/dashboard); alerts and runbook: docs/operations.md.").
		Tags([]string{"gitlab-runner", "gitlab-kaniko-tenant", tenant}).
		Refresh("30s").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(sdk.DashboardCursorSyncCrosshair).
		WithVariable(sdk.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus"))
	row, id := "", uint32(0)
	next := func() uint32 { id++; return id }
	for _, p := range Panels(Selector(namespace, podRegex)) {
		if p.Row != row {
			row = p.Row
			b = b.WithRow(sdk.NewRowBuilder(row).Id(next()))
		}
		switch p.Kind {
		case Stat:
			pb := stat.NewPanelBuilder().Id(next()).Title(p.Title).Description(p.Description).Unit(p.Unit).Datasource(ds).Span(6).Height(4)
			for i, qq := range p.Queries {
				pb = pb.WithTarget(prometheus.NewDataqueryBuilder().Expr(qq.Expr).LegendFormat(qq.Legend).RefId(refID(i)).Datasource(ds))
			}
			b = b.WithPanel(pb)
		case TimeSeries:
			pb := timeseries.NewPanelBuilder().Id(next()).Title(p.Title).Description(p.Description).Unit(p.Unit).Min(0).Datasource(ds).Span(12).Height(8)
			for i, qq := range p.Queries {
				pb = pb.WithTarget(prometheus.NewDataqueryBuilder().Expr(qq.Expr).LegendFormat(qq.Legend).RefId(refID(i)).Datasource(ds))
			}
			b = b.WithPanel(pb)
		default:
			return nil, fmt.Errorf("panel %q: unknown kind %q", p.Title, p.Kind)
		}
	}
	d, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("building the dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the dashboard: %w", err)
	}
	return append(out, '\n'), nil
}

// Chart is the dashboard file the chart ships: JSON for the placeholders.
func Chart() ([]byte, error) {
	return JSON(UIDPlaceholder, TenantPlaceholder, NamespacePlaceholder, PodPlaceholder)
}

func refID(i int) string { return string(rune('A' + i)) }

// Docs markers of the generated panel table in docs/operations.md.
const (
	DocsBegin = "<!-- dashboard panels: generated by `make dashboard` from internal/dashboard; do not edit -->"
	DocsEnd   = "<!-- end of dashboard panels -->"
)

// Markdown is the panel table of docs/operations.md: each panel with its queries, `{tenant}` standing for the
// tenant's manager selector.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Row | Panel | What it shows | PromQL (`{tenant}` is the tenant's manager selector) |\n|---|---|---|---|\n")
	for _, p := range Panels("SEL") {
		var qs []string
		for _, q := range p.Queries {
			qs = append(qs, "`"+strings.ReplaceAll(strings.ReplaceAll(q.Expr, "{SEL, ", "{tenant, "), "{SEL}", "{tenant}")+"`")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", p.Row, p.Title, strings.ReplaceAll(p.Description, "|", "\\|"), strings.ReplaceAll(strings.Join(qs, "<br>"), "|", "\\|"))
	}
	return b.String()
}

// SpliceDocs replaces the panel table between DocsBegin and DocsEnd in doc.
func SpliceDocs(doc []byte) ([]byte, error) {
	s := string(doc)
	i, j := strings.Index(s, DocsBegin), strings.Index(s, DocsEnd)
	if i < 0 || j < i {
		return nil, fmt.Errorf("the markers %q … %q are missing", DocsBegin, DocsEnd)
	}
	return []byte(s[:i+len(DocsBegin)] + "\n" + Markdown() + s[j:]), nil
}

// grafanaVars are the Grafana variables the queries use, with a value Grafana could give them at query time.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m")

// PromQL is a panel query as Prometheus receives it: Grafana's variables replaced.
func PromQL(expr string) string { return grafanaVars.Replace(expr) }
