package runnerlife

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabclient"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
)

// The Secret's marks: who wrote it, and which runner its token belongs to.
const (
	ManagedByLabel   = "app.kubernetes.io/managed-by"
	ManagedBy        = "gkt-runner"
	RunnerIDAnnot    = "gitlab-kaniko-tenant.io/runner-id"
	GitLabURLAnnot   = "gitlab-kaniko-tenant.io/gitlab-url"
	TokenExpiryAnnot = "gitlab-kaniko-tenant.io/token-expires-at"
)

// Target is where in GitLab the runner serves: one project or one group (a path or a numeric ID).
type Target struct {
	Project, Group string
}

// Env is what a lifecycle step talks to.
type Env struct {
	GitLab    *gitlabclient.Client
	GitLabURL string // recorded on the Secret
	Kube      kubernetes.Interface
	Log       func(format string, args ...any)
}

func (e Env) logf(format string, args ...any) {
	if e.Log != nil {
		e.Log(format, args...)
	}
}

// Created is what Create did.
type Created struct {
	RunnerID       int64
	Replaced       int64 // the runner the Secret held before (Replace), deleted in GitLab; 0: none
	TokenExpiresAt *time.Time
}

// Create creates the tenant's runner in GitLab and writes its token into the tenant's Secret. A Secret this package
// wrote before is refused unless replace is set; then its runner is deleted in GitLab after the new one is in place.
// Nothing changes when a check fails.
func Create(ctx context.Context, env Env, plan Plan, target Target, replace bool) (Created, error) {
	var out Created
	if (target.Project == "") == (target.Group == "") {
		return out, errors.New("name exactly one of a project or a group for the runner")
	}
	existing, err := ownSecret(ctx, env.Kube, plan)
	if err != nil {
		return out, err
	}
	if existing != nil && existing.Annotations[plan.annot(RunnerIDAnnot)] != "" {
		id, _ := strconv.ParseInt(existing.Annotations[plan.annot(RunnerIDAnnot)], 10, 64)
		if !replace {
			return out, fmt.Errorf("Secret %s/%s already holds the token of runner %d (key %s): rotate it (gkt runner rotate %s%s), or replace the runner (--replace)", plan.Namespace, plan.Secret, id, plan.Key, plan.Tenant, plan.profileFlag())
		}
		out.Replaced = id
	}
	opts := &gitlab.CreateUserRunnerOptions{Description: &plan.Description, TagList: &plan.Tags, RunUntagged: gitlab.Ptr(false), Locked: gitlab.Ptr(true)}
	if plan.MaximumTimeout > 0 {
		opts.MaximumTimeout = &plan.MaximumTimeout
	}
	if target.Project != "" {
		p, _, err := env.GitLab.API.Projects.GetProject(target.Project, nil, gitlab.WithContext(ctx))
		if err != nil {
			return out, fmt.Errorf("project %s: %w", target.Project, err)
		}
		opts.RunnerType, opts.ProjectID = gitlab.Ptr("project_type"), &p.ID
	} else {
		g, _, err := env.GitLab.API.Groups.GetGroup(target.Group, nil, gitlab.WithContext(ctx))
		if err != nil {
			return out, fmt.Errorf("group %s: %w", target.Group, err)
		}
		opts.RunnerType, opts.GroupID = gitlab.Ptr("group_type"), &g.ID
	}
	// every check passed: from here on, changes
	r, _, err := env.GitLab.API.Users.CreateUserRunner(opts, gitlab.WithContext(ctx))
	if err != nil {
		return out, fmt.Errorf("creating the runner in GitLab: %w", err)
	}
	out.RunnerID, out.TokenExpiresAt = r.ID, r.TokenExpiresAt
	env.logf("runner %d created in GitLab (%s, tags %v, locked, maximum_timeout %ds)", r.ID, *opts.RunnerType, plan.Tags, plan.MaximumTimeout)
	if err := writeSecret(ctx, env, plan, existing, r.ID, r.Token, r.TokenExpiresAt); err != nil {
		if _, derr := env.GitLab.API.Runners.DeleteRegisteredRunnerByID(r.ID, gitlab.WithContext(ctx)); derr != nil {
			return out, fmt.Errorf("writing Secret %s/%s: %w; and deleting the new runner %d again failed: %v (delete it in GitLab)", plan.Namespace, plan.Secret, err, r.ID, derr)
		}
		return out, fmt.Errorf("writing Secret %s/%s: %w (the new runner %d was deleted again: nothing changed)", plan.Namespace, plan.Secret, err, r.ID)
	}
	env.logf("token of runner %d written to Secret %s/%s (key %s)", r.ID, plan.Namespace, plan.Secret, plan.Key)
	if out.Replaced != 0 {
		// delete the replaced runner only if it is this tenant's: the ID on the Secret may be stale (another
		// GitLab, a runner deleted and its ID reused)
		old, _, err := env.GitLab.API.Runners.GetRunnerDetails(out.Replaced, gitlab.WithContext(ctx))
		switch {
		case out.Replaced == r.ID:
		case err != nil:
			env.logf("the replaced runner %d is not in GitLab (%v): nothing to delete", out.Replaced, err)
		case old.Description != plan.Description:
			env.logf("runner %d is not this tenant's (%q): left alone", out.Replaced, old.Description)
		default:
			if _, err := env.GitLab.API.Runners.DeleteRegisteredRunnerByID(out.Replaced, gitlab.WithContext(ctx)); err != nil {
				env.logf("the replaced runner %d could not be deleted in GitLab (%v): delete it there", out.Replaced, err)
			} else {
				env.logf("the replaced runner %d deleted in GitLab", out.Replaced)
			}
		}
	}
	return out, nil
}

