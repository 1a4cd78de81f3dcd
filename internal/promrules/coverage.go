package promrules

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Cases counts, per alert, the promtool cases that expect it to fire and those that expect it quiet.
type Cases struct {
	Firing, Quiet int
}

// Suite is what a promtool test file says about its cases.
type Suite struct {
	RuleFiles []string
	Groups    int
	Cases     int
	PerAlert  map[string]Cases
}

// Tested is how many of the alerts have at least one firing and one quiet case.
func (s Suite) Tested(alerts []string) int {
	n := 0
	for _, a := range alerts {
		if c := s.PerAlert[a]; c.Firing > 0 && c.Quiet > 0 {
			n++
		}
	}
	return n
}

// Read reads a promtool test file (only the fields counted here; promtool reads it strictly).
func Read(file string) (Suite, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return Suite{}, err
	}
	var f struct {
		RuleFiles []string `json:"rule_files"`
		Tests     []struct {
			Cases []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return Suite{}, fmt.Errorf("%s: %w", file, err)
	}
	s := Suite{RuleFiles: f.RuleFiles, Groups: len(f.Tests), PerAlert: map[string]Cases{}}
	for _, g := range f.Tests {
		for _, c := range g.Cases {
			s.Cases++
			pc := s.PerAlert[c.Alertname]
			if len(c.ExpAlerts) > 0 {
				pc.Firing++
			} else {
				pc.Quiet++
			}
			s.PerAlert[c.Alertname] = pc
		}
	}
	return s, nil
}
