// Package versions is the one place that pins every version the project tests against or builds from.
package versions

// KubernetesVersions we support, newest first. The harness validates every permutation against each (schemas come
// from k8s.io/kubernetes' own api/openapi-spec/swagger.json at that version).
var KubernetesVersions = []string{"1.37.2", "1.36.4", "1.35.8"}

// PrometheusOperator is the module whose CRDs (PodMonitor, ServiceMonitor) give the monitoring schemas.
const PrometheusOperator = "v0.85.0"

// Prometheus is the github.com/prometheus/prometheus module (Prometheus 3.16): its PromQL parser checks the chart's
// alert rules and dashboard in make test, its promtool unit-tests the rules, and its server scrapes the managers in
// the e2e. go.mod requires the same version (checked by make test).
const (
	Prometheus        = "v0.316.0"
	PrometheusRelease = "3.16.0"
)

// ChartRunner is the gitlab-runner version the tenant chart pins by default (Chart.yaml appVersion; checked by
// make test). The job tier's helper stand-in carries its helper tag, since the chart requires the helper to match.
const ChartRunner = "19.4.1"

// RunnerModule19_4 is gitlab-runner 19.4.0 as the Go proxy serves it (a pseudo-version of the module; readable, not
// buildable here): the source of the chart's 19.4 feature-flag table, checked by make test. 17.9.3 is not on the
// proxy; its table is checked against ../shared/third_party by `make runner-keys`.
const (
	RunnerModule     = "gitlab.com/gitlab-org/gitlab-runner"
	RunnerModule19_4 = "v1.11.1-0.20260903214710-fc1f1862bd91"
)

// HelmV4 is the Helm 4 SDK the matrix is compared with.
const HelmV4 = "v4.3.1"

// The offline kind world (make e2e-cluster). Every version the test cluster is built from is pinned here.
const (
	// Kubernetes is the node version (k8s.io/kubernetes module; staging modules at StagingVersion).
	Kubernetes     = "v1.37.2"
	StagingVersion = "v0.37.2"
	// Kind is the sigs.k8s.io/kind module: its Go API creates clusters and images/base/files shape the node image.
	Kind = "v0.33.0"
	// Etcd and CoreDNS are the versions kubeadm 1.37 expects (tags must match exactly).
	Etcd     = "v3.7.0"
	EtcdTag  = "3.7.0-0"
	CoreDNS  = "v1.14.6"
	PauseTag = "3.10.2"
	Cilium   = "v1.18.0"
	// Containerd and Runc are the node's runtime, the versions images/base/Dockerfile of Kind pins: containerd 2.x
	// is what reports user-namespace support to the kubelet (Debian bookworm's 1.6 cannot run hostUsers: false).
	Containerd  = "v2.3.4"
	Runc        = "v1.4.3"
	DebianSuite = "bookworm"
)

// Pull mode (machines with registry access): the upstream images matching the pins above.
const (
	KindNodeImage = "docker.io/kindest/node:" + Kubernetes
)

// The e2e job tier (make e2e): components built from the Go proxy.
const (
	// MinIO community edition is unmaintained (source only since 2025-10): pinned to the last pseudo-version we use;
	// the S3 endpoint stays pluggable.
	MinIO        = "v0.0.0-20260212201848-7aac2a2c5b7c"
	Distribution = "v3.1.2"
	// Kaniko: the chainguard-dev fork (upkeep only; GoogleContainerTools/kaniko was archived in June 2025).
	KanikoModule  = "github.com/chainguard-dev/kaniko"
	KanikoVersion = "v1.25.16"
)
