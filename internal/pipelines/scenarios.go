package pipelines

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Params are what only a run of a scenario knows.
type Params struct {
	Gate     string // the shell line that holds a job until the test opens the scenario's gate (test/e2e/gate.go)
	CacheKey string // the runner-cache key of the cache scenarios (unique per run)
	Held     int    // how many jobs hold at the gate (observability-saturated: the tenant's job limit)
}

// Timings the scenarios and their checks share.
const (
	LoadSleep    = 45 // seconds each load job sleeps
	UpgradeLines = 16 // lines the job that outlives an upgrade prints, 5 s apart
	OutageLines  = 45 // lines the job that runs through a GitLab outage prints, 5 s apart
	RotateLines  = 24 // lines the job that runs through a token rotation prints, 5 s apart
	// CacheOutageSleep: seconds the cache-outage job sleeps after saying it is ready, longer than GitLab's 60 s trace
	// interval plus the time to stop MinIO
	CacheOutageSleep = 120
)

// MissingImage is an image no node has and none can pull (the e2e's nodes have no registry for gkt.local), in the
// pattern the image-missing scenario adds to the tenant's allowed images.
const MissingImage = "gkt.local/missing/image:1"

// CancelAfterScriptLine is what the canceled job's after_script prints (in lower case: the trace also echoes the
// command, in upper case).
const CancelAfterScriptLine = "after_script_ran_after_the_cancel"

// SequentialLines is a script that prints "line 1" … "line n", interval seconds apart.
func SequentialLines(n, interval int) string {
	return fmt.Sprintf(`i=1; while [ $i -le %d ]; do echo "line $i"; i=$((i+1)); sleep %d; done`, n, interval)
}

// UsernsProbeScript is the user-namespace probe job (the runner's default image: Kaniko's debug flavour, busybox).
// It prints its uid_map, creates a file as root in its root filesystem, says it is ready (in lower case: the trace
// also echoes the command), and waits until the node side has looked (the node creates the -done file through
// /proc/<pid>/root).
var UsernsProbeScript = []string{
	`echo "uidmap:$(cat /proc/self/uid_map)"`,
	`echo made-by-root > /kaniko/gkt-userns-$CI_JOB_ID && ls -ln /kaniko/gkt-userns-$CI_JOB_ID`,
	`echo GKT_USERNS_READY | tr A-Z a-z`,
	`for i in $(seq 180); do [ -e /kaniko/gkt-userns-done ] && break; sleep 1; done`,
}

