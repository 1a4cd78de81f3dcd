//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// Kaniko's trace lines that the outage scenarios read: a cache lookup that failed (or missed) and a cache upload
// that failed. Kaniko builds on after both; the scenarios prove that.
const (
	traceCacheMiss         = "No cached layer found for cmd"
	traceCacheUploadFailed = "Error uploading layer to cache"
)

// cacheProbe is a multistage build whose first stage has one cacheable RUN layer, unique to this run and scenario.
func cacheProbe(scenario string) map[string]string {
	return map[string]string{
		"Dockerfile": fmt.Sprintf(`FROM %[1]s/%[4]s AS build
RUN echo %[2]s-%[3]s > /probe && ls -R /usr/local/go/src/strings > /listing
FROM scratch AS runtime
COPY --from=build /probe /probe
`, kindworld.DestRegistryHost, scenario, runID, toolchainImage),
	}
}

// outage runs the cache-outage scenario shape: a build that fills the cache, the same build with the component
// down (it must succeed, and its trace must say the cache was not used), the component back, and the same build
// again (it must hit the cache).
// whileDown, when set, runs after the build with the component down and before the component returns.
func (f *faults) outage(tn tenants.Tenant, component, ns, deployment string, firstJob int64, whileDown func() error) error {
	ctx := context.Background()
	r, err := runnerConfig(ctx, f.cs, tn.Namespace, tn.Name)
	if err != nil {
		return err
	}
	files := cacheProbe(component)
	build := func(id int64, tag string) (BuildOutcome, error) {
		out, err := f.build(ctx, r, BuildJob{Tenant: tn.Name, Namespace: tn.Namespace, JobID: id, Files: files,
			Destination: fmt.Sprintf("%s/%s/outage-%s:%s", kindworld.DestRegistryHost, tn.Name, component, tag), Script: f.script})
		if err != nil {
			return out, err
		}
		if !out.Succeeded {
			return out, fmt.Errorf("build %s failed:\n%s", tag, tail(out.Log, 30))
		}
		return out, nil
	}
	fill, err := build(firstJob, "fill")
	if err != nil {
		return err
	}
	if err := scale(ctx, f.cs, ns, deployment, 0); err != nil {
		return err
	}
	restored := false
	defer func() {
		if !restored {
			_ = scale(context.Background(), f.cs, ns, deployment, 1)
		}
	}()
	down, err := build(firstJob+1, "down")
	if err != nil {
		return fmt.Errorf("with %s down: %w", component, err)
	}
	if down.CacheHits != 0 || !strings.Contains(down.Log, traceCacheMiss) {
		return fmt.Errorf("with %s down the trace does not say the cache was skipped (hits %d):\n%s", component, down.CacheHits, tail(down.Log, 30))
	}
	if whileDown != nil {
		if err := whileDown(); err != nil {
			return err
		}
	}
	if err := scale(ctx, f.cs, ns, deployment, 1); err != nil {
		return err
	}
	restored = true
	for _, other := range f.set.Sorted() { // the registries notice their storage is back at their next check
		if err := waitRegistry(ctx, f.cs, other, true, 3*time.Minute); err != nil {
			return fmt.Errorf("after %s returned: %w", component, err)
		}
	}
	back, err := build(firstJob+2, "back")
	if err != nil {
		return fmt.Errorf("after %s returned: %w", component, err)
	}
	if back.CacheHits == 0 {
		return fmt.Errorf("after %s returned the build found no cached layer:\n%s", component, tail(back.Log, 30))
	}
	logf("%s outage: fill %s, down %s (upload failed in trace: %t), back %s with %d cache hits",
		component, fill.Duration.Round(time.Second), down.Duration.Round(time.Second), strings.Contains(down.Log, traceCacheUploadFailed),
		back.Duration.Round(time.Second), back.CacheHits)
	return nil
}

