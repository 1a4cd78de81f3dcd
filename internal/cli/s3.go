package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/s3provision"
)

func newS3Cmd() *cobra.Command {
	cmd := &cobra.Command{Use: "s3", Short: "Per-tenant S3 buckets, users, policies and credentials Secrets"}
	var src tenantSource
	var endpoint, adminSecret, secretName string
	var rotate bool
	var tls string
	provision := &cobra.Command{
		Use:   "provision",
		Short: "Create each tenant's bucket, user, bucket-scoped policy and layout, and its S3 Secret (idempotent)",
		Long: `Create each tenant's bucket, user, bucket-scoped policy and prefix layout on MinIO (or any S3 with MinIO's
admin API), and write the tenant's keys into a Secret in the tenant namespace. Running it again changes nothing;
--rotate gives new secret keys and the old ones stop working at once.

Admin credentials come from a Secret (--admin-secret namespace/name with keys accessKey and secretKey) or from the
environment (GKT_S3_ADMIN_ACCESS_KEY, GKT_S3_ADMIN_SECRET_KEY), never from flags. No key is ever printed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cs, err := src.client()
			if err != nil {
				return err
			}
			set, list, err := src.load(ctx, cs)
			if err != nil {
				return err
			}
			ep := s3provision.Endpoint{Address: set.S3.Endpoint, TLS: set.S3.TLS, Region: set.S3.Region}
			if endpoint != "" {
				ep.Address = endpoint
			}
			if tls != "" {
				ep.TLS = tls == "true"
			}
			ep.AccessKey, ep.SecretKey = os.Getenv("GKT_S3_ADMIN_ACCESS_KEY"), os.Getenv("GKT_S3_ADMIN_SECRET_KEY")
			if adminSecret != "" {
				ns, name, ok := strings.Cut(adminSecret, "/")
				if !ok {
					return fmt.Errorf("--admin-secret must be namespace/name, got %q", adminSecret)
				}
				sec, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("reading S3 admin secret %s: %w", adminSecret, err)
				}
				ep.AccessKey, ep.SecretKey = string(sec.Data["accessKey"]), string(sec.Data["secretKey"])
			}
			p, err := s3provision.New(ep, cs)
			if err != nil {
				return err
			}
			for _, t := range list {
				r, err := p.Provision(ctx, t, s3provision.Options{Rotate: rotate, SecretName: secretName, Layout: set.S3.Layout})
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			return nil
		},
	}
	src.bind(provision)
	f := provision.Flags()
	f.StringVar(&endpoint, "endpoint", "", "S3 host:port reachable from here (default: s3.endpoint of the values)")
	f.StringVar(&tls, "tls", "", "override s3.tls (true|false)")
	f.StringVar(&adminSecret, "admin-secret", "", "namespace/name of a Secret with the S3 admin accessKey and secretKey")
	f.StringVar(&secretName, "secret-name", s3provision.DefaultSecretName, "name of the tenant Secret (%s = tenant)")
	f.BoolVar(&rotate, "rotate", false, "give every selected tenant a new secret key (the old one stops working)")
	cmd.AddCommand(provision)
	return cmd
}
