//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
)

func sample(tenant, greeting string) map[string]string {
	return map[string]string{
		"Dockerfile": fmt.Sprintf(`FROM %[1]s/%[3]s AS build
WORKDIR /src
# The dependency step (what mvn dependency:go-offline / dotnet restore are in Java/.NET): compile the standard
# library into the build cache. Code-only changes reuse this layer from the tenant's layer cache.
COPY go.mod ./
RUN go build std && go version && echo %[2]s > /etc/dependency-run
COPY main.go ./
RUN go build -o /out/app .
FROM scratch AS runtime
COPY --from=build /out/app /app
USER 65534
ENTRYPOINT ["/app"]
`, kindworld.DestRegistryHost, runID, toolchainImage),
		"go.mod":  "module example.com/" + tenant + "\n\ngo 1.26\n",
		"main.go": fmt.Sprintf("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(%q) }\n", greeting),
	}
}

func TestJobTier(t *testing.T) {
	ctx := context.Background()
	p := setupPlatform(t, platformOptions{})
	w, cs, set, nodeIP := p.w, p.cs, p.set, p.nodeIP
	script, err := templateScript(filepath.Join(repo, "ci/templates/kaniko.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type result = struct{ cold, warm BuildOutcome }
	results := map[string]result{}
	var pickups []time.Duration
	for i, tn := range set.Sorted() {
		r, err := runnerConfig(ctx, cs, tn.Namespace, tn.Name)
		if err != nil {
			t.Fatal(err)
		}
		dest := fmt.Sprintf("%s/%s/app", kindworld.DestRegistryHost, tn.Name)
		var res result
		for round, greeting := range []string{"hello from " + tn.Name + " v1", "hello from " + tn.Name + " v2"} {
			out, err := runBuild(ctx, cs, r, BuildJob{Tenant: tn.Name, Namespace: tn.Namespace, JobID: int64(100*(i+1) + round),
				Files: sample(tn.Name, greeting), Destination: fmt.Sprintf("%s:v%d", dest, round+1), Script: script})
			if err != nil {
				t.Fatal(err)
			}
			pickups = append(pickups, out.Pickup)
			logf("%s build v%d: succeeded=%t node=%s pickup=%s build=%s cache-hits=%d pod-removed=%t", tn.Name, round+1, out.Succeeded, out.Node, out.Pickup.Round(100*time.Millisecond), out.Duration.Round(time.Second), out.CacheHits, out.PodRemoved)
			if !out.Succeeded {
				t.Fatalf("%s build v%d failed:\n%s", tn.Name, round+1, tail(out.Log, 40))
			}
			if !contains(tn.Nodes, out.Node) {
				t.Errorf("%s job pod ran on %s, not on the tenant's nodes %v", tn.Name, out.Node, tn.Nodes)
			}
			if !out.PodRemoved {
				t.Errorf("%s job pod %s outlived its job", tn.Name, out.Pod)
			}
			if round == 0 {
				res.cold = out
			} else {
				res.warm = out
				if out.CacheHits == 0 {
					t.Errorf("%s: the build after a code-only change found no cached layer:\n%s", tn.Name, tail(out.Log, 30))
				}
			}
			got, err := runImage(ctx, cs, tn.Namespace, fmt.Sprintf("%s:v%d", dest, round+1),
				[]corev1.Toleration{{Key: set.NodePinning.TaintKey, Operator: corev1.TolerationOpEqual, Value: tn.Name, Effect: corev1.TaintEffectNoSchedule}},
				map[string]string{set.NodePinning.LabelKey: tn.Name})
			if err != nil || !strings.Contains(got, greeting) {
				t.Errorf("%s: the built image printed %q (err %v), want %q", tn.Name, got, err, greeting)
			}
		}
		results[tn.Name] = res
	}
	// The layer cache is in the tenant's bucket under layers/, and nothing of it in the other tenant's bucket.
	for _, tn := range set.Sorted() {
		n, err := countObjects(ctx, cs, nodeIP, tn, tn.Bucket, "layers/docker/registry/v2/")
		if err != nil || n == 0 {
			t.Errorf("%s: no layer-cache objects under %s/layers/ (%d, %v)", tn.Name, tn.Bucket, n, err)
		}
		logf("%s: %d layer-cache objects under s3://%s/layers/", tn.Name, n, tn.Bucket)
	}
	attacks := runAttacks(ctx, t, cs, set, nodeIP)
	blocked := 0
	for _, a := range attacks {
		logf("attack %-70s blocked=%t control=%t", a.Name, a.Blocked, a.ControlOK)
		if a.Blocked && a.ControlOK {
			blocked++
		} else {
			t.Errorf("attack %q: blocked=%t, control succeeded=%t (%s)", a.Name, a.Blocked, a.ControlOK, a.Detail)
		}
	}
	orphans := countOrphans(ctx, cs, set)
	if orphans != 0 {
		t.Errorf("%d job pods left behind", orphans)
	}
	var cold, warm time.Duration
	for _, r := range results {
		cold += r.cold.Duration
		warm += r.warm.Duration
	}
	cold /= time.Duration(len(results))
	warm /= time.Duration(len(results))
	sort.Slice(pickups, func(i, j int) bool { return pickups[i] < pickups[j] })
	p50 := pickups[len(pickups)/2]
	if os.Getenv("GKT_DEMO") != "" {
		fmt.Printf(`
== demo summary ==
%[1]s
Look around (the cluster stays up; make demo again reuses it, make e2e-clean removes it):
  export KUBECONFIG=%[2]s
  kubectl get nodes -L gitlab-kaniko-tenant.io/tenant          # tenant nodes, labelled and tainted by gkt nodes assign
  kubectl -n tenant-a get configmap tenant-a-runner -o jsonpath='{.data.config\.template\.toml}'   # the rendered config.toml
  kubectl get networkpolicy -A | grep tenant                     # default deny + per-component policies
  kubectl -n tenant-a get resourcequota,limitrange               # sized from the tenant's concurrency
  kubectl -n registry port-forward svc/registry 5000             # the destination registry with tenant-a/app and tenant-b/app
  ls _out/e2e/traces/latest/                                     # every job's Kaniko trace (timestamps: seconds since start)
`, summaryTable(results), w.Kubeconfig)
	}
	fmt.Printf("e2e: tenants=%d builds=%d cold=%.0fs warm=%.0fs warm/cold=%.2f pickup-p50=%.1fs attacks-blocked=%d/%d orphans=%d\n",
		len(results), len(pickups), cold.Seconds(), warm.Seconds(), warm.Seconds()/cold.Seconds(), p50.Seconds(), blocked, len(attacks), orphans)
}

// pushToolchain pushes the build-stage base image (this machine's Go toolchain + busybox) to the destination
// registry through its NodePort.

func summaryTable(results map[string]struct{ cold, warm BuildOutcome }) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-16s %-10s %-10s %-11s %s\n", "tenant", "node", "cold", "warm", "cache-hits", "image")
	for _, t := range sortedResultKeys(results) {
		r := results[t]
		fmt.Fprintf(&b, "%-10s %-16s %-10s %-10s %-11d %s/%s/app:v2\n", t, r.warm.Node, r.cold.Duration.Round(time.Second), r.warm.Duration.Round(time.Second), r.warm.CacheHits, kindworld.DestRegistryHost, t)
	}
	return b.String()
}

func sortedResultKeys(m map[string]struct{ cold, warm BuildOutcome }) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