// scenarioMinIODown: MinIO (the S3 behind every tenant's layer-cache registry) is stopped for a whole build. While
// it is down, every tenant's layer-cache registry must turn unready (its storage health check) without restarting;
// once MinIO is back, the registries must be ready again before the next build.
func scenarioMinIODown(t *testing.T, f *faults) error {
	ctx := context.Background()
	restarts := map[string]int32{}
	for _, tn := range f.set.Sorted() {
		_, n, err := registryState(ctx, f.cs, tn)
		if err != nil {
			return err
		}
		restarts[tn.Name] = n
	}
	err := f.outage(f.set.Tenants["tenant-a"], "minio", "minio", "minio", 4001, func() error {
		for _, tn := range f.set.Sorted() {
			if err := waitRegistry(ctx, f.cs, tn, false, 3*time.Minute); err != nil {
				return fmt.Errorf("with MinIO down: %w", err)
			}
		}
		logf("minio outage: every layer-cache registry turned unready")
		return nil
	})
	if err != nil {
		return err
	}
	for _, tn := range f.set.Sorted() {
		_, n, err := registryState(ctx, f.cs, tn)
		if err != nil {
			return err
		}
		if n != restarts[tn.Name] {
			return fmt.Errorf("%s's layer-cache registry restarted %d times during the MinIO outage (liveness must not depend on S3)", tn.Name, n-restarts[tn.Name])
		}
	}
	return nil
}

