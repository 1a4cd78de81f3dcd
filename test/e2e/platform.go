//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/s3provision"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// platform is what both tiers install before any job: the cluster, MinIO, the destination registry,
// tenant-bootstrap, each tenant's S3 side (gkt s3 provision, for real) and the tenant charts.
type platform struct {
	w      kindworld.World
	cs     kubernetes.Interface
	set    *tenants.Set // the install plan: tenant-bootstrap's values as the charts resolve them
	nodeIP string
	prov   *s3provision.Provisioner
}

// defaultPlan are the tenant-bootstrap values files (under test/e2e) of every tier: namespace mode.
var defaultPlan = []string{"values/bootstrap.yaml", "values/bootstrap-e2e.yaml"}

// plan installs tenant-bootstrap from values files (under test/e2e) and carries out the plan they make, as an admin
// does with the gkt tool: nodes labelled and tainted (moved from another tenant when the plan says so), each
// tenant's bucket, user and credentials Secret in the namespace the plan gives it. p.set is then that plan.
func (p *platform) plan(ctx context.Context, files ...string) error {
	set, err := tenants.FromValues(filepath.Join(repo, "charts/tenant-bootstrap"), files)
	if err != nil {
		return err
	}
	vals, err := render.ValuesFromFiles(files...)
	if err != nil {
		return err
	}
	if err := (kindworld.Release{Kubeconfig: p.w.Kubeconfig, Name: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", Chart: filepath.Join(repo, "charts/tenant-bootstrap"),
		Values: vals}).Apply(logf); err != nil {
		return err
	}
	changes, err := nodes.Assign(ctx, p.cs, set, set.Sorted(), true)
	if err != nil {
		return err
	}
	for _, c := range changes {
		logf("nodes: %s", c)
	}
	if probs, err := nodes.Verify(ctx, p.cs, set, set.Sorted()); err != nil || len(probs) > 0 {
		return fmt.Errorf("nodes after the plan: %v %v", probs, err)
	}
	for _, tn := range set.Sorted() {
		rep, err := p.prov.Provision(ctx, tn, s3provision.Options{Layout: set.S3.Layout})
		if err != nil {
			return err
		}
		logf("s3: %s", rep)
	}
	p.set = set
	return nil
}

// platformOptions adapt the platform to a tier.
type platformOptions struct {
	// TenantValues are values per tenant on top of values/<tenant>.yaml.
	TenantValues func(tenant string) map[string]any
	// BeforeTenants runs after the namespaces and S3 users exist and before the tenant charts are installed
	// (Secrets a user creates first: the runner token, GitLab's CA).
	BeforeTenants func(ctx context.Context, p *platform) error
}

// setupPlatform installs the platform.
func setupPlatform(t *testing.T, opts platformOptions) *platform {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	w := kindworld.World{Mode: os.Getenv("GKT_E2E_MODE"), Cache: cacheDir(), Name: "gkt-e2e", Kubeconfig: filepath.Join(cacheDir(), "kubeconfig-gkt-e2e"), Workers: 2, Log: logf}
	if err := w.Up(); err != nil {
		t.Fatal(err)
	}
	cs, err := kindworld.Client(w.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.LoadJobTier(); err != nil {
		t.Fatal(err)
	}
	if err := w.EnsureNetcheck(repo); err != nil {
		t.Fatal(err)
	}
	infra := Infra{MinIOAdminKey: "gkt-e2e-admin", MinIOAdminSecret: "gkt-e2e-admin-secret-0123456789"}
	if err := installInfra(ctx, cs, infra); err != nil {
		t.Fatal(err)
	}
	logf("infra ready: MinIO, destination registry (%s)", time.Since(start).Round(time.Second))
	nodeIP := controlPlaneIP(ctx, t, cs)
	prov, err := s3provision.New(s3provision.Endpoint{Address: nodeIP + ":30900", Region: "us-east-1", AccessKey: infra.MinIOAdminKey, SecretKey: infra.MinIOAdminSecret}, cs)
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{w: w, cs: cs, nodeIP: nodeIP, prov: prov}
	if err := p.plan(ctx, defaultPlan...); err != nil {
		t.Fatal(err)
	}
	if opts.BeforeTenants != nil {
		if err := opts.BeforeTenants(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tn := range p.set.Sorted() {
		vals := values(t, "values/"+tn.Name+".yaml")
		if opts.TenantValues != nil {
			vals = render.MergeValues(vals, opts.TenantValues(tn.Name))
		}
		if err := (kindworld.Release{Kubeconfig: w.Kubeconfig, Name: tn.Name, Namespace: tn.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
			Values: vals, Wait: true, Timeout: 5 * time.Minute}).Apply(logf); err != nil {
			t.Fatal(err)
		}
	}
	if err := pushToolchain(nodeIP); err != nil {
		t.Fatal(err)
	}
	return p
}

func controlPlaneIP(ctx context.Context, t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "node-role.kubernetes.io/control-plane"})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("control plane: %v", err)
	}
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatal("control plane has no InternalIP")
	return ""
}

