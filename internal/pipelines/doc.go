// Package pipelines holds every pipeline the e2e commits to the forge, as data: the example projects
// (test/e2e/projects), the hostile cases (test/e2e/hostile/cases.yaml) and the scenarios' pipelines (Scenario).
// The e2e builds its commits here, and make test checks each of them against GitLab's own rules
// (internal/cioracle), so a pipeline that only the stand-in accepts cannot reach a test.
package pipelines
