//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// TestModes (make e2e-modes): the two weaker architectures installed for real and run through the real runner,
// with what they give up shown live. In order, on the runner tier's platform:
//  1. namespace mode (as installed): every weakness case of the catalogue is tried and must be blocked, each with
//     its control;
//  2. shared mode (tenant-bootstrap's plan puts both tenants in one namespace, the tenant charts mode=shared): both
//     example pipelines succeed, every job on its tenant's node; every weakness case must work, each with its
//     control (docs/architecture.md claims them);
//  3. daemonset mode (one manager per node, runner.concurrent per node): both pipelines succeed, each job on the
//     node of the manager that took it; then tenant-b gives up its node and the plan adds it to tenant-a's group:
//     the node gets a manager without a tenant-a upgrade, the quota grows with the plan, and two jobs held at once
//     run one per node, each on its manager's node.
//
// The platform is put back in namespace mode at the end, whatever happened.
func TestModes(t *testing.T) {
	rt := setupRunnerTier(t, false)
	ctx := context.Background()
	t.Cleanup(func() { rt.switchMode(context.Background(), t, defaultPlan, nil) })

	nsPhase := &phase{t: t, name: "namespace"}
	blocks := 0
	nsCases := rt.weaknessProbes(ctx, nsPhase, "namespace")
	for _, c := range nsCases {
		switch {
		case c.Worked:
			nsPhase.Errorf("namespace mode did not block %s", c)
		case !c.ControlOK:
			nsPhase.Errorf("control failed, the block proves nothing: %s", c)
		default:
			blocks++
		}
	}

	shared := &phase{t: t, name: "shared"}
	rt.switchMode(ctx, t, sharedPlan, sharedTenantValues)
	rt.modePipelines(ctx, shared, "shared", 1)
	shown := 0
	sharedCases := rt.weaknessProbes(ctx, shared, "shared")
	for _, c := range sharedCases {
		switch {
		case !c.Worked:
			shared.Errorf("shared mode: a weakness docs/architecture.md claims was not reproduced: %s", c)
		case !c.ControlOK:
			shared.Errorf("control failed, the weakness proves nothing: %s", c)
		default:
			shown++
		}
	}
	if len(sharedCases) != len(nsCases) {
		shared.Errorf("%d cases ran in shared mode, %d in namespace mode: each weakness must be shown next to its block", len(sharedCases), len(nsCases))
	}

	daemonset := &phase{t: t, name: "daemonset"}
	rt.switchMode(ctx, t, daemonsetPlan, daemonsetTenantVals)
	rt.modePipelines(ctx, daemonset, "daemonset", 2)
	grown := rt.nodeJoinsGroup(ctx, daemonset)

	fmt.Printf("modes: shared=%s daemonset=%s weaknesses-shown=%d namespace-mode-blocks=%d cases=%d daemonset-node-added=%s\n",
		shared, daemonset, shown, blocks, len(harnessCases(nsCases)), grown)
}

// harnessCases is the distinct case names of a run.
func harnessCases(cs []modeCase) map[string]bool {
	out := map[string]bool{}
	for _, c := range cs {
		out[c.Name] = true
	}
	return out
}

// runnerOn matches the trace line in which the runner names itself: "  on <runner name> <token>, system ID: …"
// (common/build.go), after the terminal escape that starts every trace line.
var runnerOn = regexp.MustCompile(`(?m)^(?:\x1b\[[0-9;]*[A-Za-z])*\s*on (\S+) \S+, system ID: `)

// managerNode is the node in the runner name of a daemonset-mode trace (<tenant>-<node>), or "".
func managerNode(tenant, trace string) string {
	m := runnerOn.FindStringSubmatch(trace)
	if m == nil || !strings.HasPrefix(m[1], tenant+"-") {
		return ""
	}
	return strings.TrimPrefix(m[1], tenant+"-")
}

// modePipelines runs both example projects' pipelines (the commit of that version) at once in the current mode:
// each must succeed with every job on its tenant's nodes, and in daemonset mode on the node of the manager that took
// it.
func (rt *runnerTier) modePipelines(ctx context.Context, t *phase, mode string, version int) {
	var wg sync.WaitGroup
	for _, tp := range rt.projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := runPipeline(ctx, rt.p.cs, rt.f, tp, version)
			if err != nil {
				t.Errorf("%s mode: %s v%d: %v", mode, tp.tn.Name, version, err)
				return
			}
			logf("modes: %s mode: %s v%d: pipeline %d %s in %s", mode, tp.tn.Name, version, r.Pipeline.ID, r.Pipeline.Status, r.Wall.Round(time.Second))
			if r.Pipeline.Status != "success" {
				t.Errorf("%s mode: %s v%d: pipeline %s (%s)", mode, tp.tn.Name, version, r.Pipeline.Status, r.Pipeline.YamlErrors)
			}
			for _, j := range r.Jobs {
				what := fmt.Sprintf("%s mode: %s v%d job %s", mode, tp.tn.Name, version, j.Name)
				if j.Status != "success" {
					t.Errorf("%s %s (%s):\n%s", what, j.Status, j.FailureReason, tail(r.Traces[j.Name], 30))
				}
				seen := r.Pods[fmt.Sprint(j.ID)]
				if seen == nil {
					t.Errorf("%s: no job pod seen", what)
					continue
				}
				node := seen.Pod.Spec.NodeName
				if !contains(tp.tn.Nodes, node) {
					t.Errorf("%s ran on %s, not on the tenant's nodes %v", what, node, tp.tn.Nodes)
				}
				if seen.Pod.Namespace != tp.tn.Namespace {
					t.Errorf("%s ran in namespace %s, not the plan's %s", what, seen.Pod.Namespace, tp.tn.Namespace)
				}
				if mode == "daemonset" {
					if m := managerNode(tp.tn.Name, r.Traces[j.Name]); m != node {
						t.Errorf("%s ran on %s but was taken by the manager of node %q:\n%s", what, node, m, head(r.Traces[j.Name], 3))
					}
				}
			}
		}()
	}
	wg.Wait()
}

