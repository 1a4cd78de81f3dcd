package gitlabstandin

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
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

// Source is where a pipeline's files come from.
type Source struct {
	// Local reads a file of the commit (the pipeline file and `include: local`).
	Local func(file string) ([]byte, error)
	// Project reads a file of another project at a ref (`include: project`). Nil refuses include:project by name.
	Project func(project, ref, file string) ([]byte, error)
}

// GitLab's include limits (doc/ci/yaml/includes.md: "up to 150 includes per pipeline", "up to 100 nested").
const (
	maxIncludes       = 150
	maxNestedIncludes = 100
)

// Compile reads the project's .gitlab-ci.yml through read (a file of the commit) and compiles it; include:project
// is refused.
func Compile(read func(file string) ([]byte, error)) (*Pipeline, error) {
	return CompileFrom(Source{Local: read})
}

// CompileFrom compiles the pipeline of src's .gitlab-ci.yml in GitLab's order (lib/gitlab/ci/config.rb,
// build_config): includes merged, then extends, then `!reference` tags, then the jobs, then their needs.
func CompileFrom(src Source) (*Pipeline, error) {
	ld := &loader{src: src}
	doc, err := ld.load(includeSpec{local: CIFile}, 0)
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
	jobs, err := jobMappings(doc)
	if err != nil {
		return nil, err
	}
	if doc, err = expand(doc, jobs); err != nil {
		return nil, err
	}
	if err := p.compileJobs(doc, jobs); err != nil {
		return nil, err
	}
	if err := p.checkNeeds(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.Jobs, func(a, b JobSpec) int { return slices.Index(p.Stages, a.Stage) - slices.Index(p.Stages, b.Stage) })
	return p, nil
}

// jobMappings are the document's jobs, hidden ones included (every key that is not a top-level keyword); a
// top-level keyword the stand-in does not implement is refused by name.
func jobMappings(doc map[string]any) (map[string]map[string]any, error) {
	jobs := map[string]map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(doc)) {
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
	return jobs, nil
}

// expand resolves extends for every job (hidden ones too: a !reference reads a job as extends left it), then the
// `!reference` tags of the whole document.
func expand(doc map[string]any, jobs map[string]map[string]any) (map[string]any, error) {
	extended := maps.Clone(doc)
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		merged, err := resolveExtends(jobs, name, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", CIFile, name, err)
		}
		extended[name] = merged
	}
	resolved, err := resolveReferences(extended, extended, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CIFile, err)
	}
	return resolved.(map[string]any), nil
}

// compileJobs compiles every visible job with `default:` and the global variables applied, each in a known stage.
func (p *Pipeline) compileJobs(doc map[string]any, jobs map[string]map[string]any) error {
	defaults := map[string]any{}
	if d, ok := doc["default"]; ok {
		dm, ok := d.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: default: not a mapping", CIFile)
		}
		for _, k := range slices.Sorted(maps.Keys(dm)) {
			if !slices.Contains(defaultKeywords, k) {
				return fmt.Errorf("%s: default:%s is not supported by this GitLab stand-in (supported: %s)", CIFile, k, strings.Join(defaultKeywords, ", "))
			}
		}
		defaults = dm
	}
	global, err := variables(doc["variables"], topLevelVariableKeys)
	if err != nil {
		return fmt.Errorf("%s: variables: %w", CIFile, err)
	}
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		if strings.HasPrefix(name, ".") {
			continue // hidden jobs are templates for extends and !reference
		}
		merged := doc[name].(map[string]any)
		for k, v := range defaults {
			if _, set := merged[k]; !set {
				merged[k] = v
			}
		}
		job, err := compileJob(name, merged, global)
		if err != nil {
			return fmt.Errorf("%s: job %s: %w", CIFile, name, err)
		}
		if !slices.Contains(p.Stages, job.Stage) {
			return fmt.Errorf("%s: job %s: stage %q is not in stages %v", CIFile, name, job.Stage, p.Stages)
		}
		p.Jobs = append(p.Jobs, job)
	}
	if len(p.Jobs) == 0 {
		return fmt.Errorf("%s: no jobs", CIFile)
	}
	return nil
}

