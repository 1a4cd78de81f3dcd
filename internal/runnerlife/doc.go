// Package runnerlife is a tenant's runner in GitLab, behind commands (gkt runner create, gkt runner rotate): it
// creates the runner through GitLab's API (POST /user/runners, official Go client) with the tenant's tags, locked,
// not for untagged jobs, its maximum timeout from the chart, and writes its glrt- token into the Secret the tenant
// chart reads; rotation resets the token in GitLab and replaces it in the Secret, which the manager re-renders
// without a restart.
//
// Every check runs before anything changes: the GitLab token, the tenant, the namespace, and the Secret, which must
// be absent or one this package wrote (label app.kubernetes.io/managed-by=gkt-runner). If writing the Secret fails
// after the runner was created, the runner is deleted again.
package runnerlife
