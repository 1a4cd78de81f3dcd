package render

import (
	"encoding/json"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

func TestMergeValuesOverlaysMapsAndReplacesTheRest(t *testing.T) {
	cases := []struct {
		name          string
		dst, src, out string
	}{
		{"nested maps merge key by key", `{"a":{"x":1,"y":2}}`, `{"a":{"y":3}}`, `{"a":{"x":1,"y":3}}`},
		{"lists replace", `{"l":[1,2]}`, `{"l":[3]}`, `{"l":[3]}`},
		{"a scalar replaces a map", `{"a":{"x":1}}`, `{"a":5}`, `{"a":5}`},
		{"null replaces", `{"a":1}`, `{"a":null}`, `{"a":null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var dst, src map[string]any
			if err := json.Unmarshal([]byte(c.dst), &dst); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(c.src), &src); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(MergeValues(dst, src))
			if string(got) != c.out {
				t.Errorf("got %s, want %s", got, c.out)
			}
		})
	}
}

// TestSchemaMessageIsHelms: a values-schema refusal reads exactly as Helm's own (chartutil.ValidateAgainstSchema,
// which compiles the schema again), for several kinds of schema failure in both charts.
func TestSchemaMessageIsHelms(t *testing.T) {
	cases := []struct {
		name, chart string
		values      map[string]any
	}{
		{"wrong type", "gitlab-kaniko-tenant", map[string]any{"runner": map[string]any{"concurrent": "twenty"}}},
		{"unknown key", "gitlab-kaniko-tenant", map[string]any{"runner": map[string]any{"concurent": 20}}},
		{"two failures", "gitlab-kaniko-tenant", map[string]any{"runner": map[string]any{"concurrent": -1}, "nosuchkey": true}},
		{"bootstrap wrong type", "tenant-bootstrap", map[string]any{"tenants": "tenant-a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("../../charts/" + tc.chart)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Render(Options{ReleaseName: "r", Namespace: "n", KubeVersion: "v" + versions.KubernetesVersions[0], Values: tc.values})
			if err == nil {
				t.Fatalf("values %v rendered; the case needs a schema failure", tc.values)
			}
			coalesced, cerr := chartutil.CoalesceValues(c.c, tc.values)
			if cerr != nil {
				t.Fatal(cerr)
			}
			herr := chartutil.ValidateAgainstSchema(c.c, coalesced)
			if herr == nil {
				t.Fatalf("Helm accepts %v, the chart refused it: %v", tc.values, err)
			}
			want := "values don't meet the specifications of the schema(s) in the following chart(s):\n" + herr.Error()
			if err.Error() != want {
				t.Fatalf("message differs from Helm's:\n got: %q\nwant: %q", err.Error(), want)
			}
		})
	}
}
