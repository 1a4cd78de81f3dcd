//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
)

// TestHostilePipelines runs every case of hostile/cases.yaml in tenant-a's project through the real runner, one
// subtest per case (all at once; pick some with -run 'TestHostilePipelines/cases/<part of the name>'): the hostile
// job must be refused or blocked as the case says, and the control job beside it must succeed.
func TestHostilePipelines(t *testing.T) {
	cases, err := pipelines.LoadHostileCases(repo)
	if err != nil {
		t.Fatal(err)
	}
	rt := setupRunnerTier(t, false)
	ctx := context.Background()
	tp := rt.project("tenant-a")
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
	var mu sync.Mutex // commits to the one branch, one at a time; the counts
	ran, refused, controls := 0, 0, 0
	t.Run("cases", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel() // every selected case's pipeline at once; the runner works through them at its concurrency
				mu.Lock()
				files, err := pipelines.HostileFiles(repo, c, tp.tn.Name)
				var sha string
				if err == nil {
					sha, err = rt.f.api.Commit(ctx, tp.project.ID, tp.project.DefaultBranch, "hostile: "+c.Name, files, tp.existing)
				}
				for p := range files {
					tp.existing[p] = true
				}
				ran++
				mu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
				pl, err := rt.f.api.PipelineFor(ctx, tp.project.ID, sha, 2*time.Minute)
				if err == nil {
					pl, err = rt.f.api.WaitPipeline(ctx, tp.project.ID, pl.ID, 20*time.Minute)
				}
				if err == nil && pl.YamlErrors != "" {
					err = fmt.Errorf("pipeline invalid: %s", pl.YamlErrors)
				}
				var jobs []gitlab.Job
				if err == nil {
					jobs, err = rt.f.api.Jobs(ctx, tp.project.ID, pl.ID)
				}
				if err != nil {
					t.Fatal(err)
				}
				ok, cok, why := hostileCaseVerdict(ctx, t, rt, tp, watch, i, c, jobs)
				logf("hostile %-90s refused=%t control=%t %s", c.Name, ok, cok, why)
				mu.Lock()
				if ok {
					refused++
				}
				if cok {
					controls++
				}
				mu.Unlock()
				if !ok || !cok {
					t.Errorf("hostile case %q (%s, guard %s): %s", c.Name, c.Class, c.Guard, why)
				}
			})
		}
	})
	watch.Stop()
	// A job that outlived its timeout, or any other, leaves no pod behind.
	left, err := waitNoRunnerObjects(ctx, rt.p.cs, tp.tn.Namespace, 3*time.Minute)
	if err != nil || len(left) > 0 {
		t.Errorf("tenant-a's job pods and Secrets are not gone: %v %v", left, err)
	}
	fmt.Printf("hostile: cases=%d refused=%d controls-ok=%d leftovers=%d\n", ran, refused, controls, len(left))
}

// hostileCaseVerdict reads one case's jobs (traces saved, pods from the watch) and judges them with hostileVerdict.
func hostileCaseVerdict(ctx context.Context, t *testing.T, rt *runnerTier, tp *tenantProject, watch *podWatch, i int, c hostileCase, jobs []gitlab.Job) (refused, controlOK bool, why string) {
	t.Helper()
	byName := map[string]jobResult{}
	var hostilePod, controlPod *jobPodSeen
	for _, j := range jobs {
		tr, err := rt.f.api.Trace(ctx, tp.project.ID, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		saveTrace(fmt.Sprintf("hostile-%02d-%s-%d", i+1, j.Name, j.ID), []byte(tr))
		byName[j.Name] = jobResult{Status: j.Status, Reason: j.FailureReason, Trace: tr}
		if j.Name == "hostile" {
			hostilePod = watch.Pod(j.ID)
		} else {
			controlPod = watch.Pod(j.ID)
		}
	}
	h := byName["hostile"]
	if hostilePod != nil && controlPod != nil {
		h.ShapeDiff = jobpod.ShapeDiff(controlPod.Pod, hostilePod.Pod)
		if h.ShapeDiff == nil {
			h.ShapeDiff = []string{}
		}
	}
	return hostileVerdict(c, byName["control"], h)
}
