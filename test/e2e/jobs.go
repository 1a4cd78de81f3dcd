//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
)

// templateScript is the script of the Kaniko CI template tenants include, read from the file (not copied).
func templateScript(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var tpl map[string]struct {
		Script []string `json:"script"`
	}
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		return "", err
	}
	job, ok := tpl[".kaniko-build"]
	if !ok || len(job.Script) == 0 {
		return "", fmt.Errorf("%s has no .kaniko-build script", path)
	}
	return strings.Join(job.Script, "\n"), nil
}

// installedConfig reads the config.toml the tenant chart rendered, from the cluster (the installed ConfigMap).
func installedConfig(ctx context.Context, cs kubernetes.Interface, ns, tenant string) (*jobpod.Config, error) {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, tenant+"-runner", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return jobpod.Parse([]byte(cm.Data["config.template.toml"]))
}

// runnerConfig is the installed config.toml's first [[runners]] entry (the tenant's single runner).
func runnerConfig(ctx context.Context, cs kubernetes.Interface, ns, tenant string) (*jobpod.Runner, error) {
	cfg, err := installedConfig(ctx, cs, ns, tenant)
	if err != nil {
		return nil, err
	}
	return &cfg.Runners[0], nil
}

// runnerEntry is the installed config.toml's [[runners]] entry of a runner profile ("": the tenant's single
// runner), by the name the chart gives it.
func runnerEntry(ctx context.Context, cs kubernetes.Interface, ns, tenant, profile string) (*jobpod.Runner, error) {
	cfg, err := installedConfig(ctx, cs, ns, tenant)
	if err != nil {
		return nil, err
	}
	name := tenant + "-kubernetes"
	if profile != "" {
		name = tenant + "-" + profile
	}
	for i := range cfg.Runners {
		if cfg.Runners[i].Name == name {
			return &cfg.Runners[i], nil
		}
	}
	return nil, fmt.Errorf("%s/%s-runner has no [[runners]] entry %s", ns, tenant, name)
}

// traceCacheHit is Kaniko's trace line for a layer taken from the cache.
const traceCacheHit = "Using caching version of cmd"

// BuildJob is one job the runner would have picked up.
type BuildJob struct {
	Tenant, Namespace string
	JobID             int64
	Files             map[string]string // the repository: Dockerfile and sources
	Destination       string
	Script            string
}

// BuildOutcome is what the job did.
type BuildOutcome struct {
	Pod        string
	Node       string
	Succeeded  bool
	Log        string
	Pickup     time.Duration // pod created → build container running
	Duration   time.Duration // build container running → finished
	CacheHits  int
	PodRemoved bool
}

// runBuild creates the job pod from the model, lets the build container run the template script against the
// job's files, waits for it, and deletes the pod as the runner does after a job.
func runBuild(ctx context.Context, cs kubernetes.Interface, r *jobpod.Runner, j BuildJob) (BuildOutcome, error) {
	created, cleanup, err := startBuild(ctx, cs, r, j)
	if err != nil {
		return BuildOutcome{}, err
	}
	defer cleanup()
	return waitBuild(ctx, cs, r, j.Namespace, created)
}

// startBuild creates the job's sources and its pod; cleanup removes the sources.
func startBuild(ctx context.Context, cs kubernetes.Interface, r *jobpod.Runner, j BuildJob) (*corev1.Pod, func(), error) {
	ctxName := fmt.Sprintf("job-%d-sources", j.JobID)
	// Stand-in for get_sources (the helper's git clone): the repository files in a ConfigMap, copied into /builds.
	_ = cs.CoreV1().ConfigMaps(j.Namespace).Delete(ctx, ctxName, metav1.DeleteOptions{})
	if _, err := cs.CoreV1().ConfigMaps(j.Namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ctxName}, Data: j.Files}, metav1.CreateOptions{}); err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		_ = cs.CoreV1().ConfigMaps(j.Namespace).Delete(context.Background(), ctxName, metav1.DeleteOptions{})
	}
	project := fmt.Sprintf("/builds/%s/sample", j.Tenant)
	script := fmt.Sprintf("set -e\nmkdir -p %[1]s && cp -L /job-sources/* %[1]s/\n%[2]s", project, j.Script)
	pod, err := jobpod.Pod(r, jobpod.Job{
		ProjectID: 1, JobID: j.JobID, TimeoutSeconds: 1800,
		Variables: map[string]string{
			"CI_PROJECT_DIR": project, "CI_JOB_ID": fmt.Sprint(j.JobID), "CI_COMMIT_SHORT_SHA": fmt.Sprintf("c%d", j.JobID),
			"KANIKO_DESTINATION": j.Destination,
		},
		Command: []string{"/busybox/sh", "-c", script},
	})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "job-sources", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: ctxName}}}})
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "job-sources", MountPath: "/job-sources", ReadOnly: true})
	created, err := cs.CoreV1().Pods(j.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("creating job pod: %w", err)
	}
	return created, cleanup, nil
}

