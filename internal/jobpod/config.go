// Package jobpod models gitlab-runner's Kubernetes executor: it parses a rendered config.toml (strictly, with the
// runner's own TOML key names) and builds the job pod the executor would create from it, key by key
// (gitlab-runner 19.4 executors/kubernetes; see docs/job-pod-model.md). The harness evaluates that pod against Pod
// Security; the e2e job tier runs it on a cluster. One model, two uses.
package jobpod

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// Config is the part of config.toml the chart writes. Unknown keys are errors: a key the chart renders that is not
// here is a key this model (and maybe the runner) does not know.
type Config struct {
	Concurrent      int      `toml:"concurrent"`
	CheckInterval   int      `toml:"check_interval"`
	LogLevel        string   `toml:"log_level"`
	LogFormat       string   `toml:"log_format"`
	ListenAddress   string   `toml:"listen_address"`
	ShutdownTimeout int      `toml:"shutdown_timeout"`
	Runners         []Runner `toml:"runners"`
}

// Runner is one [[runners]] entry.
type Runner struct {
	Name               string            `toml:"name"`
	URL                string            `toml:"url"`
	Token              string            `toml:"token"`
	TLSCAFile          string            `toml:"tls-ca-file"`
	Executor           string            `toml:"executor"`
	Limit              int               `toml:"limit"`
	RequestConcurrency int               `toml:"request_concurrency"`
	OutputLimit        int               `toml:"output_limit"`
	Environment        []string          `toml:"environment"`
	FeatureFlags       map[string]bool   `toml:"feature_flags"`
	CustomBuildDir     *CustomBuildDir   `toml:"custom_build_dir"`
	Cache              *Cache            `toml:"cache"`
	Kubernetes         *KubernetesConfig `toml:"kubernetes"`
}

// CustomBuildDir is [runners.custom_build_dir].
type CustomBuildDir struct {
	Enabled *bool `toml:"enabled"`
}

// Cache is [runners.cache] (CamelCase keys, as in the runner).
type Cache struct {
	Type                   string   `toml:"Type"`
	Path                   string   `toml:"Path"`
	Shared                 bool     `toml:"Shared"`
	MaxUploadedArchiveSize int64    `toml:"MaxUploadedArchiveSize"`
	S3                     *CacheS3 `toml:"s3"`
}

// CacheS3 is [runners.cache.s3].
type CacheS3 struct {
	ServerAddress      string `toml:"ServerAddress"`
	BucketName         string `toml:"BucketName"`
	BucketLocation     string `toml:"BucketLocation"`
	Insecure           bool   `toml:"Insecure"`
	AuthenticationType string `toml:"AuthenticationType"`
	AccessKey          string `toml:"AccessKey"`
	SecretKey          string `toml:"SecretKey"`
}

