package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/k8sschema"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

var tenantName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const tenantTemplate = `# %[1]s: created by gkt tenant new. Review the egress destinations before merging.
tenant:
  name: %[1]s
gitlab:
  url: %[2]s
  egress:
    to: [{ipBlock: {cidr: %[3]s}}]
    ports: [443]
runner:
  concurrent: %[4]d
  limit: %[4]d
s3:
  endpoint: %[5]s
  tls: %[6]t
destinationRegistry:
  host: %[7]s
  egress:
    to: [{ipBlock: {cidr: %[8]s}}]
    ports: [443]
kubernetesApi:
  egress:
    to: [{ipBlock: {cidr: %[9]s}}]
`

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Tenant scaffolding"}
	var repo, gitlabURL, gitlabCIDR, registry, registryCIDR, apiCIDR, s3, cache string
	var nodes []string
	var concurrency int
	var s3TLS bool
	newCmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Add a tenant in one command: tenants/NAME.yaml plus its entry in tenants/bootstrap.yaml, checked by the harness",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !tenantName.MatchString(name) || len(name) > 40 {
				return fmt.Errorf("tenant name %q must be a DNS-1123 label of at most 40 characters", name)
			}
			dir := filepath.Join(repo, "tenants")
			valuesPath := filepath.Join(dir, name+".yaml")
			if _, err := os.Stat(valuesPath); err == nil {
				return fmt.Errorf("%s already exists", valuesPath)
			}
			bootPath := filepath.Join(dir, "bootstrap.yaml")
			raw, err := os.ReadFile(bootPath)
			if err != nil {
				return err
			}
			updated, err := addTenant(raw, name, nodes, concurrency)
			if err != nil {
				return fmt.Errorf("%s: %w", bootPath, err)
			}
			values := fmt.Sprintf(tenantTemplate, name, gitlabURL, gitlabCIDR, concurrency, s3, s3TLS, registry, registryCIDR, apiCIDR)
			// Check before writing anything: render the whole platform with the new tenant and run the harness.
			if err := checkWith(repo, cache, bootPath, updated, valuesPath, []byte(values)); err != nil {
				return fmt.Errorf("the new tenant does not pass the harness, nothing written: %w", err)
			}
			if err := os.WriteFile(valuesPath, []byte(values), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(bootPath, updated, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s: wrote %s and added it to %s (harness: no findings)\n", name, valuesPath, bootPath)
			return nil
		},
	}
	f := newCmd.Flags()
	f.StringVar(&repo, "repo", ".", "repository root (holds tenants/)")
	f.StringSliceVar(&nodes, "nodes", nil, "the tenant's node names")
	f.IntVar(&concurrency, "concurrency", 20, "concurrent jobs")
	f.StringVar(&gitlabURL, "gitlab-url", "https://gitlab.example.com/", "GitLab URL")
	f.StringVar(&gitlabCIDR, "gitlab-cidr", "203.0.113.10/32", "CIDR of GitLab (egress)")
	f.StringVar(&registry, "registry", "registry.example.com", "destination registry host")
	f.StringVar(&registryCIDR, "registry-cidr", "203.0.113.20/32", "CIDR of the destination registry (egress)")
	f.StringVar(&apiCIDR, "api-server-cidr", "192.0.2.1/32", "CIDR of the Kubernetes API server's endpoints (kubectl get endpointslice -n default kubernetes); the manager's only API egress, so GitOps renders need no lookup")
	f.StringVar(&s3, "s3-endpoint", "minio.minio.svc.cluster.local:9000", "S3 endpoint host:port")
	f.BoolVar(&s3TLS, "s3-tls", false, "TLS to S3")
	f.StringVar(&cache, "cache-dir", DefaultCacheDir(), "schema cache directory")
	_ = newCmd.MarkFlagRequired("nodes")
	cmd.AddCommand(newCmd)
	return cmd
}

// addTenant inserts a tenant under `tenants:` of the bootstrap values, keeping comments and layout.
func addTenant(raw []byte, name string, nodes []string, concurrency int) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	top := doc.Content[0]
	var tenants *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "tenants" {
			tenants = top.Content[i+1]
		}
	}
	if tenants == nil {
		return nil, fmt.Errorf("no tenants: map")
	}
	for i := 0; i < len(tenants.Content); i += 2 {
		if tenants.Content[i].Value == name {
			return nil, fmt.Errorf("tenant %s is already listed", name)
		}
	}
	nodeSeq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, n := range nodes {
		nodeSeq.Content = append(nodeSeq.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: n})
	}
	entry := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "nodes"}, nodeSeq,
		{Kind: yaml.ScalarNode, Value: "concurrency"}, {Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(concurrency)},
	}}
	tenants.Kind, tenants.Style = yaml.MappingNode, 0
	tenants.Content = append(tenants.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, entry)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// checkWith renders the platform with the files replaced in a scratch copy and runs every harness check on it.
func checkWith(repo, cache, bootPath string, boot []byte, valuesPath string, values []byte) error {
	tmp, err := os.MkdirTemp("", "gkt-tenant-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(filepath.Join(tmp, "tenants"), os.DirFS(filepath.Join(repo, "tenants"))); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "tenants", filepath.Base(bootPath)), boot, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "tenants", filepath.Base(valuesPath)), values, 0o644); err != nil {
		return err
	}
	root, err := k8sschema.Ensure(cache, harness.SchemaSpec())
	if err != nil {
		return err
	}
	c, err := harness.NewChecker(filepath.Join(repo, "charts"), root, versions.KubernetesVersions)
	if err != nil {
		return err
	}
	in, err := harness.LoadInstall(tmp, filepath.Join(repo, "charts"))
	if err != nil {
		return err
	}
	_, findings, err := c.CheckInstall("new tenant", in, versions.KubernetesVersions)
	if err != nil {
		return err
	}
	if len(findings) > 0 {
		var lines []string
		for _, f := range findings {
			lines = append(lines, f.String())
		}
		return fmt.Errorf("%d findings:\n%s", len(findings), strings.Join(lines, "\n"))
	}
	return nil
}
