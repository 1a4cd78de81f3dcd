//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/s3provision"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// scenario is one fault scenario of `make e2e-faults`.
type scenario struct {
	name string
	run  func(t *testing.T, f *faults) error
}

// faults is the platform plus the ledger of every build the scenarios submit.
type faults struct {
	*platform
	jobs   *ledger
	script string // the Kaniko template's script
}

// ledger records how each build job ended, by job ID: the last attempt counts (a job re-run after its pod was
// killed is not lost if the re-run succeeds).
type ledger struct {
	mu   sync.Mutex
	last map[int64]string
}

func (l *ledger) record(id int64, outcome string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last[id] = outcome
}

// lost are the jobs whose last attempt did not succeed, sorted.
func (l *ledger) lost() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id, o := range l.last {
		if o != "succeeded" {
			out = append(out, fmt.Sprintf("job %d: %s", id, o))
		}
	}
	sort.Strings(out)
	return out
}

// build runs one build job through runBuild and records its outcome.
func (f *faults) build(ctx context.Context, r *jobpod.Runner, j BuildJob) (BuildOutcome, error) {
	out, err := runBuild(ctx, f.cs, r, j)
	switch {
	case err != nil:
		f.jobs.record(j.JobID, "error: "+firstLineOf(err.Error()))
	case !out.Succeeded:
		f.jobs.record(j.JobID, "build failed")
	case !out.PodRemoved:
		f.jobs.record(j.JobID, "pod not removed")
	default:
		f.jobs.record(j.JobID, "succeeded")
	}
	return out, err
}

