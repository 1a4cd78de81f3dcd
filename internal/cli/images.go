package cli

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/images"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

func loadValues(files []string) (map[string]any, error) { return render.ValuesFromFiles(files...) }

func newImagesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Images a tenant install uses: list them, copy them into a mirror"}
	var chartDir, namespace string
	var valuesFiles []string
	list := &cobra.Command{
		Use:   "list",
		Short: "Every image and tag the tenant chart uses for a values set (one per line, with where it is used)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			imgs, err := listImages(chartDir, valuesFiles, namespace)
			if err != nil {
				return err
			}
			for _, im := range imgs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", im.Ref, strings.Join(im.Where, ", "))
			}
			return nil
		},
	}
	var to string
	var archives []string
	mirror := &cobra.Command{
		Use:   "mirror --to REGISTRY[/PATH]",
		Short: "Copy every image of a values set into a registry (from the project's image archives, else upstream)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			imgs, err := listImages(chartDir, valuesFiles, namespace)
			if err != nil {
				return err
			}
			var dst []remote.Option
			src := images.Source{Archives: archives}
			for _, im := range imgs {
				ref, from, err := images.Copy(im.Ref, to, src, dst...)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s (from %s)\n", im.Ref, ref, from)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mirror: images=%d into %s; install with --set imageRegistry=%s\n", len(imgs), to, to)
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, mirror} {
		c.Flags().StringVar(&chartDir, "chart", "charts/gitlab-kaniko-tenant", "tenant chart directory or archive")
		c.Flags().StringArrayVarP(&valuesFiles, "values", "f", nil, "tenant values file(s)")
		c.Flags().StringVarP(&namespace, "namespace", "n", "tenant", "release namespace")
	}
	mirror.Flags().StringVar(&to, "to", "", "mirror registry (host[:port][/path])")
	mirror.Flags().StringArrayVar(&archives, "archive", nil, "docker-save archives to take images from (e.g. the e2e image archives)")
	_ = mirror.MarkFlagRequired("to")
	cmd.AddCommand(list, mirror)
	return cmd
}

func listImages(chartDir string, valuesFiles []string, namespace string) ([]images.Image, error) {
	c, err := render.Load(chartDir)
	if err != nil {
		return nil, err
	}
	vals, err := loadValues(valuesFiles)
	if err != nil {
		return nil, err
	}
	return images.List(c, vals, namespace)
}
