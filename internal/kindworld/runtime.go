package kindworld

// The node's container runtime: containerd 2.x and runc built from the Go proxy at the versions kind's own base
// image pins (images/base/Dockerfile of versions.Kind). Debian bookworm's containerd 1.6 cannot run pods with
// hostUsers: false (no user-namespace support in its CRI), which the tenant chart's job pods use by default.

// ContainerdBuild builds containerd, its runc shim and ctr, static and without the optional snapshotters, with the
// build tags and version ldflags of containerd's Makefile.
func ContainerdBuild(version string) GoBuild {
	const pkg = "github.com/containerd/containerd/v2"
	ld := "-X " + pkg + "/version.Version=" + version + " -X " + pkg + "/version.Revision=gkt-go-proxy -X " + pkg + "/version.Package=github.com/containerd/containerd"
	tags := []string{"no_aufs", "no_zfs", "no_btrfs", "no_devmapper", "urfave_cli_no_docs", "osusergo", "netgo", "static_build"}
	return GoBuild{Name: "containerd", Module: pkg, Version: version, Binaries: []GoBinary{
		{Name: "containerd", Package: pkg + "/cmd/containerd", Ldflags: ld, Tags: tags},
		{Name: "containerd-shim-runc-v2", Package: pkg + "/cmd/containerd-shim-runc-v2", Ldflags: ld, Tags: append(tags, "no_grpc")},
		{Name: "ctr", Package: pkg + "/cmd/ctr", Ldflags: ld, Tags: tags},
	}}
}

// RuncBuild builds runc as its Makefile's `static` target does: cgo (nsenter, libseccomp from Debian's
// libseccomp-dev, which tools/e2e/host-prep.sh installs) linked statically, so the node needs no shared library.
func RuncBuild(version string) GoBuild {
	v := version[1:]
	return GoBuild{Name: "runc", Module: "github.com/opencontainers/runc", Version: version, Binaries: []GoBinary{{
		Name: "runc", Package: "github.com/opencontainers/runc", CGO: true,
		Tags:    []string{"seccomp", "urfave_cli_no_docs", "netgo", "osusergo"},
		Ldflags: "-X main.version=" + v + " -X main.gitCommit=" + version + " -linkmode external -extldflags -static",
	}}}
}
