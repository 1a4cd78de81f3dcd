// Package promrules reads the promtool unit-test files of the tenant chart's alert rules (test/alerts): which alerts
// they test firing and which quiet. make test (TestAlertRulesUnderPromtool) and the e2e's observability line both
// count "tested" from here.
package promrules
