package cli

import (
	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/review"
)

func newReviewCmd() *cobra.Command {
	var o review.Options
	cmd := &cobra.Command{
		Use:   "review --base REF [--head REF]",
		Short: "Markdown review of a chart/values change for a merge request (exit 1 on blocking findings)",
		Long: `Renders the platform's tenants (tenants/bootstrap.yaml and tenants/<tenant>.yaml) with the charts of the base
and the head revision, and prints a Markdown report: blast radius, harness findings on head (schemas, Pod Security,
invariants, connectivity rules), connectivity changes, capacity (concurrency x per-job resources vs quota and
nodes), and a semantic diff (dyff) per release. The last line is
  review: tenants-changed=N findings=M blocking=K
and the exit code is 1 when K > 0.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := review.Run(o)
			if err != nil {
				return err
			}
			rep.Markdown(cmd.OutOrStdout())
			if rep.Blocking() > 0 {
				return ErrReported
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Base, "base", "", "git ref to compare against (e.g. origin/main)")
	f.StringVar(&o.Head, "head", "", "git ref of the change (default: the working tree)")
	f.StringVar(&o.RepoRoot, "repo", ".", "repository root")
	f.StringVar(&o.CacheDir, "cache-dir", DefaultCacheDir(), "schema cache directory")
	f.StringVar(&o.NodeCPU, "node-cpu", "8", "allocatable CPU of one tenant node (capacity check)")
	f.StringVar(&o.NodeMemory, "node-memory", "16Gi", "allocatable memory of one tenant node (capacity check)")
	_ = cmd.MarkFlagRequired("base")
	return cmd
}
