// Package gitlabapi is the runner tier's GitLab client: the few REST calls the tests make (projects, commits,
// runners, pipelines, jobs, traces), with GitLab's own paths and fields. The same client drives a real GitLab
// (GITLAB_URL, GITLAB_TOKEN) and the project's stand-in (internal/gitlabstandin), so the assertions do not change.
package gitlabapi
