// Command gkt is the gitlab-kaniko-tenant admin and review tool: schema generation, node assignment, S3 provisioning.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cli"
)

func main() {
	if err := cli.New(os.Stdout, os.Stderr).Execute(); err != nil {
		if !errors.Is(err, cli.ErrReported) {
			fmt.Fprintln(os.Stderr, "gkt:", err)
		}
		os.Exit(1)
	}
}
