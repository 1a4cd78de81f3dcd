package render

import (
	"encoding/json"
	"testing"
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
