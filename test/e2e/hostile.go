//go:build e2e

package e2e

import (
	"fmt"
	"strings"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"
)

// hostileCase is one entry of hostile/cases.yaml (internal/pipelines holds the table's type and the commit).
type hostileCase = pipelines.HostileCase

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