// checkNeeds: every need is a job of the pipeline, in the same or an earlier stage.
func (p *Pipeline) checkNeeds() error {
	for _, j := range p.Jobs {
		for _, n := range j.Needs {
			need := p.Job(n)
			if need == nil {
				return fmt.Errorf("%s: job %s needs %s, which is not a job", CIFile, j.Name, n)
			}
			// GitLab 14.2+ allows needs within the stage (Gitlab::Ci::YamlProcessor#validate_job_needs!: "… is
			// not defined in current or prior stages")
			if slices.Index(p.Stages, need.Stage) > slices.Index(p.Stages, j.Stage) {
				return fmt.Errorf("%s: job %s needs %s, which is not defined in current or prior stages", CIFile, j.Name, n)
			}
		}
	}
	return nil
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

// includeSpec is one file to include: a file of the commit, or of another project at a ref.
type includeSpec struct {
	local                string
	project, ref, remote string
}

func (s includeSpec) String() string {
	if s.project != "" {
		return s.project + "@" + s.ref + ":" + s.local
	}
	return s.local
}

// loader reads a pipeline file and its includes, counting them as GitLab does.
type loader struct {
	src   Source
	count int
}

// load parses one file and merges its includes under it (the including file wins, as in GitLab). The same file may
// be included more than once (a diamond: both copies merge to the same result, as in GitLab); a cycle ends at
// GitLab's nesting limit.
func (ld *loader) load(spec includeSpec, depth int) (map[string]any, error) {
	if depth > maxNestedIncludes {
		return nil, fmt.Errorf("include: maximum of %d nested includes are allowed (GitLab's limit; %s includes itself?)", maxNestedIncludes, spec)
	}
	if depth > 0 {
		if ld.count++; ld.count > maxIncludes {
			return nil, fmt.Errorf("include: maximum of %d includes are allowed (GitLab's limit)", maxIncludes)
		}
	}
	var raw []byte
	var err error
	if spec.project != "" {
		raw, err = ld.src.Project(spec.project, spec.ref, spec.local)
	} else {
		raw, err = ld.src.Local(spec.local)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", spec, err)
	}
	doc, err := parseCI(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("%s: empty", spec)
	}
	inc, ok := doc["include"]
	if !ok {
		return doc, nil
	}
	delete(doc, "include")
	items, err := ld.includes(spec, inc)
	if err != nil {
		return nil, err
	}
	merged := map[string]any{}
	for _, it := range items {
		sub, err := ld.load(it, depth+1)
		if err != nil {
			return nil, err
		}
		deepMerge(merged, sub)
	}
	deepMerge(merged, doc)
	return merged, nil
}

// includes reads an `include:` value into the files it names. GitLab: a string is a local file (or a remote URL);
// a local path is relative to the repository root with or without a leading slash; include:project reads from the
// project at ref (its default branch without one). A file of an included project includes locally from that
// project.
func (ld *loader) includes(from includeSpec, inc any) ([]includeSpec, error) {
	var items []any
	switch v := inc.(type) {
	case []any:
		items = v
	default:
		items = []any{v}
	}
	local := func(p string) includeSpec {
		s := includeSpec{local: strings.TrimPrefix(path.Clean("/"+p), "/")}
		if from.project != "" {
			s.project, s.ref = from.project, from.ref
		}
		return s
	}
	var out []includeSpec
	for _, it := range items {
		switch v := it.(type) {
		case string:
			if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
				return nil, fmt.Errorf("%s: include %q: include:remote is not supported by this GitLab stand-in (it reaches no network)", from, v)
			}
			if v == "" {
				return nil, fmt.Errorf("%s: include: an empty path", from)
			}
			out = append(out, local(v))
		case map[string]any:
			keys := slices.Sorted(maps.Keys(v))
			for _, k := range []string{"remote", "template", "component", "artifact", "inputs", "rules", "integrity", "cache"} {
				if _, set := v[k]; set {
					return nil, fmt.Errorf("%s: include:%s is not supported by this GitLab stand-in (include:local and include:project)", from, k)
				}
			}
			switch {
			case v["local"] != nil:
				if len(keys) != 1 {
					return nil, fmt.Errorf("%s: include:local with %v: only the path is supported by this GitLab stand-in", from, keys)
				}
				p, _ := v["local"].(string)
				if p == "" {
					return nil, fmt.Errorf("%s: include:local is empty", from)
				}
				out = append(out, local(p))
			case v["project"] != nil:
				if ld.src.Project == nil {
					return nil, fmt.Errorf("%s: include:project is not supported here (this GitLab stand-in reads no other project)", from)
				}
				project, _ := v["project"].(string)
				ref := ""
				if r, set := v["ref"]; set {
					if ref, _ = r.(string); ref == "" {
						return nil, fmt.Errorf("%s: include:project %s: ref is not a string", from, project)
					}
				}
				files, err := stringList(v["file"])
				if err != nil || len(files) == 0 || project == "" {
					return nil, fmt.Errorf("%s: include:project needs a project and file (a path or a list of paths)", from)
				}
				for _, k := range keys {
					if !slices.Contains([]string{"project", "ref", "file"}, k) {
						return nil, fmt.Errorf("%s: include:project:%s is not supported by this GitLab stand-in (project, ref, file)", from, k)
					}
				}
				for _, f := range files {
					out = append(out, includeSpec{project: project, ref: ref, local: strings.TrimPrefix(path.Clean("/"+f), "/")})
				}
			default:
				return nil, fmt.Errorf("%s: include: unsupported entry %v (include:local and include:project are supported)", from, keys)
			}
		default:
			return nil, fmt.Errorf("%s: include: unsupported entry %v", from, it)
		}
	}
	return out, nil
}

