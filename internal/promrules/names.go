package promrules

import "github.com/prometheus/prometheus/promql/parser"

// Names are the metrics an expression selects and, for each, the labels it names: its matchers, and the by and on
// labels of the aggregations and binary operations above it. The unit tests check them against the runner's source,
// the e2e against a real scrape.
func Names(expr parser.Expr) map[string]map[string]bool {
	names := map[string]map[string]bool{}
	add := func(under parser.Node, labels []string) {
		parser.Inspect(under, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if names[vs.Name] == nil {
					names[vs.Name] = map[string]bool{}
				}
				for _, l := range labels {
					names[vs.Name][l] = true
				}
			}
			return nil
		})
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch x := n.(type) {
		case *parser.VectorSelector:
			var ls []string
			for _, m := range x.LabelMatchers {
				if m.Name != "__name__" {
					ls = append(ls, m.Name)
				}
			}
			add(x, ls)
		case *parser.AggregateExpr:
			add(x.Expr, x.Grouping)
		case *parser.BinaryExpr:
			if x.VectorMatching != nil {
				add(x.LHS, x.VectorMatching.MatchingLabels)
				add(x.RHS, x.VectorMatching.MatchingLabels)
			}
		}
		return nil
	})
	return names
}
