package harness

import (
	"strings"
	"testing"
)

func TestRowsCoverFullProductAndAllPairs(t *testing.T) {
	s, err := LoadSpace("../../test/matrix/permutations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rows := s.Rows()
	full := 1
	for _, d := range s.Full {
		full *= len(s.Dimensions[d])
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if s.excluded(r) {
			t.Errorf("excluded combination generated: %v", r)
		}
		key := ""
		for _, d := range s.Full {
			key += d + "=" + r[d] + ";"
		}
		seen[key] = true
		if len(r) != len(s.Dimensions) {
			t.Errorf("row misses dimensions: %v", r)
		}
	}
	if len(seen) != full {
		t.Errorf("full product of %v: want %d combinations, got %d", s.Full, full, len(seen))
	}
	dims := s.dims()
	for i, d1 := range dims {
		for _, d2 := range dims[i+1:] {
			for _, v1 := range s.values(d1) {
				for _, v2 := range s.values(d2) {
					if s.excluded(map[string]string{d1: v1, d2: v2}) {
						continue
					}
					covered := false
					for _, r := range rows {
						if r[d1] == v1 && r[d2] == v2 {
							covered = true
							break
						}
					}
					if !covered {
						t.Errorf("pair %s=%s %s=%s not covered", d1, v1, d2, v2)
					}
				}
			}
		}
	}
}

// The charts' lookups are found, so the matrix and the review can say what they did not check.
func TestInstallTimeLookupsAreFound(t *testing.T) {
	got, err := InstallTimeLookups("../../charts")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"EndpointSlice in _helpers.tpl", "Namespace in _validate-peers.tpl", "Node in _validate-profiles.tpl", "ResourceQuota in _validate.tpl"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("lookups %v, want %v", got, want)
	}
}
