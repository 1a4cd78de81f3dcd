{{/*
Peer namespaces that are a tenant's, refused at install time (included at the end of gitlab-kaniko-tenant.validate).
tenant-bootstrap labels every tenant namespace: gitlab-kaniko-tenant.io/tenant=<tenant>, or gitlab-kaniko-tenant.io/shared
on the shared one. A policy peer that names such a namespace opens nothing, without an error:
- monitoring.namespace and dns.namespace are rendered with notATenantNamespace (_helpers.tpl): a namespace carrying
  either label never matches, so the rule selects no namespace at all (any tenant's, this tenant's own included);
- the egress peers (gitlab, s3, destinationRegistry, layerCache.external, kubernetesApi, artifactProxies) are rendered
  as given, but another tenant's namespace admits nothing from outside it (tenant-bootstrap's default-deny there).
Each peer namespace is looked up; a render without a cluster (helm template, --dry-run, GitOps tools) gets nothing
back and checks nothing here (docs/operations.md, GitOps). `gkt review` checks the same from the tenants file
(internal/harness/peers.go).
*/}}
{{- define "gitlab-kaniko-tenant.validatePeers" -}}
{{- $v := .Values -}}
{{- if $v.networkPolicy.enabled -}}
{{- $tenant := include "gitlab-kaniko-tenant.tenant" . -}}
{{- $tenantKey := include "gitlab-kaniko-tenant.tenantLabelKey" . -}}
{{- $peers := list -}}
{{- $peers = append $peers (dict "key" "monitoring.namespace" "ns" $v.monitoring.namespace "byName" true "what" "scraping of the manager's metrics" "fix" "name the namespace your Prometheus runs in") -}}
{{- $peers = append $peers (dict "key" "dns.namespace" "ns" $v.dns.namespace "byName" true "what" "DNS through this chart's rule" "fix" "name the namespace of the cluster DNS pods (kube-system on most clusters)") -}}
{{- $lists := list (list "gitlab.egress.to" $v.gitlab.egress.to "GitLab") (list "s3.egress.to" $v.s3.egress.to "S3") (list "destinationRegistry.egress.to" $v.destinationRegistry.egress.to "the destination registry") (list "layerCache.external.egress.to" $v.layerCache.external.egress.to "the external layer cache") (list "kubernetesApi.egress.to" $v.kubernetesApi.egress.to "the API server") -}}
{{- range $i, $p := $v.artifactProxies -}}
{{- $lists = append $lists (list (printf "artifactProxies[%d].to" $i) $p.to (printf "artifact proxy %s" $p.name)) -}}
{{- end -}}
{{- range $l := $lists -}}
{{- range $j, $peer := (index $l 1 | default list) -}}
{{- $at := printf "%s[%d].namespaceSelector" (index $l 0) $j -}}
{{- $sel := $peer.namespaceSelector | default dict -}}
{{- $fix := printf "point it at the namespace that runs %s, which is no tenant's" (index $l 2) -}}
{{- with (get ($sel.matchLabels | default dict) "kubernetes.io/metadata.name") -}}
{{- $peers = append $peers (dict "key" (printf "%s.matchLabels.kubernetes.io/metadata.name" $at) "ns" . "byName" false "what" (printf "traffic to %s" (index $l 2)) "fix" $fix) -}}
{{- end -}}
{{- range $k, $e := ($sel.matchExpressions | default list) -}}
{{- if and (eq (toString $e.key) "kubernetes.io/metadata.name") (eq (toString $e.operator) "In") -}}
{{- range $e.values -}}
{{- $peers = append $peers (dict "key" (printf "%s.matchExpressions[%d].values" $at $k) "ns" . "byName" false "what" (printf "traffic to %s" (index $l 2)) "fix" $fix) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $p := $peers -}}
{{- if $p.ns -}}
{{- $labels := dig "metadata" "labels" (dict) (lookup "v1" "Namespace" "" (toString $p.ns)) -}}
{{- $owner := toString (get $labels $tenantKey) -}}
{{- $shared := hasKey $labels "gitlab-kaniko-tenant.io/shared" -}}
{{- $whose := "" -}}
{{- if $shared -}}
{{- $whose = "tenant-bootstrap's shared tenant namespace" -}}
{{- else if eq $owner $tenant -}}
{{- $whose = printf "tenant %s's own namespace" $tenant -}}
{{- else if $owner -}}
{{- $whose = printf "tenant %s's namespace" $owner -}}
{{- end -}}
{{- if and $p.byName $whose -}}
{{- fail (printf "%s=%s is %s: the chart selects a peer named here only if it is no tenant's namespace (no %s or gitlab-kaniko-tenant.io/shared label, see notATenantNamespace), so this rule would allow nothing and %s would stop without an error; %s" $p.key $p.ns $whose $tenantKey $p.what $p.fix) -}}
{{- end -}}
{{- if and (not $p.byName) (or (and $owner (ne $owner $tenant)) (and $shared (ne (toString $p.ns) $.Release.Namespace))) -}}
{{- fail (printf "%s=%s is %s: nothing there admits traffic from another tenant's pods (tenant-bootstrap's default-deny), so this rule would reach nothing and %s would fail without an error; %s" $p.key $p.ns $whose $p.what $p.fix) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