// waitBuild waits for the build container of a started job to finish, reads its trace and deletes the pod.
func waitBuild(ctx context.Context, cs kubernetes.Interface, r *jobpod.Runner, ns string, created *corev1.Pod) (BuildOutcome, error) {
	out := BuildOutcome{Pod: created.Name}
	var running time.Time
	var ended *corev1.ContainerStateTerminated
	_, err := waitPod(ctx, cs, ns, out.Pod, "to finish its build container", 500*time.Millisecond, 20*time.Minute, func(p *corev1.Pod) (bool, error) {
		out.Node = p.Spec.NodeName
		for _, st := range p.Status.ContainerStatuses {
			if st.Name != jobpod.BuildContainer {
				continue
			}
			if st.State.Running != nil && running.IsZero() {
				running = st.State.Running.StartedAt.Time
			}
			if ended = st.State.Terminated; ended != nil {
				return true, nil
			}
		}
		if p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("job pod %s failed before its build container ran: %s", out.Pod, p.Status.Message)
		}
		return false, nil
	})
	if err != nil {
		return out, err
	}
	if running.IsZero() {
		running = ended.StartedAt.Time
	}
	out.Succeeded = ended.ExitCode == 0
	out.Pickup = running.Sub(created.CreationTimestamp.Time)
	out.Duration = ended.FinishedAt.Time.Sub(running)
	raw, _ := cs.CoreV1().Pods(ns).GetLogs(out.Pod, &corev1.PodLogOptions{Container: jobpod.BuildContainer}).DoRaw(ctx)
	out.Log = string(raw)
	saveTrace(out.Pod, raw)
	out.CacheHits = strings.Count(out.Log, traceCacheHit) // once per cached layer (optimize step)
	grace := int64(0)
	if r.Kubernetes.CleanupGracePeriodSeconds != nil {
		grace = *r.Kubernetes.CleanupGracePeriodSeconds
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, out.Pod, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		return out, err
	}
	out.PodRemoved = waitGone(ctx, cs, ns, out.Pod, time.Minute)
	return out, nil
}

// traceRun names this test process's trace directory: each run keeps its own traces (the runner tier, the modes and
// the hostile runs name their files alike), and _out/e2e/traces/latest points at the newest.
var traceRun = time.Now().UTC().Format("20060102-150405")

// saveTrace keeps a job's trace in _out/e2e/traces/<run>/<pod>.log (the CI job's artifact), for reading a failed run.
func saveTrace(pod string, raw []byte) {
	root := filepath.Join(repo, "_out", "e2e", "traces")
	dir := filepath.Join(root, traceRun)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, pod+".log"), raw, 0o644)
		if target, _ := os.Readlink(filepath.Join(root, "latest")); target != traceRun {
			_ = os.Remove(filepath.Join(root, "latest"))
			_ = os.Symlink(traceRun, filepath.Join(root, "latest"))
		}
	}
}

func waitGone(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) bool {
	return waitPodGone(ctx, cs, ns, name, timeout) == nil
}

// runImage runs the image a build pushed, on the tenant's node, and returns its output.
func runImage(ctx context.Context, cs kubernetes.Interface, ns, image string, tolerations []corev1.Toleration, nodeSelector map[string]string) (string, error) {
	name := fmt.Sprintf("run-%d", time.Now().UnixNano()%1e6)
	no := false
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"gitlab-kaniko-tenant.io/e2e": "run"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: &no, Tolerations: tolerations, NodeSelector: nodeSelector,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65534)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways, Resources: smallResources,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	defer func() { _ = cs.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{}) }()
	p, err := waitPod(ctx, cs, ns, name, "to end", time.Second, 3*time.Minute, podEnded)
	if err != nil {
		return "", err
	}
	raw, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if p.Status.Phase == corev1.PodFailed {
		return string(raw), fmt.Errorf("built image failed: %s", bytes.TrimSpace(raw))
	}
	return string(raw), err
}

func ptr[T any](v T) *T { return &v }

// trivialJob runs a job pod from the model whose build container runs a shell command (no Kaniko).
func trivialJob(ctx context.Context, cs kubernetes.Interface, r *jobpod.Runner, ns string, id int64, cmd string) (*corev1.Pod, error) {
	pod, err := jobpod.Pod(r, jobpod.Job{ProjectID: 5, JobID: id, TimeoutSeconds: 600, Command: []string{"/busybox/sh", "-c", cmd}})
	if err != nil {
		return nil, err
	}
	return cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
}
