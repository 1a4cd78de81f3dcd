package dashboard

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONCarriesEveryPanelOnceWithItsQueries: the built dashboard holds each panel of Panels once, with a unique id,
// inside the 24-column grid, with all its queries selecting the tenant given.
func TestJSONCarriesEveryPanelOnceWithItsQueries(t *testing.T) {
	raw, err := JSON("gkt-runner-t1", "t1", "ns1", "t1-runner-[a-z0-9]+(-[a-z0-9]+)?")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string
		Panels []struct {
			ID      uint32
			Type    string
			Title   string
			GridPos struct{ X, W, H int }
			Targets []struct{ Expr, LegendFormat, RefID string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID != "gkt-runner-t1" {
		t.Errorf("uid %q", d.UID)
	}
	want := map[string]Panel{}
	for _, p := range Panels(Selector("ns1", "t1-runner-[a-z0-9]+(-[a-z0-9]+)?")) {
		want[p.Title] = p
	}
	ids := map[uint32]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H == 0 {
			t.Errorf("panel %q: grid %+v leaves the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		w, ok := want[p.Title]
		if !ok {
			t.Errorf("panel %q is not in Panels (or is there twice)", p.Title)
			continue
		}
		delete(want, p.Title)
		if string(w.Kind) != p.Type || len(w.Queries) != len(p.Targets) {
			t.Errorf("panel %q: type %s with %d queries, want %s with %d", p.Title, p.Type, len(p.Targets), w.Kind, len(w.Queries))
			continue
		}
		for i, q := range p.Targets {
			if q.Expr != w.Queries[i].Expr || !strings.Contains(q.Expr, `namespace="ns1", pod=~"t1-runner-`) {
				t.Errorf("panel %q query %d: %q", p.Title, i, q.Expr)
			}
		}
	}
	for title := range want {
		t.Errorf("panel %q is missing from the dashboard", title)
	}
}
