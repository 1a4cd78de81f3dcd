package cli

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/thirdparty"
)

func newRunnerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "runner", Short: "A tenant's runner in GitLab (create, rotate) and checks against the real gitlab-runner source (keys)"}
	cmd.AddCommand(newRunnerCreateCmd(), newRunnerRotateCmd())
	var repo, thirdParty string
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Decode the chart's config.toml (defaults and every example) with the runner's own types and compare its feature-flag table with the source; fail on any key it does not read or any table difference",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if thirdParty == "" {
				thirdParty = thirdparty.DefaultDir(repo)
			}
			src, err := thirdparty.Locate(thirdParty)
			if err != nil {
				return err
			}
			log := func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "[runner-keys] "+f+"\n", a...) }
			// The chart's feature-flag table of this runner minor version against the source's flags.go.
			minor := strings.Join(strings.SplitN(src.Version, ".", 3)[:2], ".")
			sourceFlags, err := src.FeatureFlags()
			if err != nil {
				return err
			}
			chartFlags, err := harness.ChartFeatureFlags(filepath.Join(repo, "charts", "gitlab-kaniko-tenant"), minor)
			if err != nil {
				return err
			}
			flagDiffs := harness.CompareFeatureFlags(minor, chartFlags, sourceFlags)
			for _, d := range flagDiffs {
				fmt.Fprintln(cmd.OutOrStdout(), "FLAGS", d)
			}
			checker, err := src.BuildKeyChecker(repo, filepath.Join(cachedir.Root(), "runner"), log)
			if err != nil {
				return err
			}
			chart, err := render.Load(filepath.Join(repo, "charts", "gitlab-kaniko-tenant"))
			if err != nil {
				return err
			}
			cases, err := runnerKeyCases(repo, src.Version)
			if err != nil {
				return err
			}
			undecoded := 0
			for _, name := range slices.Sorted(maps.Keys(cases)) {
				res, err := chart.Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: cases[name], Cluster: render.InstallCluster()})
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				raw, err := harness.ConfigTomlText(res)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				keys, err := thirdparty.Undecoded(checker, []byte(raw))
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				for _, k := range keys {
					fmt.Fprintf(cmd.OutOrStdout(), "UNDECODED %s: %s (gitlab-runner %s ignores it without a word)\n", name, k, src.Version)
				}
				undecoded += len(keys)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "runner-keys: runner=%s configs=%d keys-undecoded=%d flags=%d flag-table-differences=%d\n", src.Version, len(cases), undecoded, len(sourceFlags), len(flagDiffs))
			if undecoded > 0 || len(flagDiffs) > 0 {
				return ErrReported
			}
			return nil
		},
	}
	keys.Flags().StringVar(&repo, "repo", ".", "repository root")
	keys.Flags().StringVar(&thirdParty, "third-party", "", "directory with gitlab-runner-vX.Y.Z.tar.gz and SHA256SUMS (default: $GKT_THIRD_PARTY, else ../shared/third_party)")
	cmd.AddCommand(keys)
	return cmd
}

// runnerKeyCases are the chart's defaults and every example values file, rendered for the runner version of the
// source (its manager and helper tags), with every optional block the chart can render for that version switched on.
func runnerKeyCases(repo, version string) (map[string]map[string]any, error) {
	versionValues := func() map[string]any {
		return map[string]any{
			"runner": map[string]any{"image": map[string]any{"tag": "alpine-v" + version}},
			"jobs": map[string]any{"helper": map[string]any{"image": map[string]any{"tag": "x86_64-v" + version}},
				"priorityClassName": "builds", "runtimeClassName": "gvisor", "imagePullSecrets": []any{"pull"}, "podAnnotations": map[string]any{"a": "b"},
				"overwriteMaxAllowed": map[string]any{"limits": map[string]any{"memory": "8Gi"}}},
			"gitlab":      map[string]any{"caSecret": "gitlab-ca"},
			"nodePinning": map[string]any{"style": "both", "affinityExpressions": []any{map[string]any{"key": "zone", "operator": "In", "values": []any{"a"}}}},
		}
	}
	out := map[string]map[string]any{"defaults": versionValues()}
	files, _ := filepath.Glob(filepath.Join(repo, "charts", "gitlab-kaniko-tenant", "ci", "*.yaml"))
	for _, f := range files {
		vals, err := render.ValuesFromFiles(f)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(f)] = render.MergeValues(vals, versionValues())
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("no example values in %s", filepath.Join(repo, "charts", "gitlab-kaniko-tenant", "ci"))
	}
	return out, nil
}
