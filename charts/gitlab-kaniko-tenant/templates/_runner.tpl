{{/*
The runner version the chart renders for, and what depends on it. The manager image tag names the version
(alpine-v19.4.1 → 19.4); config.toml keys and feature flags are verified per supported minor version:
  - 17.9: the gitlab-runner v17.9.3 source tarball (helpers/featureflags/flags.go, common/config.go), checked by
    `make runner-keys`;
  - 19.4: the chart's default; the 19.4.0 source the Go proxy serves (versions.RunnerModule19_4), checked by
    `make test` (TestFeatureFlagTablesMatchTheRunnerSources).
*/}}

{{/* "19.4" from runner.image.tag; fails when the tag names no version or an unsupported one. */}}
{{- define "gitlab-kaniko-tenant.runnerMinor" -}}
{{- $m := regexFind "v?[0-9]+\\.[0-9]+\\.[0-9]+" .Values.runner.image.tag -}}
{{- if not $m -}}
{{- fail (printf "runner.image.tag=%q names no runner version (vX.Y.Z): the chart renders config.toml keys and feature flags per runner version; use a tag such as alpine-v19.4.1" .Values.runner.image.tag) -}}
{{- end -}}
{{- $parts := splitList "." (trimPrefix "v" $m) -}}
{{- $minor := printf "%s.%s" (index $parts 0) (index $parts 1) -}}
{{- if not (hasKey (include "gitlab-kaniko-tenant.knownFeatureFlags" . | fromJson) $minor) -}}
{{- fail (printf "runner.image.tag=%q is gitlab-runner %s, which this chart does not support (17.9, 19.4): its config.toml keys and feature flags are unverified" .Values.runner.image.tag $minor) -}}
{{- end -}}
{{- $minor -}}
{{- end -}}

{{/* Every feature flag name of each supported runner minor version. The runner ignores unknown names silently. */}}
{{- define "gitlab-kaniko-tenant.knownFeatureFlags" -}}
{{- toJson (dict
  "17.9" (list "FF_NETWORK_PER_BUILD" "FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY" "FF_USE_DIRECT_DOWNLOAD" "FF_SKIP_NOOP_BUILD_STAGES" "FF_USE_FASTZIP" "FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR" "FF_ENABLE_BASH_EXIT_CODE_CHECK" "FF_USE_WINDOWS_LEGACY_PROCESS_STRATEGY" "FF_USE_NEW_BASH_EVAL_STRATEGY" "FF_USE_POWERSHELL_PATH_RESOLVER" "FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL" "FF_SCRIPT_SECTIONS" "FF_ENABLE_JOB_CLEANUP" "FF_KUBERNETES_HONOR_ENTRYPOINT" "FF_POSIXLY_CORRECT_ESCAPES" "FF_RESOLVE_FULL_TLS_CHAIN" "FF_DISABLE_POWERSHELL_STDIN" "FF_USE_POD_ACTIVE_DEADLINE_SECONDS" "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION" "FF_SET_PERMISSIONS_BEFORE_CLEANUP" "FF_SECRET_RESOLVING_FAILS_IF_MISSING" "FF_RETRIEVE_POD_WARNING_EVENTS" "FF_PRINT_POD_EVENTS" "FF_USE_GIT_BUNDLE_URIS" "FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR" "FF_USE_INIT_WITH_DOCKER_EXECUTOR" "FF_LOG_IMAGES_CONFIGURED_FOR_JOB" "FF_USE_DOCKER_AUTOSCALER_DIAL_STDIO" "FF_CLEAN_UP_FAILED_CACHE_EXTRACT" "FF_USE_WINDOWS_JOB_OBJECT" "FF_TIMESTAMPS" "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION" "FF_USE_LEGACY_GCS_CACHE_ADAPTER" "FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR" "FF_USE_LEGACY_S3_CACHE_ADAPTER" "FF_GIT_URLS_WITHOUT_TOKENS" "FF_WAIT_FOR_POD_TO_BE_REACHABLE" "FF_USE_NATIVE_STEPS" "FF_MASK_ALL_DEFAULT_TOKENS" "FF_EXPORT_HIGH_CARDINALITY_METRICS" "FF_USE_FLEETING_ACQUIRE_HEARTBEATS")
  "19.4" (list "FF_NETWORK_PER_BUILD" "FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY" "FF_USE_DIRECT_DOWNLOAD" "FF_USE_FASTZIP" "FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR" "FF_ENABLE_BASH_EXIT_CODE_CHECK" "FF_USE_WINDOWS_LEGACY_PROCESS_STRATEGY" "FF_USE_LEGACY_BASH_EVAL" "FF_USE_POWERSHELL_PATH_RESOLVER" "FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL" "FF_SCRIPT_SECTIONS" "FF_ENABLE_JOB_CLEANUP" "FF_KUBERNETES_HONOR_ENTRYPOINT" "FF_POSIXLY_CORRECT_ESCAPES" "FF_RESOLVE_FULL_TLS_CHAIN" "FF_DISABLE_POWERSHELL_STDIN" "FF_USE_POD_ACTIVE_DEADLINE_SECONDS" "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION" "FF_SECRET_RESOLVING_FAILS_IF_MISSING" "FF_PRINT_POD_EVENTS" "FF_USE_GIT_BUNDLE_URIS" "FF_USE_GIT_NATIVE_CLONE" "FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR" "FF_USE_INIT_WITH_DOCKER_EXECUTOR" "FF_LOG_IMAGES_CONFIGURED_FOR_JOB" "FF_USE_DOCKER_AUTOSCALER_DIAL_STDIO" "FF_CLEAN_UP_FAILED_CACHE_EXTRACT" "FF_USE_WINDOWS_JOB_OBJECT" "FF_TIMESTAMPS" "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION" "FF_USE_LEGACY_GCS_CACHE_ADAPTER" "FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR" "FF_USE_LEGACY_S3_CACHE_ADAPTER" "FF_GIT_URLS_WITHOUT_TOKENS" "FF_WAIT_FOR_POD_TO_BE_REACHABLE" "FF_MASK_ALL_DEFAULT_TOKENS" "FF_EXPORT_HIGH_CARDINALITY_METRICS" "FF_USE_FLEETING_ACQUIRE_HEARTBEATS" "FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY" "FF_USE_ADAPTIVE_REQUEST_CONCURRENCY" "FF_USE_GITALY_CORRELATION_ID" "FF_USE_GIT_PROACTIVE_AUTH" "FF_HASH_CACHE_KEYS" "FF_ENABLE_JOB_INPUTS_INTERPOLATION" "FF_USE_JOB_ROUTER" "FF_SCRIPT_TO_STEP_MIGRATION" "FF_USE_PARALLEL_CACHE_TRANSFER" "FF_USE_PARALLEL_ARTIFACT_TRANSFER" "FF_CONCRETE" "FF_SUSPENDABLE_ENVIRONMENTS" "FF_USE_NATIVE_CONTAINER_STOP")
) -}}
{{- end -}}

