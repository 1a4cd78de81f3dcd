package harness

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render4"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// Helm4Report compares Helm 3 and Helm 4 renders of the whole matrix and of the bad-values catalogue.
type Helm4Report struct {
	Renders     int
	Identical   int
	Differences []string
	BadRejected int
	Bad         int
}

// Line is the summary line.
func (h Helm4Report) Line() string {
	return fmt.Sprintf("helm4: renders=%d identical=%d differences=%d bad-values-rejected=%d/%d", h.Renders, h.Identical, len(h.Differences), h.BadRejected, h.Bad)
}

// CompareHelm4 renders every permutation's three releases with both SDKs and compares the objects and NOTES, then
// renders every bad value with Helm 4.
func CompareHelm4(o MatrixOptions) (Helm4Report, error) {
	var rep Helm4Report
	space, err := LoadSpace(filepath.Join(o.RepoRoot, "test", "matrix", "permutations.yaml"))
	if err != nil {
		return rep, err
	}
	charts := map[string][2]renderer{}
	for _, name := range []string{"gitlab-kaniko-tenant", "tenant-bootstrap"} {
		dir := filepath.Join(o.RepoRoot, "charts", name)
		c3, err := render.Load(dir)
		if err != nil {
			return rep, err
		}
		c4, err := render4.Load(dir)
		if err != nil {
			return rep, err
		}
		charts[name] = [2]renderer{c3, c4}
	}
	for _, p := range space.Permutations(versions.KubernetesVersions) {
		in := space.Install(p)
		kv := "v" + p.KubeVersion
		rep.compare(charts["tenant-bootstrap"], p.Name()+" tenant-bootstrap", render.Options{ReleaseName: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", KubeVersion: kv, APIVersions: in.APIs, Values: deepCopy(in.Bootstrap)})
		for _, t := range sortedKeys(in.Tenants) {
			rep.compare(charts["gitlab-kaniko-tenant"], p.Name()+" "+t, render.Options{ReleaseName: t, Namespace: in.Namespace[t], KubeVersion: kv, APIVersions: in.APIs, Values: deepCopy(in.Tenants[t])})
		}
	}
	bad, err := LoadBadCases(filepath.Join(o.RepoRoot, "test", "matrix", "bad-values.yaml"))
	if err != nil {
		return rep, err
	}
	err = rep.badValues(bad, space.Install(Permutation{Values: map[string]string{}, KubeVersion: versions.KubernetesVersions[0]}), charts["gitlab-kaniko-tenant"][1], charts["tenant-bootstrap"][1])
	return rep, err
}

// renderer is a chart loaded by one SDK (render: Helm 3, render4: Helm 4).
type renderer interface {
	Render(render.Options) (*render.Result, error)
}

// compare renders one release with both SDKs (pair: Helm 3, Helm 4): both refuse, or both render the same objects
// and NOTES.
func (rep *Helm4Report) compare(pair [2]renderer, label string, opts render.Options) {
	rep.Renders++
	r3, err3 := pair[0].Render(opts)
	r4, err4 := pair[1].Render(opts)
	switch {
	case err3 != nil || err4 != nil:
		if (err3 == nil) != (err4 == nil) {
			rep.Differences = append(rep.Differences, fmt.Sprintf("%s: helm3 err=%v, helm4 err=%v", label, err3, err4))
			return
		}
	case !bytes.Equal(r3.YAML(), r4.YAML()):
		rep.Differences = append(rep.Differences, label+": rendered objects differ")
		return
	case r3.Notes != r4.Notes:
		rep.Differences = append(rep.Differences, label+": NOTES differ")
		return
	}
	rep.Identical++
}

// badValues renders each bad case on base with Helm 4 (tenant and bootstrap: the Helm 4 charts); each must be
// refused for the case's reason. The base itself must render, or every bad value would count as rejected.
func (rep *Helm4Report) badValues(bad []BadCase, base Install, tenant, bootstrap renderer) error {
	helm4 := func(chart string, extra map[string]any, cluster string) error {
		opts := render.Options{KubeVersion: "v" + versions.KubernetesVersions[0]}
		if chart == "tenant" {
			if cluster == "bootstrap" {
				ns, err := BootstrapNamespaces(bootstrap, base.Bootstrap, versions.KubernetesVersions[0])
				if err != nil {
					return err
				}
				opts.Cluster = ns
			}
			opts.ReleaseName, opts.Namespace, opts.Values = "tenant-a", "tenant-a", render.MergeValues(deepCopy(base.Tenants["tenant-a"]), deepCopy(extra))
			_, err := tenant.Render(opts)
			return err
		}
		opts.ReleaseName, opts.Namespace, opts.Values = "tenant-bootstrap", "gitlab-kaniko-system", render.MergeValues(deepCopy(base.Bootstrap), deepCopy(extra))
		_, err := bootstrap.Render(opts)
		return err
	}
	for _, chart := range []string{"tenant", "bootstrap"} {
		if err := helm4(chart, nil, ""); err != nil {
			return fmt.Errorf("helm4: the base of the bad-values cases does not render (%s): %w", chart, err)
		}
	}
	for _, bc := range bad {
		rep.Bad++
		err := helm4(bc.Chart, bc.Values, bc.Cluster)
		switch {
		case err == nil:
			rep.Differences = append(rep.Differences, "helm4 accepts bad value: "+bc.Name)
		case !containsAll(err.Error(), bc.Want):
			rep.Differences = append(rep.Differences, fmt.Sprintf("helm4 rejects %s for another reason: %v", bc.Name, err))
		default:
			rep.BadRejected++
		}
	}
	return nil
}
