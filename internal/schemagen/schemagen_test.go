package schemagen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	values := `# @schema {"minimum":1}
# -- How many.
count: 3
nested:
  # -- A flag.
  flag: true
  # @schema {"enum":["a","b"]}
  mode: a
# @schema {"additionalProperties":{"type":"string"}}
labels: {}
list: [x]
# @schema {"$ref":"#/$defs/thing"}
ref:
  a: 1
`
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "values.schema.defs.json"), []byte(`{"thing":{"type":"object"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	props := s["properties"].(map[string]any)
	cases := []struct {
		name string
		got  any
		want any
	}{
		{"root is strict", s["additionalProperties"], false},
		{"int type inferred", props["count"].(map[string]any)["type"], "integer"},
		{"annotation merged", props["count"].(map[string]any)["minimum"], 1.0},
		{"description from -- comment", props["count"].(map[string]any)["description"], "How many."},
		{"nested object strict", props["nested"].(map[string]any)["additionalProperties"], false},
		{"enum kept", len(props["nested"].(map[string]any)["properties"].(map[string]any)["mode"].(map[string]any)["enum"].([]any)), 2},
		{"free map keeps annotation", props["labels"].(map[string]any)["additionalProperties"].(map[string]any)["type"], "string"},
		{"array item type inferred", props["list"].(map[string]any)["items"].(map[string]any)["type"], "string"},
		{"ref replaces inference", props["ref"].(map[string]any)["properties"], nil},
		{"defs loaded", s["$defs"].(map[string]any)["thing"].(map[string]any)["type"], "object"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestGenerateRejectsBadAnnotation(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("# @schema {not json\nx: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(dir); err == nil {
		t.Fatal("a malformed @schema annotation must be an error")
	}
}
