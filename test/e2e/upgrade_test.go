//go:build e2e

package e2e

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	action4 "helm.sh/helm/v4/pkg/action"
	loader4 "helm.sh/helm/v4/pkg/chart/v2/loader"
	cli4 "helm.sh/helm/v4/pkg/cli"
	kube4 "helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/release"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/s3provision"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// previousRelease is the release of a chart the upgrade starts from, found from the history of its Chart.yaml
// (release.PreviousRelease): tags are not needed, so shallow CI fetches and mirrors work too.
func previousRelease(t *testing.T, chart string) release.Previous {
	p, err := release.PreviousRelease(repo, chart)
	if err != nil {
		t.Fatalf("no release to upgrade from: %v", err)
	}
	logf("%s: upgrading from %s", chart, p)
	return p
}

// releasedChart extracts the tenant chart as it was at its previous release.
func releasedChart(t *testing.T, p release.Previous) string {
	return releasedChartAt(t, p.Commit, "charts/gitlab-kaniko-tenant")
}

// releasedChartAt extracts a chart directory as it was at a commit.
func releasedChartAt(t *testing.T, commit, chart string) string {
	dir := t.TempDir()
	archive := exec.Command("git", "-C", repo, "archive", "--format=tar", commit, chart)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, _ := archive.StdoutPipe()
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		t.Fatal(err)
	}
	if err := untar.Wait(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, chart)
}