// Rotate resets the token of the runner the tenant's Secret holds and writes the new one into the Secret; the
// manager re-renders its config.toml from the mounted Secret without a restart. It returns the runner's ID.
func Rotate(ctx context.Context, env Env, plan Plan) (int64, *time.Time, error) {
	s, err := ownSecret(ctx, env.Kube, plan)
	if err != nil {
		return 0, nil, err
	}
	if s == nil {
		return 0, nil, fmt.Errorf("Secret %s/%s does not exist: create the runner first (gkt runner create %s%s)", plan.Namespace, plan.Secret, plan.Tenant, plan.profileFlag())
	}
	id, err := strconv.ParseInt(s.Annotations[plan.annot(RunnerIDAnnot)], 10, 64)
	if err != nil || id <= 0 {
		return 0, nil, fmt.Errorf("Secret %s/%s names no runner (annotation %s): create it with gkt runner create %s%s", plan.Namespace, plan.Secret, plan.annot(RunnerIDAnnot), plan.Tenant, plan.profileFlag())
	}
	t, _, err := env.GitLab.API.Runners.ResetRunnerAuthenticationToken(id, gitlab.WithContext(ctx))
	if err != nil {
		return 0, nil, fmt.Errorf("resetting runner %d's token in GitLab: %w", id, err)
	}
	if t.Token == nil || *t.Token == "" {
		return 0, nil, fmt.Errorf("resetting runner %d's token: GitLab sent no token", id)
	}
	env.logf("runner %d: token reset in GitLab (the old one no longer works)", id)
	// the old token is dead now: the new one must reach the Secret, so a conflict is retried on a fresh read
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		if s, err = ownSecret(ctx, env.Kube, plan); err == nil && s != nil {
			if last = writeSecret(ctx, env, plan, s, id, *t.Token, t.TokenExpiresAt); last == nil {
				env.logf("runner %d: new token written to Secret %s/%s", id, plan.Namespace, plan.Secret)
				return id, t.TokenExpiresAt, nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return id, nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return id, nil, fmt.Errorf("runner %d's token was reset in GitLab but Secret %s/%s could not be updated: %v; run gkt runner rotate %s again", id, plan.Namespace, plan.Secret, last, plan.Tenant)
}

// ownSecret checks the namespace and the tenant's Secret: absent (nil), or written by this package. Anything else
// is refused: a Secret someone made by hand, or another tool's, is not overwritten.
func ownSecret(ctx context.Context, cs kubernetes.Interface, plan Plan) (*corev1.Secret, error) {
	if _, err := cs.CoreV1().Namespaces().Get(ctx, plan.Namespace, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("tenant %s: namespace %s: %w (install tenant-bootstrap first)", plan.Tenant, plan.Namespace, err)
	}
	s, err := cs.CoreV1().Secrets(plan.Namespace).Get(ctx, plan.Secret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("Secret %s/%s: %w", plan.Namespace, plan.Secret, err)
	}
	if by := s.Labels[ManagedByLabel]; by != ManagedBy || len(s.OwnerReferences) > 0 {
		return nil, fmt.Errorf("Secret %s/%s exists and is not managed by gkt runner (%s=%q, %d owners): refusing to overwrite it; delete it first if the tenant's runner should be created here", plan.Namespace, plan.Secret, ManagedByLabel, by, len(s.OwnerReferences))
	}
	return s, nil
}

// TokenSecret is the token Secret as this package writes it: the token under the plan's key, marked as gkt's with
// the runner it belongs to (per runner profile: annotations suffixed .<profile>; other profiles' keys are kept).
func TokenSecret(plan Plan, gitlabURL string, runnerID int64, token string, expires *time.Time) *corev1.Secret {
	annotations := map[string]string{plan.annot(RunnerIDAnnot): strconv.FormatInt(runnerID, 10), GitLabURLAnnot: gitlabURL}
	if expires != nil {
		annotations[plan.annot(TokenExpiryAnnot)] = expires.UTC().Format(time.RFC3339)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: plan.Secret, Namespace: plan.Namespace, Annotations: annotations,
			Labels: map[string]string{ManagedByLabel: ManagedBy, harness.TenantLabel: plan.Tenant}},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{plan.Key: []byte(token)}}
}

// writeSecret creates the Secret, or updates the one ownSecret returned (its resourceVersion guards the update).
func writeSecret(ctx context.Context, env Env, plan Plan, existing *corev1.Secret, runnerID int64, token string, expires *time.Time) error {
	want := TokenSecret(plan, env.GitLabURL, runnerID, token, expires)
	annotations, labels := want.Annotations, want.Labels
	if existing == nil {
		_, err := env.Kube.CoreV1().Secrets(plan.Namespace).Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	s := existing.DeepCopy()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[plan.Key] = []byte(token)
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	delete(s.Annotations, plan.annot(TokenExpiryAnnot))
	for k, v := range annotations {
		s.Annotations[k] = v
	}
	for k, v := range labels {
		s.Labels[k] = v
	}
	_, err := env.Kube.CoreV1().Secrets(plan.Namespace).Update(ctx, s, metav1.UpdateOptions{})
	return err
}

// profileFlag is the --profile flag naming the plan's runner profile in a suggested command.
func (p Plan) profileFlag() string {
	if p.Profile == "" {
		return ""
	}
	return " --profile " + p.Profile
}
