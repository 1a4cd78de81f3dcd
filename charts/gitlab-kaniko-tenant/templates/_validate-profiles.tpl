{{/*
Runner profiles (values `profiles`): what the schema cannot check. Each failure names the profile's key and the fix.
Included from gitlab-kaniko-tenant.validate, so every install, upgrade, template and lint runs it.
*/}}
{{- define "gitlab-kaniko-tenant.validateProfiles" -}}
{{- $v := .Values -}}
{{- $tenant := include "gitlab-kaniko-tenant.tenant" . -}}
{{- $profiles := include "gitlab-kaniko-tenant.runnerProfiles" . | fromJsonArray -}}
{{- if $v.profiles -}}
{{- $tagOwner := dict -}}
{{- $keyOwner := dict -}}
{{- $cacheRoot := printf "%s/" (trimSuffix "/" $v.runnerCache.path) -}}
{{- $layers := printf "%s/" (trimSuffix "/" $v.layerCache.tenantRegistry.rootDirectory) -}}
{{- range $p := $profiles -}}
{{- $key := printf "profiles.%s" $p.name -}}
{{- /* a tag picks one profile: with two, GitLab hands a job to either runner, with either job size */ -}}
{{- range $tag := $p.tags -}}
{{- with (get $tagOwner $tag) -}}
{{- fail (printf "%s.tags and profiles.%s.tags both have tag %q: GitLab would hand a job with that tag to either profile's runner, with either job size and cache; give each tag to one profile" $key . $tag) -}}
{{- end -}}
{{- $_ := set $tagOwner $tag $p.name -}}
{{- end -}}
{{- with (get $keyOwner $p.tokenKey) -}}
{{- fail (printf "%s.tokenKey=%s is profiles.%s's token key too: two profiles would be one GitLab runner; give each profile its own key" $key $p.tokenKey .) -}}
{{- end -}}
{{- $_ := set $keyOwner $p.tokenKey $p.name -}}
{{- if gt (int $p.limit) (int $v.runner.concurrent) -}}
{{- fail (printf "%s.limit (%d) is above runner.concurrent (%d): the manager never runs more than concurrent jobs of all profiles together; lower the limit" $key (int $p.limit) (int $v.runner.concurrent)) -}}
{{- end -}}
{{- /* the cache folder: inside the runner cache's prefix of the tenant's bucket, apart from the layers and the other profiles */ -}}
{{- $path := printf "%s/" (trimSuffix "/" $p.cachePath) -}}
{{- if or (contains ".." $p.cachePath) (contains "//" $p.cachePath) (not (hasPrefix $cacheRoot $path)) (eq $path $cacheRoot) -}}
{{- fail (printf "%s.runnerCache.path=%s is outside the tenant's runner cache (%s… in bucket %s): a profile's cache is a folder under runnerCache.path, e.g. %s%s-builds" $key $p.cachePath $cacheRoot (include "gitlab-kaniko-tenant.bucket" $) $cacheRoot $p.name) -}}
{{- end -}}
{{- if or (hasPrefix $layers $path) (hasPrefix $path $layers) -}}
{{- fail (printf "%s.runnerCache.path=%s overlaps the Kaniko layer cache (%s, layerCache.tenantRegistry.rootDirectory): the registry would read cache archives as its storage; choose another folder" $key $p.cachePath $layers) -}}
{{- end -}}
{{- range $q := $profiles -}}
{{- $other := printf "%s/" (trimSuffix "/" $q.cachePath) -}}
{{- if and (ne $q.name $p.name) (hasPrefix $other $path) -}}
{{- fail (printf "%s.runnerCache.path=%s holds profiles.%s's cache folder %s: one profile's jobs would restore the other's archives; give each profile its own folder" $key $p.cachePath $q.name $q.cachePath) -}}
{{- end -}}
{{- end -}}
{{- /* job size: requests within limits, caps at least the size */ -}}
{{- range $res := list "cpu" "memory" "ephemeral-storage" -}}
{{- $req := index $p.resources.requests $res -}}
{{- $lim := index $p.resources.limits $res -}}
{{- if gt (include "gitlab-kaniko-tenant.milli" $req | int64) (include "gitlab-kaniko-tenant.milli" $lim | int64) -}}
{{- fail (printf "%s.resources.requests.%s (%v) is above %s.resources.limits.%s (%v); a request can never exceed its limit" $key $res $req $key $res $lim) -}}
{{- end -}}
{{- end -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $res, $cap := (index $p.overwriteMaxAllowed $kind | default dict) -}}
{{- $base := index (index $p.resources $kind) $res -}}
{{- if lt (include "gitlab-kaniko-tenant.milli" $cap | int64) (include "gitlab-kaniko-tenant.milli" $base | int64) -}}
{{- fail (printf "%s.overwriteMaxAllowed.%s.%s (%v) is below the profile's %s.%s (%v); the cap must be at least the profile's size" $key $kind $res $cap $kind $res $base) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $img := $p.allowedImages -}}
{{- $host := regexFind "^[^/]*" $img -}}
{{- if or (contains "*" $host) (not (contains "/" $img)) (not (regexMatch "[.:]|^localhost$" $host)) -}}
{{- fail (printf "%s.allowedImages[%d]=%q does not name a registry host (registry.example.com/...): a pattern without one matches images from every registry, which undoes the allowlist" $key $i $img) -}}
{{- end -}}
{{- end -}}
{{- /* nodes: a subset of the tenant's own */ -}}
{{- range $k, $val := $p.nodeSelector -}}
{{- if eq $k $v.nodePinning.labelKey -}}
{{- fail (printf "%s.nodeSelector.%s=%s: the tenant label is the chart's (always %s for this tenant's jobs); a profile narrows the tenant's nodes with other labels" $key $k $val $tenant) -}}
{{- end -}}
{{- if and (eq $k "kubernetes.io/hostname") (eq $v.mode "daemonset") -}}
{{- fail (printf "%s.nodeSelector.kubernetes.io/hostname: in daemonset mode each job stays on its manager's node; a profile cannot pick nodes by name" $key) -}}
{{- end -}}
{{- end -}}
{{- if $p.nodeSelector -}}
{{- $nodes := lookup "v1" "Node" "" "" -}}
{{- if and $nodes $nodes.items -}}
{{- $own := list -}}
{{- $others := list -}}
{{- range $n := $nodes.items -}}
{{- $labels := $n.metadata.labels | default dict -}}
{{- $match := true -}}
{{- range $k, $val := $p.nodeSelector -}}
{{- if ne (get $labels $k) $val -}}{{- $match = false -}}{{- end -}}
{{- end -}}
{{- if $match -}}
{{- if eq (get $labels $v.nodePinning.labelKey) $tenant -}}
{{- $own = append $own $n.metadata.name -}}
{{- else -}}
{{- $others = append $others (printf "%s (tenant %s)" $n.metadata.name ((get $labels $v.nodePinning.labelKey) | default "none")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not $own) $others -}}
{{- fail (printf "%s.nodeSelector selects only nodes that are not tenant %s's: %s; a profile narrows the tenant's own nodes (gkt nodes assign labels them)" $key $tenant (join ", " $others)) -}}
{{- end -}}
{{- if not $own -}}
{{- fail (printf "%s.nodeSelector %v selects none of tenant %s's nodes: the profile's jobs would stay Pending; label some of the tenant's nodes or change the selector" $key $p.nodeSelector $tenant) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Jobs one manager runs at once: runner.concurrent, capped by the single runner's limit or by the profiles' limits
together. The one count the quota, the plan and the NOTES use.
*/}}
{{- define "gitlab-kaniko-tenant.jobsPerManager" -}}
{{- $limits := 0 -}}
{{- $unlimited := false -}}
{{- range $p := include "gitlab-kaniko-tenant.runnerProfiles" . | fromJsonArray -}}
{{- if eq (int $p.limit) 0 -}}{{- $unlimited = true -}}{{- end -}}
{{- $limits = add $limits (int $p.limit) -}}
{{- end -}}
{{- $n := int .Values.runner.concurrent -}}
{{- if and (not $unlimited) (lt $limits $n) -}}{{- $n = $limits -}}{{- end -}}
{{- $n -}}
{{- end -}}

{{/*
The biggest build-container limits of any runner entry (JSON: resource -> quantity), with the key they come from:
what one job may take of the quota.
*/}}
{{- define "gitlab-kaniko-tenant.biggestJobLimits" -}}
{{- $out := dict -}}
{{- range $p := include "gitlab-kaniko-tenant.runnerProfiles" . | fromJsonArray -}}
{{- range $res := list "cpu" "memory" "ephemeral-storage" -}}
{{- $q := index $p.resources.limits $res -}}
{{- $cur := get $out $res -}}
{{- if or (not $cur) (gt (include "gitlab-kaniko-tenant.milli" $q | int64) (include "gitlab-kaniko-tenant.milli" $cur.q | int64)) -}}
{{- $_ := set $out $res (dict "q" $q "key" (ternary (printf "profiles.%s.resources.limits" $p.name) "jobs.resources.limits" (ne $p.name ""))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
