package nodes

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

func set() *tenants.Set {
	return &tenants.Set{
		NodePinning: tenants.NodePinning{LabelKey: "gkt/tenant", TaintKey: "gkt/tenant", ExtraLabels: map[string]string{"workload": "gitlab-runner"}},
		Tenants: map[string]tenants.Tenant{
			"tenant-a": {Name: "tenant-a", Nodes: []string{"w1"}},
			"tenant-b": {Name: "tenant-b", Nodes: []string{"w2"}},
		},
	}
}

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestAssignIsIdempotentAndVerifiable(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(node("w1", nil), node("w2", map[string]string{"x": "y"}), node("cp", nil))
	s := set()
	changes, err := Assign(ctx, cs, s, s.Sorted(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 6 { // per node: tenant label, workload label, taint
		t.Fatalf("first assign: want 6 changes, got %d: %v", len(changes), changes)
	}
	again, err := Assign(ctx, cs, s, s.Sorted(), false)
	if err != nil || len(again) != 0 {
		t.Fatalf("second assign must change nothing, got %v, %v", again, err)
	}
	probs, err := Verify(ctx, cs, s, s.Sorted())
	if err != nil || len(probs) != 0 {
		t.Fatalf("verify after assign: %v %v", probs, err)
	}
	n, _ := cs.CoreV1().Nodes().Get(ctx, "w2", metav1.GetOptions{})
	if n.Labels["x"] != "y" {
		t.Errorf("assign must keep unrelated labels")
	}
}

func TestAssignRefusesAnotherTenantsNode(t *testing.T) {
	cs := fake.NewClientset(node("w1", map[string]string{"gkt/tenant": "tenant-b"}), node("w2", nil))
	s := set()
	_, err := Assign(context.Background(), cs, s, s.Sorted(), false)
	if err == nil || !strings.Contains(err.Error(), "belongs to another tenant") {
		t.Fatalf("want refusal, got %v", err)
	}
	if _, err := Assign(context.Background(), cs, s, s.Sorted(), true); err != nil {
		t.Fatalf("--force must move the node: %v", err)
	}
	if probs, err := Verify(context.Background(), cs, s, s.Sorted()); err != nil || len(probs) != 0 {
		t.Fatalf("after --force, w1 must be labelled and tainted for tenant-a: %v %v", probs, err)
	}
}

func TestVerifyFindings(t *testing.T) {
	good := corev1.Taint{Key: "gkt/tenant", Value: "tenant-a", Effect: corev1.TaintEffectNoSchedule}
	labels := func(t string) map[string]string {
		return map[string]string{"gkt/tenant": t, "workload": "gitlab-runner"}
	}
	cases := []struct {
		name  string
		nodes []*corev1.Node
		want  string
	}{
		{"missing taint", []*corev1.Node{node("w1", labels("tenant-a")), node("w2", labels("tenant-b"), corev1.Taint{Key: "gkt/tenant", Value: "tenant-b", Effect: "NoSchedule"})}, "taint gkt/tenant=tenant-a:NoSchedule missing"},
		{"wrong label", []*corev1.Node{node("w1", labels("tenant-b"), good), node("w2", labels("tenant-b"), corev1.Taint{Key: "gkt/tenant", Value: "tenant-b", Effect: "NoSchedule"})}, `label gkt/tenant is "tenant-b", want "tenant-a"`},
		{"unlisted node carries a tenant label", []*corev1.Node{node("w1", labels("tenant-a"), good), node("w2", labels("tenant-b"), corev1.Taint{Key: "gkt/tenant", Value: "tenant-b", Effect: "NoSchedule"}), node("w9", labels("tenant-a"))}, "not listed"},
		{"node missing", []*corev1.Node{node("w2", labels("tenant-b"))}, "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			for _, n := range tc.nodes {
				_, _ = cs.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{})
			}
			s := set()
			probs, err := Verify(context.Background(), cs, s, s.Sorted())
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range probs {
				if strings.Contains(p.String(), tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("want a problem containing %q, got %v", tc.want, probs)
			}
		})
	}
}

func TestPinAssignsAndFailsOnWhatVerifyStillFinds(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		nodes   []*corev1.Node
		wantErr string
	}{
		{"all listed nodes exist: pinned", []*corev1.Node{node("w1", nil), node("w2", nil)}, ""},
		{"a listed node is missing: assigning fails", []*corev1.Node{node("w1", nil)}, `node w2 of tenant tenant-b: nodes "w2" not found`},
		{"an unlisted node carries a tenant label", []*corev1.Node{node("w1", nil), node("w2", nil), node("w3", map[string]string{"gkt/tenant": "tenant-a"})}, "carries the tenant label but is not listed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, n := range c.nodes {
				objs = append(objs, n)
			}
			_, err := Pin(ctx, fake.NewClientset(objs...), set())
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("got %v, want %q", err, c.wantErr)
			}
		})
	}
}

