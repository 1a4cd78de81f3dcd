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