// reference is a `!reference [job, key, …]` tag, resolved after extends (Gitlab::Ci::Config::Yaml::Tags::Reference).
type reference []string

// referenceTag is GitLab's custom YAML tag for reusing a part of the configuration.
const referenceTag = "!reference"

// parseCI parses one pipeline file. A `!reference` sequence becomes a reference; any other custom tag is refused by
// name, as GitLab refuses unknown tags.
func parseCI(raw []byte) (map[string]any, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	const sentinel = "\x00gkt-reference"
	var mark func(n *yaml.Node) error
	mark = func(n *yaml.Node) error {
		if n.Tag != "" && strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			if n.Tag != referenceTag {
				return fmt.Errorf("line %d: unknown YAML tag %s (GitLab knows !reference)", n.Line, n.Tag)
			}
			if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
				return fmt.Errorf("line %d: !reference needs a sequence of keys, such as [.job, script]", n.Line)
			}
			for _, c := range n.Content {
				if c.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: !reference: every key must be a string", n.Line)
				}
			}
			seq := *n
			seq.Tag = "!!seq"
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: sentinel}, &seq}}
			return nil
		}
		for _, c := range n.Content {
			if err := mark(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := mark(&root); err != nil {
		return nil, err
	}
	var doc any
	if err := root.Decode(&doc); err != nil {
		return nil, err
	}
	var conv func(v any) any
	conv = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			if keys, ok := t[sentinel].([]any); ok && len(t) == 1 {
				ref := make(reference, len(keys))
				for i, k := range keys {
					ref[i] = fmt.Sprint(k)
				}
				return ref
			}
			for k, e := range t {
				t[k] = conv(e)
			}
		case []any:
			for i, e := range t {
				t[i] = conv(e)
			}
		}
		return v
	}
	m, ok := conv(doc).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a mapping of keywords and jobs")
	}
	return m, nil
}

