//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/userns"
)

var uidMapLine = regexp.MustCompile(`uidmap:\s*(\d+\s+\d+\s+\d+)`)

// usernsNodeScript runs on the job's node (its kind container): the processes whose root filesystem holds the job's
// file are the build container's; it prints the real UID of one and the file's owner as the node sees them.
const usernsNodeScript = `id=$1
for d in /proc/[0-9]*; do
  f="$d/root/kaniko/gkt-userns-$id"
  [ -e "$f" ] || continue
  echo "pid=${d#/proc/} uid=$(awk '/^Uid:/{print $2}' "$d/status") owner=$(stat -c %u "$f") comm=$(cat "$d/comm")"
  touch "$d/root/kaniko/gkt-userns-done"
  exit 0
done
echo "no process has /kaniko/gkt-userns-$id in its root" >&2
exit 1`

var nodeProbeLine = regexp.MustCompile(`pid=(\d+) uid=(\d+) owner=(\d+) comm=(\S+)`)

// usernsProbe runs the probe job in the tenant's project through its real runner and returns what the job and its
// node showed.
func usernsProbe(ctx context.Context, rt *runnerTier, tp *tenantProject, scenario string) (userns.Probe, string, error) {
	var p userns.Probe
	pl, err := startPipeline(ctx, rt.f, tp, scenario, pipelines.Scenario("userns", pipelines.Params{}))
	if err != nil {
		return p, "", err
	}
	j, err := pl.waitJob(ctx, rt.f, "userns-probe", "is ready", 5*time.Minute, func(j gitlab.Job, tr string) bool {
		return strings.Contains(tr, "\ngkt_userns_ready") || j.Status == "failed"
	})
	if err != nil {
		return p, "", err
	}
	pods, err := rt.p.cs.CoreV1().Pods(tp.tn.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job.runner.gitlab.com/pod"})
	if err != nil {
		return p, "", err
	}
	node := ""
	for _, pod := range pods.Items {
		if pod.Annotations["job.runner.gitlab.com/id"] == fmt.Sprint(j.ID) {
			node = pod.Spec.NodeName
		}
	}
	if node == "" {
		return p, "", fmt.Errorf("%s: no pod of job %d (status %s)", scenario, j.ID, j.Status)
	}
	out, err := exec.CommandContext(ctx, "docker", "exec", node, "sh", "-c", usernsNodeScript, "probe", fmt.Sprint(j.ID)).CombinedOutput()
	if err != nil {
		return p, "", fmt.Errorf("%s: on node %s: %v: %s", scenario, node, err, out)
	}
	m := nodeProbeLine.FindStringSubmatch(string(out))
	if m == nil {
		return p, "", fmt.Errorf("%s: node %s printed %q", scenario, node, out)
	}
	p.NodeUID, _ = strconv.ParseUint(m[2], 10, 64)
	p.FileOwner, _ = strconv.ParseUint(m[3], 10, 64)
	jobs, traces, err := pl.finish(ctx, rt.f, 5*time.Minute)
	if err != nil {
		return p, "", err
	}
	for _, jj := range jobs {
		if jj.Name != "userns-probe" {
			continue
		}
		if jj.Status != "success" {
			return p, "", fmt.Errorf("%s: the probe job %s (%s):\n%s", scenario, jj.Status, jj.FailureReason, tail(traces[jj.ID], 20))
		}
		if um := uidMapLine.FindStringSubmatch(traces[jj.ID]); um != nil {
			p.UIDMap = um[1]
		} else {
			return p, "", fmt.Errorf("%s: the probe printed no uid_map:\n%s", scenario, tail(traces[jj.ID], 20))
		}
	}
	return p, fmt.Sprintf("node %s pid %s (%s)", node, m[1], m[4]), nil
}

// userNamespaces is the live proof of jobs.userNamespaces (the chart's default, on) through the real runner: the
// kubelets report support, every job pod of the pipelines above (the multistage Kaniko builds with their caches)
// had hostUsers: false, and a probe job passes the three checks of internal/userns. The control: tenant-b upgraded
// with jobs.userNamespaces=false runs the same probe, and each check must fail there. tenant-b is restored after.
func userNamespaces(ctx context.Context, t *testing.T, rt *runnerTier, runs map[string][]*pipelineRun) string {
	t.Helper()
	var list []string
	for _, tp := range rt.projects {
		list = append(list, tp.tn.Name)
	}
	sel, err := rt.p.set.Select(list)
	if err != nil {
		t.Fatal(err)
	}
	probs, err := nodes.UserNamespaces(ctx, rt.p.cs, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Errorf("kubelet: %s", p)
	}
	inUserns, jobs := 0, 0
	for tenant, rs := range runs {
		for _, r := range rs {
			for _, j := range r.Jobs {
				seen := r.Pods[fmt.Sprint(j.ID)]
				if seen == nil {
					continue // reported by the pipeline checks
				}
				jobs++
				if hu := seen.Pod.Spec.HostUsers; hu != nil && !*hu {
					inUserns++
				} else {
					t.Errorf("%s v%d: job %s's pod is not in a user namespace (hostUsers %v)", tenant, r.Version, j.Name, hu)
				}
			}
		}
	}
	on, where, err := usernsProbe(ctx, rt, rt.project("tenant-a"), "userns-on")
	if err != nil {
		t.Fatalf("user namespaces on (tenant-a): %v", err)
	}
	passed := 0
	for _, c := range userns.Checks(on) {
		if c.Err != nil {
			t.Errorf("user namespaces on (tenant-a, %s): %s: %v", where, c.Name, c.Err)
		} else {
			passed++
		}
	}
	logf("userns on: tenant-a %s: uid_map %q, build process UID %d, root's file owned by %d", where, on.UIDMap, on.NodeUID, on.FileOwner)

	// The control: the same probe with the option off must fail each check.
	tb := rt.project("tenant-b")
	release := func(extra map[string]any) error {
		return (kindworld.Release{Kubeconfig: rt.p.w.Kubeconfig, Name: tb.tn.Name, Namespace: tb.tn.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
			Values: rt.tenantValues(t, tb, extra), Wait: true, Timeout: 5 * time.Minute}).Apply(logf)
	}
	if err := release(map[string]any{"jobs": map[string]any{"userNamespaces": false}}); err != nil {
		t.Fatalf("tenant-b with jobs.userNamespaces=false: %v", err)
	}
	if _, err := readyManager(ctx, rt.p.cs, tb.tn, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	off, offWhere, err := usernsProbe(ctx, rt, tb, "userns-off")
	if err != nil {
		t.Errorf("user namespaces off (tenant-b): %v", err)
	}
	controls := 0
	for _, c := range userns.Checks(off) {
		if c.Err == nil {
			t.Errorf("control (tenant-b, jobs.userNamespaces=false, %s): %s passed: the check cannot tell a user namespace from the host's", offWhere, c.Name)
		} else {
			controls++
		}
	}
	logf("userns off: tenant-b %s: uid_map %q, build process UID %d, root's file owned by %d", offWhere, off.UIDMap, off.NodeUID, off.FileOwner)
	if err := release(nil); err != nil {
		t.Errorf("tenant-b back to its values: %v", err)
	}
	state := "on"
	if passed != 3 || controls != 3 || inUserns != jobs || len(probs) > 0 {
		state = "FAIL"
	}
	root, _ := userns.Root(mustMap(on.UIDMap))
	return fmt.Sprintf("userns=%s kubelets-supporting=%d/%d jobs-in-userns=%d/%d uid-map=%s node-uid=%d file-owner=%d checks=%d/3 controls-failed=%d/3",
		state, countNodes(sel)-len(probs), countNodes(sel), inUserns, jobs, root, on.NodeUID, on.FileOwner, passed, controls)
}

func mustMap(s string) []userns.Range {
	m, _ := userns.ParseUIDMap(s)
	return m
}

func countNodes(list []tenants.Tenant) int {
	n := 0
	for _, t := range list {
		n += len(t.Nodes)
	}
	return n
}
