package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
)

func newNodesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Label and taint tenant nodes (Helm cannot own Nodes), and verify them"}
	var src tenantSource
	var force bool
	assign := &cobra.Command{
		Use:   "assign",
		Short: "Label and taint every node listed for each tenant (idempotent)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := src.client()
			if err != nil {
				return err
			}
			set, list, err := src.load(cmd.Context(), cs)
			if err != nil {
				return err
			}
			changes, err := nodes.Assign(cmd.Context(), cs, set, list, force)
			for _, c := range changes {
				fmt.Fprintln(cmd.OutOrStdout(), c)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "nodes: tenants=%d changes=%d\n", len(list), len(changes))
			return nil
		},
	}
	src.bind(assign)
	assign.Flags().BoolVar(&force, "force", false, "move a node that is labelled for another tenant")
	var vsrc tenantSource
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check that each tenant's nodes carry its label and taint and that no unlisted node does",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := vsrc.client()
			if err != nil {
				return err
			}
			set, list, err := vsrc.load(cmd.Context(), cs)
			if err != nil {
				return err
			}
			probs, err := nodes.Verify(cmd.Context(), cs, set, list)
			if err != nil {
				return err
			}
			for _, p := range probs {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "nodes: tenants=%d problems=%d\n", len(list), len(probs))
			if len(probs) > 0 {
				return fmt.Errorf("%d node pinning problem(s)", len(probs))
			}
			return nil
		},
	}
	vsrc.bind(verify)
	cmd.AddCommand(assign, verify)
	return cmd
}
