package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/schemagen"
)

func newSchemaCmd() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "schema CHART_DIR...",
		Short: "Render values.schema.json of each chart from its annotated values.yaml",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var stale []string
			for _, dir := range args {
				want, err := schemagen.Generate(dir)
				if err != nil {
					return fmt.Errorf("%s: %w", dir, err)
				}
				path := filepath.Join(dir, "values.schema.json")
				if check {
					have, err := os.ReadFile(path)
					if err != nil || !bytes.Equal(have, want) {
						stale = append(stale, path)
					}
					continue
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", path)
			}
			if len(stale) > 0 {
				return fmt.Errorf("out of date (run `make schema`): %v", stale)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "fail if a committed schema differs from what values.yaml gives")
	return cmd
}
