package thirdparty

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
)

// DefaultDir is where the source tarballs are unless GKT_THIRD_PARTY says otherwise: ../shared/third_party of the
// repository root.
func DefaultDir(repoRoot string) string {
	if d := os.Getenv("GKT_THIRD_PARTY"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, "..", "shared", "third_party")
}

// ErrNoSource means the tarball is not there (a machine without ../shared/third_party).
var ErrNoSource = errors.New("no source tarball")

// The projects the offline world builds from source tarballs.
const (
	GitLabRunner = "gitlab-runner" // gitlab-runner-vX.Y.Z.tar.gz: the runner manager and its helper
	Kaniko       = "kaniko"        // kaniko-vX.Y.Z.tar.gz: osscontainertools/kaniko, dependencies vendored
)

// Source is one checked source tarball.
type Source struct {
	Project string // GitLabRunner or Kaniko
	Archive string // path of <project>-vX.Y.Z.tar.gz
	Version string // X.Y.Z
	SHA256  string
}

// Locate finds the gitlab-runner tarball in dir and checks it against dir/SHA256SUMS before anything reads it.
func Locate(dir string) (Source, error) { return LocateProject(dir, GitLabRunner) }

// LocateProject finds project's tarball in dir (the newest version when there are several) and checks it against
// dir/SHA256SUMS before anything reads it.
func LocateProject(dir, project string) (Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Source{}, fmt.Errorf("%w for %s in %s: %v (set GKT_THIRD_PARTY)", ErrNoSource, project, dir, err)
	}
	archiveName := regexp.MustCompile(`^` + regexp.QuoteMeta(project) + `-v([0-9]+\.[0-9]+\.[0-9]+)\.tar\.gz$`)
	var src Source
	for _, e := range entries {
		if m := archiveName.FindStringSubmatch(e.Name()); m != nil && (src.Version == "" || newer(m[1], src.Version)) {
			src = Source{Project: project, Archive: filepath.Join(dir, e.Name()), Version: m[1]}
		}
	}
	if src.Archive == "" {
		return Source{}, fmt.Errorf("%w for %s in %s (set GKT_THIRD_PARTY)", ErrNoSource, project, dir)
	}
	want, err := expectedSum(filepath.Join(dir, "SHA256SUMS"), filepath.Base(src.Archive))
	if err != nil {
		return Source{}, err
	}
	f, err := os.Open(src.Archive)
	if err != nil {
		return Source{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Source{}, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return Source{}, fmt.Errorf("%s: SHA-256 %s, SHA256SUMS says %s: refusing to build from it", src.Archive, got, want)
	}
	src.SHA256 = want
	return src, nil
}

func expectedSum(sums, name string) (string, error) {
	f, err := os.Open(sums)
	if err != nil {
		return "", fmt.Errorf("checksums: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && strings.TrimPrefix(fields[1], "*") == name {
			return fields[0], nil
		}
	}
	return "", fmt.Errorf("%s lists no checksum for %s", sums, name)
}

// ReadFile returns one file of the source tree (path relative to the tree root, e.g. common/config.go).
func (s Source) ReadFile(path string) ([]byte, error) {
	f, err := os.Open(s.Archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s has no %s", s.Archive, path)
		}
		if err != nil {
			return nil, err
		}
		if _, rest, ok := strings.Cut(h.Name, "/"); ok && rest == path {
			return io.ReadAll(tr)
		}
	}
}

var flagName = regexp.MustCompile(`"(FF_[A-Z0-9_]+)"`)

// FeatureFlags are the names of the feature flags the runner version defines (ParseFeatureFlags of its flags.go).
func (s Source) FeatureFlags() ([]string, error) {
	raw, err := s.ReadFile(FeatureFlagsFile)
	if err != nil {
		return nil, err
	}
	return ParseFeatureFlags(raw)
}

// FeatureFlagsFile is where a gitlab-runner source tree defines its feature flags.
const FeatureFlagsFile = "helpers/featureflags/flags.go"

