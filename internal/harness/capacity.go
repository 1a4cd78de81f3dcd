package harness

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Jobs is how many job pods a tenant's managers can run at once.
type Jobs struct {
	PerManager int64 // min(concurrent, the runner entries' limits together): `concurrent` applies to each manager process
	Managers   int64 // manager pods in steady state (Deployment replicas; DaemonSet: 0, counted per node elsewhere)
	// RolloutManagers is the most managers running jobs at once during a rollout: with the surge strategy every old
	// manager drains its jobs (up to terminationGracePeriodSeconds) while its replacement already takes new ones,
	// so twice the replicas; Recreate starts the new ones only after the old are gone.
	RolloutManagers int64
	Strategy        string
}

// Steady is the jobs of all managers outside rollouts.
func (j Jobs) Steady() int64 { return j.PerManager * j.Managers }

// Peak is the jobs during a rollout: what the namespace quota must hold so that no job fails with "exceeded quota".
func (j Jobs) Peak() int64 { return j.PerManager * j.RolloutManagers }

// String says how the peak comes about, for messages.
func (j Jobs) String() string {
	return fmt.Sprintf("%d manager(s) × %d jobs, %d managers during a %s rollout", j.Managers, j.PerManager, j.RolloutManagers, j.Strategy)
}

// TenantJobs reads a tenant chart render: config.toml for the per-manager jobs, the manager Deployment for replicas
// and its rollout strategy. The one place the harness, the review and the matrix count a tenant's jobs.
func TenantJobs(res *render.Result) (Jobs, error) {
	cfg, err := configToml(res)
	if err != nil {
		return Jobs{}, err
	}
	j := Jobs{PerManager: int64(cfg.Concurrent)}
	// The runner entries' limits together cap concurrent (one entry, or one per profile); a 0 limit is no cap.
	var limits int64
	for _, r := range cfg.Runners {
		if r.Limit == 0 {
			limits = j.PerManager
			break
		}
		limits += int64(r.Limit)
	}
	j.PerManager = min(j.PerManager, limits)
	for _, o := range res.Objects() {
		if o.GetLabels()[ComponentLabel] != "manager" {
			continue
		}
		switch o.GetKind() {
		case "Deployment":
			replicas, found, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
			if !found {
				replicas = 1
			}
			strategy, _, _ := unstructured.NestedString(o.Object, "spec", "strategy", "type")
			j.Managers, j.Strategy = replicas, strategy
			j.RolloutManagers = 2 * replicas
			if strategy == "Recreate" {
				j.RolloutManagers = replicas
			}
			return j, nil
		case "DaemonSet":
			j.Strategy = "DaemonSet"
			return j, nil
		}
	}
	j.Strategy = "no manager rendered"
	return j, nil
}
