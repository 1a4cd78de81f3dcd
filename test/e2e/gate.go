//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/leftovers"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// gate holds jobs until the test opens it, so that a scenario that needs jobs running together (20 at the limit,
// one per daemonset manager, a saturated tenant) does not depend on a sleep outlasting how fast pods start on a busy
// node. A held job polls the destination registry, which every tenant's job pods may reach (Kaniko pushes there), for
// a repository that only the test creates; no job can end before the test has seen what it waits for.
type gate struct{ repo string }

// newGate is a gate no earlier run can have opened.
func newGate(scenario string) gate {
	return gate{repo: fmt.Sprintf("gkt-e2e/%s-gate-%d", scenario, time.Now().UnixNano())}
}

// Wait is the shell line that blocks a job until the gate is open (busybox wget, in every job image the e2e uses).
func (g gate) Wait() string {
	return fmt.Sprintf("echo held; until wget -q -O /dev/null http://%s/v2/%s/tags/list; do sleep 1; done; echo released", kindworld.DestRegistryHost, g.repo)
}

// Open makes the repository exist in the destination registry: a one-layer image pushed through its NodePort.
// Opening twice is harmless, so a scenario defers an Open as soon as its held jobs exist: a scenario that fails before
// its own Open must not leave jobs held until their timeout (a manager's rollout would wait for them too).
func (g gate) Open(nodeIP string) error {
	ref, err := name.ParseReference(nodeIP+":30500/"+g.repo+":open", name.Insecure)
	if err != nil {
		return err
	}
	img, err := random.Image(64, 1)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img); err != nil {
		return fmt.Errorf("opening the gate %s: %w", ref, err)
	}
	return nil
}

// waitBuildsRunning waits until at least n job pods of namespace ns have their build container running, and returns
// those pods' nodes (one entry per pod).
func waitBuildsRunning(ctx context.Context, cs kubernetes.Interface, ns string, n int, timeout time.Duration) ([]string, error) {
	var nodes []string
	err := wait.For(ctx, fmt.Sprintf("%d job pods running together in %s", n, ns), time.Second, timeout, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: leftovers.JobPodLabel})
		if err != nil {
			return false, wait.Retry(err)
		}
		nodes = nodes[:0]
		for _, p := range pods.Items {
			if buildRunning(&p) {
				nodes = append(nodes, p.Spec.NodeName)
			}
		}
		return len(nodes) >= n, nil
	})
	return nodes, err
}
