package thirdparty

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocateProject is the table of what Locate accepts and refuses before anything reads a tarball.
func TestLocateProject(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	cases := []struct {
		name    string
		files   map[string]string // name → content
		sums    string            // SHA256SUMS ("-" = no file)
		project string
		want    string // version, or the error's substring
		wantErr bool
	}{
		{"checked tarball", map[string]string{"kaniko-v1.28.3.tar.gz": "k"}, sum("k") + "  kaniko-v1.28.3.tar.gz\n", Kaniko, "1.28.3", false},
		{"binary-mode sums line", map[string]string{"kaniko-v1.28.3.tar.gz": "k"}, sum("k") + " *kaniko-v1.28.3.tar.gz\n", Kaniko, "1.28.3", false},
		{"newest of several", map[string]string{"gitlab-runner-v17.9.3.tar.gz": "a", "gitlab-runner-v17.10.0.tar.gz": "b"},
			sum("a") + "  gitlab-runner-v17.9.3.tar.gz\n" + sum("b") + "  gitlab-runner-v17.10.0.tar.gz\n", GitLabRunner, "17.10.0", false},
		{"tampered tarball", map[string]string{"kaniko-v1.28.3.tar.gz": "evil"}, sum("k") + "  kaniko-v1.28.3.tar.gz\n", Kaniko, "refusing to build from it", true},
		{"no checksum line", map[string]string{"kaniko-v1.28.3.tar.gz": "k"}, sum("x") + "  other.tar.gz\n", Kaniko, "lists no checksum for kaniko-v1.28.3.tar.gz", true},
		{"no SHA256SUMS", map[string]string{"kaniko-v1.28.3.tar.gz": "k"}, "-", Kaniko, "checksums", true},
		{"no tarball of the project", map[string]string{"kaniko-v1.28.3.tar.gz": "k"}, sum("k") + "  kaniko-v1.28.3.tar.gz\n", GitLabRunner, "no source tarball for gitlab-runner", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, content := range c.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.sums != "-" {
				if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(c.sums), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src, err := LocateProject(dir, c.project)
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q", err, c.want)
				}
				return
			}
			if err != nil || src.Version != c.want || src.Project != c.project || src.SHA256 == "" {
				t.Fatalf("%+v, %v: want version %s", src, err, c.want)
			}
		})
	}
	if _, err := LocateProject(filepath.Join(t.TempDir(), "missing"), Kaniko); !errors.Is(err, ErrNoSource) {
		t.Fatalf("missing directory: %v, want ErrNoSource", err)
	}
}
