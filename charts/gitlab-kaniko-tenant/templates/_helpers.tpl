{{/* Names ------------------------------------------------------------------------------------------------------ */}}

{{/* The tenant name: tenant.name, or the release namespace. */}}
{{- define "gitlab-kaniko-tenant.tenant" -}}
{{- default .Release.Namespace .Values.tenant.name -}}
{{- end -}}

{{/* Prefix of every object: unique per tenant, so `shared` mode never collides. */}}
{{- define "gitlab-kaniko-tenant.fullname" -}}
{{- default (include "gitlab-kaniko-tenant.tenant" .) .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.managerName" -}}
{{- printf "%s-runner" (include "gitlab-kaniko-tenant.fullname" .) -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.jobServiceAccount" -}}
{{- printf "%s-jobs" (include "gitlab-kaniko-tenant.fullname" .) -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.jobPlatformName" -}}
{{- printf "%s-job-platform" (include "gitlab-kaniko-tenant.fullname" .) -}}
{{- end -}}

{{/* Where job containers find the platform file (a literal path: the runner expands job variables in mount paths). */}}
{{- define "gitlab-kaniko-tenant.jobPlatformDir" -}}/etc/gitlab-kaniko-tenant{{- end -}}

{{- define "gitlab-kaniko-tenant.registryName" -}}
{{- printf "%s-layer-cache" (include "gitlab-kaniko-tenant.fullname" .) -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.tokenSecret" -}}
{{- default (printf "%s-runner-token" (include "gitlab-kaniko-tenant.fullname" .)) .Values.runner.token.existingSecret -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.s3Secret" -}}
{{- default (printf "%s-s3" (include "gitlab-kaniko-tenant.tenant" .)) .Values.s3.credentialsSecret -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.bucket" -}}
{{- default (printf "%s-cache" (include "gitlab-kaniko-tenant.tenant" .)) .Values.s3.bucket -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.jobNamespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* Labels ----------------------------------------------------------------------------------------------------- */}}

{{- define "gitlab-kaniko-tenant.tenantLabelKey" -}}gitlab-kaniko-tenant.io/tenant{{- end -}}
{{- define "gitlab-kaniko-tenant.componentLabelKey" -}}gitlab-kaniko-tenant.io/component{{- end -}}
{{- /* The runner profile a job pod was started for (only with `profiles`). */ -}}
{{- define "gitlab-kaniko-tenant.profileLabelKey" -}}gitlab-kaniko-tenant.io/profile{{- end -}}

{{/* Selector labels of one component: tenant + component + instance. Immutable once installed. */}}
{{- define "gitlab-kaniko-tenant.selectorLabels" -}}
app.kubernetes.io/name: gitlab-kaniko-tenant
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{ include "gitlab-kaniko-tenant.tenantLabelKey" . }}: {{ include "gitlab-kaniko-tenant.tenant" .ctx }}
{{ include "gitlab-kaniko-tenant.componentLabelKey" . }}: {{ .component }}
{{- end -}}

{{/* Labels of every object. Call with (dict "ctx" $ "component" "manager"). */}}
{{- define "gitlab-kaniko-tenant.labels" -}}
{{ include "gitlab-kaniko-tenant.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: gitlab-kaniko-tenant
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels every job pod carries (runner pod_labels). Jobs cannot overwrite them. */}}
{{- define "gitlab-kaniko-tenant.jobPodLabels" -}}
{{- $l := dict (include "gitlab-kaniko-tenant.tenantLabelKey" .) (include "gitlab-kaniko-tenant.tenant" .) (include "gitlab-kaniko-tenant.componentLabelKey" .) "job" "app.kubernetes.io/part-of" "gitlab-kaniko-tenant" "app.kubernetes.io/instance" .Release.Name -}}
{{- toJson (merge $l .Values.jobs.podLabels) -}}
{{- end -}}

{{/* Images ----------------------------------------------------------------------------------------------------- */}}

{{/* An image from {repository, tag, digest}; call with (dict "image" .Values.runner.image "ctx" $). */}}
{{- define "gitlab-kaniko-tenant.image" -}}
{{- $ref := printf "%s:%s" .image.repository .image.tag -}}
{{- if .image.digest -}}
{{- $ref = printf "%s@%s" $ref .image.digest -}}
{{- end -}}
{{- include "gitlab-kaniko-tenant.mirror" (dict "ref" $ref "ctx" .ctx) -}}
{{- end -}}

{{/* A full image reference moved to .Values.imageRegistry (registry host replaced, path/tag/digest kept). */}}
{{- define "gitlab-kaniko-tenant.mirror" -}}
{{- $mirror := .ctx.Values.imageRegistry -}}
{{- if not $mirror -}}
{{- .ref -}}
{{- else -}}
{{- $first := regexFind "^[^/]+" .ref -}}
{{- if or (contains "." $first) (contains ":" $first) (eq $first "localhost") -}}
{{- printf "%s%s" $mirror (trimPrefix $first .ref) -}}
{{- else -}}
{{- printf "%s/%s" $mirror .ref -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Placement (one place for manager and job pods) ------------------------------------------------------------- */}}

{{/* nodeSelector as a JSON map. */}}
{{- define "gitlab-kaniko-tenant.nodeSelector" -}}
{{- $p := .Values.nodePinning -}}
{{- $sel := dict -}}
{{- if and $p.enabled (ne $p.style "affinity") -}}
{{- $_ := set $sel $p.labelKey (include "gitlab-kaniko-tenant.tenant" .) -}}
{{- end -}}
{{- if $p.enabled -}}
{{- $sel = merge $sel $p.nodeSelector -}}
{{- end -}}
{{- toJson $sel -}}
{{- end -}}

{{/* Required node-affinity match expressions as a JSON list (empty when none). */}}
{{- define "gitlab-kaniko-tenant.affinityExpressions" -}}
{{- $p := .Values.nodePinning -}}
{{- $exprs := list -}}
{{- if $p.enabled -}}
{{- if ne $p.style "nodeSelector" -}}
{{- $exprs = append $exprs (dict "key" $p.labelKey "operator" "In" "values" (list (include "gitlab-kaniko-tenant.tenant" .))) -}}
{{- end -}}
{{- $exprs = concat $exprs $p.affinityExpressions -}}
{{- end -}}
{{- toJson $exprs -}}
{{- end -}}

{{/* Tolerations as a JSON list. */}}
{{- define "gitlab-kaniko-tenant.tolerations" -}}
{{- $p := .Values.nodePinning -}}
{{- $t := list -}}
{{- if $p.enabled -}}
{{- $t = append $t (dict "key" $p.taintKey "operator" "Equal" "value" (include "gitlab-kaniko-tenant.tenant" .) "effect" "NoSchedule") -}}
{{- $t = concat $t $p.tolerations -}}
{{- end -}}
{{- toJson $t -}}
{{- end -}}

{{/* Pod placement block for the manager pods. */}}
{{- define "gitlab-kaniko-tenant.podPlacement" -}}
{{- $sel := include "gitlab-kaniko-tenant.nodeSelector" . | fromJson -}}
{{- $exprs := include "gitlab-kaniko-tenant.affinityExpressions" . | fromJsonArray -}}
{{- $tol := include "gitlab-kaniko-tenant.tolerations" . | fromJsonArray -}}
{{- with $sel }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $exprs }}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            {{- toYaml . | nindent 12 }}
{{- end }}
{{- with $tol }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Quantities (for cross-field checks) ------------------------------------------------------------------------ */}}

{{/* A Kubernetes quantity in milli-units as an integer string: "500m" -> 500, "2" -> 2000, "1Gi" -> 1073741824000. */}}
{{- define "gitlab-kaniko-tenant.milli" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- $f := dict "m" 0.001 "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 -}}
{{- if or (not $num) (not (hasKey $f $suffix)) -}}
{{- fail (printf "%q is not a Kubernetes quantity" $q) -}}
{{- end -}}
{{- mulf (float64 $num) (get $f $suffix) 1000.0 | floor | int64 -}}
{{- end -}}

{{/* TOML ------------------------------------------------------------------------------------------------------- */}}

{{/* A TOML basic string (JSON string escaping is valid TOML). */}}
{{- define "gitlab-kaniko-tenant.tomlString" -}}
{{- toJson (toString .) -}}
{{- end -}}

{{/* A TOML array of strings. */}}
{{- define "gitlab-kaniko-tenant.tomlStrings" -}}
{{- $out := list -}}
{{- range . }}{{ $out = append $out (toJson (toString .)) }}{{ end -}}
[{{ join ", " $out }}]
{{- end -}}

{{/* Endpoints -------------------------------------------------------------------------------------------------- */}}

{{- define "gitlab-kaniko-tenant.registryHost" -}}
{{- printf "%s.%s.svc:5000" (include "gitlab-kaniko-tenant.registryName" .) .Release.Namespace -}}
{{- end -}}

{{/* Layer-cache repository Kaniko uses (`--cache-repo`), empty when off. */}}
{{- define "gitlab-kaniko-tenant.cacheRepo" -}}
{{- if eq .Values.layerCache.mode "tenantRegistry" -}}
{{- printf "%s/%s/cache" (include "gitlab-kaniko-tenant.registryHost" .) (include "gitlab-kaniko-tenant.tenant" .) -}}
{{- else if eq .Values.layerCache.mode "external" -}}
{{- .Values.layerCache.external.repository -}}
{{- end -}}
{{- end -}}

{{/* Registries Kaniko may talk to over plain HTTP, comma separated. */}}
{{- define "gitlab-kaniko-tenant.insecureRegistries" -}}
{{- $r := list -}}
{{- if eq .Values.layerCache.mode "tenantRegistry" -}}{{- $r = append $r (include "gitlab-kaniko-tenant.registryHost" .) -}}{{- end -}}
{{- if and (eq .Values.layerCache.mode "external") .Values.layerCache.external.insecure -}}{{- $r = append $r (regexReplaceAll "/.*$" .Values.layerCache.external.repository "") -}}{{- end -}}
{{- if and .Values.destinationRegistry.insecure .Values.destinationRegistry.host -}}{{- $r = append $r .Values.destinationRegistry.host -}}{{- end -}}
{{- join "," (uniq $r) -}}
{{- end -}}

{{/* The platform file of job pods: shell assignments, single-quoted (the schemas forbid quotes in these values). */}}
{{- define "gitlab-kaniko-tenant.platformEnv" -}}
GKT_PLATFORM_TENANT='{{ include "gitlab-kaniko-tenant.tenant" . }}'
GKT_PLATFORM_CACHE_REPO='{{ include "gitlab-kaniko-tenant.cacheRepo" . }}'
GKT_PLATFORM_INSECURE_REGISTRIES='{{ include "gitlab-kaniko-tenant.insecureRegistries" . }}'
GKT_PLATFORM_DESTINATION_REGISTRY='{{ .Values.destinationRegistry.host }}'
{{- end -}}

{{/* NetworkPolicy building blocks ----------------------------------------------------------------------------- */}}

{{/* One egress rule: call with (dict "to" $peers "ports" $ports "protocol" "TCP"). */}}
{{- define "gitlab-kaniko-tenant.egressRule" -}}
- to:
    {{- toYaml .to | nindent 4 }}
  ports:
    {{- range .ports }}
    - protocol: {{ $.protocol | default "TCP" }}
      port: {{ . }}
    {{- end }}
{{- end -}}

{{/*
Namespace selector terms that no tenant namespace matches: tenant-bootstrap labels every tenant namespace (tenant or
shared), and tenants cannot label namespaces. Added to every peer chosen by name (monitoring, DNS), so a value
naming a tenant's namespace opens nothing.
*/}}
{{- define "gitlab-kaniko-tenant.notATenantNamespace" -}}
matchExpressions:
  - {key: {{ include "gitlab-kaniko-tenant.tenantLabelKey" . }}, operator: DoesNotExist}
  - {key: gitlab-kaniko-tenant.io/shared, operator: DoesNotExist}
{{- end -}}

{{/* DNS egress: only the cluster DNS pods in their namespace, never port 53 to anywhere. */}}
{{- define "gitlab-kaniko-tenant.dnsEgressRule" -}}
- to:
    - namespaceSelector:
        {{- include "gitlab-kaniko-tenant.notATenantNamespace" . | nindent 8 }}
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.dns.podLabels | nindent 10 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end -}}

{{/*
API server peers: kubernetesApi.egress.to, else the endpoints of default/kubernetes looked up at install time. A render
without a cluster (helm template, --dry-run, Argo CD) cannot look them up: it fails naming the value to set, unless
kubernetesApi.egress.allowAnyAddressFallback accepts 0.0.0.0/0 on the API ports, or the CiliumNetworkPolicy
(kubernetesApi.cilium) selects the API server by identity (then: no address rule, an empty list). `required` (not `fail`) so that
`helm lint` only reports it.
*/}}
{{- define "gitlab-kaniko-tenant.apiServerPeers" -}}
{{- $peers := .Values.kubernetesApi.egress.to -}}
{{- if not $peers -}}
{{- $slice := lookup "discovery.k8s.io/v1" "EndpointSlice" "default" "kubernetes" -}}
{{- range ($slice.endpoints | default list) -}}
{{- range .addresses -}}
{{- $peers = append $peers (dict "ipBlock" (dict "cidr" (printf "%s/%s" . (ternary "128" "32" (contains ":" .))))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not $peers) (include "gitlab-kaniko-tenant.ciliumPolicy" .) -}}
{{- /* on Cilium the CiliumNetworkPolicy reaches the API server by identity: no address rule is rendered */ -}}
{{- toJson list -}}
{{- else -}}
{{- if not $peers -}}
{{- if not .Values.kubernetesApi.egress.allowAnyAddressFallback -}}
{{- $_ := required "kubernetesApi.egress.to is empty and the API server's addresses cannot be looked up in this render (helm template, --dry-run and GitOps tools such as Argo CD render without a cluster). Set kubernetesApi.egress.to to the API server's endpoint addresses, each as an ipBlock /32 (they are printed by: kubectl get endpointslice -n default kubernetes -o jsonpath='{.endpoints[*].addresses[*]}'), or set kubernetesApi.egress.allowAnyAddressFallback=true to accept egress to 0.0.0.0/0 on the API ports from the manager, which holds the runner token and the S3 keys" nil -}}
{{- end -}}
{{- $peers = list (dict "ipBlock" (dict "cidr" "0.0.0.0/0")) -}}
{{- end -}}
{{- toJson $peers -}}
{{- end -}}
{{- end -}}

{{/* "true" when the manager's API egress is rendered as a CiliumNetworkPolicy too (kubernetesApi.cilium). */}}
{{- define "gitlab-kaniko-tenant.ciliumPolicy" -}}
{{- $mode := .Values.kubernetesApi.cilium -}}
{{- if or (eq $mode "always") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "cilium.io/v2/CiliumNetworkPolicy")) -}}true{{- end -}}
{{- end -}}

{{/* Labels of pod templates: stable across chart upgrades (no chart version), so an upgrade that changes nothing
about a pod does not restart it. */}}
{{- define "gitlab-kaniko-tenant.podLabels" -}}
{{ include "gitlab-kaniko-tenant.selectorLabels" . }}
app.kubernetes.io/part-of: gitlab-kaniko-tenant
{{- end -}}

{{/* The increase of a runner counter over a window, counting a series that is new in the window from zero: some
     runner counters (failed_jobs_total) have no zero series and appear at their first increment, a step increase()
     cannot see (it starts at the first sample). Series that existed a window ago: increase(); new ones: their value.
     Call with (dict "series" "<selector>" "window" "30m"). */}}
{{- /* The pod names of this tenant's manager (Deployment: <name>-<hash>-<id>; DaemonSet: <name>-<id>): the alert
     rules and the dashboard select its targets by namespace and this pattern, which pins the tenant in shared mode
     too, where several tenants' managers share a namespace. */}}
{{- define "gitlab-kaniko-tenant.managerPodRegex" -}}
{{- printf "%s-[a-z0-9]+(-[a-z0-9]+)?" (include "gitlab-kaniko-tenant.managerName" .) -}}
{{- end -}}

{{- define "gitlab-kaniko-tenant.increaseOrNew" -}}
{{- printf "((increase(%[1]s[%[2]s]) and %[1]s offset %[2]s) or (%[1]s unless %[1]s offset %[2]s))" .series .window -}}
{{- end -}}
