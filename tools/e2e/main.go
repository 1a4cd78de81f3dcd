// Command e2e builds the offline kind world and runs the cluster-level test tiers (make e2e-cluster, e2e-smoke).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

func cacheDir() string {
	if d := os.Getenv("GKT_CACHE_DIR"); d != "" {
		return filepath.Join(d, "e2e")
	}
	d, _ := os.UserCacheDir()
	return filepath.Join(d, "gitlab-kaniko-tenant", "e2e")
}

func world(log kindworld.Progress) kindworld.World {
	name := os.Getenv("GKT_CLUSTER")
	if name == "" {
		name = "gkt-e2e"
	}
	return kindworld.World{Cache: cacheDir(), Name: name, Kubeconfig: filepath.Join(cacheDir(), "kubeconfig-"+name), Workers: 2, Log: log}
}

func main() {
	start := time.Now()
	log := func(format string, args ...any) {
		fmt.Printf("[%6s] %s\n", time.Since(start).Round(time.Second), fmt.Sprintf(format, args...))
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: e2e build-k8s")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build-k8s":
		var b kindworld.GoBuild
		if b, err = kindworld.KubernetesBuild(versions.Kubernetes, versions.StagingVersion); err == nil {
			var dir string
			dir, err = b.Build(cacheDir(), log)
			log("kubernetes binaries: %s", dir)
		}
	case "cluster":
		err = world(log).Up()
	case "node-image":
		var img string
		img, _, err = world(log).BuildNodeImage()
		log("node image: %s", img)
	case "clean":
		err = world(log).Clean(len(os.Args) > 2 && os.Args[2] == "--caches")
	case "build-rootfs":
		var tar string
		tar, err = kindworld.NodeRootfs(versions.DebianSuite).Tarball(cacheDir(), log)
		log("node rootfs: %s", tar)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}
