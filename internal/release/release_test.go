package release

import (
	"testing"
)

// The charts survive a real OCI round trip: packaged, pushed to a Distribution registry, pulled back, and the
// pulled artifact renders exactly like the source.
func TestOCIRoundTrip(t *testing.T) {
	reg, err := StartLocalRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, err := Client(true)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]map[string]any{
		"tenant-bootstrap": {"tenants": map[string]any{"tenant-a": map[string]any{"nodes": []any{"n1"}}}},
	}
	refs, err := RoundTrip(c, []string{"../../charts/gitlab-kaniko-tenant", "../../charts/tenant-bootstrap"}, "oci://"+reg.Host+"/charts", t.TempDir(), values)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 {
		t.Fatalf("want 2 charts pushed, got %v", refs)
	}
	// A chart that is not there cannot be pulled: the round trip reads from the registry, not from a cache.
	if _, err := Pull(c, reg.Host+"/charts/nope:0.0.1", t.TempDir()); err == nil {
		t.Fatal("pulling a missing chart must fail")
	}
}
