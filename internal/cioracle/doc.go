// Package cioracle checks pipelines against GitLab's own rules, independently of the GitLab stand-in: it runs
// gitlab-ci-local (npm, pinned in tools/gitlab-ci-local), which validates a .gitlab-ci.yml against the CI JSON schema
// that GitLab publishes (bundled in it) and expands includes, extends, default: and !reference the way GitLab
// documents them. Its expansion is then compared with the stand-in's Compile (Compare), so a pipeline that GitLab
// would reject, or that the stand-in reads differently from GitLab, fails make test.
//
// Install puts the pinned packages into the project cache (internal/cachedir) with `npm ci`; node and npm are
// required, and their absence is an error that says so, never a skip.
package cioracle
