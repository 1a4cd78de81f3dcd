package leftovers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// JobPodLabel is the label gitlab-runner's Kubernetes executor puts on every job pod it creates.
const JobPodLabel = "job.runner.gitlab.com/pod"

// DefaultGrace is how long after a job pod ended (or passed its deadline) it still counts as the runner's to
// delete: the chart's jobs.cleanupResourcesTimeout, the time the runner keeps trying to delete a job's pod.
const DefaultGrace = 5 * time.Minute

// Leftover is one object a lost manager left behind, with the reason it counts.
type Leftover struct {
	Kind      string // Pod or Secret
	Namespace string
	Name      string
	UID       types.UID
	Reason    string
}

func (l Leftover) String() string {
	return fmt.Sprintf("%s %s/%s: %s", strings.ToLower(l.Kind), l.Namespace, l.Name, l.Reason)
}

// Find lists the leftovers in namespaces at now (grace: DefaultGrace, or 0 to list everything already past it).
//   - a job pod that ended (Succeeded or Failed) more than grace ago: the runner deletes the pods of the jobs it
//     finishes, so one that stayed lost its manager;
//   - a job pod still running more than grace past activeDeadlineSeconds plus its termination grace period: the
//     kubelet should have ended it;
//   - a Secret the runner created (runner-…, owned by a pod or by nobody) older than grace whose owning pod is gone,
//     or that has no owner at all.
func Find(ctx context.Context, cs kubernetes.Interface, namespaces []string, now time.Time, grace time.Duration) ([]Leftover, error) {
	if grace < 0 {
		return nil, fmt.Errorf("grace %s: must not be negative", grace)
	}
	var out []Leftover
	for _, ns := range namespaces {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list pods in %s: %w", ns, err)
		}
		live := map[types.UID]bool{}
		for i := range pods.Items {
			p := &pods.Items[i]
			live[p.UID] = true
			if _, ok := p.Labels[JobPodLabel]; !ok || p.DeletionTimestamp != nil {
				continue
			}
			if reason := podLeftover(p, now, grace); reason != "" {
				out = append(out, Leftover{Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID, Reason: reason})
			}
		}
		secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list secrets in %s: %w", ns, err)
		}
		for i := range secrets.Items {
			s := &secrets.Items[i]
			if !strings.HasPrefix(s.Name, "runner-") || s.DeletionTimestamp != nil || now.Sub(s.CreationTimestamp.Time) < grace {
				continue
			}
			owners := podOwners(s.OwnerReferences)
			switch {
			case len(s.OwnerReferences) == 0:
				out = append(out, Leftover{Kind: "Secret", Namespace: ns, Name: s.Name, UID: s.UID, Reason: fmt.Sprintf("a runner Secret with no owner, %s old", age(now, s.CreationTimestamp.Time))})
			case len(owners) > 0 && !slices.ContainsFunc(owners, func(u types.UID) bool { return live[u] }):
				out = append(out, Leftover{Kind: "Secret", Namespace: ns, Name: s.Name, UID: s.UID, Reason: "its job pod is gone"})
			}
		}
	}
	return out, nil
}

func podOwners(refs []metav1.OwnerReference) []types.UID {
	var out []types.UID
	for _, r := range refs {
		if r.Kind == "Pod" && r.APIVersion == "v1" {
			out = append(out, r.UID)
		}
	}
	return out
}

// podLeftover says why a job pod is a leftover at now, or "" if it may still be a live job's.
func podLeftover(p *corev1.Pod, now time.Time, grace time.Duration) string {
	switch p.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		ended := endedAt(p)
		if now.Sub(ended) < grace {
			return ""
		}
		why := string(p.Status.Phase)
		if p.Status.Reason != "" {
			why += " (" + p.Status.Reason + ")"
		}
		return fmt.Sprintf("%s %s ago and never deleted", why, age(now, ended))
	}
	if p.Spec.ActiveDeadlineSeconds == nil || p.Status.StartTime == nil {
		return ""
	}
	tgp := int64(30)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		tgp = *p.Spec.TerminationGracePeriodSeconds
	}
	deadline := p.Status.StartTime.Add(time.Duration(*p.Spec.ActiveDeadlineSeconds+tgp) * time.Second)
	if now.Sub(deadline) < grace {
		return ""
	}
	return fmt.Sprintf("%s %s past its activeDeadlineSeconds (%ds) and termination grace", p.Status.Phase, age(now, deadline), *p.Spec.ActiveDeadlineSeconds)
}

// endedAt is when the pod's last container terminated (its start, if no container says).
func endedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.Status.StartTime != nil {
		t = p.Status.StartTime.Time
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

func age(now, t time.Time) time.Duration { return now.Sub(t).Round(time.Second) }

// Remove deletes the leftovers, each only if it is still the object Find saw (same UID). Pods get no grace period:
// a leftover pod ended, or outlived its deadline and its grace period already. Objects already gone are skipped.
func Remove(ctx context.Context, cs kubernetes.Interface, found []Leftover) (int, error) {
	removed := 0
	for _, l := range found {
		uid := l.UID
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
		var err error
		switch l.Kind {
		case "Pod":
			zero := int64(0)
			opts.GracePeriodSeconds = &zero
			err = cs.CoreV1().Pods(l.Namespace).Delete(ctx, l.Name, opts)
		case "Secret":
			err = cs.CoreV1().Secrets(l.Namespace).Delete(ctx, l.Name, opts)
		default:
			err = fmt.Errorf("unknown kind %s", l.Kind)
		}
		switch {
		case apierrors.IsNotFound(err), apierrors.IsConflict(err): // gone, or replaced by another object of that name
		case err != nil:
			return removed, fmt.Errorf("delete %s: %w", l, err)
		default:
			removed++
		}
	}
	return removed, nil
}
