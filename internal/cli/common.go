package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

// tenantSource are the flags that say where tenant data comes from.
type tenantSource struct {
	chartDir    string
	valuesFiles []string
	fromCluster bool
	namespace   string
	release     string
	kubeconfig  string
	context     string
	only        []string
}

func (s *tenantSource) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&s.valuesFiles, "values", "f", nil, "tenant-bootstrap values file(s), as given to helm")
	f.StringVar(&s.chartDir, "chart", "charts/tenant-bootstrap", "tenant-bootstrap chart directory (used with -f)")
	f.BoolVar(&s.fromCluster, "from-cluster", false, "read the tenants of the installed tenant-bootstrap release instead of -f")
	f.StringVar(&s.namespace, "release-namespace", "gitlab-kaniko-system", "namespace of the tenant-bootstrap release (with --from-cluster)")
	f.StringVar(&s.release, "release", "tenant-bootstrap", "name of the tenant-bootstrap release (with --from-cluster)")
	f.StringVar(&s.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&s.context, "context", "", "kubeconfig context")
	f.StringSliceVar(&s.only, "tenant", nil, "only these tenants (default: all)")
}

func (s *tenantSource) client() (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if s.kubeconfig != "" {
		rules.ExplicitPath = s.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: s.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

func (s *tenantSource) load(ctx context.Context, cs kubernetes.Interface) (*tenants.Set, []tenants.Tenant, error) {
	var set *tenants.Set
	var err error
	switch {
	case s.fromCluster:
		set, err = tenants.FromCluster(ctx, cs, s.namespace, s.release)
	case len(s.valuesFiles) > 0:
		set, err = tenants.FromValues(s.chartDir, s.valuesFiles)
	default:
		return nil, nil, fmt.Errorf("say where the tenants are: -f <tenant-bootstrap values> or --from-cluster")
	}
	if err != nil {
		return nil, nil, err
	}
	list, err := set.Select(s.only)
	return set, list, err
}