func upgradeTenant(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) tenants.Tenant {
	tn := tenants.Tenant{Name: "tenant-up", Namespace: ns, Bucket: ns + "-cache"}
	if err := ensureNamespace(ctx, cs, ns, map[string]string{"pod-security.kubernetes.io/enforce": "baseline", "gitlab-kaniko-tenant.io/tenant": "tenant-up"}); err != nil {
		t.Fatal(err)
	}
	cp, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "node-role.kubernetes.io/control-plane"})
	if err != nil || len(cp.Items) == 0 {
		t.Fatalf("control plane: %v", err)
	}
	node := cp.Items[0]
	if node.Labels["gitlab-kaniko-tenant.io/upgrade-check"] != "tenant-up" {
		node.Labels["gitlab-kaniko-tenant.io/upgrade-check"] = "tenant-up"
		if _, err := cs.CoreV1().Nodes().Update(ctx, &node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	prov, err := s3provision.New(s3provision.Endpoint{Address: controlPlaneIP(ctx, t, cs) + ":30900", Region: "us-east-1", AccessKey: "gkt-e2e-admin", SecretKey: "gkt-e2e-admin-secret-0123456789"}, cs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Provision(ctx, tn, s3provision.Options{}); err != nil {
		t.Fatal(err)
	}
	return tn
}

// TestUpgradeFromPreviousRelease installs the previous released tenant chart, upgrades to the working tree with a
// config change, then rolls back: no object is recreated, no untouched pod restarts, the new config.toml is in
// effect, and the rollback restores the old one exactly. The same install is repeated with a Helm 4 client.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	ctx := context.Background()
	kubeconfig := filepath.Join(cacheDir(), "kubeconfig-gkt-e2e")
	if _, err := os.Stat(kubeconfig); err != nil {
		t.Fatalf("run make e2e first (the upgrade check reuses its cluster): %v", err)
	}
	cs, err := kindworld.Client(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	prev := previousRelease(t, "charts/gitlab-kaniko-tenant")
	ns := "tenant-up"
	// Nothing of the check stays on the cluster: both releases, their namespaces and the control plane's label
	// (a rolled-back release left running kept a layer-cache Deployment that never became ready).
	t.Cleanup(func() { cleanupUpgradeCheck(t, cs, kubeconfig, "tenant-up", "tenant-up4") })
	upgradeTenant(ctx, t, cs, ns)
	rel := kindworld.Release{Kubeconfig: kubeconfig, Name: "tenant-up", Namespace: ns, Wait: true, Timeout: 5 * time.Minute}
	uninstall(t, kubeconfig, ns, "tenant-up")
	rel.Chart, rel.Values = releasedChart(t, prev), values(t, "values/tenant-up.yaml")
	if err := rel.Apply(logf); err != nil {
		t.Fatalf("installing %s: %v", prev, err)
	}
	before := snap(ctx, t, cs, ns)
	if len(before.pods) == 0 || before.config == "" {
		t.Fatalf("the previous release runs nothing to compare: %+v", before)
	}
	rel.Chart = filepath.Join(repo, "charts/gitlab-kaniko-tenant")
	rel.Values = values(t, "values/tenant-up.yaml")
	rel.Values["runner"].(map[string]any)["concurrent"], rel.Values["runner"].(map[string]any)["limit"] = 3, 3
	if err := rel.Apply(logf); err != nil {
		t.Fatalf("upgrading %s → working tree: %v", prev, err)
	}
	after := snap(ctx, t, cs, ns)
	if !strings.Contains(after.config, "concurrent = 3") {
		t.Errorf("the upgraded config.toml does not carry the change")
	}
	if err := before.kept(after, "upgrade"); err != nil {
		t.Error(err)
	}
	if err := (kindworld.Release{Kubeconfig: kubeconfig, Namespace: ns, Name: "tenant-up"}).Rollback(1); err != nil {
		t.Fatal(err)
	}
	back := snap(ctx, t, cs, ns)
	if back.config != before.config {
		t.Errorf("helm rollback did not restore config.toml exactly")
	}
	kept := 0
	for p, uid := range before.pods {
		if after.pods[p] == uid {
			kept++
		}
	}
	if !t.Failed() { // the claim holds only when every check above passed
		logf("upgrade %s → working tree: %d objects kept, %d of %d pods kept (the others' pod templates changed), config change applied, rollback exact", prev, len(before.uids), kept, len(before.pods))
	}

	// tenant-bootstrap: back to the previous release and forward to the working tree again; namespaces, quotas and
	// policies of the tenants must survive both directions untouched.
	bootRelease := previousRelease(t, "charts/tenant-bootstrap")
	bootPrev := releasedChartAt(t, bootRelease.Commit, "charts/tenant-bootstrap")
	bootVals := values(t, "values/bootstrap.yaml", "values/bootstrap-e2e.yaml")
	bootUIDs := func() map[string]string {
		out := map[string]string{}
		for _, tns := range []string{"tenant-a", "tenant-b"} {
			if n, err := cs.CoreV1().Namespaces().Get(ctx, tns, metav1.GetOptions{}); err == nil {
				out["Namespace/"+tns] = string(n.UID)
			}
			if q, err := cs.CoreV1().ResourceQuotas(tns).Get(ctx, tns+"-quota", metav1.GetOptions{}); err == nil {
				out["ResourceQuota/"+tns] = string(q.UID)
			}
			if np, err := cs.NetworkingV1().NetworkPolicies(tns).Get(ctx, "default-deny", metav1.GetOptions{}); err == nil {
				out["NetworkPolicy/"+tns+"/default-deny"] = string(np.UID)
			}
		}
		return out
	}
	b0 := bootUIDs()
	if len(b0) != 6 {
		t.Fatalf("run make e2e first: tenant-bootstrap objects missing (%v)", b0)
	}
	for _, chart := range []string{bootPrev, filepath.Join(repo, "charts/tenant-bootstrap")} {
		if err := (kindworld.Release{Kubeconfig: kubeconfig, Name: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", Chart: chart, Values: bootVals}).Apply(logf); err != nil {
			t.Fatalf("tenant-bootstrap %s: %v", chart, err)
		}
		for k, uid := range bootUIDs() {
			if b0[k] != uid {
				t.Errorf("tenant-bootstrap upgrade recreated %s", k)
			}
		}
	}
	if !t.Failed() {
		logf("tenant-bootstrap %s ⇄ working tree: %d tenant objects kept", bootRelease, len(b0))
	}

	// Helm 4 client: the same chart, installed by helm.sh/helm/v4's action package.
	ns4 := "tenant-up4"
	upgradeTenant(ctx, t, cs, ns4)
	vals := values(t, "values/tenant-up.yaml")
	uninstall(t, kubeconfig, ns4, "tenant-up") // left over from an interrupted run
	if err := helm4Install(kubeconfig, ns4, "tenant-up", filepath.Join(repo, "charts/gitlab-kaniko-tenant"), vals); err != nil {
		t.Fatalf("helm 4 install: %v", err)
	}
	h4 := snap(ctx, t, cs, ns4)
	// the Helm 3 install of the same working-tree chart is `after` (before the rollback); same release name, so the
	// same object names
	if got, want := slices.Sorted(maps.Keys(h4.uids)), slices.Sorted(maps.Keys(after.uids)); !slices.Equal(got, want) || len(h4.pods) != len(after.pods) {
		t.Errorf("helm 4 installed %v (%d pods), helm 3 %v (%d pods)", got, len(h4.pods), want, len(after.pods))
	}
	if want := helm3Config(t, cs, ns4, "tenant-up", vals); h4.config != want {
		t.Errorf("helm 4 installed a different config.toml than the helm 3 SDK renders for the same chart and values")
	}
	if !t.Failed() {
		logf("helm 4 client: installed the same %d objects and %d pods; config.toml identical", len(h4.uids), len(h4.pods))
	}
	uninstall(t, kubeconfig, ns4, "tenant-up")
}

// cleanupUpgradeCheck removes what TestUpgradeFromPreviousRelease created: the tenant-up releases, their namespaces
// (waiting until they are gone) and the control plane's upgrade-check label. The S3 bucket and its keys stay, as
// after an uninstall (documented in docs/operations.md).
func cleanupUpgradeCheck(t *testing.T, cs kubernetes.Interface, kubeconfig string, namespaces ...string) {
	ctx := context.Background()
	for _, ns := range namespaces {
		if err := (kindworld.Release{Kubeconfig: kubeconfig, Namespace: ns, Name: "tenant-up", Timeout: 2 * time.Minute}).Uninstall(logf); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("cleanup: namespace %s: %v", ns, err)
			continue
		}
		if err := wait.For(ctx, "namespace "+ns+" gone", 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "gitlab-kaniko-tenant.io/upgrade-check"})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, n := range nodes.Items {
		delete(n.Labels, "gitlab-kaniko-tenant.io/upgrade-check")
		if _, err := cs.CoreV1().Nodes().Update(ctx, &n, metav1.UpdateOptions{}); err != nil {
			t.Errorf("cleanup: node %s: %v", n.Name, err)
		}
	}
	logf("upgrade check: releases, namespaces %v and the node label removed", namespaces)
}

// helm3Config is the config.toml the Helm 3 SDK renders for the working-tree tenant chart.
func helm3Config(t *testing.T, cs kubernetes.Interface, ns, release string, vals map[string]any) string {
	t.Helper()
	sv, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	c, err := render.Load(filepath.Join(repo, "charts/gitlab-kaniko-tenant"))
	if err != nil {
		t.Fatal(err)
	}
	cluster := liveCluster(t, cs, ns)
	res, err := c.Render(render.Options{ReleaseName: release, Namespace: ns, KubeVersion: sv.GitVersion, Values: vals, Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects() {
		if o.GetKind() == "ConfigMap" && o.GetName() == release+"-runner" {
			cfg, _, _ := unstructured.NestedString(o.Object, "data", "config.template.toml")
			return cfg
		}
	}
	t.Fatalf("the helm 3 render has no ConfigMap %s-runner", release)
	return ""
}

func helm4Install(kubeconfig, ns, name, chartDir string, vals map[string]any) error {
	s := cli4.New()
	s.KubeConfig = kubeconfig
	s.SetNamespace(ns)
	cfg := action4.NewConfiguration()
	if err := cfg.Init(s.RESTClientGetter(), ns, "secret"); err != nil {
		return err
	}
	ch, err := loader4.Load(chartDir)
	if err != nil {
		return err
	}
	in := action4.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.WaitStrategy, in.Timeout = name, ns, kube4.StatusWatcherStrategy, 5*time.Minute
	_, err = in.Run(ch, vals)
	return err
}
