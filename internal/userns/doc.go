// Package userns reads what a job sees of its user namespace (/proc/self/uid_map) and what the node sees of the
// job's processes and files, and decides whether the job ran in a user namespace: UID 0 inside mapped to a non-zero
// host range, the build process running on the node as a UID of that range, and a file the build created as root
// owned on the node by a UID of that range. The e2e's live proof (test/e2e/userns.go) and its unit tests share it.
package userns
