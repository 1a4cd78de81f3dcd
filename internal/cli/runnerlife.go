package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabclient"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/runnerlife"
)

// runnerLifeFlags are the flags of gkt runner create and rotate.
type runnerLifeFlags struct {
	repo, gitlabURL, gitlabCA string
	kube                      tenantSource
	project, group            string
	profile                   string
	tags                      []string
	replace                   bool
}

func (f *runnerLifeFlags) bind(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", ".", "repository root: tenants/bootstrap.yaml and tenants/<tenant>.yaml are the tenant's reviewed values")
	fl.StringVar(&f.gitlabURL, "gitlab-url", os.Getenv("GITLAB_URL"), "GitLab's URL (default: $GITLAB_URL); the API token is read from $GITLAB_TOKEN only (scope api), never from a flag")
	fl.StringVar(&f.gitlabCA, "gitlab-ca", "", "PEM file of the CA GitLab's certificate chains to (default: the system's)")
	fl.StringVar(&f.kube.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.kube.context, "context", "", "kubeconfig context")
	fl.StringVar(&f.profile, "profile", "", "the runner profile (values profiles.<name>) whose runner this is; required when the tenant has profiles")
	if create {
		fl.StringVar(&f.project, "project", "", "the project the runner serves (path or ID); or --group")
		fl.StringVar(&f.group, "group", "", "the group the runner serves (path or ID); or --project")
		fl.StringSliceVar(&f.tags, "tag", nil, "the runner's tags (default: the tenant's name; a profile's are its values' tags)")
		fl.BoolVar(&f.replace, "replace", false, "replace the runner the tenant's Secret already holds (it is deleted in GitLab once the new token is in place)")
	}
}

// env checks the inputs in the order a person fixes them (GitLab, then the tenant, then the cluster) and returns the
// lifecycle's environment and the tenant's plan. Nothing is changed.
func (f *runnerLifeFlags) env(cmd *cobra.Command, tenant string) (runnerlife.Env, runnerlife.Plan, error) {
	token := os.Getenv("GITLAB_TOKEN")
	switch {
	case f.gitlabURL == "":
		return runnerlife.Env{}, runnerlife.Plan{}, errors.New("no GitLab URL: set GITLAB_URL or --gitlab-url")
	case token == "":
		return runnerlife.Env{}, runnerlife.Plan{}, errors.New("no GitLab token: set GITLAB_TOKEN to a personal, group or project access token with scope api (a runner is created by a user who may manage the project's or group's runners)")
	}
	var ca []byte
	if f.gitlabCA != "" {
		var err error
		if ca, err = os.ReadFile(f.gitlabCA); err != nil {
			return runnerlife.Env{}, runnerlife.Plan{}, fmt.Errorf("--gitlab-ca: %w", err)
		}
	}
	gl, err := gitlabclient.New(f.gitlabURL, token, ca)
	if err != nil {
		return runnerlife.Env{}, runnerlife.Plan{}, err
	}
	plan, err := runnerlife.PlanFor(runnerlife.RepoSources(f.repo), tenant, f.profile, f.tags)
	if err != nil {
		return runnerlife.Env{}, runnerlife.Plan{}, err
	}
	cs, err := f.kube.client()
	if err != nil {
		return runnerlife.Env{}, runnerlife.Plan{}, err
	}
	log := func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "[runner] "+format+"\n", args...) }
	return runnerlife.Env{GitLab: gl, GitLabURL: f.gitlabURL, Kube: cs, Log: log}, plan, nil
}

// lifecycleCmd is a gkt runner command on one tenant: the checks of env, then step (at most two minutes), whose line
// is printed.
func lifecycleCmd(use, short string, create bool, step func(ctx context.Context, f *runnerLifeFlags, env runnerlife.Env, plan runnerlife.Plan) (string, error)) *cobra.Command {
	var f runnerLifeFlags
	cmd := &cobra.Command{
		Use:   use + " TENANT",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, plan, err := f.env(cmd, args[0])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			line, err := step(ctx, &f, env, plan)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return nil
		},
	}
	f.bind(cmd, create)
	return cmd
}

// expiry is a token's token_expires_at for the summary line.
func expiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func newRunnerCreateCmd() *cobra.Command {
	return lifecycleCmd("create", "Create the tenant's runner in GitLab (its tags, locked, maximum timeout from the chart) and write its glrt- token into the Secret the tenant chart mounts", true,
		func(ctx context.Context, f *runnerLifeFlags, env runnerlife.Env, plan runnerlife.Plan) (string, error) {
			out, err := runnerlife.Create(ctx, env, plan, runnerlife.Target{Project: f.project, Group: f.group}, f.replace)
			if err != nil {
				return "", err
			}
			expires := expiry(out.TokenExpiresAt)
			if out.TokenExpiresAt != nil {
				expires += " (rotate before: gkt runner rotate " + plan.Tenant + ")"
			}
			return fmt.Sprintf("runner: tenant=%s%s runner=%d secret=%s/%s key=%s token-expires=%s replaced=%d", plan.Tenant, profileField(plan), out.RunnerID, plan.Namespace, plan.Secret, plan.Key, expires, out.Replaced), nil
		})
}

func newRunnerRotateCmd() *cobra.Command {
	return lifecycleCmd("rotate", "Reset the tenant runner's token in GitLab and write the new one into its Secret; the manager picks it up without a restart", false,
		func(ctx context.Context, _ *runnerLifeFlags, env runnerlife.Env, plan runnerlife.Plan) (string, error) {
			id, expiresAt, err := runnerlife.Rotate(ctx, env, plan)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("runner: tenant=%s%s runner=%d secret=%s/%s key=%s rotated token-expires=%s", plan.Tenant, profileField(plan), id, plan.Namespace, plan.Secret, plan.Key, expiry(expiresAt)), nil
		})
}

// profileField is the summary line's profile field (none for a tenant's single runner).
func profileField(plan runnerlife.Plan) string {
	if plan.Profile == "" {
		return ""
	}
	return " profile=" + plan.Profile
}
