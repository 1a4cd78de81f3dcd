// Package podsecurity evaluates pods against Pod Security Standards in-process with k8s.io/pod-security-admission,
// the same checks the API server's admission plugin runs.
package podsecurity

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Evaluator checks pods at a level and version.
type Evaluator struct {
	e policy.Evaluator
}

// New returns an evaluator with the default checks.
func New() (*Evaluator, error) {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security evaluator: %w", err)
	}
	return &Evaluator{e: e}, nil
}

// Violations returns the forbidden reasons of pod at level ("baseline", "restricted") for Kubernetes minor
// version minor (e.g. 37), or nil if the pod is allowed.
func (ev *Evaluator) Violations(pod *corev1.Pod, level string, minor int) ([]string, error) {
	lvl, err := api.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	res := policy.AggregateCheckResults(ev.e.EvaluatePod(api.LevelVersion{Level: lvl, Version: api.MajorMinorVersion(1, minor)}, &pod.ObjectMeta, &pod.Spec))
	if res.Allowed {
		return nil, nil
	}
	out := make([]string, 0, len(res.ForbiddenReasons))
	for i, r := range res.ForbiddenReasons {
		out = append(out, fmt.Sprintf("%s (%s)", r, res.ForbiddenDetails[i]))
	}
	sort.Strings(out)
	return out, nil
}
