// Package dashboard generates the tenant chart's Grafana dashboard (charts/gitlab-kaniko-tenant/dashboards/runner.json)
// from typed Go through the Grafana foundation SDK (Apache-2.0; Grafana itself is not a dependency).
//
// Panels is the one list of panels and their PromQL: JSON builds the dashboard from it, docs/operations.md's panel
// table is written from it, and make test parses every query and checks each metric and label against the runner's
// source. The queries select one tenant's manager pods through placeholders that the chart's ConfigMap template
// replaces per release (Placeholders), so one generated file serves every tenant.
package dashboard
