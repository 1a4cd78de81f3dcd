package cachedir

import (
	"os"
	"path/filepath"
)

// Root is $GKT_CACHE_DIR, else <user cache dir>/gitlab-kaniko-tenant.
func Root() string {
	if d := os.Getenv("GKT_CACHE_DIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "gitlab-kaniko-tenant")
}

// E2E is the cache of the kind world (binaries, rootfs tarballs, image archives, kubeconfigs).
func E2E() string { return filepath.Join(Root(), "e2e") }
