package pipelines

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// HostileCasesFile is the hostile pipelines' table, relative to the repository root.
const HostileCasesFile = "test/e2e/hostile/cases.yaml"

// HostileCase is one entry of hostile/cases.yaml: a pipeline whose `hostile` job is its `control` job plus a hostile
// part, and what must become of the hostile job.
type HostileCase struct {
	Name    string         `json:"name"`
	Class   string         `json:"class"`
	Guard   string         `json:"guard"`
	Control map[string]any `json:"control"`
	Hostile map[string]any `json:"hostile"`
	Expect  struct {
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Trace   string `json:"trace"`
		SamePod bool   `json:"samePod"`
	} `json:"expect"`
}

// LoadHostileCases reads and checks the table.
func LoadHostileCases(repoRoot string) ([]HostileCase, error) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, HostileCasesFile))
	if err != nil {
		return nil, err
	}
	var cases []HostileCase
	if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
		return nil, fmt.Errorf("hostile/cases.yaml: %w", err)
	}
	for i, c := range cases {
		switch {
		case c.Name == "" || c.Guard == "" || c.Class == "":
			return nil, fmt.Errorf("hostile/cases.yaml: case %d needs a name, a class and a guard", i+1)
		case len(c.Control) == 0 || len(c.Hostile) == 0:
			return nil, fmt.Errorf("hostile/cases.yaml: %s: needs a control job and a hostile part", c.Name)
		case c.Expect.Status != "success" && c.Expect.Status != "failed":
			return nil, fmt.Errorf("hostile/cases.yaml: %s: expect.status must be success or failed", c.Name)
		case c.Expect.Status == "success" && !c.Expect.SamePod:
			return nil, fmt.Errorf("hostile/cases.yaml: %s: a hostile job that succeeds must prove samePod (or the case cannot fail)", c.Name)
		}
	}
	return cases, nil
}

// HostileFiles are the commit of one case: its pipeline, the CI template it includes, and a tiny build context for
// the cases that run the Kaniko template (hostile/Dockerfile, FROM scratch: nothing to pull).
func HostileFiles(repoRoot string, c HostileCase, tenant string) (map[string]string, error) {
	tpl, err := os.ReadFile(filepath.Join(repoRoot, Template))
	if err != nil {
		return nil, err
	}
	base := map[string]any{"tags": []any{tenant}, "variables": map[string]any{"KANIKO_CONTEXT": "$CI_PROJECT_DIR/hostile"}}
	control := merge(base, c.Control)
	pipeline := map[string]any{
		"include": []any{map[string]any{"local": Template}},
		"control": control,
		"hostile": merge(control, c.Hostile),
	}
	raw, err := yaml.Marshal(pipeline)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		".gitlab-ci.yml":     "# hostile case: " + c.Name + "\n" + string(raw),
		Template:             string(tpl),
		"hostile/Dockerfile": "FROM scratch\nCOPY case.txt /case.txt\n",
		"hostile/case.txt":   c.Name + "\n",
	}, nil
}
