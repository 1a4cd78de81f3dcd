// Package render renders a chart in-process with the Helm SDK the way `helm install --dry-run` / `helm template` do:
// same value coalescing, same values-schema validation, same kubeVersion check, capabilities of the target cluster.
package render

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Chart is a loaded chart, reusable across renders.
type Chart struct {
	c *chart.Chart
	// schema is the chart's values schema compiled once with the library and options Helm uses
	// (santhosh-tekuri/jsonschema v6); Helm compiles it again on every render.
	schema *jsonschema.Schema
	// versionIndependent: no template reads .Capabilities other than .Capabilities.APIVersions, so the output cannot
	// depend on the Kubernetes version (only the chart's kubeVersion constraint does, and Render checks it every time).
	versionIndependent bool
	// decoded memoizes the objects of each distinct template output (text → decodedDoc). Renders of one chart repeat
	// most outputs (the matrix: 308 distinct of 2,074), and YAML decoding was a tenth of its time. Callers get deep
	// copies, so a caller that changes its objects changes no one else's.
	decoded sync.Map
}

type decodedDoc struct {
	objs []*unstructured.Unstructured
	hook bool
}

var capabilitiesUse = regexp.MustCompile(`\.Capabilities\b(\.[A-Za-z]+)?`)

// VersionIndependent reports whether renders for different Kubernetes versions are identical by construction.
func (c *Chart) VersionIndependent() bool { return c.versionIndependent }

// Load reads the chart in dir (or a .tgz archive).
func Load(dir string) (*Chart, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", dir, err)
	}
	out := &Chart{c: c, versionIndependent: true}
	for _, t := range c.Templates {
		for _, m := range capabilitiesUse.FindAllString(string(t.Data), -1) {
			if m != ".Capabilities.APIVersions" {
				out.versionIndependent = false
			}
		}
	}
	if c.Schema != nil && len(c.Dependencies()) == 0 {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.Schema))
		if err != nil {
			return nil, fmt.Errorf("chart %s: values.schema.json: %w", dir, err)
		}
		comp := jsonschema.NewCompiler()
		if err := comp.AddResource("file:///values.schema.json", doc); err != nil {
			return nil, err
		}
		if out.schema, err = comp.Compile("file:///values.schema.json"); err != nil {
			return nil, fmt.Errorf("chart %s: values.schema.json: %w", dir, err)
		}
	}
	return out, nil
}

// Name is the chart's name.
func (c *Chart) Name() string { return c.c.Metadata.Name }

// Defaults are the chart's own values (values.yaml), shared: callers copy before they change them.
func (c *Chart) Defaults() map[string]any { return c.c.Values }

// Options describe one render.
type Options struct {
	ReleaseName string
	Namespace   string
	// KubeVersion like "v1.37.0"; empty means Helm's default.
	KubeVersion string
	// APIVersions served in addition to the built-in ones, e.g. "monitoring.coreos.com/v1/PodMonitor".
	APIVersions []string
	Values      map[string]any
	IsUpgrade   bool
	// Cluster, when set, is what `lookup` sees: the render is the one helm install/upgrade does against a cluster
	// holding these objects (see APIServerEndpoints, ResourceQuota). Nil: no cluster, as helm template and GitOps
	// tools render; every lookup returns nothing.
	Cluster []*unstructured.Unstructured
}

// Manifest is one rendered template file.
type Manifest struct {
	Template string // path inside the chart, e.g. gitlab-kaniko-tenant/templates/deployment.yaml
	Hook     bool   // helm.sh/hook objects (tests included)
	Objects  []*unstructured.Unstructured
}

// Result of a render.
type Result struct {
	Manifests []Manifest
	Notes     string
}

// Objects returns every non-hook object, in template order.
func (r *Result) Objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, m := range r.Manifests {
		if !m.Hook {
			out = append(out, m.Objects...)
		}
	}
	return out
}

// HookObjects returns the hook objects (helm test pods etc.).
func (r *Result) HookObjects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, m := range r.Manifests {
		if m.Hook {
			out = append(out, m.Objects...)
		}
	}
	return out
}

// YAML returns all objects (hooks last) as one multi-document stream, like `helm template`.
func (r *Result) YAML() []byte {
	var b bytes.Buffer
	for _, hooks := range []bool{false, true} {
		for _, m := range r.Manifests {
			if m.Hook != hooks {
				continue
			}
			for _, o := range m.Objects {
				y, _ := yaml.Marshal(o.Object)
				fmt.Fprintf(&b, "---\n# Source: %s\n%s", m.Template, y)
			}
		}
	}
	return b.Bytes()
}

// CheckKubeVersion checks the chart's kubeVersion constraint against a version like v1.37.2.
func (c *Chart) CheckKubeVersion(v string) error {
	kv, err := chartutil.ParseKubeVersion(v)
	if err != nil {
		return fmt.Errorf("kube version %q: %w", v, err)
	}
	return c.compatible(kv.String())
}

func (c *Chart) compatible(kv string) error {
	if kc := c.c.Metadata.KubeVersion; kc != "" && !chartutil.IsCompatibleRange(kc, kv) {
		return fmt.Errorf("chart %s requires kubeVersion %s, incompatible with %s", c.Name(), kc, kv)
	}
	return nil
}