func TestUserNamespaceSupportIsReadFromTheKubelet(t *testing.T) {
	yes, no := true, false
	handler := func(name string, userns *bool) corev1.NodeRuntimeHandler {
		h := corev1.NodeRuntimeHandler{Name: name}
		if userns != nil {
			h.Features = &corev1.NodeRuntimeHandlerFeatures{UserNamespaces: userns}
		}
		return h
	}
	cases := []struct {
		name     string
		handlers []corev1.NodeRuntimeHandler
		want     string // "" means supported
	}{
		{"containerd 2.x: default handler supports them", []corev1.NodeRuntimeHandler{handler("", &yes), handler("runc", &yes)}, ""},
		{"runtime says no", []corev1.NodeRuntimeHandler{handler("", &no)}, "userNamespaces=false"},
		{"feature not reported", []corev1.NodeRuntimeHandler{handler("", nil)}, "no user-namespace feature"},
		{"only a named handler supports them", []corev1.NodeRuntimeHandler{handler("", &no), handler("kata", &yes)}, "userNamespaces=false"},
		{"old runtime: no handlers", nil, "status.runtimeHandlers is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := node("w1", map[string]string{"gkt/tenant": "tenant-a"})
			n.Status.RuntimeHandlers = tc.handlers
			cs := fake.NewClientset(n, node("w2", map[string]string{"gkt/tenant": "tenant-b"}))
			probs, err := UserNamespaces(context.Background(), cs, []tenants.Tenant{{Name: "tenant-a", Nodes: []string{"w1"}}})
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, probs, tc.want, "jobs.userNamespaces=false")
		})
	}
}

// TestCgroupFreezeRiskIsReadFromTheKubelet serves the node proxy's /configz and /metrics as a kubelet would and
// proves only cgroup v1 with the systemd driver is reported, with both ways out; an unreadable kubelet is an error,
// never a pass.
func TestCgroupFreezeRiskIsReadFromTheKubelet(t *testing.T) {
	metrics := func(v string) string {
		return "# HELP kubelet_cgroup_version [ALPHA] cgroup version on the hosts.\n# TYPE kubelet_cgroup_version gauge\nkubelet_cgroup_version " + v + "\n"
	}
	cases := []struct {
		name, configz, metrics string
		status                 int    // of /configz; 0 is 200
		want                   string // "" means no problem; "error:" prefix means the call fails naming it
	}{
		{"cgroup v1 + systemd (kind's default on a v1 host)", `{"kubeletconfig":{"cgroupDriver":"systemd"}}`, metrics("1"), 0, "unable to freeze"},
		{"cgroup v1 + cgroupfs", `{"kubeletconfig":{"cgroupDriver":"cgroupfs"}}`, metrics("1"), 0, ""},
		{"cgroup v1, driver left at the default (cgroupfs)", `{"kubeletconfig":{}}`, metrics("1"), 0, ""},
		{"cgroup v2 + systemd", `{"kubeletconfig":{"cgroupDriver":"systemd"}}`, metrics("2"), 0, ""},
		{"kubelet without the version metric", `{"kubeletconfig":{"cgroupDriver":"systemd"}}`, "kubelet_started_pods_total 3\n", 0, ""},
		{"configz forbidden", "forbidden", metrics("1"), http.StatusForbidden, "error:/configz"},
		{"configz not JSON", "<html>", metrics("1"), 0, "error:not JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/api/v1/nodes/w1/proxy/configz":
					if tc.status != 0 {
						w.WriteHeader(tc.status)
					}
					_, _ = io.WriteString(w, tc.configz)
				case "/api/v1/nodes/w1/proxy/metrics":
					_, _ = io.WriteString(w, tc.metrics)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			probs, err := CgroupFreeze(context.Background(), cs, []tenants.Tenant{{Name: "tenant-a", Nodes: []string{"w1"}}})
			if want, ok := strings.CutPrefix(tc.want, "error:"); ok {
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "w1") {
					t.Fatalf("want an error naming w1 and %q, got %v (problems %v)", want, err, probs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, probs, tc.want, "cgroup v2", "SystemdCgroup = false")
		})
	}
}

// wantProblem fails unless probs is empty (want "") or is one problem naming want and each of ways (the ways out a
// problem must tell its reader).
func wantProblem(t *testing.T, probs []Problem, want string, ways ...string) {
	t.Helper()
	if want == "" {
		if len(probs) != 0 {
			t.Fatalf("want no problem, got %v", probs)
		}
		return
	}
	if len(probs) != 1 || !strings.Contains(probs[0].String(), want) {
		t.Fatalf("want one problem naming %q, got %v", want, probs)
	}
	for _, w := range ways {
		if !strings.Contains(probs[0].String(), w) {
			t.Fatalf("the problem does not name the way out %q: %v", w, probs[0])
		}
	}
}
