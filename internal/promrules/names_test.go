package promrules

import (
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestNamesCollectsMatchersByAndOnPerMetric: each metric gets its own matchers, the by labels of the aggregation
// over it and the on labels of the binary operation it is a side of; nothing leaks to the other metric.
func TestNamesCollectsMatchersByAndOnPerMetric(t *testing.T) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(`sum by (pod, state) (jobs{namespace="a", stage!="x"}) >= on (pod) concurrent{namespace="a"}`)
	if err != nil {
		t.Fatal(err)
	}
	got := Names(expr)
	want := map[string][]string{"jobs": {"namespace", "pod", "stage", "state"}, "concurrent": {"namespace", "pod"}}
	if len(got) != len(want) {
		t.Fatalf("metrics %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for metric, labels := range want {
		if have := slices.Sorted(maps.Keys(got[metric])); !slices.Equal(have, labels) {
			t.Errorf("%s: labels %v, want %v", metric, have, labels)
		}
	}
}
