package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/images"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/release"
)

var chartDirs = []string{"charts/gitlab-kaniko-tenant", "charts/tenant-bootstrap"}

func newReleaseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Package, publish and check the charts as users install them (OCI)"}
	cmd.AddCommand(newReleasePackageCmd(), newReleasePublishCmd(), newReleaseCheckCmd())
	return cmd
}

func newReleasePackageCmd() *cobra.Command {
	var out string
	pkg := &cobra.Command{
		Use:   "package",
		Short: "Build both chart archives",
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, d := range chartDirs {
				p, err := release.Package(d, out)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	pkg.Flags().StringVar(&out, "out", "_out/charts", "output directory")
	return pkg
}

func newReleasePublishCmd() *cobra.Command {
	var out, registryURL string
	var plain bool
	publish := &cobra.Command{
		Use:   "publish --registry oci://HOST/PATH",
		Short: "Push both chart archives with Helm's OCI support (helm registry login first for credentials)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := release.Client(plain)
			if err != nil {
				return err
			}
			for _, d := range chartDirs {
				p, err := release.Package(d, out)
				if err != nil {
					return err
				}
				ref, err := release.Push(c, p, registryURL)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pushed oci://%s\n", ref)
			}
			return nil
		},
	}
	publish.Flags().StringVar(&out, "out", "_out/charts", "output directory")
	publish.Flags().StringVar(&registryURL, "registry", "", "oci://host[:port]/path")
	publish.Flags().BoolVar(&plain, "plain-http", false, "the registry speaks plain HTTP")
	_ = publish.MarkFlagRequired("registry")
	return publish
}

func newReleaseCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Package, OCI round trip through a Distribution registry, image list; one summary line",
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := release.StartLocalRegistry()
			if err != nil {
				return err
			}
			defer reg.Close()
			c, err := release.Client(true)
			if err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "gkt-release-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			boot, err := loadValues([]string{"tenants/bootstrap.yaml"})
			if err != nil {
				return err
			}
			refs, err := release.RoundTrip(c, chartDirs, "oci://"+reg.Host+"/charts", work, map[string]map[string]any{"tenant-bootstrap": boot})
			if err != nil {
				return err
			}
			for _, r := range refs {
				fmt.Fprintf(cmd.OutOrStdout(), "oci round trip: %s pushed, pulled, renders identically\n", r)
			}
			all, err := tenantImages()
			if err != nil {
				return err
			}
			mirrorable := 0
			for ref := range all {
				if _, err := images.MirrorRef(ref, "mirror.example.com/gkt"); err == nil {
					mirrorable++
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "NOT MIRRORABLE", ref, err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release: charts=%d oci-roundtrip=ok images=%d mirrorable=%d\n", len(refs), len(all), mirrorable)
			if mirrorable != len(all) {
				return ErrReported
			}
			return nil
		},
	}
}

// tenantImages are the images the tenant chart installs with its defaults and with each tenants/ values file.
func tenantImages() (map[string]bool, error) {
	all := map[string]bool{}
	files, _ := filepath.Glob("tenants/*.yaml")
	sets := [][]string{nil}
	for _, f := range files {
		if filepath.Base(f) != "bootstrap.yaml" {
			sets = append(sets, []string{f})
		}
	}
	for _, vf := range sets {
		imgs, err := listImages(chartDirs[0], vf, "tenant")
		if err != nil {
			return nil, err
		}
		for _, im := range imgs {
			all[im.Ref] = true
		}
	}
	return all, nil
}
