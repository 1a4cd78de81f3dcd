package leftovers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func ptr[T any](v T) *T { return &v }

// jobPod is a pod the runner created, started `started` ago with a 1h job timeout (deadline 3601 s).
func jobPod(name string, phase corev1.PodPhase, started time.Duration, ended time.Duration) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "tenant-a", UID: types.UID("uid-" + name), Labels: map[string]string{JobPodLabel: ""}, CreationTimestamp: ago(started)},
		Spec:       corev1.PodSpec{ActiveDeadlineSeconds: ptr(int64(3601)), TerminationGracePeriodSeconds: ptr(int64(30))},
		Status:     corev1.PodStatus{Phase: phase, StartTime: ptr(ago(started))},
	}
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "build", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(ended)}}}}
	}
	return p
}

func secret(name string, created time.Duration, owner string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "tenant-a", UID: types.UID("uid-" + name), CreationTimestamp: ago(created)}}
	if owner != "" {
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: owner, UID: types.UID("uid-" + owner)}}
	}
	return s
}

// TestFindNamesExactlyWhatALostManagerLeft: every object below is either a leftover (with the reason named) or
// something a live job or another owner may still need.
func TestFindNamesExactlyWhatALostManagerLeft(t *testing.T) {
	manager := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-runner-abc", Namespace: "tenant-a", UID: "uid-manager"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	deadlineless := jobPod("runner-no-deadline", corev1.PodRunning, 48*time.Hour, 0)
	deadlineless.Spec.ActiveDeadlineSeconds = nil
	deleting := jobPod("runner-deleting", corev1.PodFailed, 2*time.Hour, time.Hour)
	deleting.DeletionTimestamp = ptr(ago(time.Second))
	deleting.Finalizers = []string{"x"}
	objects := []runtime.Object{
		manager, // not a job pod: never touched, whatever its phase
		jobPod("runner-running-young", corev1.PodRunning, 10*time.Minute, 0),                   // a live job, maybe: kept
		jobPod("runner-running-at-deadline", corev1.PodRunning, time.Hour+32*time.Second, 0),   // past the deadline, within grace: kept
		jobPod("runner-running-past-deadline", corev1.PodRunning, time.Hour+10*time.Minute, 0), // leftover
		deadlineless, // no deadline: cannot tell, kept
		jobPod("runner-failed-just-now", corev1.PodFailed, 20*time.Minute, time.Minute),      // the runner may still delete it: kept
		jobPod("runner-failed-long-ago", corev1.PodFailed, 2*time.Hour, time.Hour),           // leftover
		jobPod("runner-succeeded-long-ago", corev1.PodSucceeded, 2*time.Hour, 6*time.Minute), // leftover
		deleting, // already being deleted: kept
		secret("runner-owned-by-live-pod", time.Hour, "runner-running-young"),
		secret("runner-owned-by-gone-pod", time.Hour, "runner-gone"),       // leftover
		secret("runner-unowned-old", time.Hour, ""),                        // leftover
		secret("runner-unowned-new", time.Minute, ""),                      // the runner sets the owner right after creating it: kept
		secret("tenant-a-runner-token", 100*time.Hour, ""),                 // the user's token Secret: not runner-…, kept
		secret("runner-owned-by-gone-pod-new", time.Minute, "runner-gone"), // within grace: kept
	}
	cs := fake.NewClientset(objects...)
	got, err := Find(context.Background(), cs, []string{"tenant-a"}, now, DefaultGrace)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pod tenant-a/runner-running-past-deadline": "past its activeDeadlineSeconds",
		"pod tenant-a/runner-failed-long-ago":       "Failed 1h0m0s ago and never deleted",
		"pod tenant-a/runner-succeeded-long-ago":    "Succeeded 6m0s ago",
		"secret tenant-a/runner-owned-by-gone-pod":  "its job pod is gone",
		"secret tenant-a/runner-unowned-old":        "no owner",
	}
	var names []string
	for _, l := range got {
		key, reason, _ := strings.Cut(l.String(), ": ")
		names = append(names, key)
		if w, ok := want[key]; !ok {
			t.Errorf("not a leftover, but found: %s", l)
		} else if !strings.Contains(reason, w) {
			t.Errorf("%s: reason %q, want it to say %q", key, reason, w)
		}
	}
	for key := range want {
		if !slices.Contains(names, key) {
			t.Errorf("leftover not found: %s", key)
		}
	}

	n, err := Remove(context.Background(), cs, got)
	if err != nil || n != len(want) {
		t.Fatalf("removed %d, %v; want %d", n, err, len(want))
	}
	again, _ := Find(context.Background(), cs, []string{"tenant-a"}, now, DefaultGrace)
	if len(again) != 0 {
		t.Errorf("after Remove: %v", again)
	}
	for _, keep := range []string{"tenant-a-runner-abc", "runner-running-young", "runner-running-at-deadline", "runner-no-deadline", "runner-failed-just-now", "runner-deleting"} {
		if _, err := cs.CoreV1().Pods("tenant-a").Get(context.Background(), keep, metav1.GetOptions{}); err != nil {
			t.Errorf("Remove took %s: %v", keep, err)
		}
	}
	if n, err := Remove(context.Background(), cs, got); err != nil || n != 0 {
		t.Errorf("a second Remove: %d, %v; want 0 and no error (already gone)", n, err)
	}
}
