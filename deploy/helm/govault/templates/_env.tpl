{{/*
Each service's environment: only names its config schema reads (deploy/test checks the
rendered Deployments with checkServiceEnv). Credentials come from Secrets: the chart's
credentials Secret, or the existingSecret the values name.
*/}}

{{- define "govault.env.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ .name }}
    key: {{ .key }}
{{- end }}

{{- define "govault.env.common" -}}
{{- $svc := .service }}
- name: HOST
  value: "0.0.0.0"
- name: {{ upper $svc }}_PORT
  value: {{ include "govault.port" . | quote }}
- name: INTERNAL_KEY_DIR
  value: /keys/internal
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
{{- if ne $svc "gateway" }}
- name: DATA_DIR
  value: /data
{{- end }}
{{- end }}

{{- define "govault.env.database" -}}
{{- $db := .root.Values.database }}
- name: {{ upper .service }}_DATABASE_URL
  {{- if $db.existingSecret }}
  {{- include "govault.env.secretRef" (dict "name" $db.existingSecret "key" (index $db.existingSecretKeys .service)) | nindent 2 }}
  {{- else }}
  {{- include "govault.env.secretRef" (dict "name" (include "govault.credentialsSecret" .root) "key" (printf "%s-database-url" .service)) | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Where objects live, as upload and files read it (the gateway reads the non-secret part for its CSP). */}}
{{- define "govault.env.s3Location" -}}
{{- $s3 := .root.Values.s3 }}
- name: S3_ENDPOINT
  value: {{ required "s3.endpoint is required: GoVault on Kubernetes keeps objects in S3" $s3.endpoint | quote }}
{{- if $s3.publicEndpoint }}
- name: S3_PUBLIC_ENDPOINT
  value: {{ $s3.publicEndpoint | quote }}
{{- end }}
- name: S3_BUCKET
  value: {{ required "s3.bucket is required" $s3.bucket | quote }}
- name: S3_FORCE_PATH_STYLE
  value: {{ $s3.forcePathStyle | quote }}
{{- end }}

{{- define "govault.env.s3" -}}
{{- $s3 := .root.Values.s3 }}
{{ include "govault.env.s3Location" . }}
- name: S3_REGION
  value: {{ $s3.region | quote }}
{{- $secret := default (include "govault.credentialsSecret" .root) $s3.existingSecret }}
- name: S3_ACCESS_KEY_ID
  {{- include "govault.env.secretRef" (dict "name" $secret "key" (ternary $s3.existingSecretKeys.accessKeyId "s3-access-key-id" (ne $s3.existingSecret ""))) | nindent 2 }}
- name: S3_SECRET_ACCESS_KEY
  {{- include "govault.env.secretRef" (dict "name" $secret "key" (ternary $s3.existingSecretKeys.secretAccessKey "s3-secret-access-key" (ne $s3.existingSecret ""))) | nindent 2 }}
{{- end }}

{{- define "govault.env.gateway" -}}
{{- $v := .root.Values }}
- name: GATEWAY_METRICS_PORT
  value: "9080"
- name: AUTH_URL
  value: {{ include "govault.serviceUrl" (dict "root" .root "service" "auth") | quote }}
- name: UPLOAD_URL
  value: {{ include "govault.serviceUrl" (dict "root" .root "service" "upload") | quote }}
- name: FILES_URL
  value: {{ include "govault.serviceUrl" (dict "root" .root "service" "files") | quote }}
- name: TRUST_PROXY_HOPS
  {{- /* Unset: 1 behind the chart's Ingress (its controller sets X-Forwarded-*), else 0. */}}
  value: {{ hasKey $v.gateway "trustProxyHops" | ternary $v.gateway.trustProxyHops (ternary 1 0 $v.ingress.enabled) | quote }}
{{- with (include "govault.publicUrl" .root) }}
- name: PUBLIC_URL
  value: {{ . | quote }}
- name: PUBLIC_HOSTS
  {{- /* The Host values whose own origin the emitted URLs keep, beside PUBLIC_URL's: the
  gateway Service's name, so that a client inside the cluster (helm test's smoke pod)
  gets upload URLs it can reach, as compose's smoke job does with gateway:8080. Without
  PUBLIC_URL a trusted proxy's host is kept anyway (and so is the Service's). */}}
  value: {{ include "govault.publicHosts" $.root | quote }}
{{- end }}
{{- with $v.gateway.corsOrigins }}
- name: CORS_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
{{- if $v.redis.existingSecret }}
- name: REDIS_URL
  {{- include "govault.env.secretRef" (dict "name" $v.redis.existingSecret "key" $v.redis.existingSecretKey) | nindent 2 }}
{{- else if $v.redis.url }}
- name: REDIS_URL
  {{- include "govault.env.secretRef" (dict "name" (include "govault.credentialsSecret" .root) "key" "redis-url") | nindent 2 }}
{{- end }}
{{ include "govault.env.s3Location" . }}
{{- end }}

{{- define "govault.env.auth" -}}
{{ include "govault.env.database" . }}
- name: AUTH_SIGNING_KEY_DIR
  value: /keys/signing
{{- end }}

{{- define "govault.env.upload" -}}
{{ include "govault.env.database" . }}
- name: FILES_URL
  value: {{ include "govault.serviceUrl" (dict "root" .root "service" "files") | quote }}
{{ include "govault.env.s3" . }}
{{- end }}

{{- define "govault.env.files" -}}
{{ include "govault.env.database" . }}
- name: AUTH_URL
  value: {{ include "govault.serviceUrl" (dict "root" .root "service" "auth") | quote }}
{{ include "govault.env.s3" . }}
{{- end }}

{{/* The whole list: common, the service's own, then the values' extra env (plain strings). */}}
{{- define "govault.env.extra" -}}
{{- range $name, $value := (index .root.Values .service).env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{- define "govault.env" -}}
{{- $all := list (include "govault.env.common" .) (include (printf "govault.env.%s" .service) .) (include "govault.env.extra" .) | join "\n" }}
{{- regexReplaceAll "(?m)^[ \t]*\n" $all "" | trim }}
{{- end }}