// KubernetesConfig is [runners.kubernetes] (common/config.go KubernetesConfig).
type KubernetesConfig struct {
	Namespace                                  string   `toml:"namespace"`
	NamespaceOverwriteAllowed                  string   `toml:"namespace_overwrite_allowed"`
	NamespacePerJob                            bool     `toml:"namespace_per_job"`
	ServiceAccount                             string   `toml:"service_account"`
	ServiceAccountOverwriteAllowed             string   `toml:"service_account_overwrite_allowed"`
	AutomountServiceAccountToken               *bool    `toml:"automount_service_account_token"`
	BearerTokenOverwriteAllowed                bool     `toml:"bearer_token_overwrite_allowed"`
	Image                                      string   `toml:"image"`
	HelperImage                                string   `toml:"helper_image"`
	PullPolicy                                 []string `toml:"pull_policy"`
	AllowedPullPolicies                        []string `toml:"allowed_pull_policies"`
	AllowedImages                              []string `toml:"allowed_images"`
	AllowedServices                            []string `toml:"allowed_services"`
	ImagePullSecrets                           []string `toml:"image_pull_secrets"`
	Privileged                                 *bool    `toml:"privileged"`
	AllowPrivilegeEscalation                   *bool    `toml:"allow_privilege_escalation"`
	CapAdd                                     []string `toml:"cap_add"`
	CapDrop                                    []string `toml:"cap_drop"`
	CPURequest                                 string   `toml:"cpu_request"`
	CPULimit                                   string   `toml:"cpu_limit"`
	MemoryRequest                              string   `toml:"memory_request"`
	MemoryLimit                                string   `toml:"memory_limit"`
	EphemeralStorageRequest                    string   `toml:"ephemeral_storage_request"`
	EphemeralStorageLimit                      string   `toml:"ephemeral_storage_limit"`
	CPURequestOverwriteMaxAllowed              string   `toml:"cpu_request_overwrite_max_allowed"`
	CPULimitOverwriteMaxAllowed                string   `toml:"cpu_limit_overwrite_max_allowed"`
	MemoryRequestOverwriteMaxAllowed           string   `toml:"memory_request_overwrite_max_allowed"`
	MemoryLimitOverwriteMaxAllowed             string   `toml:"memory_limit_overwrite_max_allowed"`
	EphemeralStorageRequestOverwriteMaxAllowed string   `toml:"ephemeral_storage_request_overwrite_max_allowed"`
	EphemeralStorageLimitOverwriteMaxAllowed   string   `toml:"ephemeral_storage_limit_overwrite_max_allowed"`
	HelperCPURequest                           string   `toml:"helper_cpu_request"`
	HelperCPULimit                             string   `toml:"helper_cpu_limit"`
	HelperMemoryRequest                        string   `toml:"helper_memory_request"`
	HelperMemoryLimit                          string   `toml:"helper_memory_limit"`
	HelperEphemeralStorageRequest              string   `toml:"helper_ephemeral_storage_request"`
	HelperEphemeralStorageLimit                string   `toml:"helper_ephemeral_storage_limit"`
	NodeSelectorOverwriteAllowed               string   `toml:"node_selector_overwrite_allowed"`
	NodeTolerationsOverwriteAllowed            string   `toml:"node_tolerations_overwrite_allowed"`
	PodLabelsOverwriteAllowed                  string   `toml:"pod_labels_overwrite_allowed"`
	PodAnnotationsOverwriteAllowed             string   `toml:"pod_annotations_overwrite_allowed"`
	ResourceAvailabilityCheckMaxAttempts       int      `toml:"resource_availability_check_max_attempts"`
	PollTimeout                                int      `toml:"poll_timeout"`
	PodTerminationGracePeriodSeconds           *int64   `toml:"pod_termination_grace_period_seconds"`
	CleanupGracePeriodSeconds                  *int64   `toml:"cleanup_grace_period_seconds"`
	CleanupResourcesTimeout                    string   `toml:"cleanup_resources_timeout"`
	// RetryLimits are the Kubernetes API errors (substrings) the runner retries, with their attempts (the pod
	// create included: kubernetes.go NewRetry). They do not shape the pod.
	RetryLimits                             map[string]int            `toml:"retry_limits"`
	PriorityClassName                       string                    `toml:"priority_class_name"`
	RuntimeClassName                        *string                   `toml:"runtime_class_name"`
	PodLabels                               map[string]string         `toml:"pod_labels"`
	PodAnnotations                          map[string]string         `toml:"pod_annotations"`
	NodeSelector                            map[string]string         `toml:"node_selector"`
	NodeTolerations                         map[string]string         `toml:"node_tolerations"`
	Affinity                                *Affinity                 `toml:"affinity"`
	PodSecurityContext                      *PodSecurityContext       `toml:"pod_security_context"`
	BuildContainerSecurityContext           *ContainerSecurityContext `toml:"build_container_security_context"`
	HelperContainerSecurityContext          *ContainerSecurityContext `toml:"helper_container_security_context"`
	InitPermissionsContainerSecurityContext *ContainerSecurityContext `toml:"init_permissions_container_security_context"`
	ServiceContainerSecurityContext         *ContainerSecurityContext `toml:"service_container_security_context"`
	Volumes                                 *Volumes                  `toml:"volumes"`
	PodSpec                                 []PodSpecPatch            `toml:"pod_spec"`
}

// PodSpecPatch is one [[runners.kubernetes.pod_spec]]: a patch of the generated PodSpec, applied in order when
// FF_USE_ADVANCED_POD_SPEC_CONFIGURATION is on (executors/kubernetes applyPodSpecMerge). Jobs cannot send any.
type PodSpecPatch struct {
	Name      string `toml:"name"`
	Patch     string `toml:"patch"`
	PatchType string `toml:"patch_type"`
}

