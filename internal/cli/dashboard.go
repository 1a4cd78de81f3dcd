package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/dashboard"
)

// DashboardFile is where the tenant chart keeps the generated dashboard.
const DashboardFile = "dashboards/runner.json"

func newDashboardCmd() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "dashboard TENANT_CHART_DIR OPERATIONS_DOC",
		Short: "Generate the tenant chart's Grafana dashboard and the panel table of docs/operations.md from internal/dashboard",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			chartJSON, err := dashboard.Chart()
			if err != nil {
				return err
			}
			doc, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			newDoc, err := dashboard.SpliceDocs(doc)
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			files := []struct {
				path string
				want []byte
			}{{filepath.Join(args[0], DashboardFile), chartJSON}, {args[1], newDoc}}
			var stale []string
			for _, f := range files {
				if check {
					if have, err := os.ReadFile(f.path); err != nil || !bytes.Equal(have, f.want) {
						stale = append(stale, f.path)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(f.path, f.want, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.path)
			}
			if len(stale) > 0 {
				return fmt.Errorf("out of date (run `make dashboard`): %v", stale)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "fail if the committed dashboard or panel table differs from internal/dashboard")
	return cmd
}
