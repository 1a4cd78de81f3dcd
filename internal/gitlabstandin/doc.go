// Package gitlabstandin is a stand-in for GitLab, not GitLab: the smallest server that lets the real gitlab-runner
// run real pipelines in the e2e, where GitLab itself cannot run. It serves, over HTTPS:
//
//   - the Runner API subset the runner calls (runners/verify, the long-polled jobs/request as Workhorse holds it,
//     job updates, trace appends with ranges, cancellation through Job-Status, runners/managers), with the answers
//     GitLab gives (see ../shared/reference.md and the runner's network/gitlab.go);
//   - a subset of GitLab's REST API that the tests drive (projects, commits, pipelines, jobs and their traces,
//     runner creation), so that one client (internal/gitlabclient: GitLab's official Go client) talks to this stand-in and to a real GitLab alike;
//   - the projects' repositories over git smart HTTP (git http-backend), cloned with the job token as GitLab does.
//
// A commit starts a pipeline: Compile reads its .gitlab-ci.yml in GitLab's order (includes, extends, then !reference
// tags), resolves include:local and include:project (from the stand-in's own projects), and turns each job into the
// JSON GitLab sends, predefined CI_* variables included. Only the .gitlab-ci.yml features the project's examples,
// CI template and tests use are supported; anything else is an error naming the keyword, never ignored. make test
// checks that for every pipeline the project ships or runs, GitLab's CI schema accepts it and gitlab-ci-local, an
// independent interpreter, expands it as Compile does (internal/cioracle); where the two differed, the stand-in
// follows GitLab's source (TestCompileFollowsGitLab), and its REST answers are a key subset of GitLab's entities
// (TestStandinAnswersAreGitLabsShape).
package gitlabstandin