// scenarios: every pipeline a scenario of the e2e commits, by name.
var scenarios = map[string]func(p Params) map[string]Job{
	// TestRunnerFaults: load at the chart's defaults
	"load-single": func(Params) map[string]Job {
		return map[string]Job{"single": {Script: []string{fmt.Sprintf("echo start; sleep %d; echo done", LoadSleep)}}}
	},
	"load-21": func(p Params) map[string]Job {
		jobs := map[string]Job{}
		for i := 1; i <= 21; i++ {
			jobs[fmt.Sprintf("load-%02d", i)] = Job{Script: []string{fmt.Sprintf("echo start; %s; sleep %d; echo done", p.Gate, LoadSleep)}}
		}
		return jobs
	},
	// the manager killed mid-job
	"killed": func(Params) map[string]Job {
		return map[string]Job{"victim": {Kaniko: true, Timeout: "3m", Script: []string{"echo attempt $CI_JOB_ID started", "sleep 40", "echo attempt $CI_JOB_ID finished"}}}
	},
	// a job that outlives its timeout because its manager died: GitLab drops it past timeout + MINUTE_BUFFER
	"timeout-dead-manager": func(Params) map[string]Job {
		return map[string]Job{"outlived": {Kaniko: true, Timeout: "1m", Script: []string{"echo started", "sleep 300", "echo not reached"}}}
	},
	// helm upgrade during a job
	"upgrade-long": func(Params) map[string]Job {
		return map[string]Job{"long": {Script: []string{SequentialLines(UpgradeLines, 5)}}}
	},
	"upgrade-new": func(Params) map[string]Job {
		return map[string]Job{"new": {Script: []string{"echo taken by the new manager"}}}
	},
	// a job image that does not exist (allowed by the tenant's runner): a plain job, and a Kaniko job whose
	// KANIKO_IMAGE names it, which the template's retry runs again
	"image-missing": func(Params) map[string]Job {
		return map[string]Job{
			"plain":     {Image: MissingImage, Script: []string{"echo not reached"}},
			"templated": {Kaniko: true, Timeout: "10m", Variables: map[string]string{"KANIKO_IMAGE": MissingImage}, Script: []string{"echo not reached"}},
		}
	},
	// GitLab unreachable
	"outage": func(Params) map[string]Job {
		return map[string]Job{"through-outage": {Timeout: "15m", Script: []string{SequentialLines(OutageLines, 5)}}}
	},
	"outage-after": func(Params) map[string]Job {
		return map[string]Job{"after-outage": {Script: []string{"echo after the outage"}}}
	},
	// runner token rotation
	"rotation": func(Params) map[string]Job {
		return map[string]Job{"during-rotation": {Script: []string{SequentialLines(RotateLines, 5)}}}
	},
	"rotation-after": func(Params) map[string]Job {
		return map[string]Job{"after-rotation": {Script: []string{"echo taken with the new token"}}}
	},
	// MinIO down during a cache upload
	"cache-seed": func(p Params) map[string]Job {
		return map[string]Job{"seed": {Cache: cacheOf(p), Script: []string{"mkdir -p cached", "echo v1 > cached/data.txt"}}}
	},
	"cache-outage": func(p Params) map[string]Job {
		// READY-FOR-OUTAGE reaches the forge within GitLab's 60 s trace interval; the job sleeps longer before its
		// cache upload, so MinIO is down by then
		return map[string]Job{"upload-in-outage": {Cache: cacheOf(p), Script: []string{"cat cached/data.txt", "echo v2 > cached/data.txt", "echo READY-FOR-OUTAGE", fmt.Sprintf("sleep %d", CacheOutageSleep)}}}
	},
	"cache-after": func(p Params) map[string]Job {
		return map[string]Job{"restore": {Cache: cacheOf(p), Script: []string{`test "$(cat cached/data.txt)" = v1 && echo restored-v1-whole`}}}
	},
	// a running job canceled in GitLab: the runner cancels gracefully and runs after_script
	"cancel": func(Params) map[string]Job {
		return map[string]Job{"canceled": {Timeout: "15m", Script: []string{"echo started", "sleep 600", "echo not reached"},
			AfterScript: []string{"echo " + strings.ToUpper(CancelAfterScriptLine) + " | tr A-Z a-z"}}}
	},
	// the tenant's node drained
	"drain": func(Params) map[string]Job {
		return map[string]Job{"drained": {Kaniko: true, Timeout: "10m", Script: []string{"echo attempt $CI_JOB_ID started", "sleep 30", "echo attempt $CI_JOB_ID finished"}}}
	},
	// TestModes: daemonset mode's grown group
	"daemonset-node-added": func(p Params) map[string]Job {
		hold := Job{Script: []string{p.Gate}}
		return map[string]Job{"hold-1": hold, "hold-2": hold}
	},
	// TestRunnerTier: the alerts
	"observability-failures": func(Params) map[string]Job {
		return map[string]Job{
			"fails": {Script: []string{"echo this job fails on purpose", "exit 1"}},
			"hangs": {Script: []string{"echo this job outlives its timeout", "sleep 600"}, Timeout: "20s"},
		}
	},
	// A job of one runner profile asks, through its variables, for another profile's size and name: the runner
	// allows no resource overwrite and pins the profile label, so its pod stays its own profile's.
	"profile-overreach": func(Params) map[string]Job {
		return map[string]Job{"overreach": {Script: []string{`echo "GKT_PROFILE=$GKT_PROFILE"`},
			Variables: map[string]string{"KUBERNETES_MEMORY_LIMIT": "2Gi", "KUBERNETES_MEMORY_REQUEST": "512Mi", "KUBERNETES_CPU_LIMIT": "1",
				"KUBERNETES_POD_LABELS_1": "gitlab-kaniko-tenant.io/profile=dotnet", "GKT_PROFILE": "dotnet"}}}
	},
	// One project, a job for each of a tenant's runner profiles, routed by the profile's own tag (the e2e's tenant-a:
	// java and dotnet): each job runs on its profile's runner, in its profile's pod.
	"profile-routing": func(Params) map[string]Job {
		return map[string]Job{
			"java":   {Script: []string{`echo "GKT_PROFILE=$GKT_PROFILE"`}, Tags: []string{"java"}},
			"dotnet": {Script: []string{`echo "GKT_PROFILE=$GKT_PROFILE"`}, Tags: []string{"dotnet"}},
		}
	},
	"observability-saturated": func(p Params) map[string]Job {
		jobs := map[string]Job{}
		for i := range p.Held {
			jobs[fmt.Sprintf("busy-%d", i+1)] = Job{Script: []string{p.Gate}}
		}
		return jobs
	},
	// TestRunnerTier: user namespaces
	"userns": func(Params) map[string]Job {
		return map[string]Job{"userns-probe": {Script: UsernsProbeScript, Timeout: "10m"}}
	},
}

func cacheOf(p Params) map[string]any {
	return map[string]any{"key": p.CacheKey, "paths": []any{"cached/"}}
}

// Scenario returns the jobs of the named scenario's pipeline for a run with p; nil for an unknown name
// (ScenarioFiles then refuses it).
func Scenario(name string, p Params) map[string]Job {
	f, ok := scenarios[name]
	if !ok {
		return nil
	}
	return f(p)
}

// ScenarioNames lists every scenario, sorted.
func ScenarioNames() []string { return slices.Sorted(maps.Keys(scenarios)) }
