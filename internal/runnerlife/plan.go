package runnerlife

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

// Plan is where a tenant's runner token goes and what the runner is, as the tenant's reviewed values render it.
type Plan struct {
	Tenant, Namespace string
	// Profile is the runner profile (values `profiles`) whose runner this is; empty for a tenant's single runner.
	Profile     string
	Secret, Key string // the token Secret the manager mounts, and the key in it
	Tags        []string
	// MaximumTimeout is the runner's maximum job timeout in GitLab, in seconds: the chart's
	// runner.terminationGracePeriodSeconds, how long a manager may finish its jobs on a rollout, so that no job
	// GitLab hands this runner outlives a rollout (at least GitLab's minimum, 10 minutes).
	MaximumTimeout int64
	Description    string
}

// Sources are the values a plan is read from.
type Sources struct {
	Charts    string   // the directory holding tenant-bootstrap and gitlab-kaniko-tenant
	Bootstrap []string // tenant-bootstrap's values files (the tenants)
	// TenantValues is the tenant chart's values file of a tenant; %s is the tenant's name.
	TenantValues string
	// Overlays are further values files of a tenant (%s: its name), merged on top in order when they exist, as
	// `helm -f values.yaml -f overlay.yaml` does.
	Overlays []string
}

// RepoSources are the repository's reviewed values: tenants/bootstrap.yaml and tenants/<tenant>.yaml.
func RepoSources(repoRoot string) Sources {
	return Sources{Charts: filepath.Join(repoRoot, "charts"), Bootstrap: []string{filepath.Join(repoRoot, "tenants/bootstrap.yaml")},
		TenantValues: filepath.Join(repoRoot, "tenants/%s.yaml")}
}

// GitLab's lower bound of a runner's maximum_timeout (Ci::Runner validation: at least 10 minutes).
const minMaximumTimeout = 600

// annot is an annotation of the Secret for this plan's runner: one set per runner profile, since the profiles of a
// tenant share its Secret (one key each).
func (p Plan) annot(base string) string {
	if p.Profile == "" {
		return base
	}
	return base + "." + p.Profile
}

// PlanFor reads tenant's plan: its namespace from tenant-bootstrap's values, the Secret, key and grace period from
// its tenant chart values as the chart renders them. A tenant with runner profiles has one runner per profile:
// profile names it (its tags are the profile's `tags`); without profiles it must be empty. tags, when set, replace
// the default of a single runner (the tenant's name).
func PlanFor(src Sources, tenant, profile string, tags []string) (Plan, error) {
	set, err := tenants.FromValues(filepath.Join(src.Charts, "tenant-bootstrap"), src.Bootstrap)
	if err != nil {
		return Plan{}, fmt.Errorf("reading the tenants: %w", err)
	}
	tn, ok := set.Tenants[tenant]
	if !ok {
		var names []string
		for _, t := range set.Sorted() {
			names = append(names, t.Name)
		}
		return Plan{}, fmt.Errorf("tenant %q is not in %v (tenants: %v)", tenant, src.Bootstrap, names)
	}
	values, valuesFile, err := src.tenantValues(tenant)
	if err != nil {
		return Plan{}, err
	}
	// the manager is what mounts the token: render it on, whatever the reviewed values say for a render-only review
	values["managerDisabled"] = false
	chart, err := render.Load(filepath.Join(src.Charts, "gitlab-kaniko-tenant"))
	if err != nil {
		return Plan{}, err
	}
	res, err := chart.Render(render.Options{ReleaseName: tenant, Namespace: tn.Namespace, KubeVersion: "v1.37.0", Values: values, Cluster: render.InstallCluster()})
	if err != nil {
		return Plan{}, fmt.Errorf("rendering tenant %s: %w", tenant, err)
	}
	p := Plan{Tenant: tenant, Namespace: tn.Namespace, Profile: profile, Tags: tags,
		Description: fmt.Sprintf("gitlab-kaniko-tenant: tenant %s (namespace %s)", tenant, tn.Namespace)}
	if err := p.applyProfile(values, valuesFile); err != nil {
		return Plan{}, err
	}
	if err := p.readManager(res.Objects()); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// tenantValues reads the tenant's values file and merges its overlays (those that exist) on top; the second result
// names the files read.
func (src Sources) tenantValues(tenant string) (map[string]any, string, error) {
	valuesFile := fmt.Sprintf(src.TenantValues, tenant)
	raw, err := os.ReadFile(valuesFile)
	if err != nil {
		return nil, "", fmt.Errorf("tenant %s: its values: %w", tenant, err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return nil, "", fmt.Errorf("%s: %w", valuesFile, err)
	}
	for _, o := range src.Overlays {
		file := fmt.Sprintf(o, tenant)
		raw, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var overlay map[string]any
		if err == nil {
			err = yaml.Unmarshal(raw, &overlay)
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", file, err)
		}
		values = render.MergeValues(values, overlay)
		valuesFile += " + " + file
	}
	return values, valuesFile, nil
}

// applyProfile checks the plan's profile against the tenant's runner profiles and takes the profile's tags; a
// runner without tags gets the tenant's name.
func (p *Plan) applyProfile(values map[string]any, valuesFile string) error {
	profiles := harness.ProfileNames(values)
	switch {
	case p.Profile == "" && len(profiles) > 0:
		return fmt.Errorf("tenant %s has runner profiles %v: name the profile whose runner this is (--profile)", p.Tenant, profiles)
	case p.Profile != "" && !slices.Contains(profiles, p.Profile):
		return fmt.Errorf("tenant %s has no runner profile %q (its profiles: %v, in %s)", p.Tenant, p.Profile, profiles, valuesFile)
	case p.Profile != "" && len(p.Tags) > 0:
		return fmt.Errorf("tenant %s profile %s: its tags are profiles.%s.tags in %s, not a flag", p.Tenant, p.Profile, p.Profile, valuesFile)
	case p.Profile != "":
		p.Tags = harness.ProfileTags(values, p.Profile)
		p.Description = fmt.Sprintf("gitlab-kaniko-tenant: tenant %s profile %s (namespace %s)", p.Tenant, p.Profile, p.Namespace)
	}
	if len(p.Tags) == 0 {
		p.Tags = []string{p.Tenant}
	}
	return nil
}

// readManager finds, in the rendered manager, the Secret and key of the plan's runner token (templates/
// _manager-pod.tpl: the volume runner-token, one item per runner: token, or token-<profile>) and its termination
// grace period, the runner's maximum timeout.
func (p *Plan) readManager(objs []*unstructured.Unstructured) error {
	tokenPath := "token"
	if p.Profile != "" {
		tokenPath = "token-" + p.Profile
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" && o.GetKind() != "DaemonSet" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			return err
		}
		spec := d.Spec.Template.Spec
		for _, v := range spec.Volumes {
			if v.Secret == nil || v.Name != "runner-token" {
				continue
			}
			for _, it := range v.Secret.Items {
				if it.Path == tokenPath {
					p.Secret, p.Key = v.Secret.SecretName, it.Key
				}
			}
		}
		if spec.TerminationGracePeriodSeconds != nil && p.Secret != "" {
			p.MaximumTimeout = max(*spec.TerminationGracePeriodSeconds, minMaximumTimeout)
		}
	}
	if p.Secret == "" {
		return fmt.Errorf("tenant %s: the rendered manager mounts no runner token Secret", p.Tenant)
	}
	return nil
}
