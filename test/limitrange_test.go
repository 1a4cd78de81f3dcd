package test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// TestLimitRangeAdmitsTheTenantsOwnPods: every container of the tenant chart's pods (manager, layer-cache registry)
// fits the LimitRange tenant-bootstrap renders for that tenant, also when the tenant's jobs are much smaller than
// its manager. (It did not: the max was the biggest job limit only, and on the e2e cluster a tenant with 256Mi jobs
// could not start its manager: "maximum memory usage per Container is 256Mi, but limit is 512Mi".)
func TestLimitRangeAdmitsTheTenantsOwnPods(t *testing.T) {
	for _, tc := range []struct {
		name              string
		bootstrap, tenant []string
	}{
		{"e2e tenant-a", []string{"e2e/values/bootstrap.yaml", "e2e/values/bootstrap-e2e.yaml"}, []string{"e2e/values/tenant-a.yaml"}},
		{"small jobs (runner load)", []string{"e2e/values/bootstrap.yaml", "e2e/values/bootstrap-e2e.yaml", "e2e/values/runner-load-bootstrap.yaml"},
			[]string{"e2e/values/tenant-a.yaml", "e2e/values/runner-load-tenant-a.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boot, err := loadChart(t, bootstrapChart).Render(render.Options{ReleaseName: "tenant-bootstrap", Namespace: "gitlab-kaniko-system", KubeVersion: "v1.37.0", Values: readValues(t, tc.bootstrap...)})
			if err != nil {
				t.Fatal(err)
			}
			max := map[string]resource.Quantity{}
			for _, o := range boot.Objects() {
				if o.GetKind() == "LimitRange" && o.GetNamespace() == "tenant-a" {
					limits, _, _ := unstructured.NestedSlice(o.Object, "spec", "limits")
					for _, l := range limits {
						m, _, _ := unstructured.NestedStringMap(l.(map[string]any), "max")
						for k, v := range m {
							max[k] = resource.MustParse(v)
						}
					}
				}
			}
			if len(max) == 0 {
				t.Fatal("no LimitRange with a max for tenant-a")
			}
			vals := render.MergeValues(readValues(t, tc.tenant...), map[string]any{"managerDisabled": false})
			res, err := loadChart(t, tenantChart).Render(render.Options{ReleaseName: "tenant-a", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: vals, Cluster: render.InstallCluster()})
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, o := range res.Objects() {
				if o.GetKind() != "Deployment" && o.GetKind() != "DaemonSet" {
					continue
				}
				containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				for _, c := range containers {
					limits, _, _ := unstructured.NestedStringMap(c.(map[string]any), "resources", "limits")
					for k, v := range limits {
						checked++
						if m, ok := max[k]; ok && func() bool { q := resource.MustParse(v); return q.Cmp(m) > 0 }() {
							t.Errorf("%s %s: container %s limits %s=%s, above the LimitRange max %s", o.GetKind(), o.GetName(), c.(map[string]any)["name"], k, v, m.String())
						}
					}
				}
			}
			if checked == 0 {
				t.Fatal("no container limits checked")
			}
		})
	}
}
