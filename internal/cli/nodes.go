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
	var userns, freeze bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check that each tenant's nodes carry its label and taint, that no unlisted node does, that their runtime supports user namespaces, and that none runs cgroup v1 with the systemd cgroup driver",
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
			if userns {
				up, err := nodes.UserNamespaces(cmd.Context(), cs, list)
				if err != nil {
					return err
				}
				probs = append(probs, up...)
			}
			if freeze {
				fp, err := nodes.CgroupFreeze(cmd.Context(), cs, list)
				if err != nil {
					return err
				}
				probs = append(probs, fp...)
			}
			for _, p := range probs {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "nodes: tenants=%d problems=%d\n", len(list), len(probs))
			if len(probs) > 0 {
				return fmt.Errorf("%d node problem(s)", len(probs))
			}
			return nil
		},
	}
	vsrc.bind(verify)
	verify.Flags().BoolVar(&userns, "user-namespaces", true, "check that the runtime of each tenant node supports user namespaces (the chart's jobs.userNamespaces default); false for tenants that turn them off")
	verify.Flags().BoolVar(&freeze, "cgroup-freeze", true, "check through the node proxy (nodes/proxy) that no tenant node runs cgroup v1 with the systemd cgroup driver, where bursts of job pod starts fail with runc's \"unable to freeze\"")
	cmd.AddCommand(assign, verify)
	return cmd
}
