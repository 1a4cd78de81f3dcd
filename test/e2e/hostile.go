//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// hostileCase is one entry of hostile/cases.yaml: a pipeline whose `hostile` job is its `control` job plus a hostile
// part, and what must become of the hostile job.
type hostileCase struct {
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

func loadHostileCases() ([]hostileCase, error) {
	raw, err := os.ReadFile(filepath.Join(repo, "test/e2e/hostile/cases.yaml"))
	if err != nil {
		return nil, err
	}
	var cases []hostileCase
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

// merge is GitLab's extends merge: mappings key by key, everything else replaced.
func merge(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = merge(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// hostileFiles are the commit of one case: its pipeline, the CI template it includes, and a tiny build context
// for the cases that run the Kaniko template (hostile/Dockerfile, FROM scratch: nothing to pull).
func hostileFiles(c hostileCase, tenant string) (map[string]string, error) {
	tpl, err := os.ReadFile(filepath.Join(repo, "ci/templates/kaniko.gitlab-ci.yml"))
	if err != nil {
		return nil, err
	}
	base := map[string]any{"tags": []any{tenant}, "variables": map[string]any{"KANIKO_CONTEXT": "$CI_PROJECT_DIR/hostile"}}
	control := merge(base, c.Control)
	pipeline := map[string]any{
		"include": []any{map[string]any{"local": "ci/templates/kaniko.gitlab-ci.yml"}},
		"control": control,
		"hostile": merge(control, c.Hostile),
	}
	raw, err := yaml.Marshal(pipeline)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		".gitlab-ci.yml":                    "# hostile case: " + c.Name + "\n" + string(raw),
		"ci/templates/kaniko.gitlab-ci.yml": string(tpl),
		"hostile/Dockerfile":                "FROM scratch\nCOPY case.txt /case.txt\n",
		"hostile/case.txt":                  c.Name + "\n",
	}, nil
}

// hostileVerdict judges one case from its two jobs: "" when the hostile job ended as expected and the control
// succeeded, else why not.
func hostileVerdict(c hostileCase, control, hostile jobResult) (refused, controlOK bool, why string) {
	var reasons []string
	controlOK = control.Status == "success"
	if !controlOK {
		reasons = append(reasons, fmt.Sprintf("control %s (%s): %s", control.Status, control.Reason, tail(control.Trace, 8)))
	}
	refused = hostile.Status == c.Expect.Status
	if !refused {
		reasons = append(reasons, fmt.Sprintf("hostile job %s (%s), want %s", hostile.Status, hostile.Reason, c.Expect.Status))
	}
	if c.Expect.Reason != "" && hostile.Reason != c.Expect.Reason {
		refused = false
		reasons = append(reasons, fmt.Sprintf("failure reason %q, want %q", hostile.Reason, c.Expect.Reason))
	}
	if c.Expect.Trace != "" && !strings.Contains(hostile.Trace, c.Expect.Trace) {
		refused = false
		reasons = append(reasons, fmt.Sprintf("trace lacks %q: %s", c.Expect.Trace, tail(hostile.Trace, 8)))
	}
	if c.Expect.SamePod {
		switch {
		case hostile.ShapeDiff == nil:
			refused = false
			reasons = append(reasons, "no pod of the hostile or the control job was seen")
		case len(hostile.ShapeDiff) > 0:
			refused = false
			reasons = append(reasons, "the hostile job changed its pod: "+strings.Join(hostile.ShapeDiff, "; "))
		}
	}
	return refused, controlOK, strings.Join(reasons, " | ")
}

// jobResult is what a case's job came to.
type jobResult struct {
	Status, Reason, Trace string
	ShapeDiff             []string // hostile vs control pod; nil when a pod is missing
}
