// Package leftovers finds and removes what a lost runner manager leaves in a tenant namespace: job pods that ended
// but were never deleted, job pods still running past the deadline the runner gave them, and job Secrets whose pod
// is gone. A pod that may still belong to a running job (running, within its deadline) is never a leftover.
package leftovers
