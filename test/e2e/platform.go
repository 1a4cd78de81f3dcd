//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/s3provision"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
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
