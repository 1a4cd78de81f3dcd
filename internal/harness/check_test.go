package harness

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// RunMatrix checks one render for every Kubernetes version and runs the version-independent checks only for the
// first (Rendered.reuse). For a render with findings of both kinds (schema and Pod Security per version, labels and
// RBAC once), every version's result must equal a fresh check's.
func TestReusedRenderFindsWhatAFreshCheckFinds(t *testing.T) {
	fresh, s := testChecker(t)
	matrix := *fresh
	matrix.renders = map[string]*Rendered{}
	r, err := fresh.Render(s, attackPermutation())
	if err != nil {
		t.Fatal(err)
	}
	objs := r.Tenants["tenant-a"].Objects()
	_ = unstructured.SetNestedField(find(objs, "Deployment", "tenant-a-runner").Object, true, "spec", "hostNetwork")
	_ = unstructured.SetNestedField(find(objs, "Deployment", "tenant-a-runner").Object, false, "spec", "template", "spec", "securityContext", "runAsNonRoot")
	find(objs, "ConfigMap", "").SetLabels(map[string]string{})
	find(objs, "Role", "").SetNamespace("tenant-b")
	yes := true
	r.JobPods["tenant-a"].Spec.Containers[0].SecurityContext.Privileged = &yes

	want := map[string]Result{}
	checks := map[string]bool{}
	for _, v := range versions.KubernetesVersions {
		want[v] = fresh.CheckRendered("p", v, r)
		for _, f := range want[v].Findings {
			checks[f.Check] = true
		}
	}
	if r.reuse != nil {
		t.Fatal("a check outside RunMatrix recorded findings for reuse")
	}
	for i, v := range versions.KubernetesVersions {
		got := matrix.CheckRendered("p", v, r)
		if i == 0 && r.reuse == nil {
			t.Fatal("the matrix's first check of a render recorded nothing to reuse")
		}
		if !reflect.DeepEqual(got, want[v]) {
			t.Errorf("%s: reused render found\n%v\nfresh check found\n%v", v, got.Findings, want[v].Findings)
		}
	}
	for _, c := range []string{"schema " + versions.KubernetesVersions[0], "tenant label on every object", "Pod Security: manager, registry and tests restricted; job pods baseline"} {
		if !checks[c] {
			t.Errorf("the tampered render has no %q finding; the test needs one of each kind (got %v)", c, checks)
		}
	}
}
