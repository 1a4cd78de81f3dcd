// Package cli holds the cobra commands of the gkt tool.
package cli

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// New returns the root command writing to out and errOut.
func New(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "gkt",
		Short:         "gitlab-kaniko-tenant: admin and review tool for the tenant charts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(newSchemaCmd(), newNodesCmd(), newS3Cmd(), newMatrixCmd(), newReviewCmd(), newTenantCmd(), newImagesCmd(), newReleaseCmd(), newRunnerCmd(), newLeftoversCmd(), newDashboardCmd())
	return root
}

// ErrReported is returned by commands that already printed why they failed (their summary line stays last).
var ErrReported = errors.New("failure already reported")
