package harness

import (
	"strings"
	"testing"
)

func TestWeaknessOfNamesTheCatalogueCase(t *testing.T) {
	cases := []struct {
		exposure, want, wantErr string
	}{
		{"[shared/quota-starvation] anything is reachable", "shared/quota-starvation", ""},
		{"tenant-b-created pod labelled as tenant-a job → tenant-a layer-cache registry:5000 is reachable", "", "names no weakness case"},
		{"[shared/made-up] x is reachable", "", "not in the weakness catalogue"},
	}
	for _, c := range cases {
		w, err := WeaknessOf(c.exposure)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: error %v, want %q", c.exposure, err, c.wantErr)
		case c.wantErr == "" && (err != nil || w.Name != c.want):
			t.Errorf("%q: got %q (%v), want %q", c.exposure, w.Name, err, c.want)
		}
	}
}

func TestWeaknessCatalogueIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range Weaknesses() {
		if !exposureName.MatchString("["+w.Name+"] ") || !strings.HasPrefix(w.Name, w.Mode+"/") || w.GivesUp == "" || seen[w.Name] {
			t.Errorf("weakness %+v: want a unique <mode>/<case> name with its mode and what it gives up", w)
		}
		seen[w.Name] = true
	}
}
