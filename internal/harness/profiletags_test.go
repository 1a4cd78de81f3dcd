package harness

import (
	"strings"
	"testing"
)

// TestProfileTagsOfAnotherTenantAreRefused: a runner profile's tag may not be another tenant's name or another
// tenant's profile tag; a tenant's own name and tags are its own.
func TestProfileTagsOfAnotherTenantAreRefused(t *testing.T) {
	profiles := func(tags ...string) map[string]any {
		var list []any
		for _, tg := range tags {
			list = append(list, tg)
		}
		return map[string]any{"profiles": map[string]any{"java": map[string]any{"tags": list, "limit": 2}}}
	}
	for _, tc := range []struct {
		name   string
		a, b   map[string]any
		want   []string // substrings of the one finding; nil: none
		tenant string
	}{
		{"each tenant's own tags", profiles("tenant-a", "tenant-a-java"), profiles("tenant-b-java"), nil, ""},
		{"a tenant without profiles beside one with", profiles("tenant-a"), map[string]any{}, nil, ""},
		{"another tenant's name", profiles("tenant-b"), map[string]any{}, []string{`profiles.java.tags has "tenant-b", which is tenant tenant-b's name`}, "tenant-a"},
		{"another tenant's profile tag", profiles("java"), profiles("java"), []string{`profiles.java.tags has "java", which is tenant tenant-b's profile java`}, "tenant-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ProfileTagFindings("review", map[string]map[string]any{"tenant-a": tc.a, "tenant-b": tc.b})
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("findings %v, want none", got)
				}
				return
			}
			if len(got) == 0 || got[0].Tenant != tc.tenant || !got[0].CrossTenant || got[0].Check != ProfileTagCheck {
				t.Fatalf("findings %+v, want one cross-tenant finding for %s", got, tc.tenant)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0].Message, w) {
					t.Errorf("message %q lacks %q", got[0].Message, w)
				}
			}
		})
	}
}
