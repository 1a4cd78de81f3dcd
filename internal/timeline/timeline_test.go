package timeline

import (
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSVGDrawsEachJobWhereAndAsItRan: one queued and one running bar per job, in time order along x, coloured by
// status, inside the picture; bad timestamps are refused.
func TestSVGDrawsEachJobWhereAndAsItRan(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	jobs := []Job{
		{Lane: "tenant-b", Label: "v1 build", Status: "success", Queued: at(5), Started: at(7), Finished: at(60)},
		{Lane: "tenant-a", Label: "v1 test", Status: "success", Queued: at(0), Started: at(2), Finished: at(30)},
		{Lane: "tenant-a", Label: "v1 build-image", Status: "failed", Queued: at(30), Started: at(31), Finished: at(90)},
	}
	raw, err := SVG("demo", jobs)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Width string `xml:"width,attr"`
		Rects []struct {
			Class  string `xml:"class,attr"`
			Status string `xml:"data-status,attr"`
			X      string `xml:"x,attr"`
			W      string `xml:"width,attr"`
			Fill   string `xml:"fill,attr"`
			Title  string `xml:"title"`
		} `xml:"rect"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	var running []float64
	var titles []string
	queued := 0
	for _, r := range doc.Rects {
		x, _ := strconv.ParseFloat(r.X, 64)
		w, _ := strconv.ParseFloat(r.W, 64)
		switch r.Class {
		case "queued":
			queued++
		case "running":
			if x < labelW || x+w > width {
				t.Errorf("bar %q at %.1f+%.1f leaves the plot", r.Title, x, w)
			}
			if want := statusColour[r.Status]; r.Fill != want {
				t.Errorf("bar %q: fill %s, want %s for %s", r.Title, r.Fill, want, r.Status)
			}
			running = append(running, x)
			titles = append(titles, r.Title)
		}
	}
	if queued != 3 || len(running) != 3 {
		t.Fatalf("%d queued and %d running bars, want 3 and 3", queued, len(running))
	}
	// lanes sorted by name, jobs by queue time: tenant-a's test (t=2), its build-image (t=31), tenant-b's build (t=7)
	if !strings.HasPrefix(titles[0], "tenant-a v1 test") || !strings.HasPrefix(titles[1], "tenant-a v1 build-image") || !strings.HasPrefix(titles[2], "tenant-b") {
		t.Errorf("order %q", titles)
	}
	if !(running[0] < running[2] && running[2] < running[1]) {
		t.Errorf("x of the running bars %v: want started at 2 s < 7 s < 31 s", running)
	}
	if !strings.Contains(titles[1], "queued 1s, ran 59s, failed") {
		t.Errorf("title %q", titles[1])
	}
	for _, bad := range []Job{
		{Lane: "a", Label: "ends before it starts", Queued: at(0), Started: at(10), Finished: at(5)},
		{Lane: "a", Label: "starts before it is queued", Queued: at(10), Started: at(5), Finished: at(20)},
		{Lane: "a", Label: "never queued", Started: at(5), Finished: at(20)},
	} {
		if _, err := SVG("bad", []Job{bad}); err == nil {
			t.Errorf("%s: drawn, want an error", bad.Label)
		}
	}
}

// TestSVGDrawsPhasesInsideTheRunningBar: each phase is a segment within its job's running bar, in order, as long as
// it lasted, coloured by phase.
func TestSVGDrawsPhasesInsideTheRunningBar(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	phases := []Phase{{"pod", at(2), at(6)}, {"cache-restore", at(6), at(9)}, {"script", at(9), at(25)}, {"cache-upload", at(25), at(30)}}
	raw, err := SVG("phases", []Job{{Lane: "tenant-a", Label: "v2 test", Status: "success", Queued: at(0), Started: at(2), Finished: at(30), Phases: phases}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rects []struct {
			Class string `xml:"class,attr"`
			Phase string `xml:"data-phase,attr"`
			X     string `xml:"x,attr"`
			W     string `xml:"width,attr"`
			Fill  string `xml:"fill,attr"`
		} `xml:"rect"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var bar [2]float64
	var got []string
	var xs, ws []float64
	for _, r := range doc.Rects {
		x, _ := strconv.ParseFloat(r.X, 64)
		w, _ := strconv.ParseFloat(r.W, 64)
		switch r.Class {
		case "running":
			bar = [2]float64{x, x + w}
		case "phase":
			got = append(got, r.Phase)
			xs, ws = append(xs, x), append(ws, w)
			if r.Fill != phaseColour[r.Phase] {
				t.Errorf("phase %s: fill %s, want %s", r.Phase, r.Fill, phaseColour[r.Phase])
			}
		}
	}
	if strings.Join(got, ",") != "pod,cache-restore,script,cache-upload" {
		t.Fatalf("phases drawn %v", got)
	}
	for i := range xs {
		if xs[i] < bar[0]-0.01 || xs[i]+ws[i] > bar[1]+0.01 || (i > 0 && xs[i] < xs[i-1]) {
			t.Errorf("phase %s at %.1f+%.1f is not inside the bar %v in order", got[i], xs[i], ws[i], bar)
		}
	}
	if ratio := ws[2] / ws[0]; ratio < 3.9 || ratio > 4.1 { // script 16 s, pod 4 s
		t.Errorf("script/pod widths %.2f, want 4", ratio)
	}
}
