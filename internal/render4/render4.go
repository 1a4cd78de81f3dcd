// Package render4 renders a chart with the Helm 4 SDK (helm.sh/helm/v4) the same way package render does with
// Helm 3, so the two can be compared object by object. Helm 3 security support ends 2027-02-10.
package render4

import (
	"fmt"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutilv2 "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Chart is a chart loaded with the Helm 4 loader.
type Chart struct{ c *chartv2.Chart }

// Load reads a chart directory or archive.
func Load(dir string) (*Chart, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("helm 4: loading %s: %w", dir, err)
	}
	return &Chart{c: c}, nil
}

// Render renders like render.Chart.Render, with Helm 4's value coalescing, schema validation and engine.
func (c *Chart) Render(opts render.Options) (*render.Result, error) {
	caps := common.DefaultCapabilities.Copy()
	if opts.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(opts.KubeVersion)
		if err != nil {
			return nil, err
		}
		caps.KubeVersion = *kv
	}
	caps.APIVersions = append(caps.APIVersions, opts.APIVersions...)
	if kc := c.c.Metadata.KubeVersion; kc != "" && !chartutilv2.IsCompatibleRange(kc, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart %s requires kubeVersion %s, incompatible with %s", c.c.Name(), kc, caps.KubeVersion.String())
	}
	vals, err := util.ToRenderValues(c.c, opts.Values, common.ReleaseOptions{
		Name: opts.ReleaseName, Namespace: opts.Namespace, IsInstall: !opts.IsUpgrade, IsUpgrade: opts.IsUpgrade, Revision: 1,
	}, caps)
	if err != nil {
		return nil, err
	}
	var files map[string]string
	if opts.Cluster != nil {
		// helm install: `lookup` answers from the modelled cluster, as in render.Chart.Render
		lookups, lerr := render.ClusterLookups(opts.Cluster)
		if lerr != nil {
			return nil, lerr
		}
		files, err = engine.RenderWithClientProvider(c.c, vals, lookups)
	} else {
		files, err = engine.Render(c.c, vals)
	}
	if err != nil {
		return nil, err
	}
	return render.FromFiles(c.c.Name(), files)
}
