// Package release packages the charts, publishes them to OCI registries with Helm's OCI support, and proves the
// round trip (push, pull back, render from the pulled artifact) against a real Distribution registry.
package release

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // registry storage for the round trip
	"github.com/sirupsen/logrus"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// Package builds the chart archive of dir into outDir and returns its path.
func Package(dir, outDir string) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	p := action.NewPackage()
	p.Destination = outDir
	path, err := p.Run(dir, nil)
	if err != nil {
		return "", fmt.Errorf("packaging %s: %w", dir, err)
	}
	return path, nil
}

// Client is a Helm OCI registry client.
func Client(plainHTTP bool) (*registry.Client, error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard)}
	if plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	return registry.NewClient(opts...)
}

// Push pushes a chart archive to oci://host/path (the chart name and version make the tag), returning the ref.
func Push(c *registry.Client, archive, ociBase string) (string, error) {
	ch, err := loader.Load(archive)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("%s/%s:%s", strings.TrimPrefix(strings.TrimSuffix(ociBase, "/"), "oci://"), ch.Name(), ch.Metadata.Version)
	if _, err := c.Push(data, ref); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return ref, nil
}

// Pull pulls a chart back and writes the archive to dir.
func Pull(c *registry.Client, ref, dir string) (string, error) {
	res, err := c.Pull(ref, registry.PullOptWithChart(true))
	if err != nil {
		return "", fmt.Errorf("pulling %s: %w", ref, err)
	}
	name := strings.ReplaceAll(filepath.Base(ref), ":", "-") + ".tgz"
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, res.Chart.Data, 0o644)
}

// LocalRegistry is a Distribution v3 registry served in-process on loopback (in-memory storage).
type LocalRegistry struct {
	Host string
	srv  *http.Server
}

// StartLocalRegistry starts the registry.
func StartLocalRegistry() (*LocalRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := &configuration.Configuration{Storage: configuration.Storage{"inmemory": configuration.Parameters{}}}
	cfg.HTTP.Addr = ln.Addr().String()
	cfg.HTTP.Secret = "gkt-release-check"
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	logrus.SetOutput(io.Discard) // the registry logs every request, and every expected 404 of a push as an error
	app := handlers.NewApp(context.Background(), cfg)
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &LocalRegistry{Host: ln.Addr().String(), srv: srv}, nil
}

// Close stops the registry.
func (r *LocalRegistry) Close() { _ = r.srv.Close() }

// RoundTrip packages every chart, pushes them to ociBase, pulls them back and checks that the pulled artifact
// renders exactly like the source chart (with each chart's example values).
func RoundTrip(c *registry.Client, chartDirs []string, ociBase, work string, values map[string]map[string]any) ([]string, error) {
	var refs []string
	for _, dir := range chartDirs {
		archive, err := Package(dir, filepath.Join(work, "packaged"))
		if err != nil {
			return nil, err
		}
		ref, err := Push(c, archive, ociBase)
		if err != nil {
			return nil, err
		}
		pullDir := filepath.Join(work, "pulled")
		if err := os.MkdirAll(pullDir, 0o755); err != nil {
			return nil, err
		}
		pulled, err := Pull(c, ref, pullDir)
		if err != nil {
			return nil, err
		}
		src, err := render.Load(dir)
		if err != nil {
			return nil, err
		}
		got, err := render.Load(pulled)
		if err != nil {
			return nil, fmt.Errorf("loading pulled %s: %w", ref, err)
		}
		opts := render.Options{ReleaseName: "roundtrip", Namespace: "tenant-a", KubeVersion: "v1.37.0", Values: values[filepath.Base(dir)], Cluster: render.InstallCluster()}
		a, err := src.Render(opts)
		if err != nil {
			return nil, err
		}
		opts.Values = values[filepath.Base(dir)]
		b, err := got.Render(opts)
		if err != nil {
			return nil, fmt.Errorf("rendering pulled %s: %w", ref, err)
		}
		if !bytes.Equal(a.YAML(), b.YAML()) || len(a.Objects()) == 0 {
			return nil, fmt.Errorf("%s renders differently from the pulled artifact", dir)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}
