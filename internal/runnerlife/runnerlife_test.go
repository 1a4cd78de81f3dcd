package runnerlife

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabclient"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabstandin"
)

const adminToken = "glpat-runnerlife-test-admin-token"

// forge is the GitLab the test talks to: a real one when GITLAB_URL and GITLAB_TOKEN are set (a scratch project is
// created there and deleted after), else the stand-in on a TLS test server.
func forge(t *testing.T) (*gitlabclient.Client, string) {
	t.Helper()
	if base, token := os.Getenv("GITLAB_URL"), os.Getenv("GITLAB_TOKEN"); base != "" || token != "" {
		if base == "" || token == "" {
			t.Fatal("GITLAB_URL and GITLAB_TOKEN must be set together")
		}
		c, err := gitlabclient.New(base, token, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, base
	}
	s, err := gitlabstandin.New(gitlabstandin.Config{ExternalURL: "https://placeholder.invalid", AdminToken: adminToken, DataDir: t.TempDir(), LongPoll: time.Second, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	c, err := gitlabclient.New(srv.URL, adminToken, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	if err != nil {
		t.Fatal(err)
	}
	return c, srv.URL
}

// TestPlanOfTheReviewedTenants: the plan comes from the repository's reviewed values as the chart renders them.
func TestPlanOfTheReviewedTenants(t *testing.T) {
	p, err := PlanFor(RepoSources("../.."), "tenant-a", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "tenant-a" || p.Secret != "tenant-a-runner-token" || p.Key != "runner-token" || p.MaximumTimeout != 3600 || strings.Join(p.Tags, ",") != "tenant-a" {
		t.Errorf("plan %+v", p)
	}
	if _, err := PlanFor(RepoSources("../.."), "tenant-z", "", nil); err == nil || !strings.Contains(err.Error(), `tenant "tenant-z" is not in`) {
		t.Errorf("an unknown tenant: %v", err)
	}
}

// TestCreateAndRotate: create writes a working token where the chart reads it; rotate replaces it and the old one
// stops working; each bad input is refused before anything changes.
func TestCreateAndRotate(t *testing.T) {
	ctx := context.Background()
	gl, url := forge(t)
	project, err := gl.CreateProject(ctx, fmt.Sprintf("runnerlife-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gl.DeleteProject(context.Background(), project.ID) })
	plan, err := PlanFor(RepoSources("../.."), "tenant-a", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: plan.Namespace}}
	target := Target{Project: project.PathWithNamespace}
	token := func(cs *fake.Clientset) string {
		s, err := cs.CoreV1().Secrets(plan.Namespace).Get(ctx, plan.Secret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(s.Data[plan.Key])
	}

	t.Run("create, then rotate", func(t *testing.T) {
		cs := fake.NewClientset(ns)
		env := Env{GitLab: gl, GitLabURL: url, Kube: cs, Log: t.Logf}
		created, err := Create(ctx, env, plan, target, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = gl.API.Runners.DeleteRegisteredRunnerByID(created.RunnerID) })
		first := token(cs)
		if id, err := gl.VerifyRunner(ctx, first); err != nil || id != created.RunnerID {
			t.Fatalf("the Secret's token verifies as runner %d (%v), want %d", id, err, created.RunnerID)
		}
		if _, err := Create(ctx, env, plan, target, false); err == nil || !strings.Contains(err.Error(), "already holds the token of runner") {
			t.Errorf("a second create without --replace: %v", err)
		}
		id, _, err := Rotate(ctx, env, plan)
		if err != nil || id != created.RunnerID {
			t.Fatalf("rotate: %d %v", id, err)
		}
		second := token(cs)
		if second == first {
			t.Fatal("rotate left the token unchanged")
		}
		if _, err := gl.VerifyRunner(ctx, first); err == nil {
			t.Error("the old token still verifies after the rotation")
		}
		if id, err := gl.VerifyRunner(ctx, second); err != nil || id != created.RunnerID {
			t.Errorf("the new token: runner %d, %v", id, err)
		}
		replaced, err := Create(ctx, env, plan, target, true)
		if err != nil || replaced.Replaced != created.RunnerID {
			t.Fatalf("create --replace: %+v %v", replaced, err)
		}
		t.Cleanup(func() { _, _ = gl.API.Runners.DeleteRegisteredRunnerByID(replaced.RunnerID) })
		if _, err := gl.VerifyRunner(ctx, second); err == nil {
			t.Error("the replaced runner's token still works: it was not deleted")
		}
	})

	// bad input: each is refused with a specific message and changes nothing (no runner, no Secret)
	handMade := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: plan.Secret, Namespace: plan.Namespace}, Data: map[string][]byte{plan.Key: []byte("glrt-handmade")}}
	bad := []struct {
		name    string
		objects []runtime.Object
		target  Target
		gitlab  *gitlabclient.Client
		want    string
	}{
		{"no namespace (tenant-bootstrap not installed)", nil, target, gl, "namespace tenant-a"},
		{"a Secret made by hand", []runtime.Object{ns, handMade}, target, gl, "is not managed by gkt runner"},
		{"no project and no group", []runtime.Object{ns}, Target{}, gl, "exactly one of a project or a group"},
		{"a project that does not exist", []runtime.Object{ns}, Target{Project: "nobody/nothing"}, gl, "project nobody/nothing"},
		{"a GitLab token that is not valid", []runtime.Object{ns}, target, mustClient(t, gl, "glpat-not-valid-at-all-000000"), "401"},
	}
	for _, c := range bad {
		t.Run("refused: "+c.name, func(t *testing.T) {
			cs := fake.NewClientset(c.objects...)
			before := runnersOf(t, gl, project.ID)
			_, err := Create(ctx, Env{GitLab: c.gitlab, GitLabURL: url, Kube: cs}, plan, c.target, false)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
			if after := runnersOf(t, gl, project.ID); after != before {
				t.Errorf("runners %d → %d: a refused create changed GitLab", before, after)
			}
			for _, a := range cs.Actions() {
				if a.GetVerb() != "get" {
					t.Errorf("a refused create wrote to the cluster: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
	t.Run("a Secret write that fails deletes the new runner again", func(t *testing.T) {
		cs := fake.NewClientset(ns)
		cs.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, fmt.Errorf("admission webhook denied the Secret")
		})
		before := runnersOf(t, gl, project.ID)
		_, err := Create(ctx, Env{GitLab: gl, GitLabURL: url, Kube: cs}, plan, target, false)
		if err == nil || !strings.Contains(err.Error(), "was deleted again: nothing changed") {
			t.Fatalf("error %v", err)
		}
		if after := runnersOf(t, gl, project.ID); after != before {
			t.Errorf("runners %d → %d: the new runner was left behind", before, after)
		}
	})
	t.Run("rotate without a Secret says to create first", func(t *testing.T) {
		_, _, err := Rotate(ctx, Env{GitLab: gl, Kube: fake.NewClientset(ns)}, plan)
		if err == nil || !strings.Contains(err.Error(), "create the runner first") {
			t.Errorf("%v", err)
		}
	})
}

func mustClient(t *testing.T, like *gitlabclient.Client, token string) *gitlabclient.Client {
	t.Helper()
	// the same GitLab (and, for the stand-in, its CA) with another token
	c, err := gitlabclient.NewWithHTTP(strings.TrimSuffix(like.API.BaseURL().String(), "/api/v4/"), token, like.HTTP())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runnersOf counts the project's runners as GitLab lists them.
func runnersOf(t *testing.T, gl *gitlabclient.Client, projectID int64) int {
	t.Helper()
	n, err := gl.ProjectRunners(context.Background(), projectID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// profileSources are the reviewed values with an overlay giving tenant-a the runner profiles of the chart's example
// (java, dotnet), as a second `-f` file.
func profileSources(t *testing.T) Sources {
	t.Helper()
	src := RepoSources("../..")
	dir := t.TempDir()
	profiles := "profiles:\n  java: {tags: [tenant-a, java], limit: 6}\n  dotnet: {tags: [tenant-a-dotnet, dotnet], limit: 4}\n"
	if err := os.WriteFile(filepath.Join(dir, "tenant-a-profiles.yaml"), []byte(profiles), 0o644); err != nil {
		t.Fatal(err)
	}
	src.Overlays = []string{filepath.Join(dir, "%s-profiles.yaml")}
	return src
}

// TestProfilesGetOneRunnerEach: with runner profiles each profile is its own GitLab runner (its tags, its key of the
// tenant's one Secret); creating one keeps the other's key, rotating one leaves the other's token working; naming no
// profile, an unknown one, or tags beside a profile is refused before anything changes.
func TestProfilesGetOneRunnerEach(t *testing.T) {
	ctx := context.Background()
	src := profileSources(t)
	for _, bad := range []struct {
		name, profile string
		tags          []string
		want          string
	}{
		{"no profile named", "", nil, "has runner profiles [dotnet java]: name the profile"},
		{"an unknown profile", "go", nil, `has no runner profile "go"`},
		{"tags beside a profile", "java", []string{"x"}, "its tags are profiles.java.tags"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := PlanFor(src, "tenant-a", bad.profile, bad.tags); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("got %v, want %q", err, bad.want)
			}
		})
	}
	plans := map[string]Plan{}
	for _, name := range []string{"java", "dotnet"} {
		p, err := PlanFor(src, "tenant-a", name, nil)
		if err != nil {
			t.Fatal(err)
		}
		plans[name] = p
	}
	if j, d := plans["java"], plans["dotnet"]; j.Secret != d.Secret || j.Key != "runner-token-java" || d.Key != "runner-token-dotnet" ||
		strings.Join(j.Tags, ",") != "tenant-a,java" || strings.Join(d.Tags, ",") != "tenant-a-dotnet,dotnet" || !strings.Contains(d.Description, "profile dotnet") {
		t.Fatalf("plans %+v %+v", j, d)
	}
	gl, url := forge(t)
	project, err := gl.CreateProject(ctx, fmt.Sprintf("runnerlife-profiles-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gl.DeleteProject(context.Background(), project.ID) })
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a"}})
	env := Env{GitLab: gl, GitLabURL: url, Kube: cs, Log: t.Logf}
	ids := map[string]int64{}
	for _, name := range []string{"java", "dotnet"} {
		c, err := Create(ctx, env, plans[name], Target{Project: project.PathWithNamespace}, false)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		ids[name] = c.RunnerID
		t.Cleanup(func() { _, _ = gl.API.Runners.DeleteRegisteredRunnerByID(c.RunnerID) })
	}
	secret := func() *corev1.Secret {
		s, err := cs.CoreV1().Secrets("tenant-a").Get(ctx, plans["java"].Secret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := secret()
	java, dotnet := string(s.Data["runner-token-java"]), string(s.Data["runner-token-dotnet"])
	for name, tok := range map[string]string{"java": java, "dotnet": dotnet} {
		if id, err := gl.VerifyRunner(ctx, tok); err != nil || id != ids[name] {
			t.Errorf("profile %s's key verifies as runner %d (%v), want %d", name, id, err, ids[name])
		}
		if s.Annotations[RunnerIDAnnot+"."+name] != fmt.Sprint(ids[name]) {
			t.Errorf("annotations %v lack %s.%s=%d", s.Annotations, RunnerIDAnnot, name, ids[name])
		}
	}
	if _, err := Create(ctx, env, plans["java"], Target{Project: project.PathWithNamespace}, false); err == nil || !strings.Contains(err.Error(), "key runner-token-java") {
		t.Errorf("a second create of profile java: %v", err)
	}
	if _, _, err := Rotate(ctx, env, plans["dotnet"]); err != nil {
		t.Fatal(err)
	}
	s = secret()
	if string(s.Data["runner-token-java"]) != java || string(s.Data["runner-token-dotnet"]) == dotnet {
		t.Errorf("rotating dotnet changed java's token or left dotnet's: java %t, dotnet %t", string(s.Data["runner-token-java"]) == java, string(s.Data["runner-token-dotnet"]) == dotnet)
	}
	if id, err := gl.VerifyRunner(ctx, java); err != nil || id != ids["java"] {
		t.Errorf("java's token after dotnet's rotation: runner %d, %v", id, err)
	}
}
