package kindworld

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
)

// MinIOBuild builds the MinIO server.
func MinIOBuild() GoBuild {
	return GoBuild{Name: "minio", Module: "github.com/minio/minio", Version: versions.MinIO, Binaries: []GoBinary{{Name: "minio", Package: "github.com/minio/minio"}}}
}

// RegistryBuild builds the Distribution registry (tenant layer caches and the destination registry).
func RegistryBuild() GoBuild {
	return GoBuild{Name: "registry", Module: "github.com/distribution/distribution/v3", Version: versions.Distribution,
		Binaries: []GoBinary{{Name: "registry", Package: "github.com/distribution/distribution/v3/cmd/registry"}}}
}

// KanikoBuild builds the Kaniko executor.
func KanikoBuild() GoBuild {
	return GoBuild{Name: "kaniko", Module: versions.KanikoModule, Version: versions.KanikoVersion, InheritReplaces: true,
		Binaries: []GoBinary{{Name: "executor", Package: versions.KanikoModule + "/cmd/executor"}}}
}

// Image references of the e2e components (tagged like their upstream counterparts where one exists).
const (
	// HelperStandinImage stands in for gitlab-runner-helper, which cannot be pulled here: a busybox image that
	// does what the helper and init-permissions containers do in the job pod when no runner drives them
	// (block on stdin; touch and chmod the log file).
	HelperStandinImage = "gkt.local/runner-helper-standin:x86_64-v" + versions.ChartRunner
	MinIOImage         = "gkt.local/minio:" + versions.MinIO
	RegistryImage      = "docker.io/library/registry:3.0.0"
	KanikoImage        = "gkt.local/kaniko:" + versions.KanikoVersion + "-debug"
)

// E2EImages are the images of the job tier: MinIO, the Distribution registry under the chart's default image
// name, and a Kaniko image shaped like the upstream -debug flavour (/kaniko/executor, busybox at /busybox with
// /bin/sh, CA bundle, empty docker config).
func E2EImages(minio, registry, kaniko, busybox, cacerts, work string) ([]ImageSpec, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	kanikoSpec, err := KanikoDebugImage(KanikoImage, filepath.Join(kaniko, "executor"), busybox, cacerts, work,
		[]string{"sh", "cat", "cp", "ls", "mkdir", "echo", "printf", "base64", "tr", "grep", "sed", "sleep", "env", "nc", "test", "[", "rm", "mv", "chmod", "wc", "head", "tail", "date", "true", "false", "find", "tee", "id", "hostname", "uname"})
	if err != nil {
		return nil, err
	}
	helperLinks := map[string]string{}
	for _, applet := range []string{"sh", "touch", "chmod", "cat", "sleep", "ls", "mkdir", "cp"} {
		helperLinks["/bin/"+applet] = "/bin/busybox"
	}
	return []ImageSpec{
		{Ref: HelperStandinImage, Files: map[string]string{"/bin/busybox": busybox}, Symlinks: helperLinks},
		{Ref: MinIOImage, Files: map[string]string{"/usr/bin/minio": filepath.Join(minio, "minio")}, Entrypoint: []string{"/usr/bin/minio"}},
		{Ref: RegistryImage, Files: map[string]string{"/bin/registry": filepath.Join(registry, "registry")}, Entrypoint: []string{"/bin/registry"}, Cmd: []string{"serve", "/etc/distribution/config.yml"}},
		kanikoSpec,
	}, nil
}

// KanikoDebugImage is a Kaniko image in the upstream -debug shape the CI template expects: /kaniko/executor,
// busybox under /busybox with /bin/sh, the CA bundle, an empty docker config. applets are the busybox links.
func KanikoDebugImage(ref, executor, busybox, cacerts, work string, applets []string) (ImageSpec, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return ImageSpec{}, err
	}
	dockerCfg := filepath.Join(work, "config.json")
	if err := os.WriteFile(dockerCfg, []byte("{}\n"), 0o644); err != nil {
		return ImageSpec{}, err
	}
	nss := filepath.Join(work, "nsswitch.conf")
	if err := os.WriteFile(nss, []byte("hosts: files dns\n"), 0o644); err != nil {
		return ImageSpec{}, err
	}
	links := map[string]string{"/bin/sh": "/busybox/sh"}
	for _, a := range applets {
		links["/busybox/"+a] = "/busybox/busybox"
	}
	return ImageSpec{Ref: ref,
		Files: map[string]string{
			"/kaniko/executor": executor, "/busybox/busybox": busybox,
			"/kaniko/ssl/certs/ca-certificates.crt": cacerts, "/kaniko/.docker/config.json": dockerCfg, "/etc/nsswitch.conf": nss,
		},
		Symlinks:   links,
		Env:        []string{"PATH=/usr/local/bin:/kaniko:/busybox", "HOME=/root", "USER=root", "DOCKER_CONFIG=/kaniko/.docker/", "SSL_CERT_DIR=/kaniko/ssl/certs"},
		Entrypoint: []string{"/kaniko/executor"}}, nil
}