// TestFaults runs the fault scenarios of the job tier, one subtest each (go test -run 'TestFaults/minio' runs one;
// the name is the scenario's word after its number), and ends with the faults line, which says how many ran.
func TestFaults(t *testing.T) {
	p := setupPlatform(t, platformOptions{})
	script, err := templateScript(filepath.Join(repo, "ci/templates/kaniko.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	f := &faults{platform: p, jobs: &ledger{last: map[int64]string{}}, script: script}
	all := []scenario{
		{"1 load: 20 jobs at once, the 21st refused by the quota", scenarioLoad},
		{"2 MinIO down during a build: built without cache, cache used again after", scenarioMinIODown},
		{"3 layer-cache registry down: built without cache, cache used again after", scenarioLayerCacheDown},
		{"4 job pod killed mid-build and mid-push: nothing tagged, the re-run succeeds", scenarioKilledJob},
		{"5 helm upgrade with a config change, then rollback: in effect, exact, nothing recreated", scenarioUpgradeRollback},
		{"6 tenant nodes cordoned: job pods wait, never land elsewhere", scenarioCordon},
		{"7 uninstall of tenant-b: nothing left but the documented, tenant-a unaffected", scenarioUninstall},
		{"8 bootstrap and S3 provisioning re-applied: idempotent; rotation works and revokes", scenarioReapplyRotate},
	}
	ran, passed := 0, 0
	var durations []string
	for _, s := range all {
		word := strings.ToLower(strings.TrimSuffix(strings.Fields(s.name)[1], ":"))
		t.Run(word, func(t *testing.T) {
			ran++
			start := time.Now()
			err := s.run(t, f)
			d := time.Since(start).Round(time.Second)
			if err != nil {
				t.Errorf("scenario %s: %v", s.name, err)
				logf("FAIL %s (%s): %v", s.name, d, err)
			} else {
				passed++
				logf("PASS %s (%s)", s.name, d)
			}
			durations = append(durations, fmt.Sprintf("%s=%s", strings.Fields(s.name)[0], d))
		})
	}
	orphans := countOrphans(context.Background(), p.cs, p.set)
	if orphans != 0 {
		t.Errorf("%d job pods left behind", orphans)
	}
	lost := f.jobs.lost()
	for _, l := range lost {
		t.Errorf("lost %s", l)
	}
	fmt.Printf("faults: scenarios=%d passed=%d orphans=%d lost-jobs=%d (builds %d; durations %s)\n", ran, passed, orphans, len(lost), len(f.jobs.last), strings.Join(durations, " "))
}

func scenarioLoad(t *testing.T, f *faults) error {
	ctx := context.Background()
	a := f.set.Tenants["tenant-a"]
	boot := values(t, "values/bootstrap.yaml", "values/bootstrap-e2e.yaml", "values/load-bootstrap.yaml")
	if err := (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", Chart: filepath.Join(repo, "charts/tenant-bootstrap"), Values: boot}).Apply(logf); err != nil {
		return err
	}
	load := kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: a.Name, Namespace: a.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
		Values: values(t, "values/tenant-a.yaml", "values/load-tenant-a.yaml"), Wait: true, Timeout: 5 * time.Minute}
	if err := load.Apply(logf); err != nil {
		return err
	}
	defer func() {
		_ = (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", Chart: filepath.Join(repo, "charts/tenant-bootstrap"), Values: values(t, "values/bootstrap.yaml", "values/bootstrap-e2e.yaml")}).Apply(logf)
		_ = (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: a.Name, Namespace: a.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"), Values: values(t, "values/tenant-a.yaml"), Wait: true, Timeout: 5 * time.Minute}).Apply(logf)
	}()
	r, err := runnerConfig(ctx, f.cs, a.Namespace, a.Name)
	if err != nil {
		return err
	}
	// The quota's usage is counted asynchronously: wait until it shows only the layer-cache registry, so pods of
	// earlier scenarios that are already gone do not take slots.
	if err := waitQuotaPods(ctx, f.cs, a.Namespace, a.Name+"-quota", "at most 1 (the layer-cache registry) before the load", func(n int64) bool { return n <= 1 }); err != nil {
		return err
	}
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n", "hello.txt": "hello\n"}
	var wg sync.WaitGroup
	results := make([]BuildOutcome, 20)
	errs := make([]error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// The builds hold for a moment first, so all 20 are running when the 21st is tried.
			results[i], errs[i] = f.build(ctx, r, BuildJob{Tenant: a.Name, Namespace: a.Namespace, JobID: int64(1000 + i), Files: files,
				Destination: fmt.Sprintf("%s/tenant-a/load:%d", kindworld.DestRegistryHost, i), Script: "sleep 20\n" + f.script})
		}(i)
		if i == 19 {
			// all 20 are admitted (the quota counts them and the registry): the 21st must be refused while they run
			if err := waitQuotaPods(ctx, f.cs, a.Namespace, a.Name+"-quota", "21 (20 jobs and the registry)", func(n int64) bool { return n >= 21 }); err != nil {
				wg.Wait()
				return err
			}
			extra, err := trivialJob(ctx, f.cs, r, a.Namespace, 1099, "true")
			if err == nil || !strings.Contains(err.Error(), "exceeded quota") {
				if extra != nil {
					_ = f.cs.CoreV1().Pods(a.Namespace).Delete(ctx, extra.Name, metav1.DeleteOptions{})
				}
				wg.Wait()
				return fmt.Errorf("the 21st job pod was not refused by the quota: %v", err)
			}
			logf("21st job pod refused: %s", firstLineOf(err.Error()))
		}
	}
	wg.Wait()
	ok := 0
	for i := range results {
		if errs[i] == nil && results[i].Succeeded && results[i].PodRemoved {
			ok++
		} else if errs[i] != nil {
			logf("load job %d: %v", i, errs[i])
		}
	}
	if ok != 20 {
		return fmt.Errorf("%d/20 concurrent builds succeeded", ok)
	}
	return nil
}

func scenarioCordon(t *testing.T, f *faults) error {
	ctx := context.Background()
	a := f.set.Tenants["tenant-a"]
	r, err := runnerConfig(ctx, f.cs, a.Namespace, a.Name)
	if err != nil {
		return err
	}
	setCordon := func(v bool) error {
		n, err := f.cs.CoreV1().Nodes().Get(ctx, a.Nodes[0], metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Unschedulable = v
		_, err = f.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	}
	if err := setCordon(true); err != nil {
		return err
	}
	defer func() { _ = setCordon(false) }()
	pod, err := trivialJob(ctx, f.cs, r, a.Namespace, 2001, "echo ran")
	if err != nil {
		return err
	}
	defer func() {
		_ = f.cs.CoreV1().Pods(a.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	}()
	// the scheduler has looked at the pod and found no node for it (PodScheduled False, Unschedulable)
	cur, err := waitPod(ctx, f.cs, a.Namespace, pod.Name, "to be found unschedulable", time.Second, 2*time.Minute, func(p *corev1.Pod) (bool, error) {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true, nil
			}
		}
		return p.Spec.NodeName != "", nil // scheduled after all: the check below reports where
	})
	if err != nil {
		return err
	}
	if cur.Spec.NodeName != "" || cur.Status.Phase != corev1.PodPending {
		return fmt.Errorf("with tenant-a's node cordoned the job pod went to %q (%s) instead of waiting", cur.Spec.NodeName, cur.Status.Phase)
	}
	if err := setCordon(false); err != nil {
		return err
	}
	if _, err := waitPhase(ctx, f.cs, a.Namespace, pod.Name, 2*time.Minute, corev1.PodSucceeded, corev1.PodRunning); err != nil {
		return err
	}
	cur, _ = f.cs.CoreV1().Pods(a.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if cur.Spec.NodeName != a.Nodes[0] {
		return fmt.Errorf("after uncordon the job ran on %s, not %s", cur.Spec.NodeName, a.Nodes[0])
	}
	return nil
}

func scenarioUninstall(t *testing.T, f *faults) error {
	ctx := context.Background()
	b := f.set.Tenants["tenant-b"]
	uninstall(t, f.w.Kubeconfig, b.Namespace, b.Name)
	defer func() {
		_ = (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: b.Name, Namespace: b.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"), Values: values(t, "values/tenant-b.yaml"), Wait: true, Timeout: 5 * time.Minute}).Apply(logf)
	}()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + b.Name}
	var left []string
	_ = wait.For(ctx, "tenant-b's release objects to be gone", 2*time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		left = nil
		if l, _ := f.cs.CoreV1().Pods(b.Namespace).List(ctx, sel); len(l.Items) > 0 {
			left = append(left, fmt.Sprintf("%d pods", len(l.Items)))
		}
		if l, _ := f.cs.RbacV1().Roles(b.Namespace).List(ctx, sel); len(l.Items) > 0 {
			left = append(left, "roles")
		}
		if l, _ := f.cs.RbacV1().RoleBindings(b.Namespace).List(ctx, sel); len(l.Items) > 0 {
			left = append(left, "rolebindings")
		}
		if l, _ := f.cs.NetworkingV1().NetworkPolicies(b.Namespace).List(ctx, sel); len(l.Items) > 0 {
			left = append(left, "networkpolicies")
		}
		if l, _ := f.cs.CoreV1().ConfigMaps(b.Namespace).List(ctx, sel); len(l.Items) > 0 {
			left = append(left, "configmaps")
		}
		if l, _ := f.cs.CoreV1().ServiceAccounts(b.Namespace).List(ctx, sel); len(l.Items) > 0 {
			left = append(left, "serviceaccounts")
		}
		return len(left) == 0, nil
	})
	if len(left) > 0 {
		return fmt.Errorf("after helm uninstall of tenant-b these remain: %v", left)
	}
	// Documented as retained: the namespace (tenant-bootstrap keeps it), the S3 Secret and the bucket data.
	if _, err := f.cs.CoreV1().Secrets(b.Namespace).Get(ctx, b.Name+"-s3", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("the S3 Secret (documented as retained) is gone: %v", err)
	}
	// tenant-a is unaffected and still builds.
	a := f.set.Tenants["tenant-a"]
	r, err := runnerConfig(ctx, f.cs, a.Namespace, a.Name)
	if err != nil {
		return err
	}
	out, err := f.build(ctx, r, BuildJob{Tenant: a.Name, Namespace: a.Namespace, JobID: 3001,
		Files: map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\n", "a.txt": "a\n"}, Destination: kindworld.DestRegistryHost + "/tenant-a/after-uninstall:1", Script: f.script})
	if err != nil || !out.Succeeded {
		return fmt.Errorf("tenant-a could not build after tenant-b was uninstalled: %v\n%s", err, tail(out.Log, 20))
	}
	return nil
}

func scenarioReapplyRotate(t *testing.T, f *faults) error {
	ctx := context.Background()
	uid := func() map[string]string {
		out := map[string]string{}
		for _, tn := range f.set.Sorted() {
			if q, err := f.cs.CoreV1().ResourceQuotas(tn.Namespace).Get(ctx, tn.Name+"-quota", metav1.GetOptions{}); err == nil {
				out["quota/"+tn.Name] = string(q.UID)
			}
			if s, err := f.cs.CoreV1().Secrets(tn.Namespace).Get(ctx, tn.Name+"-s3", metav1.GetOptions{}); err == nil {
				out["secret/"+tn.Name] = s.ResourceVersion + "/" + string(s.Data["secretKey"])
			}
		}
		return out
	}
	before := uid()
	if err := (kindworld.Release{Kubeconfig: f.w.Kubeconfig, Name: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", Chart: filepath.Join(repo, "charts/tenant-bootstrap"), Values: values(t, "values/bootstrap.yaml", "values/bootstrap-e2e.yaml")}).Apply(logf); err != nil {
		return err
	}
	prov, err := s3provision.New(s3provision.Endpoint{Address: f.nodeIP + ":30900", Region: "us-east-1", AccessKey: "gkt-e2e-admin", SecretKey: "gkt-e2e-admin-secret-0123456789"}, f.cs)
	if err != nil {
		return err
	}
	for _, tn := range f.set.Sorted() {
		rep, err := prov.Provision(ctx, tn, s3provision.Options{Layout: f.set.S3.Layout})
		if err != nil {
			return err
		}
		if len(rep.Created) > 0 || rep.Rotated {
			return fmt.Errorf("re-running provisioning changed things: %s", rep)
		}
	}
	after := uid()
	for k, v := range before {
		if after[k] != v {
			return fmt.Errorf("%s changed on re-apply", k)
		}
	}
	b := f.set.Tenants["tenant-b"]
	old := secretKeys(ctx, t, f.cs, b)
	rep, err := prov.Provision(ctx, b, s3provision.Options{Layout: f.set.S3.Layout, Rotate: true})
	if err != nil {
		return err
	}
	nw := secretKeys(ctx, t, f.cs, b)
	if !rep.Rotated || nw[1] == old[1] {
		return fmt.Errorf("rotation did not produce a new key: %s", rep)
	}
	if err := listWith(ctx, f.nodeIP, nw, b.Bucket); err != nil {
		return fmt.Errorf("the rotated key does not work: %v", err)
	}
	if err := listWith(ctx, f.nodeIP, old, b.Bucket); err == nil {
		return fmt.Errorf("the old key still works after rotation")
	}
	// the tenant's layer-cache registry reads the key at start: restart it, as docs/operations.md says
	d, err := f.cs.AppsV1().Deployments(b.Namespace).Get(ctx, b.Name+"-layer-cache", metav1.GetOptions{})
	if err == nil {
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations["gitlab-kaniko-tenant.io/rotated-at"] = time.Now().Format(time.RFC3339)
		_, _ = f.cs.AppsV1().Deployments(b.Namespace).Update(ctx, d, metav1.UpdateOptions{})
	}
	return nil
}

func secretKeys(ctx context.Context, t *testing.T, cs kubernetes.Interface, tn tenants.Tenant) [2]string {
	s, err := cs.CoreV1().Secrets(tn.Namespace).Get(ctx, tn.Name+"-s3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return [2]string{string(s.Data["accessKey"]), string(s.Data["secretKey"])}
}

func listWith(ctx context.Context, nodeIP string, keys [2]string, bucket string) error {
	c, err := minio.New(nodeIP+":30900", &minio.Options{Creds: credentials.NewStaticV4(keys[0], keys[1], ""), Region: "us-east-1"})
	if err != nil {
		return err
	}
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{MaxKeys: 1}) {
		if o.Err != nil {
			return o.Err
		}
	}
	return nil
}

func firstLineOf(s string) string { return strings.SplitN(s, "\n", 2)[0] }

// waitQuotaPods waits until the namespace quota's used pod count satisfies ok (the quota controller counts
// asynchronously).
func waitQuotaPods(ctx context.Context, cs kubernetes.Interface, ns, quota, what string, ok func(int64) bool) error {
	return wait.For(ctx, "quota "+ns+"/"+quota+" to count "+what+" pods", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, quota, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		used := q.Status.Used[corev1.ResourcePods]
		return ok(used.Value()), nil
	})
}
