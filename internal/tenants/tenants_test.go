package tenants

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const chart = "../../charts/tenant-bootstrap"

func TestFromValuesResolvesDefaults(t *testing.T) {
	set, err := FromValues(chart, []string{filepath.Join(chart, "ci", "two-tenants-values.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	a := set.Tenants["tenant-a"]
	if a.Namespace != "tenant-a" || a.Bucket != "tenant-a-cache" || a.Concurrency != 20 || len(a.Nodes) != 1 {
		t.Errorf("tenant-a resolved wrong: %+v", a)
	}
	if set.NodePinning.LabelKey == "" || strings.Join(set.S3.Layout, ",") != "cache/,layers/" {
		t.Errorf("pinning/s3 data missing: %+v %+v", set.NodePinning, set.S3)
	}
	if _, err := set.Select([]string{"nope"}); err == nil {
		t.Error("selecting an unknown tenant must fail")
	}
}

// The tool refuses exactly what the chart refuses, with the chart's message.
func TestFromValuesRejectsCrossTenantConflicts(t *testing.T) {
	cases := []struct{ name, values, want string }{
		{"two tenants on one bucket", "tenants:\n  a1: {bucket: same-bucket}\n  b1: {bucket: same-bucket}\n", "is already the bucket of tenant"},
		{"one node for two tenants", "tenants:\n  a1: {nodes: [n1]}\n  b1: {nodes: [n1]}\n", "already belongs to tenant"},
		{"two tenants in one namespace", "tenants:\n  a1: {namespace: ns1}\n  b1: {namespace: ns1}\n", "is already the namespace of tenant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "v.yaml")
			if err := os.WriteFile(f, []byte(tc.values), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := FromValues(chart, []string{f})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}