{{/*
Feature flags the chart pins, with their safe value. A flag that [runners.feature_flags] does not set is decided by
the job's own variables (common/build_settings.go populateFeatureFlags), so each flag that changes the pod, the exec
strategy, cleanup, deadlines or what the trace masks is set here, and a job cannot switch it. Values may not set
them to anything else (see _validate.tpl). Returns {flag: {value, reason}} for the rendered runner version.
*/}}
{{- define "gitlab-kaniko-tenant.pinnedFeatureFlags" -}}
{{- $minor := include "gitlab-kaniko-tenant.runnerMinor" . -}}
{{- $known := get (include "gitlab-kaniko-tenant.knownFeatureFlags" . | fromJson) $minor -}}
{{- $pins := dict
  "FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY" (dict "value" false "reason" "attach strategy: the pod shape, RBAC (pods/attach create) and cleanup the chart is built for")
  "FF_USE_POD_ACTIVE_DEADLINE_SECONDS" (dict "value" true "reason" "the kubelet ends the pod at the job timeout, even when the manager is gone")
  "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION" (dict "value" (or (eq $minor "17.9") .Values.jobs.userNamespaces) "reason" "only config.toml pod_spec patches exist (jobs cannot send any): the user namespace (jobs.userNamespaces) and, on 17.9, the seccomp profile are patches")
  "FF_KUBERNETES_HONOR_ENTRYPOINT" (dict "value" false "reason" "an image entrypoint would run before the job script and needs pods/log reads the Role does not grant")
  "FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR" (dict "value" false "reason" "changes the build command; the helper image is not checked for dumb-init")
  "FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR" (dict "value" false "reason" "adds an init container that the quota and Pod Security checks do not count")
  "FF_WAIT_FOR_POD_TO_BE_REACHABLE" (dict "value" false "reason" "changes how long a starting pod may take, outside poll_timeout")
  "FF_PRINT_POD_EVENTS" (dict "value" false "reason" "would watch events, which the Role does not grant: jobs would fail")
  "FF_USE_LEGACY_S3_CACHE_ADAPTER" (dict "value" false "reason" "the [runners.cache] settings are for the current S3 adapter")
  "FF_MASK_ALL_DEFAULT_TOKENS" (dict "value" true "reason" "a job must not unmask tokens in its own trace")
  "FF_SECRET_RESOLVING_FAILS_IF_MISSING" (dict "value" true "reason" "a missing secret fails the job instead of running without it")
  "FF_SET_PERMISSIONS_BEFORE_CLEANUP" (dict "value" true "reason" "cleanup can remove what the root build container left")
  "FF_ENABLE_JOB_CLEANUP" (dict "value" false "reason" "cleanup is the pod's deletion; the chart's cleanup bounds assume it")
  "FF_CONCRETE" (dict "value" false "reason" "a different build entrypoint that reads pods/log")
  "FF_SUSPENDABLE_ENVIRONMENTS" (dict "value" false "reason" "creates namespaces, ConfigMaps and PVCs the Role does not grant")
  "FF_SCRIPT_TO_STEP_MIGRATION" (dict "value" false "reason" "runs the job's script through the step-runner: another exec path")
-}}
{{- $out := dict -}}
{{- range $k, $p := $pins -}}
{{- if has $k $known -}}
{{- $_ := set $out $k $p -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
