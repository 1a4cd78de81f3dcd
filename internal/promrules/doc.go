// Package promrules holds what the checks of the alert rules and the dashboard share: the metrics and labels a PromQL
// expression names (Names), and what the promtool unit-test files of test/alerts test (Read: which alerts they expect
// firing and which quiet). make test and the e2e's observability line both use it.
package promrules
