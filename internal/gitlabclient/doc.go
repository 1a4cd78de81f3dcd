// Package gitlabclient is how the tests and tools talk to GitLab's REST API: GitLab's official Go client
// (gitlab.com/gitlab-org/api/client-go/v2) set up once (the server's CA, no client-side retries so that waits keep
// their timing), plus the few composite steps the tests repeat (commit files, find a commit's pipeline, wait for it,
// list a pipeline's jobs with their retries). The same client drives a real GitLab (GITLAB_URL, GITLAB_TOKEN) and
// the project's stand-in (internal/gitlabstandin), and reads only what GitLab's API returns: a retried job is an
// earlier job of the same name (Retried), pipeline errors come from the pipeline itself (yaml_errors).
package gitlabclient
