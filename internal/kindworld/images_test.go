package kindworld

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImageSpecSkipLeavesOutTreePaths proves Skip drops files and whole directories of a tree, and nothing else.
func TestImageSpecSkipLeavesOutTreePaths(t *testing.T) {
	src := t.TempDir()
	for _, f := range []string{"src/strings/strings.go", "src/strings/strings_test.go", "src/strings/testdata/x", "src/cmd/go/main.go", "bin/go"} {
		p := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		skip func(string, bool) bool
		want []string
	}{
		{"no skip keeps every file", nil, []string{"opt/go/bin/go", "opt/go/src/cmd/go/main.go", "opt/go/src/strings/strings.go", "opt/go/src/strings/strings_test.go", "opt/go/src/strings/testdata/x"}},
		{"directories and test files skipped", func(p string, dir bool) bool {
			return (dir && (p == "/opt/go/src/cmd" || filepath.Base(p) == "testdata")) || strings.HasSuffix(p, "_test.go")
		}, []string{"opt/go/bin/go", "opt/go/src/strings/strings.go"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := ImageSpec{Ref: "test", Trees: map[string]string{"/opt/go": src}, Skip: c.skip}.Build()
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(mutate.Extract(img))
			var got []string
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Typeflag == tar.TypeReg {
					got = append(got, h.Name)
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("files %v, want %v", got, c.want)
			}
		})
	}
}

// TestSpecsKeyFollowsContent: a changed generated file (a new passwd entry, say) gives a new archive key, so a
// cached archive is never served for a changed recipe; the same inputs give the same key.
func TestSpecsKeyFollowsContent(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "passwd")
	write := func(s string) {
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key := func() string {
		k, err := SpecsKey([]ImageSpec{{Ref: "gkt.local/x:1", Files: map[string]string{"/etc/passwd": f}, User: "999"}})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write("root:x:0:0::/root:/bin/sh\n")
	a, b := key(), key()
	write("root:x:0:0::/root:/bin/sh\nhelper:x:1000:1000::/tmp:/bin/bash\n")
	c := key()
	if a != b || a == c {
		t.Fatalf("keys %s %s %s: want equal for equal content, different after a change", a, b, c)
	}
	if _, err := SpecsKey([]ImageSpec{{Files: map[string]string{"/x": filepath.Join(dir, "missing")}}}); err == nil {
		t.Fatal("a missing file must be an error")
	}
}