// Render renders the chart with opts.
func (c *Chart) Render(opts Options) (*Result, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	if opts.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(opts.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", opts.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	caps.APIVersions = append(caps.APIVersions, opts.APIVersions...)
	if err := c.compatible(caps.KubeVersion.String()); err != nil {
		return nil, err
	}
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(c.c, opts.Values, chartutil.ReleaseOptions{
		Name: opts.ReleaseName, Namespace: opts.Namespace, IsInstall: !opts.IsUpgrade, IsUpgrade: opts.IsUpgrade, Revision: 1,
	}, caps, c.schema != nil)
	if err != nil {
		return nil, err
	}
	if c.schema != nil {
		coalesced, _ := vals["Values"].(chartutil.Values)
		if verr := c.schema.Validate(coalesced.AsMap()); verr != nil {
			return nil, fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s", helmSchemaMessage(c.Name(), verr))
		}
	}
	var files map[string]string
	if opts.Cluster != nil {
		lookups, lerr := newClusterLookups(opts.Cluster)
		if lerr != nil {
			return nil, lerr
		}
		files, err = engine.RenderWithClientProvider(c.c, vals, lookups)
	} else {
		files, err = engine.Render(c.c, vals)
	}
	if err != nil {
		return nil, err
	}
	return fromFiles(c.Name(), files, c.decode)
}

// decode is the package's decode, memoized per distinct text (errors are not kept: they name the template).
func (c *Chart) decode(name, content string) ([]*unstructured.Unstructured, bool, error) {
	if d, ok := c.decoded.Load(content); ok {
		doc := d.(decodedDoc)
		return copyObjects(doc.objs), doc.hook, nil
	}
	objs, hook, err := decode(name, content)
	if err != nil {
		return nil, false, err
	}
	c.decoded.Store(content, decodedDoc{objs: copyObjects(objs), hook: hook})
	return objs, hook, nil
}

func copyObjects(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

// helmSchemaMessage words a values-schema failure exactly as Helm's chartutil.ValidateAgainstSchema does for a chart
// without dependencies ("<chart>:\n" + JSONSchemaValidationError.Error()), from the error of the schema compiled once
// in Load: Helm's function compiles the schema again for every message, which was half the bad-values check's time.
// TestSchemaMessageIsHelms compares the two.
func helmSchemaMessage(chartName string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "jsonschema validation failed with 'file:///values.schema.json#'\n")
	return chartName + ":\n" + msg + "\n"
}

// FromFiles turns the template outputs of a render (template path → text) into a Result, the way Helm splits
// manifests, hooks and NOTES. Shared by the Helm 3 and Helm 4 renderers.
func FromFiles(chartName string, files map[string]string) (*Result, error) {
	return fromFiles(chartName, files, decode)
}

func fromFiles(chartName string, files map[string]string, decode func(name, content string) ([]*unstructured.Unstructured, bool, error)) (*Result, error) {
	res := &Result{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		content := files[name]
		if strings.HasSuffix(name, "NOTES.txt") {
			if strings.Count(name, "/templates/") == 1 && strings.HasPrefix(name, chartName+"/") {
				res.Notes = content
			}
			continue
		}
		if strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		objs, hook, err := decode(name, content)
		if err != nil {
			return nil, err
		}
		if len(objs) > 0 {
			res.Manifests = append(res.Manifests, Manifest{Template: name, Hook: hook, Objects: objs})
		}
	}
	// Keep Helm's install order so the output reads like `helm template`.
	sort.SliceStable(res.Manifests, func(i, j int) bool {
		return kindRank(res.Manifests[i]) < kindRank(res.Manifests[j])
	})
	return res, nil
}

func kindRank(m Manifest) int {
	if len(m.Objects) == 0 {
		return len(releaseutil.InstallOrder)
	}
	k := m.Objects[0].GetKind()
	for i, o := range releaseutil.InstallOrder {
		if o == k {
			return i
		}
	}
	return len(releaseutil.InstallOrder)
}

// Objects splits a multi-document manifest into objects, in document order.
func Objects(content string) ([]*unstructured.Unstructured, error) {
	objs, _, err := decode("manifest", content)
	return objs, err
}

func decode(name, content string) ([]*unstructured.Unstructured, bool, error) {
	var objs []*unstructured.Unstructured
	hook := false
	docs := releaseutil.SplitManifests(content)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys)) // SplitManifests returns a map: restore document order
	for _, k := range keys {
		doc := docs[k]
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, false, fmt.Errorf("%s: rendered YAML does not parse: %w", name, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, false, fmt.Errorf("%s: object without kind/apiVersion", name)
		}
		if _, ok := u.GetAnnotations()["helm.sh/hook"]; ok {
			hook = true
		}
		objs = append(objs, u)
	}
	return objs, hook, nil
}

// ValuesFromFiles reads values files by path (later ones win), like repeated `helm -f`.
func ValuesFromFiles(paths ...string) (map[string]any, error) {
	readers := make([]io.Reader, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		readers = append(readers, f)
	}
	v, err := ValuesFromYAML(readers...)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", paths, err)
	}
	return v, nil
}

// MergeValues overlays src onto dst and returns dst: maps merge key by key, anything else in src replaces.
func MergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = MergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// ValuesFromYAML reads one or more values documents (later ones win), like repeated `-f`.
func ValuesFromYAML(docs ...io.Reader) (map[string]any, error) {
	out := map[string]any{}
	for _, r := range docs {
		raw, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("values: %w", err)
		}
		out = chartutil.MergeTables(m, out)
	}
	return out, nil
}
