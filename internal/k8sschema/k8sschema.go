// Package k8sschema generates kubeconform's "standalone-strict" JSON schemas offline: from the OpenAPI
// (swagger.json) inside the k8s.io/kubernetes module of each supported version and from prometheus-operator's CRDs,
// both fetched through the Go module proxy (checksummed by the Go sum database), into a local cache.
// The conversion follows kubeconform's openapi2jsonschema: $refs inlined, int-or-string → string|integer,
// Quantity → string|number, objects with properties closed (additionalProperties: false), optional nulls allowed.
package k8sschema

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gomod"
)

// generatorVersion changes when the conversion changes, so stale caches are not reused.
const generatorVersion = "4"

// GVK names a kind to generate.
type GVK struct{ Group, Version, Kind string }

// APIVersion is group/version ("v1" for the core group).
func (g GVK) APIVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// FileName is kubeconform's file name for the kind.
func (g GVK) FileName() string {
	suffix := "-" + strings.ToLower(strings.Split(g.Group, ".")[0])
	if g.Group == "" {
		suffix = ""
	}
	return strings.ToLower(g.Kind) + suffix + "-" + strings.ToLower(g.Version) + ".json"
}

// GVKOf splits an object's apiVersion ("apps/v1", "v1") and kind into a GVK.
func GVKOf(apiVersion, kind string) GVK {
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		return GVK{Version: apiVersion, Kind: kind}
	}
	return GVK{Group: group, Version: version, Kind: kind}
}

// Identities returns, per Kubernetes version of a cache root, each schema file's name and a digest of its content.
// Two versions whose files for a kind have one digest validate that kind identically, so a verdict for one holds
// for the other (the harness validates such objects once).
func Identities(root string, kubeVersions []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, v := range kubeVersions {
		dir := filepath.Join(root, "v"+v+"-standalone-strict")
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("schemas for %s: %w", v, err)
		}
		out[v] = map[string]string{}
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("schemas for %s: %w", v, err)
			}
			sum := sha256.Sum256(raw)
			out[v][e.Name()] = fmt.Sprintf("%x", sum[:12])
		}
	}
	return out, nil
}

// Location returns the kubeconform schema-location template for a cache root.
func Location(root string) string {
	return filepath.Join(root, "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}", "{{ .ResourceKind }}{{ .KindSuffix }}.json")
}

// Spec is what to generate.
type Spec struct {
	KubernetesVersions []string // e.g. 1.37.2
	Kinds              []GVK    // built-in kinds
	// CRDs are the custom kinds, each read from a file of a Go module (prometheus-operator, Cilium).
	CRDs []CRDSource
}

// CRDSource is one CRD kind whose definition is a YAML file inside a module version.
type CRDSource struct {
	Kind    GVK
	Module  string // e.g. github.com/cilium/cilium
	Version string // e.g. v1.18.0
	File    string // path inside the module
}

// PrometheusOperatorCRD is a monitoring.coreos.com kind from prometheus-operator's full CRD examples.
func PrometheusOperatorCRD(version string, kind GVK) CRDSource {
	return CRDSource{Kind: kind, Module: "github.com/prometheus-operator/prometheus-operator", Version: version,
		File: fmt.Sprintf("example/prometheus-operator-crd-full/%s_%ss.yaml", kind.Group, strings.ToLower(kind.Kind))}
}

func (s Spec) key() string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(append(b, generatorVersion...))
	return fmt.Sprintf("%x", h[:8])
}

// Ensure makes sure the schemas of spec exist under cacheDir and returns their root. Cheap when cached. Safe when
// several processes fill an empty cache at once (cachedir.Dir): one generates, the others wait and read its result.
func Ensure(cacheDir string, spec Spec) (string, error) {
	root := filepath.Join(cacheDir, "schemas-"+spec.key())
	if _, err := cachedir.Dir(root, nil, func(tmp string) error { return generate(tmp, spec) }); err != nil {
		return "", fmt.Errorf("schemas: %w", err)
	}
	return root, nil
}

