package jobtrace

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Section is one section of a trace.
type Section struct {
	Name       string
	Start, End time.Time
	opened     int // the marker's position in the trace
}

// Duration is the section's length (the trace's timestamps are whole seconds).
func (s Section) Duration() time.Duration { return s.End.Sub(s.Start) }

// marker is a section start or end: GitLab's log-section format (lib/gitlab/ci/ansi2json/line.rb; the runner's
// helpers/trace section writer), optionally with options such as [collapsed=true].
var marker = regexp.MustCompile(`section_(start|end):(\d+):([A-Za-z0-9_.-]+)`)

// Sections are the trace's closed sections in the order they started. A section that never ends (a job cut off) is
// left out; nested sections are kept as they are.
func Sections(trace string) []Section {
	open := map[string]Section{}
	var out []Section
	for i, m := range marker.FindAllStringSubmatch(trace, -1) {
		sec, _ := strconv.ParseInt(m[2], 10, 64)
		at := time.Unix(sec, 0)
		switch m[1] {
		case "start":
			open[m[3]] = Section{Name: m[3], Start: at, opened: i}
		case "end":
			if s, ok := open[m[3]]; ok {
				s.End = at
				out = append(out, s)
				delete(open, m[3])
			}
		}
	}
	// by start, as the runner opened them (a nested section ends before the one around it)
	slices.SortFunc(out, func(a, b Section) int { return a.opened - b.opened })
	return out
}

// Phase names, in the order a job goes through them.
const (
	PhasePod         = "pod"           // prepare_executor + prepare_script: the job pod created, scheduled and running
	PhaseSources     = "sources"       // get_sources: the clone or fetch
	PhaseCacheFetch  = "cache-restore" // restore_cache: the runner cache downloaded and extracted
	PhaseScript      = "script"        // step_* (script), after_script
	PhaseCacheUpload = "cache-upload"  // archive_cache*: the runner cache packed and uploaded
	PhaseOther       = "other"         // artifacts, cleanup, anything else the runner adds
)

// PhaseNames are the phases in order.
var PhaseNames = []string{PhasePod, PhaseSources, PhaseCacheFetch, PhaseScript, PhaseCacheUpload, PhaseOther}

// PhaseOf is the phase a runner section belongs to (gitlab-runner common/build.go BuildStage names).
func PhaseOf(section string) string {
	switch {
	case section == "prepare_executor" || section == "prepare_script" || section == "resolve_secrets":
		return PhasePod
	case section == "get_sources" || section == "clear_worktree":
		return PhaseSources
	case section == "restore_cache":
		return PhaseCacheFetch
	case strings.HasPrefix(section, "step_") || section == "after_script":
		return PhaseScript
	case strings.HasPrefix(section, "archive_cache"):
		return PhaseCacheUpload
	}
	return PhaseOther
}

// Phases is how long a job spent in each phase (PhaseNames).
type Phases map[string]time.Duration

// PhasesOf sums the sections of a trace by phase.
func PhasesOf(sections []Section) Phases {
	p := Phases{}
	for _, s := range sections {
		p[PhaseOf(s.Name)] += s.Duration()
	}
	return p
}

// Add adds q to p.
func (p Phases) Add(q Phases) {
	for k, v := range q {
		p[k] += v
	}
}

// String is the phases in order, e.g. "pod=4s sources=1s cache-restore=2s script=13s cache-upload=3s other=0s".
func (p Phases) String() string {
	var parts []string
	for _, n := range PhaseNames {
		parts = append(parts, fmt.Sprintf("%s=%.0fs", n, p[n].Seconds()))
	}
	return strings.Join(parts, " ")
}

// TopLevel drops sections that lie inside an earlier one (a script's own sections inside step_script), so that
// PhasesOf counts each second once.
func TopLevel(sections []Section) []Section {
	var out []Section
	for _, s := range sections {
		if n := len(out); n > 0 && !s.Start.Before(out[n-1].Start) && !s.End.After(out[n-1].End) && s.Name != out[n-1].Name {
			continue
		}
		out = append(out, s)
	}
	return out
}
