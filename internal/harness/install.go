package harness

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

// LoadInstall reads a repository tree's reviewed values, tenants/bootstrap.yaml and tenants/<tenant>.yaml, into the
// install CheckInstall checks: each tenant where chartsDir's tenant-bootstrap resolves it (defaults.mode, per-tenant
// namespace and mode, the shared namespace: the one plan gkt nodes, gkt s3, gkt runner and the e2e read too).
// gkt review and gkt tenant new load through it.
func LoadInstall(dir, chartsDir string) (Install, error) {
	in := Install{Tenants: map[string]map[string]any{}, Namespace: map[string]string{}}
	bootstrapFile := filepath.Join(dir, "tenants", "bootstrap.yaml")
	bf, err := os.Open(bootstrapFile)
	if err != nil {
		return in, fmt.Errorf("tenants/bootstrap.yaml: %w", err)
	}
	defer bf.Close()
	boot, err := render.ValuesFromYAML(bf)
	if err != nil {
		return in, fmt.Errorf("tenants/bootstrap.yaml: %w", err)
	}
	in.Bootstrap = boot
	set, err := tenants.FromValues(filepath.Join(chartsDir, "tenant-bootstrap"), []string{bootstrapFile})
	if err != nil {
		return in, fmt.Errorf("tenants/bootstrap.yaml: %w", err)
	}
	for _, t := range set.Sorted() {
		f, err := os.Open(filepath.Join(dir, "tenants", t.Name+".yaml"))
		if err != nil {
			return in, fmt.Errorf("tenant %s is in tenants/bootstrap.yaml but tenants/%s.yaml is missing", t.Name, t.Name)
		}
		v, err := render.ValuesFromYAML(f)
		f.Close()
		if err != nil {
			return in, fmt.Errorf("tenants/%s.yaml: %w", t.Name, err)
		}
		in.Tenants[t.Name] = v
		in.Namespace[t.Name] = t.Namespace
	}
	in.APIs = []string{"monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/ServiceMonitor"}
	return in, nil
}