// GitLab resolves !reference tags nested up to 10 levels deep (Tags::Resolver::MAX_NESTING_LEVEL).
const maxReferenceNesting = 10

// resolveReferences replaces every reference in v by the value it points to in doc (after extends). A reference in
// a list stays one element (a nested list: scripts flatten it, as GitLab does).
func resolveReferences(doc map[string]any, v any, depth int) (any, error) {
	switch t := v.(type) {
	case reference:
		if depth >= maxReferenceNesting {
			return nil, fmt.Errorf("!reference %v: nested more than %d levels", []string(t), maxReferenceNesting)
		}
		var cur any = doc
		for i, k := range t {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("!reference %v: %s is not a mapping", []string(t), strings.Join(t[:i], "."))
			}
			if cur, ok = m[k]; !ok {
				return nil, fmt.Errorf("!reference %v could not be found", []string(t))
			}
		}
		return resolveReferences(doc, cur, depth+1)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			r, err := resolveReferences(doc, e, depth)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := resolveReferences(doc, e, depth)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
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
	if j.Services, err = services(m["services"]); err != nil {
		return j, fmt.Errorf("services: %w", err)
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
	own, err := variables(m["variables"], jobVariableKeys)
	if err != nil {
		return j, fmt.Errorf("variables: %w", err)
	}
	j.Variables = overlay(global, own)
	if j.Cache, err = caches(m["cache"]); err != nil {
		return j, fmt.Errorf("cache: %w", err)
	}
	if n, ok := m["needs"]; ok {
		if j.Needs, err = needs(n); err != nil {
			return j, fmt.Errorf("needs: %w", err)
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
		if j.Timeout, err = jobTimeout(t); err != nil {
			return j, fmt.Errorf("timeout: %w", err)
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

// services are a job's service images.
func services(v any) ([]Image, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list")
	}
	var out []Image
	for _, it := range list {
		im, err := image(it)
		if err != nil || im == nil {
			return nil, fmt.Errorf("%v", err)
		}
		out = append(out, *im)
	}
	return out, nil
}

// needs are the names of the jobs a job needs (names, or {job: name}); an empty list is not nil (needs: []).
func needs(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list")
	}
	out := []string{}
	for _, it := range list {
		switch n := it.(type) {
		case string:
			out = append(out, n)
		case map[string]any:
			job, _ := n["job"].(string)
			if job == "" || len(n) != 1 {
				return nil, fmt.Errorf("only job names (or {job: name}) are supported by this GitLab stand-in")
			}
			out = append(out, job)
		default:
			return nil, fmt.Errorf("unsupported entry %v", it)
		}
	}
	return out, nil
}

// jobTimeout is a job's timeout: a chronic duration of at most GitLab's limit of a month.
func jobTimeout(v any) (time.Duration, error) {
	s, _ := v.(string)
	d, err := ParseChronicDuration(s)
	if err != nil {
		return 0, err
	}
	if d > maxJobTimeout {
		return 0, fmt.Errorf("%q is longer than GitLab's limit of 1 month", s)
	}
	return d, nil
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

// The keys a variable's mapping may have (Gitlab::Ci::Config::Entry::Variables: allowed_value_data for the
// pipeline's variables; a job's take only value and expand).
var (
	topLevelVariableKeys = []string{"value", "description", "expand", "options"}
	jobVariableKeys      = []string{"value", "expand"}
)

func variables(v any, allowed []string) ([]Variable, error) {
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
		raw := false
		if vm, ok := val.(map[string]any); ok {
			for _, key := range slices.Sorted(maps.Keys(vm)) {
				if !slices.Contains(allowed, key) {
					return nil, fmt.Errorf("%s: %s: GitLab allows only %s here", k, key, strings.Join(allowed, ", "))
				}
			}
			if e, set := vm["expand"]; set {
				b, ok := e.(bool)
				if !ok {
					return nil, fmt.Errorf("%s: expand: not a boolean", k)
				}
				raw = !b // GitLab sends expand: false as raw: true (Ci::BuildRunnerPresenter, variables)
			}
			val = vm["value"]
		}
		if _, isBool := val.(bool); isBool {
			// GitLab: "variables config should be a hash of key value pairs, value can be a hash"; a YAML boolean
			// is neither a string nor a number
			return nil, fmt.Errorf("%s: %v is a boolean: GitLab takes strings and numbers (quote it)", k, val)
		}
		s, err := scalar(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, Variable{Key: k, Value: s, Public: true, Raw: raw})
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
				var s string
				switch kv := val.(type) {
				case string:
					s = kv
				case int:
					s = strconv.Itoa(kv)
				default:
					return nil, fmt.Errorf("key: only a string key is supported by this GitLab stand-in (not key:files/prefix)")
				}
				// Gitlab::Config::Entry::Validators::KeyValidator, on the unescaped key
				if unescaped, _ := url.PathUnescape(s); strings.Contains(unescaped, "/") {
					return nil, fmt.Errorf("key: %q: cache key cannot contain the \"/\" character (GitLab)", s)
				} else if unescaped == "." || unescaped == ".." {
					return nil, fmt.Errorf("key: %q: cache key cannot be \".\" or \"..\" (GitLab)", s)
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

// maxJobTimeout is GitLab's longest job timeout (Project::MAX_BUILD_TIMEOUT: 1 month).
const maxJobTimeout = 30 * 24 * time.Hour

// chronicUnits are the units of the ChronicDuration gem, which GitLab parses `timeout:` with
// (Gitlab::Ci::Config::Entry::Job: validates :timeout, duration; ChronicDuration.parse). A month is 30 days there.
var chronicUnits = []struct {
	names []string
	d     time.Duration
}{
	{[]string{"s", "sec", "secs", "second", "seconds"}, time.Second},
	{[]string{"m", "min", "mins", "minute", "minutes"}, time.Minute},
	{[]string{"h", "hr", "hrs", "hour", "hours"}, time.Hour},
	{[]string{"d", "day", "days"}, 24 * time.Hour},
	{[]string{"w", "wk", "wks", "week", "weeks"}, 7 * 24 * time.Hour},
	{[]string{"mo", "mos", "month", "months"}, 30 * 24 * time.Hour},
}

var chronicToken = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*([a-z]*)`)

// ParseChronicDuration reads a duration as GitLab does: "1 hour 30 minutes", "1h 30m", "90 minutes", "3h", "2 days",
// "1h30m", or a number of seconds. Commas and "and" are ignored, as ChronicDuration ignores them.
func ParseChronicDuration(s string) (time.Duration, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	in = strings.NewReplacer(",", " ", " and ", " ").Replace(in)
	if in == "" {
		return 0, fmt.Errorf("%q is not a duration (GitLab reads durations such as 1h 30m or 1 hour 30 minutes)", s)
	}
	var total time.Duration
	for rest := strings.TrimSpace(in); rest != ""; rest = strings.TrimSpace(rest) {
		m := chronicToken.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("%q is not a duration (GitLab reads durations such as 1h 30m or 1 hour 30 minutes)", s)
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		unit := time.Second // a bare number is seconds
		if m[2] != "" {
			unit = 0
			for _, u := range chronicUnits {
				if slices.Contains(u.names, m[2]) {
					unit = u.d
				}
			}
			if unit == 0 {
				return 0, fmt.Errorf("%q: unknown unit %q (GitLab reads s, m, h, d, w, mo and their long names)", s, m[2])
			}
		}
		total += time.Duration(n * float64(unit))
		rest = rest[len(m[0]):]
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return total, nil
}