// tenantS3 is an S3 client with the tenant's own keys (its Secret), through MinIO's NodePort.
func tenantS3(ctx context.Context, cs kubernetes.Interface, nodeIP string, tn tenants.Tenant) (*minio.Client, error) {
	sec, err := cs.CoreV1().Secrets(tn.Namespace).Get(ctx, tn.Name+"-s3", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return minio.New(nodeIP+":30900", &minio.Options{Creds: credentials.NewStaticV4(string(sec.Data["accessKey"]), string(sec.Data["secretKey"]), ""), Region: "us-east-1"})
}

func countObjects(ctx context.Context, cs kubernetes.Interface, nodeIP string, tn tenants.Tenant, bucket, prefix string) (int, error) {
	c, err := tenantS3(ctx, cs, nodeIP, tn)
	if err != nil {
		return 0, err
	}
	n := 0
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return n, o.Err
		}
		n++
	}
	return n, nil
}

// countOrphans counts job pods still present once pods being deleted had their grace period (at most 90 s).
func countOrphans(ctx context.Context, cs kubernetes.Interface, set *tenants.Set) int {
	n := 0
	_ = wait.For(ctx, "the job pods to be gone", 2*time.Second, 90*time.Second, func(ctx context.Context) (bool, error) {
		n = 0
		for _, tn := range set.Sorted() {
			pods, _ := cs.CoreV1().Pods(tn.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "gitlab-kaniko-tenant.io/component=job"})
			n += len(pods.Items)
		}
		return n == 0, nil
	})
	return n
}

// uninstall removes a release (kindworld.Release, the one Helm set-up) and waits for its objects to be gone.
func uninstall(t *testing.T, kubeconfig, ns, name string) {
	t.Helper()
	if err := (kindworld.Release{Kubeconfig: kubeconfig, Namespace: ns, Name: name, Timeout: 2 * time.Minute}).Uninstall(logf); err != nil {
		t.Fatal(err)
	}
}

// slimGoroot leaves out of GOROOT what no build reads: the toolchain's own sources, tests and test data, API
// lists, docs, and the tools builds do not run. It halves the image (270 → 117 MiB) and cuts its files from 15k to
// under 4k; unpacking the builder base is what a warm Kaniko build spends most of its time on.
func slimGoroot(p string, dir bool) bool {
	const g = "/usr/local/go/"
	rel := strings.TrimPrefix(p, g)
	if dir {
		switch rel {
		case "src/cmd", "test", "api", "misc", "doc":
			return true
		}
		return path.Base(p) == "testdata"
	}
	switch rel {
	case "bin/gofmt", "pkg/tool/linux_amd64/vet", "pkg/tool/linux_amd64/cover", "pkg/tool/linux_amd64/fix", "pkg/tool/linux_amd64/preprofile":
		return true
	}
	return strings.HasSuffix(p, "_test.go")
}

func pushToolchain(nodeIP string) error {
	ref, err := name.ParseReference(nodeIP+":30500/"+toolchainImage, name.Insecure)
	if err != nil {
		return err
	}
	if _, err := remote.Head(ref); err == nil {
		return nil
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return err
	}
	links := map[string]string{"/bin/sh": "/bin/busybox"}
	img, err := kindworld.ImageSpec{Ref: toolchainImage, Files: map[string]string{"/bin/busybox": "/bin/busybox"}, Symlinks: links,
		Trees: map[string]string{"/usr/local/go": strings.TrimSpace(string(goroot))}, Skip: slimGoroot,
		Env: []string{"PATH=/usr/local/go/bin:/bin", "CGO_ENABLED=0", "GOCACHE=/tmp/gocache", "HOME=/tmp", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local"}}.Build()
	if err != nil {
		return err
	}
	logf("pushing the toolchain base image to the destination registry")
	return remote.Write(ref, img)
}

// runID makes this run's dependency layer new, so the first build of a run is really cold even when an earlier
// run filled the layer cache; the second build of the run (a code-only change) must hit it.
var runID = fmt.Sprint(time.Now().UnixNano())

// toolchainImage is the sample apps' builder base in the destination registry: a Go toolchain trimmed to what
// builds need (see slimGoroot), as teams trim their Maven or .NET SDK builder images.
const toolchainImage = "toolchain/go:e2e-3"
