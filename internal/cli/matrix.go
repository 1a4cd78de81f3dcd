package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
)

// DefaultCacheDir is where generated schemas live between runs.
func DefaultCacheDir() string { return cachedir.Root() }

func newMatrixCmd() *cobra.Command {
	var o harness.MatrixOptions
	var verbose bool
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Render every tenant permutation, validate offline (schemas, Pod Security, invariants) and check the bad-values catalogue",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := harness.RunMatrix(o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for i, f := range s.Findings {
				if i >= 50 && !verbose {
					fmt.Fprintf(out, "... %d more findings (--verbose)\n", len(s.Findings)-i)
					break
				}
				fmt.Fprintln(out, "FINDING", f)
			}
			for _, b := range s.Bad {
				if !b.Rejected {
					fmt.Fprintf(out, "NOT REJECTED %q (want %q): %s\n", b.Case.Name, b.Case.Want, b.Err)
				}
			}
			exposures := make([]string, 0, len(s.Exposures))
			for e := range s.Exposures {
				exposures = append(exposures, e)
			}
			sort.Strings(exposures)
			for _, e := range exposures {
				fmt.Fprintln(out, "SHARED MODE EXPOSURE", e)
			}
			fmt.Fprintf(out, "connectivity: probes=%d answered by the policy engine, shared-mode exposures=%d\n", s.Probes, len(exposures))
			for _, l := range s.InstallTimeOnly {
				fmt.Fprintf(out, "INSTALL TIME ONLY: lookup of %s (these renders have no cluster, as GitOps tools render; render.Options.Cluster tests both ways)\n", l)
			}
			h4, err := harness.CompareHelm4(o)
			if err != nil {
				return err
			}
			for _, d := range h4.Differences {
				fmt.Fprintln(out, "HELM4 DIFFERENCE", d)
			}
			fmt.Fprintln(out, h4.Line())
			fmt.Fprintln(out, s.Line())
			if !s.OK() || len(h4.Differences) > 0 {
				return ErrReported
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.RepoRoot, "repo", ".", "repository root")
	cmd.Flags().StringVar(&o.CacheDir, "cache-dir", DefaultCacheDir(), "schema cache directory")
	cmd.Flags().IntVar(&o.Workers, "workers", 2, "parallel renders")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every finding")
	return cmd
}
