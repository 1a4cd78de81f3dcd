//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// The conditions the e2e waits for, each written once on top of internal/wait (the test's context, an interval, a
// timeout that says what was awaited and what was last seen).

// waitPod polls the pod until done says it is in the awaited state (done's error stops the wait) and returns it.
func waitPod(ctx context.Context, cs kubernetes.Interface, ns, name, what string, interval, timeout time.Duration, done func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	var last *corev1.Pod
	err := wait.For(ctx, fmt.Sprintf("pod %s/%s %s", ns, name, what), interval, timeout, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return done(p)
	})
	return last, err
}

// podEnded: the pod's phase is Succeeded or Failed.
func podEnded(p *corev1.Pod) (bool, error) {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
}

// buildRunning: the pod's build container (jobpod.BuildContainer) runs.
func buildRunning(p *corev1.Pod) bool {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == jobpod.BuildContainer && c.State.Running != nil {
			return true
		}
	}
	return false
}

// waitPodGone waits until the pod no longer exists.
func waitPodGone(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	return wait.For(ctx, fmt.Sprintf("pod %s/%s to be gone", ns, name), time.Second, timeout, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, wait.Retry(err)
	})
}

// waitDeployment waits until the deployment has rolled out: its generation observed and every replica updated and
// ready.
func waitDeployment(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	return wait.For(ctx, fmt.Sprintf("deployment %s/%s ready", ns, name), 2*time.Second, timeout, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, wait.Retry(err)
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Spec.Replicas != nil && *d.Spec.Replicas >= 1 &&
			d.Status.UpdatedReplicas == *d.Spec.Replicas && d.Status.ReadyReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas, nil
	})
}

func waitPhase(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration, phases ...corev1.PodPhase) (corev1.PodPhase, error) {
	p, err := waitPod(ctx, cs, ns, name, fmt.Sprintf("in phase %v", phases), time.Second, timeout, func(p *corev1.Pod) (bool, error) {
		return slices.Contains(phases, p.Status.Phase), nil
	})
	if p == nil {
		return "", err
	}
	return p.Status.Phase, err
}

// scale sets a Deployment's replicas and waits until that many pods run (0: until its pods are gone).
func scale(ctx context.Context, cs kubernetes.Interface, ns, name string, replicas int32) error {
	s, err := cs.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	s.Spec.Replicas = replicas
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if replicas > 0 {
		return waitDeployment(ctx, cs, ns, name, 3*time.Minute)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	sel := metav1.FormatLabelSelector(d.Spec.Selector)
	return wait.For(ctx, fmt.Sprintf("%s/%s to have no pods after scaling to 0", ns, name), time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, wait.Retry(err)
		}
		return len(pods.Items) == 0, nil
	})
}
