{{/* Pod template of the runner manager, shared by the Deployment and the DaemonSet. */}}
{{- define "gitlab-kaniko-tenant.managerPodTemplate" -}}
metadata:
  labels:
    {{- include "gitlab-kaniko-tenant.podLabels" (dict "ctx" . "component" "manager") | nindent 4 }}
  annotations:
    checksum/config: {{ include "gitlab-kaniko-tenant.configToml" . | sha256sum }}
    {{- with .Values.runner.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "gitlab-kaniko-tenant.managerName" . }}
  # The manager talks to the API server with its own token: it is mounted explicitly, on this pod only.
  automountServiceAccountToken: true
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ .Values.runner.terminationGracePeriodSeconds }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 999
    runAsGroup: 999
    fsGroup: 999
    seccompProfile:
      type: RuntimeDefault
  {{- include "gitlab-kaniko-tenant.podPlacement" . | nindent 2 }}
  containers:
    - name: runner
      image: {{ include "gitlab-kaniko-tenant.image" (dict "image" .Values.runner.image "ctx" $) }}
      imagePullPolicy: {{ .Values.runner.image.pullPolicy }}
      command: ["/bin/sh", "/etc/gitlab-runner/template/entrypoint.sh"]
      args: ["run"]
      env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
      ports:
        - name: metrics
          containerPort: 9252
          protocol: TCP
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        privileged: false
        capabilities:
          drop: [ALL]
      resources:
        {{- toYaml .Values.runner.resources | nindent 8 }}
      # Liveness asks the runner process itself (its metrics endpoint), never GitLab: a slow or unreachable GitLab
      # must not restart a manager that is running jobs.
      livenessProbe:
        httpGet:
          path: /metrics
          port: metrics
        periodSeconds: {{ .Values.runner.probes.periodSeconds }}
        timeoutSeconds: {{ .Values.runner.probes.timeoutSeconds }}
        failureThreshold: {{ .Values.runner.probes.failureThreshold }}
      readinessProbe:
        exec:
          command: ["/bin/sh", "/etc/gitlab-runner/template/check-ready.sh"]
        periodSeconds: {{ .Values.runner.probes.periodSeconds }}
        timeoutSeconds: {{ .Values.runner.probes.timeoutSeconds }}
        failureThreshold: {{ .Values.runner.probes.failureThreshold }}
      startupProbe:
        httpGet:
          path: /metrics
          port: metrics
        periodSeconds: 5
        failureThreshold: 60
      lifecycle:
        # SIGQUIT = graceful: stop taking jobs, finish running ones, then exit (bounded by terminationGracePeriodSeconds).
        # Sent again every second for the first 10 s: a pod deleted while it starts has no handler for it yet in the
        # instant between the entrypoint's last look (entrypoint.sh: it then does not start the runner) and the
        # runner's own; a repeated SIGQUIT during the runner's drain changes nothing.
        preStop:
          exec:
            command: ["/bin/sh", "-c", "i=0; while kill -0 1 2>/dev/null; do [ $i -lt 10 ] && kill -QUIT 1; i=$((i+1)); sleep 1; done"]
      volumeMounts:
        - name: template
          mountPath: /etc/gitlab-runner/template
          readOnly: true
        - name: runner-token
          mountPath: /secrets/runner
          readOnly: true
        {{- if or .Values.runnerCache.enabled }}
        - name: s3
          mountPath: /secrets/s3
          readOnly: true
        {{- end }}
        {{- if .Values.gitlab.caSecret }}
        - name: gitlab-ca
          mountPath: /etc/gitlab-runner/certs
          readOnly: true
        {{- end }}
        - name: home
          mountPath: /home/gitlab-runner
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: template
      configMap:
        name: {{ include "gitlab-kaniko-tenant.managerName" . }}
        defaultMode: 0444
    - name: runner-token
      secret:
        secretName: {{ include "gitlab-kaniko-tenant.tokenSecret" . }}
        defaultMode: 0400
        items:
          {{- range (include "gitlab-kaniko-tenant.runnerProfiles" . | fromJsonArray) }}
          - key: {{ .tokenKey }}
            path: {{ .tokenPath }}
          {{- end }}
    {{- if .Values.runnerCache.enabled }}
    - name: s3
      secret:
        secretName: {{ include "gitlab-kaniko-tenant.s3Secret" . }}
        defaultMode: 0400
        items:
          - {key: accessKey, path: accessKey}
          - {key: secretKey, path: secretKey}
    {{- end }}
    {{- if .Values.gitlab.caSecret }}
    - name: gitlab-ca
      secret:
        secretName: {{ .Values.gitlab.caSecret }}
        items:
          - {key: ca.crt, path: ca.crt}
    {{- end }}
    - name: home
      emptyDir:
        sizeLimit: 512Mi
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
{{- end -}}
