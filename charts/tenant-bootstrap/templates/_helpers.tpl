{{/* Labels of every object. Call with (dict "ctx" $ "tenant" $name). */}}
{{- define "tenant-bootstrap.labels" -}}
app.kubernetes.io/name: tenant-bootstrap
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: gitlab-kaniko-tenant
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- if .tenant }}
gitlab-kaniko-tenant.io/tenant: {{ .tenant }}
{{- end }}
{{- end -}}

{{/* A quantity in milli-units as an int64 string ("500m" -> 500, "2Gi" -> 2147483648000). */}}
{{- define "tenant-bootstrap.milli" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- $f := dict "m" 0.001 "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 -}}
{{- if or (not $num) (not (hasKey $f $suffix)) -}}
{{- fail (printf "%q is not a Kubernetes quantity" $q) -}}
{{- end -}}
{{- mulf (float64 $num) (get $f $suffix) 1000.0 | floor | int64 -}}
{{- end -}}

{{/* Milli-units back to a quantity: cpu as millicores, everything else as whole Mi (rounded up). */}}
{{- define "tenant-bootstrap.quantity" -}}
{{- if eq .resource "cpu" -}}
{{- printf "%dm" (int64 .milli) -}}
{{- else -}}
{{- $mi := div (add (int64 .milli) 1048575999) 1048576000 -}}
{{- printf "%dMi" $mi -}}
{{- end -}}
{{- end -}}

{{/*
The tenants resolved: defaults merged under each entry, namespace and bucket filled in, concurrency multiplied by
the node count in daemonset mode. Returned as JSON {name: tenant}. Every cross-field and cross-tenant rule is here,
so every template that uses the tenants runs them.
*/}}
{{- define "tenant-bootstrap.tenants" -}}
{{- /* Memoized for the render: every template file needs the tenants, resolving them once makes renders ~3x faster. */ -}}
{{- if not (hasKey .Values "__resolvedTenants") -}}
{{- $_ := set .Values "__resolvedTenants" (include "tenant-bootstrap.resolveTenants" .) -}}
{{- end -}}
{{- get .Values "__resolvedTenants" -}}
{{- end -}}

{{- define "tenant-bootstrap.resolveTenants" -}}
{{- if eq .Values.podSecurity.enforce "restricted" -}}
{{- fail "podSecurity.enforce=restricted would refuse every Kaniko job pod (root with CHOWN/DAC_OVERRIDE/FOWNER/SETUID/SETGID); enforce baseline and keep warn/audit at restricted" -}}
{{- end -}}
{{- if eq .Values.podSecurity.enforce "privileged" -}}
{{- fail "podSecurity.enforce=privileged turns Pod Security off for tenant namespaces (privileged pods, hostPath, host network); enforce baseline" -}}
{{- end -}}
{{- $out := dict -}}
{{- $namespaces := dict -}}
{{- $buckets := dict -}}
{{- $nodes := dict -}}
{{- $reserved := list "default" "kube-system" "kube-public" "kube-node-lease" .Values.monitoring.namespace .Values.dns.namespace -}}
{{- range $name, $t := .Values.tenants -}}
{{- $r := mergeOverwrite (deepCopy $.Values.defaults) (deepCopy ($t | default dict)) -}}
{{- $_ := set $r "name" $name -}}
{{- if eq $r.mode "shared" -}}
{{- if and (hasKey $r "namespace") (ne $r.namespace $.Values.sharedNamespace.name) -}}
{{- fail (printf "tenants.%s.namespace=%s but mode=shared puts the tenant in sharedNamespace.name (%s); remove the namespace key or use mode=namespace" $name $r.namespace $.Values.sharedNamespace.name) -}}
{{- end -}}
{{- $_ := set $r "namespace" $.Values.sharedNamespace.name -}}
{{- else -}}
{{- $_ := set $r "namespace" ($r.namespace | default $name) -}}
{{- if eq $r.namespace $.Values.sharedNamespace.name -}}
{{- fail (printf "tenants.%s.namespace=%s is the shared namespace; a tenant in mode=%s needs a namespace of its own" $name $r.namespace $r.mode) -}}
{{- end -}}
{{- if hasKey $namespaces $r.namespace -}}
{{- fail (printf "tenants.%s.namespace=%s is already the namespace of tenant %s; every tenant outside shared mode needs its own namespace" $name $r.namespace (get $namespaces $r.namespace)) -}}
{{- end -}}
{{- $_ := set $namespaces $r.namespace $name -}}
{{- end -}}
{{- if has $r.namespace $reserved -}}
{{- fail (printf "tenants.%s.namespace=%s is a system or monitoring namespace; choose a namespace of the tenant's own" $name $r.namespace) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $r.namespace) -}}
{{- fail (printf "tenants.%s.namespace=%q is not a DNS-1123 label" $name $r.namespace) -}}
{{- end -}}
{{- $_ := set $r "bucket" ($r.bucket | default (printf "%s-cache" $name)) -}}
{{- if not (regexMatch "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" $r.bucket) -}}
{{- fail (printf "tenants.%s.bucket=%q is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-')" $name $r.bucket) -}}
{{- end -}}
{{- if hasKey $buckets $r.bucket -}}
{{- fail (printf "tenants.%s.bucket=%s is already the bucket of tenant %s; each tenant needs its own bucket and credentials" $name $r.bucket (get $buckets $r.bucket)) -}}
{{- end -}}
{{- $_ := set $buckets $r.bucket $name -}}
{{- range $node := $r.nodes -}}
{{- if hasKey $nodes $node -}}
{{- fail (printf "tenants.%s.nodes lists node %s, which already belongs to tenant %s; a node serves one tenant only" $name $node (get $nodes $node)) -}}
{{- end -}}
{{- $_ := set $nodes $node $name -}}
{{- end -}}
{{- if and (eq $r.mode "shared") (eq $r.adminGroup.role "edit") $r.adminGroup.name -}}
{{- fail (printf "tenants.%s.adminGroup.role=edit in shared mode would let %s edit every tenant of namespace %s; use role view or mode namespace" $name $r.adminGroup.name $r.namespace) -}}
{{- end -}}
{{- if and (eq $r.mode "shared") (not $r.nodes) -}}
{{- fail (printf "tenants.%s.nodes is empty: in shared mode the node taints are all that keeps one tenant's jobs off another tenant's kernel (RBAC and quota are shared), so list the tenant's nodes or use mode namespace" $name) -}}
{{- end -}}
{{- $perNode := int $r.concurrency -}}
{{- if eq $r.mode "daemonset" -}}
{{- if not $r.nodes -}}
{{- fail (printf "tenants.%s.nodes is empty: in daemonset mode the quota is concurrency (per node) x nodes, so list the tenant's nodes" $name) -}}
{{- end -}}
{{- $_ := set $r "totalConcurrency" (mul $perNode (len $r.nodes)) -}}
{{- $_ := set $r "quotaJobs" $r.totalConcurrency -}}
{{- else -}}
{{- $_ := set $r "totalConcurrency" $perNode -}}
{{- /* a surge rollout runs the draining managers' jobs and their replacements' jobs at once */ -}}
{{- $_ := set $r "quotaJobs" (mul $perNode (ternary 2 1 (eq $r.rollout "surge"))) -}}
{{- end -}}
{{- range $set := list "job" "helper" "overhead" -}}
{{- $res := index $r $set -}}
{{- range $k := list "cpu" "memory" "ephemeral-storage" -}}
{{- if gt (include "tenant-bootstrap.milli" (index $res.requests $k) | int64) (include "tenant-bootstrap.milli" (index $res.limits $k) | int64) -}}
{{- fail (printf "tenants.%s.%s.requests.%s (%v) is above tenants.%s.%s.limits.%s (%v); a request can never exceed its limit" $name $set $k (index $res.requests $k) $name $set $k (index $res.limits $k)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $_ := set $out $name $r -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
Derived ResourceQuota `hard` of one namespace: for all its tenants, concurrency (x2 for surge rollouts) x (build +
helper) + overhead.
Call with (dict "tenants" $list). Explicit `quota` entries replace derived ones but must still cover the jobs.
*/}}
{{- define "tenant-bootstrap.quotaHard" -}}
{{- $hard := dict "pods" 0 -}}
{{- $explicit := dict -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $k := list "cpu" "memory" "ephemeral-storage" -}}
{{- $_ := set $hard (printf "%s.%s" $kind $k) 0 -}}
{{- end -}}
{{- end -}}
{{- range $t := .tenants -}}
{{- $_ := set $hard "pods" (add (get $hard "pods") $t.quotaJobs $t.overhead.pods) -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $k := list "cpu" "memory" "ephemeral-storage" -}}
{{- $perJob := add (include "tenant-bootstrap.milli" (index (index $t.job $kind) $k) | int64) (include "tenant-bootstrap.milli" (index (index $t.helper $kind) $k) | int64) -}}
{{- $sum := add (mul $perJob $t.quotaJobs) (include "tenant-bootstrap.milli" (index (index $t.overhead $kind) $k) | int64) -}}
{{- $key := printf "%s.%s" $kind $k -}}
{{- $_ := set $hard $key (add (get $hard $key) $sum) -}}
{{- end -}}
{{- end -}}
{{- range $key, $q := $t.quota -}}
{{- $_ := set $explicit $key (dict "value" $q "tenant" $t.name) -}}
{{- end -}}
{{- end -}}
{{- $outHard := dict -}}
{{- range $key, $milli := $hard -}}
{{- if eq $key "pods" -}}
{{- $_ := set $outHard $key (toString $milli) -}}
{{- else -}}
{{- $_ := set $outHard $key (include "tenant-bootstrap.quantity" (dict "resource" (regexReplaceAll "^(requests|limits)\\." $key "") "milli" $milli)) -}}
{{- end -}}
{{- end -}}
{{- range $key, $e := $explicit -}}
{{- if hasKey $hard $key -}}
{{- $need := get $hard $key -}}
{{- $have := ternary (mul (int64 $e.value) 1000) (include "tenant-bootstrap.milli" $e.value | int64) (eq $key "pods") -}}
{{- if eq $key "pods" }}{{ $need = mul $need 1000 }}{{ end -}}
{{- if lt (int64 $have) (int64 $need) -}}
{{- fail (printf "tenants.%s.quota.%s=%v is below what concurrency (x2 for rollout: surge) x per-job resources need (%s); raise the quota or lower concurrency / job resources" $e.tenant $key $e.value (get $outHard $key)) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $outHard $key (toString $e.value) -}}
{{- end -}}
{{- $_ := set $outHard "services.loadbalancers" "0" -}}
{{- $_ := set $outHard "services.nodeports" "0" -}}
{{- $_ := set $outHard "persistentvolumeclaims" "0" -}}
{{- toJson $outHard -}}
{{- end -}}

{{/* Namespaces with their tenants: JSON {namespace: [tenant, ...]}. */}}
{{- define "tenant-bootstrap.namespaces" -}}
{{- $tenants := include "tenant-bootstrap.tenants" . | fromJson -}}
{{- $ns := dict -}}
{{- range $name, $t := $tenants -}}
{{- $_ := set $ns $t.namespace (append (get $ns $t.namespace | default list) $t) -}}
{{- end -}}
{{- toJson $ns -}}
{{- end -}}

{{/*
The install plan a namespace's quota was sized from: JSON {tenant: {mode, concurrency (per node in daemonset mode),
nodes, rollout, job and helper limits}}. The ResourceQuota carries it as an annotation, and the tenant chart checks
its own values against its entry at install time (templates/_validate.tpl), so a tenant cannot run more or bigger
jobs than the quota holds room for, in any mode. Call with (dict "tenants" $list).
*/}}
{{- define "tenant-bootstrap.quotaPlan" -}}
{{- $plan := dict -}}
{{- range $t := .tenants -}}
{{- $_ := set $plan $t.name (dict "mode" $t.mode "concurrency" (int $t.concurrency) "nodes" (len ($t.nodes | default list)) "rollout" $t.rollout "job" $t.job.limits "helper" $t.helper.limits) -}}
{{- end -}}
{{- toJson $plan -}}
{{- end -}}
