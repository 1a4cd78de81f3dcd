package gitlabstandin

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// CIFile is where a project's pipeline is defined.
const CIFile = ".gitlab-ci.yml"

// Pipeline is a compiled .gitlab-ci.yml: its stages and visible jobs, in stage order.
type Pipeline struct {
	Stages []string
	Jobs   []JobSpec
}

// JobSpec is one job as the pipeline defines it, after `extends` and `default:` are applied.
type JobSpec struct {
	Name          string
	Stage         string
	Image         *Image
	Services      []Image
	BeforeScript  []string
	Script        []string
	AfterScript   []string
	Variables     []Variable // global variables, then the job's (the job's win), sorted by name within each
	Cache         []Cache
	Needs         []string // nil: the job waits for every earlier stage; set: only for these jobs (a DAG)
	Retry         Retry
	Tags          []string
	Timeout       time.Duration // 0: the project's default (1h)
	Interruptible bool
}

// Image is a job's image.
type Image struct {
	Name       string   `json:"name"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	PullPolicy []string `json:"pull_policy,omitempty"`
}

// Variable is one variable as GitLab sends it to the runner.
type Variable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
	File   bool   `json:"file"`
	Masked bool   `json:"masked"`
	Raw    bool   `json:"raw"`
}

// Cache is one `cache:` entry.
type Cache struct {
	Key    string   `json:"key"`
	Paths  []string `json:"paths"`
	Policy string   `json:"policy"`
	When   string   `json:"when"`
}

// Retry is a job's `retry:`.
type Retry struct {
	Max  int
	When []string // failure reasons; empty: always
}

// The .gitlab-ci.yml keywords the stand-in implements. Anything else fails Compile with the keyword's name.
var (
	topLevelKeywords = []string{"include", "stages", "variables", "default"}
	// GitLab's other top-level keywords: never jobs, and not implemented here.
	unsupportedTopLevel = []string{"workflow", "image", "services", "cache", "before_script", "after_script", "spec", "pages"}
	jobKeywords         = []string{"stage", "image", "services", "script", "before_script", "after_script", "variables", "cache", "needs", "retry", "tags", "timeout", "interruptible", "extends", "when"}
	defaultKeywords     = []string{"image", "before_script", "after_script", "cache", "retry", "tags", "timeout", "interruptible"}
	retryReasons        = []string{"always", "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure", "runner_system_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure", "unmet_prerequisites", "scheduler_failure", "data_integrity_failure"}
)

// defaultStages are GitLab's stages when the file names none.
var defaultStages = []string{".pre", "build", "test", "deploy", ".post"}

// Compile reads the project's .gitlab-ci.yml through read (a file of the commit) and compiles it.
func Compile(read func(file string) ([]byte, error)) (*Pipeline, error) {
	doc, err := loadWithIncludes(read, CIFile, map[string]bool{})
	if err != nil {
		return nil, err
	}
	p := &Pipeline{Stages: defaultStages}
	if s, ok := doc["stages"]; ok {
		list, err := stringList(s)
		if err != nil {
			return nil, fmt.Errorf("%s: stages: %w", CIFile, err)
		}
		// GitLab always has .pre first and .post last.
		p.Stages = append(append([]string{".pre"}, list...), ".post")
	}
	global, err := variables(doc["variables"])
	if err != nil {
		return nil, fmt.Errorf("%s: variables: %w", CIFile, err)
	}
	defaults := map[string]any{}
	if d, ok := doc["default"]; ok {
		dm, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: default: not a mapping", CIFile)
		}
		for _, k := range slices.Sorted(maps.Keys(dm)) {
			if !slices.Contains(defaultKeywords, k) {
				return nil, fmt.Errorf("%s: default:%s is not supported by this GitLab stand-in (supported: %s)", CIFile, k, strings.Join(defaultKeywords, ", "))
			}
		}
		defaults = dm
	}
	names := slices.Sorted(maps.Keys(doc))
	jobs := map[string]map[string]any{}
	for _, name := range names {
		if slices.Contains(topLevelKeywords, name) {
			continue
		}
		if slices.Contains(unsupportedTopLevel, name) {
			return nil, fmt.Errorf("%s: top-level keyword %s is not supported by this GitLab stand-in (supported: %s)", CIFile, name, strings.Join(topLevelKeywords, ", "))
		}
		m, ok := doc[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s: not a job (a mapping) and not a supported top-level keyword (%s)", CIFile, name, strings.Join(topLevelKeywords, ", "))
		}
		jobs[name] = m
	}
	for _, name := range names {
		if _, ok := jobs[name]; !ok || strings.HasPrefix(name, ".") {
			continue // hidden jobs are templates for extends
		}
		merged, err := resolveExtends(jobs, name, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", CIFile, name, err)
		}
		for k, v := range defaults {
			if _, set := merged[k]; !set {
				merged[k] = v
			}
		}
		job, err := compileJob(name, merged, global)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", CIFile, name, err)
		}
		if !slices.Contains(p.Stages, job.Stage) {
			return nil, fmt.Errorf("%s: job %s: stage %q is not in stages %v", CIFile, name, job.Stage, p.Stages)
		}
		p.Jobs = append(p.Jobs, job)
	}
	if len(p.Jobs) == 0 {
		return nil, fmt.Errorf("%s: no jobs", CIFile)
	}
	for _, j := range p.Jobs {
		for _, n := range j.Needs {
			need := p.Job(n)
			if need == nil {
				return nil, fmt.Errorf("%s: job %s needs %s, which is not a job", CIFile, j.Name, n)
			}
			if slices.Index(p.Stages, need.Stage) >= slices.Index(p.Stages, j.Stage) {
				return nil, fmt.Errorf("%s: job %s needs %s, which is not in an earlier stage", CIFile, j.Name, n)
			}
		}
	}
	slices.SortStableFunc(p.Jobs, func(a, b JobSpec) int { return slices.Index(p.Stages, a.Stage) - slices.Index(p.Stages, b.Stage) })
	return p, nil
}

// Job returns the job named name, or nil.
func (p *Pipeline) Job(name string) *JobSpec {
	for i := range p.Jobs {
		if p.Jobs[i].Name == name {
			return &p.Jobs[i]
		}
	}
	return nil
}

// loadWithIncludes parses file and merges its `include: local` files under it (the including file wins, as in
// GitLab). Other include types are refused: the stand-in has one project and no network.
func loadWithIncludes(read func(string) ([]byte, error), file string, seen map[string]bool) (map[string]any, error) {
	if seen[file] {
		return nil, fmt.Errorf("include: %s is included twice (a cycle)", file)
	}
	seen[file] = true
	raw, err := read(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("%s: empty", file)
	}
	inc, ok := doc["include"]
	if !ok {
		return doc, nil
	}
	delete(doc, "include")
	var items []any
	switch v := inc.(type) {
	case []any:
		items = v
	default:
		items = []any{v}
	}
	merged := map[string]any{}
	for _, it := range items {
		var local string
		switch v := it.(type) {
		case string:
			if !strings.HasPrefix(v, "/") {
				return nil, fmt.Errorf("%s: include %q: only local files (a path starting with /) are supported by this GitLab stand-in", file, v)
			}
			local = v
		case map[string]any:
			for _, k := range append([]string{"project", "remote", "template", "component"}, slices.Sorted(maps.Keys(v))...) {
				if _, set := v[k]; set && k != "local" {
					return nil, fmt.Errorf("%s: include:%s is not supported by this GitLab stand-in (only include:local)", file, k)
				}
			}
			local, _ = v["local"].(string)
		default:
			return nil, fmt.Errorf("%s: include: unsupported entry %v", file, it)
		}
		if local == "" {
			return nil, fmt.Errorf("%s: include:local is empty", file)
		}
		sub, err := loadWithIncludes(read, strings.TrimPrefix(path.Clean("/"+local), "/"), seen)
		if err != nil {
			return nil, err
		}
		deepMerge(merged, sub)
	}
	deepMerge(merged, doc)
	return merged, nil
}

// deepMerge merges src into dst: mappings merge key by key, everything else (lists included) is replaced, as in
// GitLab's include and extends.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				cp := maps.Clone(dm)
				deepMerge(cp, sm)
				dst[k] = cp
				continue
			}
		}
		dst[k] = v
	}
}

// resolveExtends returns job name with its `extends` chain merged under it (GitLab allows 11 levels).
func resolveExtends(jobs map[string]map[string]any, name string, depth int) (map[string]any, error) {
	if depth > 11 {
		return nil, fmt.Errorf("extends: more than 11 levels (a cycle?)")
	}
	job := jobs[name]
	out := map[string]any{}
	if ext, ok := job["extends"]; ok {
		parents, err := stringList(ext)
		if err != nil {
			return nil, fmt.Errorf("extends: %w", err)
		}
		for _, parent := range parents {
			if _, ok := jobs[parent]; !ok {
				return nil, fmt.Errorf("extends: %s is not defined", parent)
			}
			pm, err := resolveExtends(jobs, parent, depth+1)
			if err != nil {
				return nil, err
			}
			deepMerge(out, pm)
		}
	}
	deepMerge(out, job)
	delete(out, "extends")
	return out, nil
}

func compileJob(name string, m map[string]any, global []Variable) (JobSpec, error) {
	j := JobSpec{Name: name, Stage: "test"}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(jobKeywords, k) {
			return j, fmt.Errorf("keyword %s is not supported by this GitLab stand-in (supported: %s)", k, strings.Join(jobKeywords, ", "))
		}
	}
	var err error
	if s, ok := m["stage"].(string); ok {
		j.Stage = s
	}
	if w, ok := m["when"]; ok && w != "on_success" {
		return j, fmt.Errorf("when: %v is not supported by this GitLab stand-in (only on_success)", w)
	}
	if j.Image, err = image(m["image"]); err != nil {
		return j, fmt.Errorf("image: %w", err)
	}
	if sv, ok := m["services"]; ok {
		list, ok := sv.([]any)
		if !ok {
			return j, fmt.Errorf("services: not a list")
		}
		for _, it := range list {
			im, err := image(it)
			if err != nil || im == nil {
				return j, fmt.Errorf("services: %v", err)
			}
			j.Services = append(j.Services, *im)
		}
	}
	for key, dst := range map[string]*[]string{"before_script": &j.BeforeScript, "script": &j.Script, "after_script": &j.AfterScript} {
		if v, ok := m[key]; ok {
			if *dst, err = script(v); err != nil {
				return j, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if len(j.Script) == 0 {
		return j, fmt.Errorf("script: missing (every job needs one)")
	}
	own, err := variables(m["variables"])
	if err != nil {
		return j, fmt.Errorf("variables: %w", err)
	}
	j.Variables = overlay(global, own)
	if j.Cache, err = caches(m["cache"]); err != nil {
		return j, fmt.Errorf("cache: %w", err)
	}
	if n, ok := m["needs"]; ok {
		j.Needs = []string{}
		list, ok := n.([]any)
		if !ok {
			return j, fmt.Errorf("needs: not a list")
		}
		for _, it := range list {
			switch v := it.(type) {
			case string:
				j.Needs = append(j.Needs, v)
			case map[string]any:
				job, _ := v["job"].(string)
				if job == "" || len(v) != 1 {
					return j, fmt.Errorf("needs: only job names (or {job: name}) are supported by this GitLab stand-in")
				}
				j.Needs = append(j.Needs, job)
			default:
				return j, fmt.Errorf("needs: unsupported entry %v", it)
			}
		}
	}
	if j.Retry, err = retry(m["retry"]); err != nil {
		return j, fmt.Errorf("retry: %w", err)
	}
	if t, ok := m["tags"]; ok {
		if j.Tags, err = stringList(t); err != nil {
			return j, fmt.Errorf("tags: %w", err)
		}
	}
	if t, ok := m["timeout"]; ok {
		s, _ := t.(string)
		if j.Timeout, err = time.ParseDuration(strings.ReplaceAll(s, " ", "")); err != nil || j.Timeout <= 0 {
			return j, fmt.Errorf("timeout: %q: the stand-in reads Go-style durations such as 30m or 1h 30m", s)
		}
	}
	if i, ok := m["interruptible"]; ok {
		b, ok := i.(bool)
		if !ok {
			return j, fmt.Errorf("interruptible: not a boolean")
		}
		j.Interruptible = b
	}
	return j, nil
}

func image(v any) (*Image, error) {
	switch im := v.(type) {
	case nil:
		return nil, nil
	case string:
		return &Image{Name: im}, nil
	case map[string]any:
		out := &Image{}
		for _, k := range slices.Sorted(maps.Keys(im)) {
			val := im[k]
			switch k {
			case "name":
				out.Name = fmt.Sprint(val)
			case "entrypoint":
				ep, err := stringList(val)
				if err != nil {
					return nil, fmt.Errorf("entrypoint: %w", err)
				}
				out.Entrypoint = ep
			case "pull_policy":
				pp, err := stringList(val)
				if err != nil {
					return nil, fmt.Errorf("pull_policy: %w", err)
				}
				for _, p := range pp {
					if !slices.Contains([]string{"always", "if-not-present", "never"}, p) {
						return nil, fmt.Errorf("pull_policy: %q is not always, if-not-present or never", p)
					}
				}
				out.PullPolicy = pp
			default:
				return nil, fmt.Errorf("image:%s is not supported by this GitLab stand-in (name, entrypoint, pull_policy)", k)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a string or mapping")
}

// script flattens a script: strings, and lists of strings (GitLab allows one level of nesting from anchors).
func script(v any) ([]string, error) {
	switch s := v.(type) {
	case string:
		return []string{s}, nil
	case []any:
		var out []string
		for _, it := range s {
			switch line := it.(type) {
			case string:
				out = append(out, line)
			case []any:
				inner, err := script(line)
				if err != nil {
					return nil, err
				}
				out = append(out, inner...)
			default:
				return nil, fmt.Errorf("line %v is not a string", it)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a string or list")
}

func variables(v any) ([]Variable, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a mapping")
	}
	var out []Variable
	for _, k := range slices.Sorted(maps.Keys(m)) {
		val := m[k]
		if vm, ok := val.(map[string]any); ok {
			for _, key := range slices.Sorted(maps.Keys(vm)) {
				if key != "value" && key != "description" {
					return nil, fmt.Errorf("%s: %s is not supported by this GitLab stand-in (value, description)", k, key)
				}
			}
			val = vm["value"]
		}
		s, err := scalar(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, Variable{Key: k, Value: s, Public: true})
	}
	return out, nil
}

// overlay returns base with over's variables replacing those of the same name (GitLab: job variables win).
func overlay(base, over []Variable) []Variable {
	out := slices.Clone(base)
	for _, v := range over {
		if i := slices.IndexFunc(out, func(b Variable) bool { return b.Key == v.Key }); i >= 0 {
			out[i] = v
		} else {
			out = append(out, v)
		}
	}
	return out
}

func caches(v any) ([]Cache, error) {
	var items []any
	switch c := v.(type) {
	case nil:
		return nil, nil
	case []any:
		items = c
	case map[string]any:
		items = []any{c}
	default:
		return nil, fmt.Errorf("not a mapping or list")
	}
	var out []Cache
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entry is not a mapping")
		}
		c := Cache{Key: "default", Policy: "pull-push", When: "on_success"}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			val := m[k]
			switch k {
			case "key":
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("key: only a string key is supported by this GitLab stand-in (not key:files/prefix)")
				}
				c.Key = s
			case "paths":
				p, err := stringList(val)
				if err != nil {
					return nil, fmt.Errorf("paths: %w", err)
				}
				c.Paths = p
			case "policy":
				c.Policy = fmt.Sprint(val)
				if !slices.Contains([]string{"pull", "push", "pull-push"}, c.Policy) {
					return nil, fmt.Errorf("policy: %q is not pull, push or pull-push", c.Policy)
				}
			case "when":
				c.When = fmt.Sprint(val)
				if !slices.Contains([]string{"on_success", "on_failure", "always"}, c.When) {
					return nil, fmt.Errorf("when: %q is not on_success, on_failure or always", c.When)
				}
			default:
				return nil, fmt.Errorf("cache:%s is not supported by this GitLab stand-in (key, paths, policy, when)", k)
			}
		}
		if len(c.Paths) == 0 {
			return nil, fmt.Errorf("paths: missing")
		}
		out = append(out, c)
	}
	return out, nil
}

func retry(v any) (Retry, error) {
	switch r := v.(type) {
	case nil:
		return Retry{}, nil
	case int:
		if r < 0 || r > 2 {
			return Retry{}, fmt.Errorf("%d: GitLab allows 0, 1 or 2", r)
		}
		return Retry{Max: r}, nil
	case map[string]any:
		var out Retry
		for _, k := range slices.Sorted(maps.Keys(r)) {
			val := r[k]
			switch k {
			case "max":
				n, ok := val.(int)
				if !ok || n < 0 || n > 2 {
					return out, fmt.Errorf("max: %v: GitLab allows 0, 1 or 2", val)
				}
				out.Max = n
			case "when":
				w, err := stringList(val)
				if err != nil {
					return out, fmt.Errorf("when: %w", err)
				}
				for _, reason := range w {
					if !slices.Contains(retryReasons, reason) {
						return out, fmt.Errorf("when: %q is not a failure reason GitLab knows", reason)
					}
				}
				out.When = w
			default:
				return out, fmt.Errorf("retry:%s is not supported by this GitLab stand-in (max, when)", k)
			}
		}
		return out, nil
	}
	return Retry{}, fmt.Errorf("not a number or mapping")
}

// Retries reports whether a job that failed for reason is run again under r, given how many times it ran.
func (r Retry) Retries(reason string, runs int) bool {
	if runs > r.Max {
		return false
	}
	return len(r.When) == 0 || slices.Contains(r.When, "always") || slices.Contains(r.When, reason)
}

func stringList(v any) ([]string, error) {
	switch s := v.(type) {
	case string:
		return []string{s}, nil
	case []any:
		out := make([]string, 0, len(s))
		for _, it := range s {
			str, err := scalar(it)
			if err != nil {
				return nil, err
			}
			out = append(out, str)
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a string or list of strings")
}

func scalar(v any) (string, error) {
	switch s := v.(type) {
	case string:
		return s, nil
	case int:
		return strconv.Itoa(s), nil
	case bool:
		return strconv.FormatBool(s), nil
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%v is not a scalar", v)
}
