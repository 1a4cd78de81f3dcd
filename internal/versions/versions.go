// Package versions is the one place that pins every version the project tests against or builds from.
package versions

// KubernetesVersions we support, newest first. The harness validates every permutation against each (schemas come
// from k8s.io/kubernetes' own api/openapi-spec/swagger.json at that version).
var KubernetesVersions = []string{"1.37.2", "1.36.4", "1.35.8"}

// PrometheusOperator is the module whose CRDs (PodMonitor, ServiceMonitor) give the monitoring schemas.
const PrometheusOperator = "v0.85.0"

// HelmV4 is the Helm 4 SDK the matrix is compared with.
const HelmV4 = "v4.3.1"
