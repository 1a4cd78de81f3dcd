//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
)

// TestHostilePipelines runs every case of hostile/cases.yaml in tenant-a's project through the real runner: the
// hostile job must be refused or blocked as the case says, and the control job beside it must succeed.
func TestHostilePipelines(t *testing.T) {
	cases, err := pipelines.LoadHostileCases(repo)
	if err != nil {
		t.Fatal(err)
	}
	if only := os.Getenv("GKT_HOSTILE"); only != "" { // a subset: cases whose name or class contains it
		var keep []hostileCase
		for _, c := range cases {
			if strings.Contains(c.Name, only) || c.Class == only {
				keep = append(keep, c)
			}
		}
		cases = keep
	}
	rt := setupRunnerTier(t, false)
	ctx := context.Background()
	var tp *tenantProject
	for _, p := range rt.projects {
		if p.tn.Name == "tenant-a" {
			tp = p
		}
	}
	// The cases are committed back to back to one branch. GitLab cancels a ref's older pending pipelines when a new
	// one arrives (auto-cancel of redundant pipelines, on by default), so the project turns that off for the run, as
	// a project that wants every commit built does; it is turned back on at the end.
	if err := rt.f.api.SetAutoCancel(ctx, tp.project.ID, false); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rt.f.api.SetAutoCancel(ctx, tp.project.ID, true); err != nil {
			t.Error(err)
		}
	}()
	watch := watchJobPods(ctx, rt.p.cs, tp.tn.Namespace)
	// Commit the cases one after the other; each commit starts its pipeline, and the runner works through them at
	// its concurrency.
	type started struct {
		c   hostileCase
		sha string
	}
	var all []started
	for _, c := range cases {
		files, err := pipelines.HostileFiles(repo, c, tp.tn.Name)
		if err != nil {
			t.Fatal(err)
		}
		sha, err := rt.f.api.Commit(ctx, tp.project.ID, tp.project.DefaultBranch, "hostile: "+c.Name, files, tp.existing)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		for p := range files {
			tp.existing[p] = true
		}
		all = append(all, started{c, sha})
	}
	type outcome struct {
		refused, controlOK bool
		why                string
	}
	results := make([]outcome, len(all))
	var wg sync.WaitGroup
	jobsOf := make([][]gitlab.Job, len(all))
	for i, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pl, err := rt.f.api.PipelineFor(ctx, tp.project.ID, s.sha, 2*time.Minute)
			if err == nil {
				pl, err = rt.f.api.WaitPipeline(ctx, tp.project.ID, pl.ID, 20*time.Minute)
			}
			if err == nil && pl.YamlErrors != "" {
				err = fmt.Errorf("pipeline invalid: %s", pl.YamlErrors)
			}
			if err == nil {
				jobsOf[i], err = rt.f.api.Jobs(ctx, tp.project.ID, pl.ID)
			}
			if err != nil {
				results[i] = outcome{why: err.Error()}
			}
		}()
	}
	wg.Wait()
	pods := watch.Stop()
	refused, controls := 0, 0
	for i, s := range all {
		if jobsOf[i] == nil {
			t.Errorf("%s: %s", s.c.Name, results[i].why)
			continue
		}
		byName := map[string]jobResult{}
		var hostilePod, controlPod *jobPodSeen
		for _, j := range jobsOf[i] {
			tr, err := rt.f.api.Trace(ctx, tp.project.ID, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			saveTrace(fmt.Sprintf("hostile-%02d-%s-%d", i+1, j.Name, j.ID), []byte(tr))
			byName[j.Name] = jobResult{Status: j.Status, Reason: j.FailureReason, Trace: tr}
			if j.Name == "hostile" {
				hostilePod = pods[fmt.Sprint(j.ID)]
			} else {
				controlPod = pods[fmt.Sprint(j.ID)]
			}
		}
		h := byName["hostile"]
		if hostilePod != nil && controlPod != nil {
			h.ShapeDiff = jobpod.ShapeDiff(controlPod.Pod, hostilePod.Pod)
			if h.ShapeDiff == nil {
				h.ShapeDiff = []string{}
			}
		}
		ok, cok, why := hostileVerdict(s.c, byName["control"], h)
		results[i] = outcome{ok, cok, why}
		logf("hostile %-90s refused=%t control=%t %s", s.c.Name, ok, cok, why)
		if ok {
			refused++
		}
		if cok {
			controls++
		}
		if !ok || !cok {
			t.Errorf("hostile case %q (%s, guard %s): %s", s.c.Name, s.c.Class, s.c.Guard, why)
		}
	}
	// A job that outlived its timeout, or any other, leaves no pod behind.
	left, err := waitNoRunnerObjects(ctx, rt.p.cs, tp.tn.Namespace, 3*time.Minute)
	if err != nil || len(left) > 0 {
		t.Errorf("tenant-a's job pods and Secrets are not gone: %v %v", left, err)
	}
	fmt.Printf("hostile: cases=%d refused=%d controls-ok=%d leftovers=%d\n", len(all), refused, controls, len(left))
}