// registryState is whether the tenant's layer-cache registry pods are all ready, and their restarts in total.
func registryState(ctx context.Context, cs kubernetes.Interface, tn tenants.Tenant) (bool, int32, error) {
	d, err := cs.AppsV1().Deployments(tn.Namespace).Get(ctx, tn.Name+"-layer-cache", metav1.GetOptions{})
	if err != nil {
		return false, 0, err
	}
	pods, err := cs.CoreV1().Pods(tn.Namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
	if err != nil || len(pods.Items) == 0 {
		return false, 0, fmt.Errorf("%s layer-cache pods: %d, %v", tn.Name, len(pods.Items), err)
	}
	ready, restarts := true, int32(0)
	for _, p := range pods.Items {
		for _, st := range p.Status.ContainerStatuses {
			ready = ready && st.Ready
			restarts += st.RestartCount
		}
	}
	return ready, restarts, nil
}

// waitRegistry waits until the tenant's layer-cache registry is ready (or unready).
func waitRegistry(ctx context.Context, cs kubernetes.Interface, tn tenants.Tenant, ready bool, timeout time.Duration) error {
	return wait.For(ctx, fmt.Sprintf("%s's layer-cache registry to be ready=%t", tn.Name, ready), 2*time.Second, timeout, func(ctx context.Context) (bool, error) {
		r, _, err := registryState(ctx, cs, tn)
		if err != nil {
			return false, wait.Retry(err)
		}
		return r == ready, nil
	})
}

// scenarioLayerCacheDown: the tenant's own layer-cache registry is stopped for a whole build.
func scenarioLayerCacheDown(t *testing.T, f *faults) error {
	b := f.set.Tenants["tenant-b"]
	return f.outage(b, "layer-cache", b.Namespace, b.Name+"-layer-cache", 4101, nil)
}

// scenarioKilledJob deletes job pods (grace 0, like a node loss) while Kaniko runs a RUN step and while it pushes:
// no tag may appear in the destination registry, and the re-run of the job succeeds with a complete image.
func scenarioKilledJob(t *testing.T, f *faults) error {
	ctx := context.Background()
	a := f.set.Tenants["tenant-a"]
	r, err := runnerConfig(ctx, f.cs, a.Namespace, a.Name)
	if err != nil {
		return err
	}
	type phase struct {
		name, marker string
		dockerfiles  []string // tried in turn while a kill lands too late (a machine that pushes faster)
	}
	const runStep = `FROM %[1]s/%[3]s AS build
RUN echo killed-run-%[2]s && sleep 15 && echo built > /built
FROM scratch AS runtime
COPY --from=build /built /built
`
	push := func(mib int) string {
		return fmt.Sprintf(`FROM %%[1]s/%%[3]s AS build
RUN echo killed-push-%%[2]s && head -c %d /dev/urandom > /payload
FROM scratch AS runtime
COPY --from=build /payload /payload
`, mib<<20)
	}
	id := int64(5000)
	for _, ph := range []phase{
		// killed while a RUN step sleeps: long before anything could be pushed
		{"RUN step", "echo killed-run-", []string{runStep}},
		// killed once the push began: random data take seconds to compress and upload, longer than the kubelet
		// needs to stop a force-deleted pod's containers (320 MiB here; 960 MiB if a faster machine beats it)
		{"push", "Pushing image to", []string{push(320), push(960)}},
	} {
		var err error
		for attempt, dockerfile := range ph.dockerfiles {
			id++
			var late bool
			late, err = f.killAndRerun(ctx, r, a, ph.name, ph.marker, BuildJob{Tenant: a.Name, Namespace: a.Namespace, JobID: id,
				Files:       map[string]string{"Dockerfile": fmt.Sprintf(dockerfile, kindworld.DestRegistryHost, runID, toolchainImage)},
				Destination: fmt.Sprintf("%s/tenant-a/killed-%s:%d", kindworld.DestRegistryHost, runID, id), Script: f.script})
			if !late {
				break
			}
			logf("the kill during the %s landed after the push had finished (attempt %d): retrying with a bigger layer", ph.name, attempt+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// killAndRerun starts the job, force-deletes its pod when marker appears in the trace, and checks that no tag
// appeared; then it re-runs the job and checks the re-run's image is complete. late reports a kill that came
// after the push had finished (a complete image under the tag): that attempt proves nothing either way.
func (f *faults) killAndRerun(ctx context.Context, r *jobpod.Runner, a tenants.Tenant, phase, marker string, job BuildJob) (late bool, err error) {
	pod, cleanup, err := startBuild(ctx, f.cs, r, job)
	if err != nil {
		return false, err
	}
	killedAt, node, err := killAt(ctx, f.cs, a.Namespace, pod.Name, marker, 10*time.Minute)
	if err == nil {
		// the API object is gone at once; the node stops the containers a moment later
		err = waitContainersStopped(node, pod.Name, 2*time.Minute)
	}
	cleanup()
	if err != nil {
		return false, fmt.Errorf("killing during the %s: %w", phase, err)
	}
	if err := absentTag(f.nodeIP, job.Destination); err != nil {
		if cerr := completeImage(f.nodeIP, job.Destination); cerr == nil {
			f.jobs.record(job.JobID, "succeeded") // it finished before the kill: not lost
			return true, fmt.Errorf("the kill during the %s landed after the push had finished (the image is complete): %w", phase, err)
		}
		f.jobs.record(job.JobID, "interrupted")
		return false, fmt.Errorf("after a kill during the %s: %w", phase, err)
	}
	f.jobs.record(job.JobID, "interrupted")
	out, err := f.build(ctx, r, job)
	if err != nil || !out.Succeeded {
		return false, fmt.Errorf("the re-run after a kill during the %s failed (%v):\n%s", phase, err, tail(out.Log, 30))
	}
	if err := completeImage(f.nodeIP, job.Destination); err != nil {
		return false, fmt.Errorf("the re-run's image: %w", err)
	}
	logf("killed during the %s (%s into the build): no tag; the re-run pushed a complete image in %s", phase, killedAt.Round(time.Second), out.Duration.Round(time.Second))
	return false, nil
}

// killAt waits for marker in the build container's trace and then deletes the pod at once. It fails if the
// build ended before the marker was seen (the kill would prove nothing).
func killAt(ctx context.Context, cs kubernetes.Interface, ns, pod, marker string, timeout time.Duration) (time.Duration, string, error) {
	start := time.Now()
	p, err := waitPod(ctx, cs, ns, pod, fmt.Sprintf("to print %q", marker), 200*time.Millisecond, timeout, func(p *corev1.Pod) (bool, error) {
		for _, st := range p.Status.ContainerStatuses {
			if st.Name == "build" && st.State.Terminated != nil {
				return false, fmt.Errorf("the build ended (exit %d) before %q appeared", st.State.Terminated.ExitCode, marker)
			}
		}
		raw, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "build"}).DoRaw(ctx)
		return err == nil && strings.Contains(string(raw), marker), nil
	})
	if err != nil {
		return 0, "", err
	}
	zero := int64(0)
	if err := cs.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return 0, "", err
	}
	if !waitGone(ctx, cs, ns, pod, time.Minute) {
		return 0, "", fmt.Errorf("pod %s outlived its deletion", pod)
	}
	return time.Since(start), p.Spec.NodeName, nil
}

// waitContainersStopped waits until no container of the pod runs on the kind node (containerd's view).
func waitContainersStopped(node, pod string, timeout time.Duration) error {
	return wait.For(context.Background(), fmt.Sprintf("the containers of %s to stop on %s", pod, node), 500*time.Millisecond, timeout, func(context.Context) (bool, error) {
		ids, err := exec.Command("docker", "exec", node, "ctr", "-n", "k8s.io", "containers", "ls", "-q", `labels."io.kubernetes.pod.name"==`+pod).Output()
		if err != nil {
			return false, fmt.Errorf("listing containers on %s: %w", node, err)
		}
		tasks, err := exec.Command("docker", "exec", node, "ctr", "-n", "k8s.io", "tasks", "ls").Output()
		if err != nil {
			return false, fmt.Errorf("listing tasks on %s: %w", node, err)
		}
		running := false
		for _, id := range strings.Fields(string(ids)) {
			for _, line := range strings.Split(string(tasks), "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == id && f[2] == "RUNNING" {
					running = true
				}
			}
		}
		return !running, nil
	})
}

// hostRef is a destination reference as the host reaches the registry (its NodePort).
func hostRef(nodeIP, dest string) (name.Reference, error) {
	return name.ParseReference(strings.Replace(dest, kindworld.DestRegistryHost, nodeIP+":30500", 1), name.Insecure)
}

// absentTag fails if dest's tag exists in the destination registry.
func absentTag(nodeIP, dest string) error {
	ref, err := hostRef(nodeIP, dest)
	if err != nil {
		return err
	}
	_, err = remote.Head(ref)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%s is tagged although its job was killed", dest)
	}
	return fmt.Errorf("asking the registry for %s: %w", dest, err)
}