// ParseFeatureFlags reads the flag names of a flags.go: the string constants before `type FeatureFlag struct`, in
// source order. The same parser serves the 17.9.3 tarball and the 19.4 module the Go proxy serves.
func ParseFeatureFlags(flagsGo []byte) ([]string, error) {
	block, _, ok := bytes.Cut(flagsGo, []byte("\ntype FeatureFlag struct"))
	if !ok {
		return nil, fmt.Errorf("%s: no FeatureFlag type after the name constants", FeatureFlagsFile)
	}
	var out []string
	for _, m := range flagName.FindAllSubmatch(block, -1) {
		out = append(out, string(m[1]))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no flag names", FeatureFlagsFile)
	}
	return out, nil
}

// Tree extracts the source (cached by checksum) and returns the tree's root directory.
func (s Source) Tree(cache string, log cachedir.Logf) (string, error) {
	dir := filepath.Join(cache, "src", s.Project+"-"+s.Version+"-"+s.SHA256[:12])
	_, err := cachedir.Dir(dir, log, func(tmp string) error {
		if log != nil {
			log("%s %s: extracting the source", s.Project, s.Version)
		}
		if out, err := exec.Command("tar", "-xzf", s.Archive, "-C", tmp, "--strip-components=1").CombinedOutput(); err != nil {
			return fmt.Errorf("extracting %s: %v %s", s.Archive, err, out)
		}
		return nil
	})
	return dir, err
}

// BuildKeyChecker builds tools/runnerkeys (from repoRoot) against the runner's own common package, cached by the
// checker's source and the runner's checksum, and returns the binary. The first build downloads the runner's Go
// dependencies through the module proxy (minutes); later ones are instant.
func (s Source) BuildKeyChecker(repoRoot, cache string, log cachedir.Logf) (string, error) {
	main, err := os.ReadFile(filepath.Join(repoRoot, "tools", "runnerkeys", "main.go"))
	if err != nil {
		return "", err
	}
	tree, err := s.Tree(cache, log)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(append(main, s.SHA256...))
	dir := filepath.Join(cache, "bin", "runnerkeys-"+hex.EncodeToString(h[:6]))
	_, err = cachedir.Dir(dir, log, func(tmp string) error {
		// A private copy of the tree's module with the checker added: the cached tree itself stays as extracted.
		work, err := os.MkdirTemp(filepath.Dir(tree), "runnerkeys-build-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		if out, err := exec.Command("cp", "-a", tree+"/.", work).CombinedOutput(); err != nil {
			return fmt.Errorf("copying the tree: %v %s", err, out)
		}
		if err := os.MkdirAll(filepath.Join(work, "cmd", "gkt-runnerkeys"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, "cmd", "gkt-runnerkeys", "main.go"), main, 0o644); err != nil {
			return err
		}
		if log != nil {
			log("gitlab-runner %s: building the config.toml key checker against its common package (first time: downloads its modules)", s.Version)
		}
		cmd := exec.Command("go", "build", "-tags", "runnerkeys", "-o", filepath.Join(tmp, "runnerkeys"), "./cmd/gkt-runnerkeys")
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the key checker: %v\n%s", err, out)
		}
		return nil
	})
	return filepath.Join(dir, "runnerkeys"), err
}

// newer reports whether version a (X.Y.Z) is newer than b.
func newer(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range pa {
		na, _ := strconv.Atoi(pa[i])
		nb, _ := strconv.Atoi(pb[i])
		if na != nb {
			return na > nb
		}
	}
	return false
}

// Undecoded runs the key checker on a config.toml and returns the keys the runner's types did not decode.
func Undecoded(checker string, configToml []byte) ([]string, error) {
	f, err := os.CreateTemp("", "gkt-config-*.toml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(configToml); err != nil {
		return nil, err
	}
	f.Close()
	out, err := exec.Command(checker, f.Name()).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("runnerkeys: %v %s", err, out)
	}
	var keys []string
	for _, l := range strings.Split(string(out), "\n") {
		if k, ok := strings.CutPrefix(l, "undecoded: "); ok {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
