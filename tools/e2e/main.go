// Command e2e builds the offline kind world and runs the cluster-level test tiers (make e2e-cluster, e2e-smoke).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/cachedir"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/thirdparty"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

func cacheDir() string { return cachedir.E2E() }

func world(log kindworld.Progress) kindworld.World {
	name := os.Getenv("GKT_CLUSTER")
	if name == "" {
		name = "gkt-e2e"
	}
	return kindworld.World{Mode: os.Getenv("GKT_E2E_MODE"), Cache: cacheDir(), Name: name, Kubeconfig: filepath.Join(cacheDir(), "kubeconfig-"+name), Workers: 2, Log: log}
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
		err = clusterUp(log)
	case "smoke":
		if err = clusterUp(log); err == nil {
			err = smoke(log)
		}
	case "node-image":
		var img string
		img, _, err = world(log).BuildNodeImage()
		log("node image: %s", img)
	case "clean":
		err = world(log).Clean(len(os.Args) > 2 && os.Args[2] == "--caches")
	case "build-e2e":
		for _, b := range []kindworld.GoBuild{kindworld.RegistryBuild(), kindworld.KanikoBuild(), kindworld.MinIOBuild()} {
			if _, err = b.Build(cacheDir(), log); err != nil {
				break
			}
		}
	case "build-prometheus":
		// promtool (make test's rule unit tests) and the e2e's Prometheus server, from the Go proxy
		for _, b := range []kindworld.GoBuild{kindworld.PromtoolBuild(), kindworld.PrometheusBuild()} {
			if _, err = b.Build(cacheDir(), log); err != nil {
				break
			}
		}
	case "runner-images":
		// the runner tier's images from the checked source tarballs (GKT_THIRD_PARTY, default ../shared/third_party)
		var rw kindworld.RunnerWorld
		if rw, err = kindworld.LocateRunnerSources(thirdparty.DefaultDir(".")); err == nil {
			var archive string
			archive, err = rw.BuildRunnerTier(cacheDir(), ".", log)
			log("runner-tier images: %s", archive)
		}
	case "build-runtime":
		// the node's containerd and runc (user-namespace support), from the Go proxy
		for _, b := range []kindworld.GoBuild{kindworld.ContainerdBuild(versions.Containerd), kindworld.RuncBuild(versions.Runc)} {
			var dir string
			if dir, err = b.Build(cacheDir(), log); err != nil {
				break
			}
			log("%s: %s", b.Name, dir)
		}
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

// clusterUp brings up (or reuses) the cluster and pins the tenants' nodes with the project's own tool.
func clusterUp(log kindworld.Progress) error {
	w := world(log)
	// The tiers' images are built while the cluster comes up: much of both is waiting on downloads and debootstrap,
	// so on 2 cores the two together take little more than the cluster alone.
	rw, srcErr := kindworld.LocateRunnerSources(thirdparty.DefaultDir("."))
	images := make(chan error, 1)
	go func() {
		_, err := w.BuildJobTier()
		if err == nil && srcErr == nil {
			_, err = rw.BuildRunnerTier(w.Cache, ".", log)
		}
		images <- err
	}()
	if err := w.Up(); err != nil {
		return err
	}
	if err := <-images; err != nil {
		return err
	}
	if err := w.LoadJobTier(); err != nil {
		return err
	}
	cs, err := kindworld.Client(w.Kubeconfig)
	if err != nil {
		return err
	}
	set, err := tenants.FromValues("charts/tenant-bootstrap", []string{"test/e2e/values/bootstrap.yaml"})
	if err != nil {
		return err
	}
	changes, err := nodes.Pin(context.Background(), cs, set)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range set.Sorted() {
		names = append(names, fmt.Sprintf("%s=%v", t.Name, t.Nodes))
	}
	log("nodes: %d label/taint changes (%s), verified", len(changes), strings.Join(names, " "))
	// The runner tier's images (runner, helper, Kaniko from the source tarballs; the GitLab stand-in; builders).
	if srcErr != nil {
		log("runner-tier images: not built: %v (make e2e needs them; set GKT_THIRD_PARTY)", srcErr)
		return nil
	}
	if _, err := w.LoadRunnerTier(rw, "."); err != nil {
		return err
	}
	log("runner-tier images: gitlab-runner %s, helper, Kaniko %s, GitLab stand-in, Java and C# builders loaded", rw.Runner.Version, rw.Kaniko.Version)
	return nil
}

func smoke(log kindworld.Progress) error {
	w := world(log)
	if err := w.EnsureNetcheck("."); err != nil {
		return err
	}
	cs, err := kindworld.Client(w.Kubeconfig)
	if err != nil {
		return err
	}
	res, err := kindworld.Smoke(context.Background(), cs, w.Name, log)
	fmt.Println(res.Line())
	if err != nil {
		return err
	}
	if !res.DNS || !res.NetpolDeny || !res.NetpolAllow {
		return fmt.Errorf("smoke failed")
	}
	return nil
}