// generate writes the schemas of spec into tmp (a private directory).
func generate(tmp string, spec Spec) error {
	crds := map[string]map[string]any{}
	for _, src := range spec.CRDs {
		dir, err := gomod.Dir(src.Module, src.Version)
		if err != nil {
			return err
		}
		schema, err := crdSchema(filepath.Join(dir, src.File), src.Kind)
		if err != nil {
			return err
		}
		crds[src.Kind.FileName()] = schema
	}
	for _, v := range spec.KubernetesVersions {
		dir, err := gomod.Dir("k8s.io/kubernetes", "v"+v)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(filepath.Join(dir, "api", "openapi-spec", "swagger.json"))
		if err != nil {
			return fmt.Errorf("kubernetes %s: %w", v, err)
		}
		var sw struct {
			Definitions map[string]map[string]any `json:"definitions"`
		}
		if err := json.Unmarshal(raw, &sw); err != nil {
			return fmt.Errorf("kubernetes %s swagger.json: %w", v, err)
		}
		out := filepath.Join(tmp, "v"+v+"-standalone-strict")
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		index := map[GVK]string{}
		for name, def := range sw.Definitions {
			for _, g := range gvks(def) {
				index[g] = name
			}
		}
		for _, g := range spec.Kinds {
			name, ok := index[g]
			if !ok {
				return fmt.Errorf("kubernetes %s has no kind %s %s", v, g.APIVersion(), g.Kind)
			}
			c := &converter{defs: sw.Definitions, stack: map[string]bool{}}
			s := c.convert(map[string]any{"$ref": "#/definitions/" + name})
			if err := writeJSON(filepath.Join(out, g.FileName()), s); err != nil {
				return err
			}
		}
		for file, s := range crds {
			if err := writeJSON(filepath.Join(out, file), s); err != nil {
				return err
			}
		}
	}
	return nil
}

func gvks(def map[string]any) []GVK {
	var out []GVK
	list, _ := def["x-kubernetes-group-version-kind"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		g := GVK{Group: str(m["group"]), Version: str(m["version"]), Kind: str(m["kind"])}
		out = append(out, g)
	}
	return out
}

type converter struct {
	defs  map[string]map[string]any
	stack map[string]bool
}

func (c *converter) convert(s map[string]any) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		switch name {
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
			return map[string]any{"type": []any{"string", "integer", "null"}}
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			return map[string]any{"type": []any{"string", "number", "null"}}
		}
		if c.stack[name] {
			return map[string]any{} // recursive type (e.g. JSONSchemaProps): accept anything at depth
		}
		def, ok := c.defs[name]
		if !ok {
			return map[string]any{}
		}
		c.stack[name] = true
		out := c.convert(def)
		delete(c.stack, name)
		return out
	}
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "x-kubernetes-group-version-kind", "x-kubernetes-list-map-keys", "x-kubernetes-list-type",
			"x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy", "x-kubernetes-map-type", "x-kubernetes-unions":
			continue
		case "properties":
			props := map[string]any{}
			for pk, pv := range v.(map[string]any) {
				props[pk] = c.convert(pv.(map[string]any))
			}
			out[k] = props
		case "items":
			if m, ok := v.(map[string]any); ok {
				out[k] = c.convert(m)
			}
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = c.convert(m)
			} else {
				out[k] = v
			}
		case "format":
			if v == "int-or-string" {
				out["type"] = []any{"string", "integer", "null"}
				continue
			}
			out[k] = v
		default:
			out[k] = v
		}
	}
	closeAndNull(out)
	return out
}

// closeAndNull closes objects that declare properties and lets optional values be null (Helm renders `key: null`
// for empty values; the API server accepts it).
func closeAndNull(s map[string]any) {
	if _, hasProps := s["properties"]; hasProps {
		if _, set := s["additionalProperties"]; !set {
			s["additionalProperties"] = false
		}
		if t, ok := s["type"].(string); !ok || t == "" {
			s["type"] = "object"
		}
	}
	if t, ok := s["type"].(string); ok {
		s["type"] = []any{t, "null"}
	}
}

// crdSchema converts the schema of one version of the CRD in file.
func crdSchema(file string, g GVK) (map[string]any, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CRD of %s: %w", g.Kind, err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == g.Version {
			return crdConvert(v.Schema.OpenAPIV3Schema), nil
		}
	}
	return nil, fmt.Errorf("%s has no version %s", file, g.Version)
}

func crdConvert(s map[string]any) map[string]any { return crdConvertIn(s, false) }

// crdConvertIn converts a CRD schema node. Inside anyOf/allOf/oneOf branches properties only constrain values (a
// structural schema's branches may not add fields), so branches are never closed.
func crdConvertIn(s map[string]any, branch bool) map[string]any {
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "properties":
			props := map[string]any{}
			for pk, pv := range v.(map[string]any) {
				props[pk] = crdConvert(pv.(map[string]any))
			}
			out[k] = props
		case "items", "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = crdConvert(m)
			} else {
				out[k] = v
			}
		case "x-kubernetes-int-or-string":
			out["type"] = []any{"string", "integer", "null"}
		case "anyOf", "allOf", "oneOf":
			var list []any
			for _, e := range v.([]any) {
				list = append(list, crdConvertIn(e.(map[string]any), true))
			}
			out[k] = list
		default:
			if strings.HasPrefix(k, "x-kubernetes-") {
				continue
			}
			out[k] = v
		}
	}
	if _, preserve := s["x-kubernetes-preserve-unknown-fields"]; !preserve && !branch {
		closeAndNull(out)
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func str(v any) string { s, _ := v.(string); return s }