// head is the first n lines of s.
func head(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// nodeJoinsGroup: in daemonset mode, tenant-b's release is removed and the plan moves its node into tenant-a's
// group. tenant-a's DaemonSet starts a manager there without any tenant-a upgrade; the quota grows to concurrency x
// nodes; two jobs held at a gate (each manager takes one: concurrent is 1 per node) run one per node, each on its
// manager's node. Returns what it saw, for the summary.
func (rt *runnerTier) nodeJoinsGroup(ctx context.Context, t *phase) string {
	cs := rt.p.cs
	a, b := rt.p.set.Tenants["tenant-a"], rt.p.set.Tenants["tenant-b"]
	quotaCPU := func() (resource.Quantity, error) {
		q, err := cs.CoreV1().ResourceQuotas(a.Namespace).Get(ctx, a.Name+"-quota", metav1.GetOptions{})
		if err != nil {
			return resource.Quantity{}, err
		}
		return q.Spec.Hard[corev1.ResourceLimitsCPU], nil
	}
	before, err := quotaCPU()
	if err != nil {
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	if err := rt.uninstallTenant(b); err != nil {
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	if err := rt.p.plan(ctx, daemonsetGrownPlan...); err != nil {
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	grown := rt.p.set.Tenants["tenant-a"]
	if len(grown.Nodes) != 2 {
		t.Fatalf("the grown plan gives tenant-a nodes %v, want 2", grown.Nodes)
	}
	newNode := b.Nodes[0]
	err = wait.For(ctx, "a tenant-a manager Ready on "+newNode, 2*time.Second, 5*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := managerPods(ctx, cs, grown)
		if err != nil {
			return false, wait.Retry(err)
		}
		for _, p := range pods {
			if p.Spec.NodeName == newNode && podReady(p) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	after, err := quotaCPU()
	if err != nil {
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	if after.Cmp(before) <= 0 {
		t.Errorf("tenant-a's quota limits.cpu is %s after its group grew to 2 nodes, %s before: the plan did not size it per node", after.String(), before.String())
	}
	tp := rt.project("tenant-a")
	tp.tn = grown
	watch := watchJobPods(ctx, cs, grown.Namespace)
	// Both jobs hold at a gate until two build containers run at once: with one job per manager, that is only
	// possible with the added node's manager taking one, however slowly its pod starts.
	g := newGate("daemonset-node-added")
	p, err := startPipeline(ctx, rt.f, tp, "daemonset-node-added", pipelines.Scenario("daemonset-node-added", pipelines.Params{Gate: g.Wait()}))
	if err != nil {
		watch.Stop()
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	defer func() { _ = g.Open(rt.p.nodeIP) }()
	if _, err := waitBuildsRunning(ctx, cs, grown.Namespace, 2, 5*time.Minute); err != nil {
		t.Errorf("daemonset mode, grown group: %v", err)
	}
	if err := g.Open(rt.p.nodeIP); err != nil {
		watch.Stop()
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	jobs, traces, err := p.finish(ctx, rt.f, 10*time.Minute)
	pods := watch.Stop()
	if err != nil {
		t.Fatalf("daemonset mode, grown group: %v", err)
	}
	used := map[string]bool{}
	for _, j := range jobs {
		seen := pods[fmt.Sprint(j.ID)]
		if j.Status != "success" || seen == nil {
			t.Errorf("daemonset mode, grown group: job %s %s (pod seen: %t):\n%s", j.Name, j.Status, seen != nil, tail(traces[j.ID], 20))
			continue
		}
		node := seen.Pod.Spec.NodeName
		used[node] = true
		if m := managerNode(grown.Name, traces[j.ID]); m != node {
			t.Errorf("daemonset mode, grown group: job %s ran on %s but was taken by the manager of node %q", j.Name, node, m)
		}
	}
	if !used[newNode] || len(used) != 2 {
		t.Errorf("daemonset mode, grown group: the two held jobs ran on %v; with runner.concurrent=%d per node each manager must take one, the added node %s included", keysOf(used), daemonsetPerNode, newNode)
	}
	return fmt.Sprintf("%s(manager=ready,quota-limits-cpu=%s->%s,jobs-on=%d-nodes)", newNode, before.String(), after.String(), len(used))
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
