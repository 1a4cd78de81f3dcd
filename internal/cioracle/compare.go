package cioracle

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabstandin"
)

// Pipeline is the part of an expanded pipeline both interpreters must agree on: stages and, per visible job, its
// stage, scripts, variables (the pipeline's under the job's), cache, image, retry, tags, timeout and needs.
type Pipeline struct {
	Stages []string
	Jobs   map[string]Job
}

// Job is one job, as compared.
type Job struct {
	Stage                             string
	Script, BeforeScript, AfterScript []string
	Variables                         map[string]string
	Cache                             []Cache
	Image                             *Image
	Retry                             Retry
	Tags                              []string
	Timeout                           string   // as written: the stand-in's duration is compared through ParseChronicDuration
	Needs                             []string // nil: no needs (stage order)
}

// Image is a job's image name and entrypoint.
type Image struct {
	Name       string
	Entrypoint []string
}

// Cache is one cache entry.
type Cache struct {
	Key, Policy, When string
	Paths             []string
}

// Retry is a job's retry: max, and the failure reasons (empty: any).
type Retry struct {
	Max  int
	When []string
}

// Compare returns every difference between gitlab-ci-local's expansion (oracle) and the stand-in's compiled
// pipeline (standin), one line each; none means they agree.
func Compare(oracle *Pipeline, standin *gitlabstandin.Pipeline) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if !slices.Equal(oracle.Stages, standin.Stages) {
		add("stages: gitlab-ci-local %v, stand-in %v", oracle.Stages, standin.Stages)
	}
	var names []string
	for _, j := range standin.Jobs {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	if want := slices.Sorted(maps.Keys(oracle.Jobs)); !slices.Equal(want, names) {
		add("jobs: gitlab-ci-local %v, stand-in %v", want, names)
	}
	for _, sj := range standin.Jobs {
		oj, ok := oracle.Jobs[sj.Name]
		if !ok {
			continue
		}
		field := func(name string, o, s any) {
			if !reflect.DeepEqual(o, s) {
				add("job %s: %s: gitlab-ci-local %#v, stand-in %#v", sj.Name, name, o, s)
			}
		}
		field("stage", oj.Stage, sj.Stage)
		field("script", oj.Script, sj.Script)
		field("before_script", oj.BeforeScript, sj.BeforeScript)
		field("after_script", oj.AfterScript, sj.AfterScript)
		sv := map[string]string{}
		for _, v := range sj.Variables {
			sv[v.Key] = v.Value
		}
		field("variables", oj.Variables, sv)
		var sc []Cache
		for _, c := range sj.Cache {
			sc = append(sc, Cache{Key: c.Key, Paths: c.Paths, Policy: c.Policy, When: c.When})
		}
		field("cache", oj.Cache, sc)
		var si *Image
		if sj.Image != nil {
			si = &Image{Name: sj.Image.Name, Entrypoint: sj.Image.Entrypoint}
		}
		field("image", oj.Image, si)
		field("retry", oj.Retry, Retry{Max: sj.Retry.Max, When: sj.Retry.When})
		field("tags", oj.Tags, sj.Tags)
		field("needs", oj.Needs, sj.Needs)
		switch {
		case oj.Timeout == "" && sj.Timeout != 0:
			add("job %s: timeout: gitlab-ci-local none, stand-in %s", sj.Name, sj.Timeout)
		case oj.Timeout != "":
			d, err := gitlabstandin.ParseChronicDuration(oj.Timeout)
			if err != nil || d != sj.Timeout {
				add("job %s: timeout: gitlab-ci-local %q, stand-in %s (%v)", sj.Name, oj.Timeout, sj.Timeout, err)
			}
		}
	}
	return diffs
}