// completeImage fails unless dest resolves to an image whose every layer can be read back in full with the digest
// the manifest names (ggcr verifies the digest while reading).
func completeImage(nodeIP, dest string) error {
	ref, err := hostRef(nodeIP, dest)
	if err != nil {
		return err
	}
	img, err := remote.Image(ref)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
	}
	return nil
}

// scenarioUpgradeRollback upgrades tenant-a with a config change (a job pod label), proves the next job pod carries
// it, rolls back, and proves config.toml is restored byte for byte and no untouched object or pod was recreated.
func scenarioUpgradeRollback(t *testing.T, f *faults) error {
	ctx := context.Background()
	a := f.set.Tenants["tenant-a"]
	rev, err := (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Namespace: a.Namespace, Name: a.Name}).Revision()
	if err != nil {
		return err
	}
	rolledBack := false
	defer func() {
		if !rolledBack { // leave tenant-a as the other scenarios expect it
			_ = (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: a.Name, Namespace: a.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
				Values: values(t, "values/tenant-a.yaml"), Wait: true, Timeout: 5 * time.Minute}).Apply(logf)
		}
	}()
	before := snap(ctx, t, f.cs, a.Namespace)
	vals := values(t, "values/tenant-a.yaml")
	vals["jobs"].(map[string]any)["podLabels"] = map[string]any{"gitlab-kaniko-tenant.io/fault-5": "upgraded"}
	if err := (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: a.Name, Namespace: a.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
		Values: vals, Wait: true, Timeout: 5 * time.Minute}).Apply(logf); err != nil {
		return err
	}
	after := snap(ctx, t, f.cs, a.Namespace)
	if after.config == before.config {
		return fmt.Errorf("the upgrade did not change config.toml")
	}
	if err := jobLabel(ctx, f.cs, a, 5101, "upgraded"); err != nil {
		return fmt.Errorf("after the upgrade: %w", err)
	}
	if err := before.kept(after, "upgrade"); err != nil {
		return err
	}
	if err := (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Namespace: a.Namespace, Name: a.Name}).Rollback(rev); err != nil {
		return err
	}
	rolledBack = true
	back := snap(ctx, t, f.cs, a.Namespace)
	if back.config != before.config {
		return fmt.Errorf("helm rollback did not restore config.toml exactly")
	}
	if err := jobLabel(ctx, f.cs, a, 5102, ""); err != nil {
		return fmt.Errorf("after the rollback: %w", err)
	}
	if err := before.kept(back, "rollback"); err != nil {
		return err
	}
	logf("upgrade and rollback of %s (revision %d): %d objects kept, %d pods untouched, change in effect, rollback exact", a.Name, rev, len(before.uids), len(before.pods))
	return nil
}

// jobLabel builds a job pod from the installed config.toml and checks its fault-5 label (empty: absent).
func jobLabel(ctx context.Context, cs kubernetes.Interface, tn tenants.Tenant, id int64, want string) error {
	r, err := runnerConfig(ctx, cs, tn.Namespace, tn.Name)
	if err != nil {
		return err
	}
	pod, err := trivialJob(ctx, cs, r, tn.Namespace, id, "true")
	if err != nil {
		return err
	}
	defer func() {
		_ = cs.CoreV1().Pods(tn.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	}()
	if got := pod.Labels["gitlab-kaniko-tenant.io/fault-5"]; got != want {
		return fmt.Errorf("job pod label gitlab-kaniko-tenant.io/fault-5=%q, want %q", got, want)
	}
	// admitted and started (the helper container stays up, as it waits for the runner's commands)
	if _, err := waitPhase(ctx, cs, tn.Namespace, pod.Name, 2*time.Minute, corev1.PodRunning, corev1.PodSucceeded); err != nil {
		return err
	}
	return nil
}
