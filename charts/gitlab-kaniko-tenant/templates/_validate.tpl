{{/*
Cross-field rules the JSON schema cannot express. Each failure names the key and the fix. Rendered from
configmap.yaml so that every install, upgrade, template and lint runs them.
*/}}
{{- define "gitlab-kaniko-tenant.validate" -}}
{{- $v := .Values -}}
{{- $tenant := include "gitlab-kaniko-tenant.tenant" . -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $tenant) -}}
{{- fail (printf "tenant.name: %q is not a DNS-1123 label; set tenant.name to the tenant's name (lowercase letters, digits, '-')" $tenant) -}}
{{- end -}}
{{- if and (eq $v.mode "shared") (not $v.tenant.name) -}}
{{- fail "tenant.name is required in shared mode: several tenants share the namespace, so the namespace name cannot identify the tenant" -}}
{{- end -}}
{{- if and (eq $v.mode "daemonset") (gt (int $v.runner.replicas) 1) -}}
{{- fail (printf "runner.replicas=%d has no meaning in daemonset mode (one manager per node of the tenant's node group); remove it or use mode=namespace" (int $v.runner.replicas)) -}}
{{- end -}}
{{- if and (eq $v.mode "shared") (not $v.nodePinning.enabled) -}}
{{- fail "nodePinning.enabled=false in shared mode would let this tenant's jobs run on any node, next to other tenants' jobs: the namespace, its RBAC and its quota are shared, so the node taints are the only boundary left; keep node pinning on" -}}
{{- end -}}
{{- if and (eq $v.mode "daemonset") (not $v.nodePinning.enabled) -}}
{{- fail "nodePinning.enabled=false in daemonset mode would start a manager on every node of the cluster; keep node pinning on" -}}
{{- end -}}
{{- if and (eq $v.runner.logLevel "debug") (not $v.runner.acknowledgeDebugLogExposesSecrets) -}}
{{- fail "runner.logLevel=debug writes the runner token and the S3 secret key into the manager's log in plain text, where anyone with pods/log in the namespace (Kubernetes' view role has it) can read them; use info, or set runner.acknowledgeDebugLogExposesSecrets=true and rotate both afterwards" -}}
{{- end -}}
{{- /* feature flags: known to the runner version, and never against a pin */ -}}
{{- $minor := include "gitlab-kaniko-tenant.runnerMinor" . -}}
{{- $known := get (include "gitlab-kaniko-tenant.knownFeatureFlags" . | fromJson) $minor -}}
{{- $pins := include "gitlab-kaniko-tenant.pinnedFeatureFlags" . | fromJson -}}
{{- range $k, $val := $v.runner.featureFlags -}}
{{- if not (has $k $known) -}}
{{- fail (printf "runner.featureFlags.%s is not a feature flag of gitlab-runner %s (the runner would ignore it without a word; FF_RETRIEVE_POD_WARNING_EVENTS was removed in 18.0)." $k $minor) -}}
{{- end -}}
{{- with (get $pins $k) -}}
{{- if ne (toString .value) (toString $val) -}}
{{- fail (printf "runner.featureFlags.%s=%s would undo a guard the chart pins to %v: %s" $k $val .value .reason) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* the helper must be the runner's own version, and x86_64 is the only helper flavour the chart renders */ -}}
{{- $runnerVersion := regexFind "[0-9]+\\.[0-9]+\\.[0-9]+" $v.runner.image.tag -}}
{{- if not (contains (printf "v%s" $runnerVersion) $v.jobs.helper.image.tag) -}}
{{- fail (printf "jobs.helper.image.tag=%q is not the helper of runner %s (runner.image.tag=%q); the helper must match the runner exactly, e.g. x86_64-v%s" $v.jobs.helper.image.tag $runnerVersion $v.runner.image.tag $runnerVersion) -}}
{{- end -}}
{{- $archs := list -}}
{{- with (index $v.nodePinning.nodeSelector "kubernetes.io/arch") -}}{{- $archs = append $archs . -}}{{- end -}}
{{- range $v.nodePinning.affinityExpressions -}}
{{- if and (eq .key "kubernetes.io/arch") (eq .operator "In") -}}{{- $archs = concat $archs (.values | default list) -}}{{- end -}}
{{- end -}}
{{- range $archs -}}
{{- if ne . "amd64" -}}
{{- fail (printf "nodePinning pins kubernetes.io/arch=%s, but the helper image is the x86_64 flavour (jobs.helper.image.tag=%s) and would not start there; the chart supports amd64 nodes only for now" . $v.jobs.helper.image.tag) -}}
{{- end -}}
{{- end -}}
{{- if gt (int $v.runner.limit) (int $v.runner.concurrent) -}}
{{- fail (printf "runner.limit (%d) is above runner.concurrent (%d): the runner never runs more than concurrent jobs; lower runner.limit" (int $v.runner.limit) (int $v.runner.concurrent)) -}}
{{- end -}}
{{- /* requests <= limits, for every container the chart controls */ -}}
{{- $sets := dict "jobs.resources" $v.jobs.resources "jobs.helper.resources" $v.jobs.helper.resources "runner.resources" $v.runner.resources "layerCache.tenantRegistry.resources" $v.layerCache.tenantRegistry.resources -}}
{{- range $name, $r := $sets -}}
{{- range $res := list "cpu" "memory" "ephemeral-storage" -}}
{{- $req := index $r.requests $res -}}
{{- $lim := index $r.limits $res -}}
{{- if gt (include "gitlab-kaniko-tenant.milli" $req | int64) (include "gitlab-kaniko-tenant.milli" $lim | int64) -}}
{{- fail (printf "%s.requests.%s (%v) is above %s.limits.%s (%v); a request can never exceed its limit" $name $res $req $name $res $lim) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* overwrite caps: a cap below the default would make the default itself refused */ -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $res, $cap := index $v.jobs.overwriteMaxAllowed $kind -}}
{{- $base := index (index $v.jobs.resources $kind) $res -}}
{{- if lt (include "gitlab-kaniko-tenant.milli" $cap | int64) (include "gitlab-kaniko-tenant.milli" $base | int64) -}}
{{- fail (printf "jobs.overwriteMaxAllowed.%s.%s (%v) is below jobs.resources.%s.%s (%v); the cap must be at least the default" $kind $res $cap $kind $res $base) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.layerCache.mode "tenantRegistry") (not $v.s3.enabled) -}}
{{- fail "layerCache.mode=tenantRegistry stores layers in the tenant bucket but s3.enabled=false; enable s3 or choose layerCache.mode external/off" -}}
{{- end -}}
{{- if and $v.runnerCache.enabled (not $v.s3.enabled) -}}
{{- fail "runnerCache.enabled=true needs the tenant bucket but s3.enabled=false; enable s3 or set runnerCache.enabled=false" -}}
{{- end -}}
{{- if eq $v.layerCache.mode "external" -}}
{{- if not $v.layerCache.external.repository -}}
{{- fail "layerCache.mode=external needs layerCache.external.repository (e.g. registry.example.com/cache/<tenant>)" -}}
{{- end -}}
{{- if not $v.layerCache.external.egress.to -}}
{{- fail "layerCache.mode=external needs layerCache.external.egress.to: job pods are denied every destination that is not listed" -}}
{{- end -}}
{{- end -}}
{{- if and $v.destinationRegistry.host (not $v.destinationRegistry.egress.to) $v.networkPolicy.enabled -}}
{{- fail (printf "destinationRegistry.host=%s but destinationRegistry.egress.to is empty: job pods could not push; list the registry's peers" $v.destinationRegistry.host) -}}
{{- end -}}
{{- if and $v.s3.enabled (not $v.s3.tls) (not (regexMatch "\\.svc(\\.cluster\\.local)?(:[0-9]+)?$" $v.s3.endpoint)) -}}
{{- fail (printf "s3.tls=false would send cache traffic to %s over plain HTTP; plain HTTP is accepted only for in-cluster endpoints (*.svc, *.svc.cluster.local). Set s3.tls=true" $v.s3.endpoint) -}}
{{- end -}}
{{- /* values the chart would otherwise override without a word */ -}}
{{- $ownLabels := list (include "gitlab-kaniko-tenant.tenantLabelKey" .) (include "gitlab-kaniko-tenant.componentLabelKey" .) "app.kubernetes.io/part-of" "app.kubernetes.io/instance" -}}
{{- range $k, $_ := $v.jobs.podLabels -}}
{{- if has $k $ownLabels -}}
{{- fail (printf "jobs.podLabels.%s is set by the chart on every job pod (it carries the tenant for the NetworkPolicies); remove it from jobs.podLabels" $k) -}}
{{- end -}}
{{- end -}}
{{- if and $v.nodePinning.enabled (hasKey $v.nodePinning.nodeSelector $v.nodePinning.labelKey) -}}
{{- fail (printf "nodePinning.nodeSelector.%s is the tenant's own pinning label, which the chart sets to %q; remove it (to pin elsewhere, change nodePinning.labelKey)" $v.nodePinning.labelKey $tenant) -}}
{{- end -}}
{{- $chartEnv := list "GKT_TENANT" "GKT_PROFILE" "KANIKO_CACHE_REPO" "KANIKO_INSECURE_REGISTRIES" "KANIKO_DESTINATION_REGISTRY" "KANIKO_CACHE_ENABLED" -}}
{{- range $i, $e := $v.extraJobEnvironment -}}
{{- if has (regexReplaceAll "=.*$" $e "") $chartEnv -}}
{{- fail (printf "extraJobEnvironment[%d] sets %s, which the chart sets from the tenant's values (a later entry would win in the runner); change the value it comes from instead" $i (regexReplaceAll "=.*$" $e "")) -}}
{{- end -}}
{{- end -}}
{{- /* allowlists that leave nothing out */ -}}
{{- range $list := list (dict "key" "jobs.allowedImages" "items" $v.jobs.allowedImages) (dict "key" "jobs.allowedServices" "items" $v.jobs.allowedServices) -}}
{{- range $i, $img := $list.items -}}
{{- $host := regexFind "^[^/]*" $img -}}
{{- if or (contains "*" $host) (not (contains "/" $img)) (not (regexMatch "[.:]|^localhost$" $host)) -}}
{{- fail (printf "%s[%d]=%q does not name a registry host (registry.example.com/...): a pattern without one matches images from every registry, which undoes the allowlist" $list.key $i $img) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* credentials only over TLS outside the cluster */ -}}
{{- if and (hasPrefix "http://" $v.gitlab.url) (not (regexMatch `^http://[^/:]+\.svc(\.cluster\.local)?(:[0-9]+)?(/|$)` $v.gitlab.url)) -}}
{{- fail (printf "gitlab.url=%s would send the runner token and every job's token over plain HTTP; use https, or an in-cluster address (*.svc, *.svc.cluster.local)" $v.gitlab.url) -}}
{{- end -}}
{{- if eq $v.monitoring.namespace .Release.Namespace -}}
{{- fail (printf "monitoring.namespace=%s is the tenant's own namespace: every pod in it, job pods included, could scrape the manager; name the namespace of your Prometheus" $v.monitoring.namespace) -}}
{{- end -}}
{{- range $i, $e := $v.extraJobEnvironment -}}
{{- if regexMatch "(?i)^[A-Z0-9_]*(TOKEN|SECRET|PASSWORD|PASSWD|ACCESS_KEY|PRIVATE_KEY)[A-Z0-9_]*=" $e -}}
{{- fail (printf "extraJobEnvironment[%d] (%s) looks like a secret; config.toml is a ConfigMap, so secrets belong in GitLab CI variables" $i (regexReplaceAll "=.*$" $e "=…")) -}}
{{- end -}}
{{- end -}}
{{- include "gitlab-kaniko-tenant.validateProfiles" . -}}
{{- include "gitlab-kaniko-tenant.validatePlan" . -}}
{{- /* Capacity against the tenant's ResourceQuota (installed by tenant-bootstrap). Only at install time. */ -}}
{{- $quota := lookup "v1" "ResourceQuota" .Release.Namespace (printf "%s-quota" $tenant) -}}
{{- if and $quota (ne $v.mode "daemonset") -}}
{{- $hard := $quota.spec.hard | default dict -}}
{{- range $res := list "cpu" "memory" "ephemeral-storage" -}}
{{- $key := printf "limits.%s" $res -}}
{{- if hasKey $hard $key -}}
{{- $build := get (include "gitlab-kaniko-tenant.biggestJobLimits" $ | fromJson) $res -}}
{{- $perJob := add (include "gitlab-kaniko-tenant.milli" $build.q | int64) (include "gitlab-kaniko-tenant.milli" (index $v.jobs.helper.resources.limits $res) | int64) -}}
{{- /* concurrent applies to each manager; limit (or the profiles' limits) caps it; a surge rollout runs the old and the new managers at once */ -}}
{{- $perManager := include "gitlab-kaniko-tenant.jobsPerManager" $ | int -}}
{{- $managers := mul (int $v.runner.replicas) (ternary 2 1 (eq $v.runner.rollout "surge")) -}}
{{- $need := mul $perJob (mul $perManager $managers) -}}
{{- if gt $need (include "gitlab-kaniko-tenant.milli" (index $hard $key) | int64) -}}
{{- fail (printf "%d managers (runner.replicas=%d, x2 during a runner.rollout=%s upgrade) x %d jobs each (runner.concurrent/limit%s) x per-job %s limits (build %v from %s + helper %v) exceeds the namespace quota %s=%v, so jobs would fail with \"exceeded quota\"; lower runner.concurrent or the job limits, use runner.rollout=recreate, or raise the quota in tenant-bootstrap (rollout: surge sizes it for this)" $managers (int $v.runner.replicas) $v.runner.rollout $perManager (ternary ", profiles' limits" "" (not (empty $v.profiles))) $res $build.q $build.key (index $v.jobs.helper.resources.limits $res) $key (index $hard $key)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "gitlab-kaniko-tenant.validatePeers" . -}}
{{- end -}}

{{/*
The install plan, at install time: tenant-bootstrap sizes each namespace's ResourceQuota from its tenants and writes
the plan on it (annotation gitlab-kaniko-tenant.io/plan). This release must be the mode the plan gives the tenant,
in the namespace it gives (its own, or the shared one), and run no more and no bigger jobs than the quota holds
room for. In shared mode the quota is one for all tenants of the namespace, so its `hard` cannot tell one tenant's
share: the plan can. Nothing is looked up in `helm template` and GitOps renders (docs/operations.md).
*/}}
{{- define "gitlab-kaniko-tenant.validatePlan" -}}
{{- $v := .Values -}}
{{- $tenant := include "gitlab-kaniko-tenant.tenant" . -}}
{{- $ns := .Release.Namespace -}}
{{- $own := lookup "v1" "ResourceQuota" $ns (printf "%s-quota" $tenant) -}}
{{- $shared := lookup "v1" "ResourceQuota" $ns "shared-quota" -}}
{{- if and (eq $v.mode "shared") $own -}}
{{- fail (printf "mode=shared, but namespace %s is tenant %s's own (tenant-bootstrap's ResourceQuota %s-quota): install with mode=namespace here, or give the tenant mode shared in tenant-bootstrap and install into its shared namespace" $ns $tenant $tenant) -}}
{{- end -}}
{{- if and (ne $v.mode "shared") $shared -}}
{{- fail (printf "mode=%s, but namespace %s is tenant-bootstrap's shared namespace (ResourceQuota shared-quota): its quota, LimitRange and Pod Security are every tenant's, so the isolation of mode %s does not hold here; use mode=shared, or install into the tenant's own namespace" $v.mode $ns $v.mode) -}}
{{- end -}}
{{- $quota := $own | default $shared -}}
{{- $raw := "" -}}
{{- if $quota -}}{{- $raw = dig "metadata" "annotations" "gitlab-kaniko-tenant.io/plan" "" $quota -}}{{- end -}}
{{- if $raw -}}
{{- $plan := fromJson $raw -}}
{{- if not (hasKey $plan $tenant) -}}
{{- fail (printf "namespace %s's quota was planned for tenants %s, not for %s: set tenant.name to one of them, or add the tenant to tenant-bootstrap" $ns (keys $plan | sortAlpha | join ", ") $tenant) -}}
{{- end -}}
{{- $p := get $plan $tenant -}}
{{- if ne $p.mode $v.mode -}}
{{- fail (printf "mode=%s, but tenant-bootstrap plans tenant %s as mode %s: its quota, namespace and node pool were sized for that mode; set the same mode in both charts" $v.mode $tenant $p.mode) -}}
{{- end -}}
{{- $perManager := include "gitlab-kaniko-tenant.jobsPerManager" . | int -}}
{{- if eq $v.mode "daemonset" -}}
{{- if gt $perManager (int $p.concurrency) -}}
{{- fail (printf "runner.concurrent/limit=%d jobs per node, but tenant-bootstrap planned concurrency %d per node for tenant %s (the quota holds %d nodes x %d jobs); lower runner.concurrent or raise tenants.%s.concurrency" $perManager (int $p.concurrency) $tenant (int $p.nodes) (int $p.concurrency) $tenant) -}}
{{- end -}}
{{- else -}}
{{- $jobs := mul $perManager (int $v.runner.replicas) -}}
{{- if gt $jobs (int $p.concurrency) -}}
{{- fail (printf "runner.replicas=%d x runner.concurrent/limit=%d = %d jobs, but tenant-bootstrap planned concurrency %d for tenant %s, and the quota of namespace %s holds room for that; lower runner.concurrent or raise tenants.%s.concurrency" (int $v.runner.replicas) $perManager $jobs (int $p.concurrency) $tenant $ns $tenant) -}}
{{- end -}}
{{- if and (eq $v.runner.rollout "surge") (ne $p.rollout "surge") -}}
{{- fail (printf "runner.rollout=surge runs the draining managers' jobs beside the new managers' jobs, but tenant-bootstrap sized tenant %s's quota for rollout %s (1 x concurrency); set runner.rollout=%s or tenants.%s.rollout=surge" $tenant $p.rollout $p.rollout $tenant) -}}
{{- end -}}
{{- end -}}
{{- $sets := list (list "jobs.helper.resources.limits" $v.jobs.helper.resources.limits $p.helper "helper") -}}
{{- range $r := include "gitlab-kaniko-tenant.runnerProfiles" . | fromJsonArray -}}
{{- $sets = prepend $sets (list (ternary (printf "profiles.%s.resources.limits" $r.name) "jobs.resources.limits" (ne $r.name "")) $r.resources.limits $p.job "job") -}}
{{- end -}}
{{- range $set := $sets -}}
{{- range $k := list "cpu" "memory" "ephemeral-storage" -}}
{{- $want := index (index $set 1) $k -}}
{{- $have := index (index $set 2) $k -}}
{{- if and $want $have (gt (include "gitlab-kaniko-tenant.milli" $want | int64) (include "gitlab-kaniko-tenant.milli" $have | int64)) -}}
{{- fail (printf "%s.%s=%v, but tenant-bootstrap sized tenant %s's quota for %v (tenants.%s.%s.limits.%s): every job would take more than its share; keep the two equal" (index $set 0) $k $want $tenant $have $tenant (index $set 3) $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