// Volumes is [runners.kubernetes.volumes]: the kinds the chart renders (common/config.go KubernetesVolumes).
type Volumes struct {
	ConfigMaps []ConfigMapVolume `toml:"config_map"`
	EmptyDirs  []EmptyDirVolume  `toml:"empty_dir"`
}

// ConfigMapVolume is one [[runners.kubernetes.volumes.config_map]]: the volume and the ConfigMap share the name.
type ConfigMapVolume struct {
	Name      string            `toml:"name"`
	MountPath string            `toml:"mount_path"`
	ReadOnly  bool              `toml:"read_only"`
	Items     map[string]string `toml:"items"`
}

// EmptyDirVolume is one [[runners.kubernetes.volumes.empty_dir]].
type EmptyDirVolume struct {
	Name      string `toml:"name"`
	MountPath string `toml:"mount_path"`
	Medium    string `toml:"medium"`
	SizeLimit string `toml:"size_limit"`
}

// Affinity is [runners.kubernetes.affinity] (node affinity only; the chart renders nothing else).
type Affinity struct {
	NodeAffinity *struct {
		Required *struct {
			NodeSelectorTerms []struct {
				MatchExpressions []NodeSelectorRequirement `toml:"match_expressions"`
			} `toml:"node_selector_terms"`
		} `toml:"required_during_scheduling_ignored_during_execution"`
	} `toml:"node_affinity"`
}

// NodeSelectorRequirement is one match expression.
type NodeSelectorRequirement struct {
	Key      string   `toml:"key"`
	Operator string   `toml:"operator"`
	Values   []string `toml:"values"`
}

// PodSecurityContext is [runners.kubernetes.pod_security_context].
type PodSecurityContext struct {
	FSGroup        *int64          `toml:"fs_group"`
	RunAsGroup     *int64          `toml:"run_as_group"`
	RunAsNonRoot   *bool           `toml:"run_as_non_root"`
	RunAsUser      *int64          `toml:"run_as_user"`
	SeccompProfile *SeccompProfile `toml:"seccomp_profile"`
}

// SeccompProfile is a seccomp_profile table.
type SeccompProfile struct {
	Type             string `toml:"type"`
	LocalhostProfile string `toml:"localhost_profile"`
}

// ContainerSecurityContext is a *_container_security_context table.
type ContainerSecurityContext struct {
	Capabilities             *Capabilities   `toml:"capabilities"`
	Privileged               *bool           `toml:"privileged"`
	RunAsUser                *int64          `toml:"run_as_user"`
	RunAsGroup               *int64          `toml:"run_as_group"`
	RunAsNonRoot             *bool           `toml:"run_as_non_root"`
	ReadOnlyRootFilesystem   *bool           `toml:"read_only_root_filesystem"`
	AllowPrivilegeEscalation *bool           `toml:"allow_privilege_escalation"`
	SeccompProfile           *SeccompProfile `toml:"seccomp_profile"`
}

// Capabilities is a capabilities table. nil slices mean "not set" (the global list applies); an empty slice
// replaces the global list, exactly as the runner's mergeCapabilitiesAddDrop does.
type Capabilities struct {
	Add  []string `toml:"add"`
	Drop []string `toml:"drop"`
}

// Parse decodes config.toml strictly. The tenant chart renders one [[runners]] section, or one per runner profile,
// each with its own name: none, or two with one name, is an error here, so no caller indexes an empty list and a
// runner is found by its name.
func Parse(data []byte) (*Config, error) {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return nil, fmt.Errorf("config.toml has keys the runner model does not know:\n%s", sm.String())
		}
		return nil, fmt.Errorf("config.toml: %w", err)
	}
	if len(c.Runners) == 0 {
		return nil, fmt.Errorf("config.toml has no [[runners]] section")
	}
	seen := map[string]bool{}
	for _, r := range c.Runners {
		if seen[r.Name] {
			return nil, fmt.Errorf("config.toml has two [[runners]] named %q", r.Name)
		}
		seen[r.Name] = true
	}
	return &c, nil
}
