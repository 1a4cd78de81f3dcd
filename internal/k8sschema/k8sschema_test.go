package k8sschema

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// smallSpec is cheap to generate yet has what a reader needs: a kind per version.
func smallSpec() Spec {
	return Spec{KubernetesVersions: versions.KubernetesVersions[:2], Kinds: []GVK{
		{Version: "v1", Kind: "Namespace"}, {Version: "v1", Kind: "ConfigMap"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	}}
}

// Several callers (as the test binaries of `go test ./...` are) fill one empty cache at once. Each must succeed and
// find every schema of the spec at the root it was given, as soon as Ensure returns. The shared <root>.tmp of the
// old code failed this: one caller removed the files another was writing or reading.
func TestConcurrentEnsureOnAnEmptyCacheEachReadsACompleteCache(t *testing.T) {
	cache, spec := t.TempDir(), smallSpec()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			root, err := Ensure(cache, spec)
			if err == nil {
				for _, v := range spec.KubernetesVersions {
					for _, g := range spec.Kinds {
						if _, e := os.Stat(filepath.Join(root, "v"+v+"-standalone-strict", g.FileName())); e != nil {
							err = e
						}
					}
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(cache, "schemas-*.tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}

// GVKOf reads an object's apiVersion and kind back into the GVK whose FileName kubeconform looks up.
func TestGVKOfFindsKubeconformsFileName(t *testing.T) {
	for _, tc := range []struct{ apiVersion, kind, file string }{
		{"v1", "ConfigMap", "configmap-v1.json"},
		{"apps/v1", "Deployment", "deployment-apps-v1.json"},
		{"networking.k8s.io/v1", "NetworkPolicy", "networkpolicy-networking-v1.json"},
		{"monitoring.coreos.com/v1", "PodMonitor", "podmonitor-monitoring-v1.json"},
	} {
		if got := GVKOf(tc.apiVersion, tc.kind).FileName(); got != tc.file {
			t.Errorf("GVKOf(%q, %q).FileName() = %q, want %q", tc.apiVersion, tc.kind, got, tc.file)
		}
	}
}

// Identities: one digest per file and version; equal digests exactly where the files are byte for byte equal.
func TestIdentitiesAreEqualExactlyForEqualFiles(t *testing.T) {
	root := t.TempDir()
	files := map[string]map[string]string{
		"1.2.3": {"configmap-v1.json": `{"a":1}`, "role-rbac-v1.json": `{"b":1}`},
		"1.3.0": {"configmap-v1.json": `{"a":1}`, "role-rbac-v1.json": `{"b":2}`},
	}
	for v, fs := range files {
		dir := filepath.Join(root, "v"+v+"-standalone-strict")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range fs {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids, err := Identities(root, []string{"1.2.3", "1.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := ids["1.2.3"]["configmap-v1.json"], ids["1.3.0"]["configmap-v1.json"]; a == "" || a != b {
		t.Errorf("equal files, digests %q and %q", a, b)
	}
	if a, b := ids["1.2.3"]["role-rbac-v1.json"], ids["1.3.0"]["role-rbac-v1.json"]; a == "" || a == b {
		t.Errorf("different files, digests %q and %q", a, b)
	}
	if _, err := Identities(root, []string{"9.9.9"}); err == nil {
		t.Error("a version without schemas gave no error")
	}
}