// BuildJobTier builds MinIO, the registry, Kaniko and the helper stand-in (cached) and writes their archive, keyed by
// the binaries and every image reference, so a renamed image is never served from an old archive.
func (w World) BuildJobTier() (string, error) {
	dirs := map[string]string{}
	for _, b := range []GoBuild{MinIOBuild(), RegistryBuild(), KanikoBuild()} {
		d, err := b.Build(w.Cache, w.Log)
		if err != nil {
			return "", err
		}
		dirs[b.Name] = d
	}
	h := sha256.Sum256([]byte(dirs["minio"] + dirs["registry"] + dirs["kaniko"] + HelperStandinImage + MinIOImage + RegistryImage + KanikoImage))
	archive := filepath.Join(w.Cache, "e2e-images-"+hex.EncodeToString(h[:4])+".tar")
	err := CachedArchive(archive, "e2e images (MinIO, registry, Kaniko -debug shape, helper stand-in)", w.Log, func(scratch string) ([]ImageSpec, error) {
		return E2EImages(dirs["minio"], dirs["registry"], dirs["kaniko"], "/bin/busybox", "/etc/ssl/certs/ca-certificates.crt", scratch)
	})
	return archive, err
}

// LoadJobTier builds the job tier's images and loads them into the nodes unless they are there.
func (w World) LoadJobTier() error {
	archive, err := w.BuildJobTier()
	if err != nil {
		return err
	}
	if ArchiveLoaded(w.Name, archive) {
		return nil
	}
	return LoadImages(w.Name, archive, w.Log)
}

// prometheusLdflags stamp the release into prometheus/common/version, as Prometheus' own build does, so
// `promtool --version` and the server's build_info say which release they are.
var prometheusLdflags = "-X github.com/prometheus/common/version.Version=" + versions.PrometheusRelease +
	" -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.Revision=" + versions.Prometheus

// PromtoolBuild builds promtool, which unit-tests the tenant chart's alert rules (`promtool test rules`) in make
// test. remove_all_sd leaves out every service-discovery plugin: rule tests need none, and they are most of the
// build.
func PromtoolBuild() GoBuild {
	return GoBuild{Name: "promtool", Module: "github.com/prometheus/prometheus", Version: versions.Prometheus,
		Binaries: []GoBinary{{Name: "promtool", Package: "github.com/prometheus/prometheus/cmd/promtool", Ldflags: prometheusLdflags, Tags: []string{"remove_all_sd"}}}}
}

// PrometheusBuild builds the Prometheus server of the e2e's monitoring namespace, with Kubernetes service discovery
// only (the plugins are opt-in under remove_all_sd: `//go:build !remove_all_sd || enable_kubernetes_sd`). The web
// UI's assets are not built in (no builtinassets tag): the e2e uses the HTTP API only.
func PrometheusBuild() GoBuild {
	return GoBuild{Name: "prometheus", Module: "github.com/prometheus/prometheus", Version: versions.Prometheus,
		Binaries: []GoBinary{{Name: "prometheus", Package: "github.com/prometheus/prometheus/cmd/prometheus", Ldflags: prometheusLdflags, Tags: []string{"remove_all_sd", "enable_kubernetes_sd"}}}}
}

// PrometheusImage is the e2e's Prometheus server (PrometheusBuild), tagged like the upstream image.
const PrometheusImage = "gkt.local/prometheus:v" + versions.PrometheusRelease

// LoadPrometheus builds the Prometheus server (cached), writes its image archive (keyed by the binary and the ref)
// and loads it into the nodes unless they have it.
func (w World) LoadPrometheus() error {
	dir, err := PrometheusBuild().Build(w.Cache, w.Log)
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte(dir + PrometheusImage))
	archive := filepath.Join(w.Cache, "prometheus-image-"+hex.EncodeToString(h[:4])+".tar")
	err = CachedArchive(archive, "prometheus image", w.Log, func(string) ([]ImageSpec, error) {
		return []ImageSpec{{Ref: PrometheusImage, Files: map[string]string{"/bin/prometheus": filepath.Join(dir, "prometheus")},
			Entrypoint: []string{"/bin/prometheus"}}}, nil
	})
	if err != nil {
		return err
	}
	if ArchiveLoaded(w.Name, archive) {
		return nil
	}
	return LoadImages(w.Name, archive, w.Log)
}
