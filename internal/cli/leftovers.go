package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/leftovers"
)

func newLeftoversCmd() *cobra.Command {
	var src tenantSource
	var remove bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "leftovers",
		Short: "Find (and with --delete remove) job pods and job Secrets a lost runner manager left in the tenants' namespaces",
		Long: `A manager that is killed mid-job cannot delete its job pod. The pod stops at the job timeout + 1 s
(activeDeadlineSeconds, set by the runner), and its Secrets go with it (owned by the pod), but the ended pod object
stays until someone deletes it. This lists job pods ended or past their deadline for longer than --grace, and
runner Secrets whose pod is gone; a pod that may still belong to a running job is never listed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := src.client()
			if err != nil {
				return err
			}
			_, list, err := src.load(cmd.Context(), cs)
			if err != nil {
				return err
			}
			var namespaces []string
			for _, t := range list {
				namespaces = append(namespaces, t.Namespace)
			}
			found, err := leftovers.Find(cmd.Context(), cs, namespaces, time.Now(), grace)
			if err != nil {
				return err
			}
			for _, l := range found {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			removed := 0
			if remove {
				if removed, err = leftovers.Remove(cmd.Context(), cs, found); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "leftovers: namespaces=%d found=%d removed=%d\n", len(namespaces), len(found), removed)
			return nil
		},
	}
	src.bind(cmd)
	cmd.Flags().BoolVar(&remove, "delete", false, "delete what was found (each object only if it is still the one found)")
	cmd.Flags().DurationVar(&grace, "grace", leftovers.DefaultGrace, "how long after a pod ended, or passed its deadline, it is still the runner's to delete")
	return cmd
}
