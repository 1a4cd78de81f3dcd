package timeline

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"math"
	"slices"
	"time"
)

// Job is one job on the timeline.
type Job struct {
	Lane                      string // the tenant
	Label                     string // e.g. "v1 build-image"
	Status                    string // success, failed, canceled, …
	Queued, Started, Finished time.Time
	// Phases, when known (from the trace's sections), are drawn inside the running bar: where the job's time went.
	Phases []Phase
}

// Phase is a part of a job's run (internal/jobtrace phase names get their own colour; others are grey).
type Phase struct {
	Name       string
	Start, End time.Time
}

var phaseColour = map[string]string{"pod": "#7b61ff", "sources": "#1f8fd6", "cache-restore": "#f2b705", "script": "#10a37f", "cache-upload": "#f25c05", "other": "#8a8f98"}

// Layout of the picture, in pixels.
const (
	width     = 1100
	labelW    = 260
	rowH      = 22
	laneGap   = 30
	topMargin = 60
	axisH     = 40
)

var statusColour = map[string]string{"success": "#2e9e44", "failed": "#d0342c"}

// SVG draws the jobs. Every job needs Queued ≤ Started ≤ Finished.
func SVG(title string, jobs []Job) ([]byte, error) {
	if len(jobs) == 0 {
		return nil, fmt.Errorf("timeline: no jobs")
	}
	for _, j := range jobs {
		if j.Queued.IsZero() || j.Started.Before(j.Queued) || j.Finished.Before(j.Started) {
			return nil, fmt.Errorf("timeline: job %s/%s: want queued ≤ started ≤ finished, have %s, %s, %s", j.Lane, j.Label, j.Queued, j.Started, j.Finished)
		}
	}
	jobs = slices.Clone(jobs)
	slices.SortStableFunc(jobs, func(a, b Job) int { return cmp.Or(cmp.Compare(a.Lane, b.Lane), a.Queued.Compare(b.Queued)) })
	t0, t1 := jobs[0].Queued, jobs[0].Finished
	for _, j := range jobs {
		t0 = minTime(t0, j.Queued)
		t1 = maxTime(t1, j.Finished)
	}
	span := math.Max(t1.Sub(t0).Seconds(), 1)
	plotW := float64(width - labelW - 20)
	x := func(t time.Time) float64 { return labelW + t.Sub(t0).Seconds()/span*plotW }

	lanes := 0
	for i, j := range jobs {
		if i == 0 || j.Lane != jobs[i-1].Lane {
			lanes++
		}
	}
	height := topMargin + len(jobs)*rowH + lanes*laneGap + axisH
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="16" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	legend := []struct{ colour, what string }{{"#c9ccd1", "queued in GitLab"}, {statusColour["success"], "running, succeeded"}, {statusColour["failed"], "running, failed"}, {"#e3a008", "running, other end"}}
	for i, l := range legend {
		fmt.Fprintf(&b, `<rect x="%d" y="34" width="14" height="10" fill="%s"/><text x="%d" y="43">%s</text>`+"\n", 10+i*170, l.colour, 28+i*170, l.what)
	}
	for i, n := range []string{"pod", "sources", "cache-restore", "script", "cache-upload", "other"} {
		fmt.Fprintf(&b, `<rect x="%d" y="48" width="14" height="6" fill="%s"/><text x="%d" y="55" font-size="10">%s</text>`+"\n", 10+i*110, phaseColour[n], 28+i*110, n)
	}
	y := topMargin
	for i, j := range jobs {
		if i == 0 || j.Lane != jobs[i-1].Lane {
			y += laneGap
			fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y-8, html.EscapeString(j.Lane))
			fmt.Fprintf(&b, `<line x1="10" x2="%d" y1="%d" y2="%d" stroke="#999"/>`+"\n", width-10, y-4, y-4)
		}
		colour, ok := statusColour[j.Status]
		if !ok {
			colour = "#e3a008"
		}
		fmt.Fprintf(&b, `<text x="20" y="%d">%s</text>`+"\n", y+15, html.EscapeString(j.Label))
		fmt.Fprintf(&b, `<rect class="queued" x="%.1f" y="%d" width="%.1f" height="16" fill="#c9ccd1"/>`+"\n", x(j.Queued), y+3, math.Max(x(j.Started)-x(j.Queued), 0.5))
		fmt.Fprintf(&b, `<rect class="running" data-status="%s" x="%.1f" y="%d" width="%.1f" height="16" fill="%s"><title>%s %s: queued %.0fs, ran %.0fs, %s</title></rect>`+"\n",
			html.EscapeString(j.Status), x(j.Started), y+3, math.Max(x(j.Finished)-x(j.Started), 0.5), colour,
			html.EscapeString(j.Lane), html.EscapeString(j.Label), j.Started.Sub(j.Queued).Seconds(), j.Finished.Sub(j.Started).Seconds(), html.EscapeString(j.Status))
		for _, p := range j.Phases {
			if p.End.Before(p.Start) || p.Start.Before(j.Queued) {
				continue
			}
			c, ok := phaseColour[p.Name]
			if !ok {
				c = phaseColour["other"]
			}
			fmt.Fprintf(&b, `<rect class="phase" data-phase="%s" x="%.1f" y="%d" width="%.1f" height="5" fill="%s"><title>%s: %.0fs</title></rect>`+"\n",
				html.EscapeString(p.Name), x(p.Start), y+14, math.Max(x(p.End)-x(p.Start), 0.5), c, html.EscapeString(p.Name), p.End.Sub(p.Start).Seconds())
		}
		y += rowH
	}
	// time axis: about ten ticks at a round step
	y += 10
	fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%d" y2="%d" stroke="#333"/>`+"\n", labelW, labelW+plotW, y, y)
	step := tickStep(span)
	for s := 0.0; s <= span; s += step {
		px := labelW + s/span*plotW
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#333"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px, px, y, y+5, px, y+18, (time.Duration(s) * time.Second).String())
	}
	b.WriteString("</svg>\n")
	return b.Bytes(), nil
}

// tickStep is a round step giving at most about ten ticks over span seconds.
func tickStep(span float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if span/s <= 10 {
			return s
		}
	}
	return math.Ceil(span / 10)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
