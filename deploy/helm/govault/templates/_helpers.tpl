{{/*
Names. The fullname is the release name (or fullnameOverride), so that the key objects are
`<release>-<service>-internal-key` and `<release>-internal-public-keys` as the deployment
contract names them.
*/}}
{{- define "govault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "govault.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* The four services, their container ports and the command word of the one image. */}}
{{- define "govault.services" -}}
gateway: 8080
auth: 8081
upload: 8082
files: 8083
{{- end }}

{{- define "govault.port" -}}
{{- $ports := include "govault.services" .root | fromYaml }}
{{- index $ports .service }}
{{- end }}

{{/* The in-cluster URL of a service: what its callers put in AUTH_URL, UPLOAD_URL, FILES_URL. */}}
{{- define "govault.serviceUrl" -}}
http://{{ include "govault.fullname" .root }}-{{ .service }}:{{ include "govault.port" . }}
{{- end }}

{{- define "govault.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: pass a dict with root (the top context) and service (or "" for shared objects). */}}
{{- define "govault.labels" -}}
helm.sh/chart: {{ include "govault.chart" .root }}
{{ include "govault.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: govault
{{- end }}

{{- define "govault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "govault.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .service }}
app.kubernetes.io/component: {{ .service }}
{{- end }}
{{- end }}

{{- define "govault.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "govault.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "govault.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret that holds the credentials the chart was given inline (database URLs, Redis URL, S3 keys). */}}
{{- define "govault.credentialsSecret" -}}
{{ include "govault.fullname" . }}-credentials
{{- end }}

{{/* PUBLIC_URL: the value, else the Ingress host (https when it has TLS), else unset. */}}
{{- define "govault.publicUrl" -}}
{{- if .Values.publicUrl }}
{{- .Values.publicUrl }}
{{- else if and .Values.ingress.enabled .Values.ingress.host }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host }}
{{- end }}
{{- end }}

{{- /* PUBLIC_HOSTS: the public origin's host (when there is one) and the gateway Service's host:port. */}}
{{- define "govault.publicHosts" -}}
{{- $hosts := list (printf "%s-gateway:%s" (include "govault.fullname" .) (include "govault.port" (dict "root" . "service" "gateway"))) }}
{{- with (include "govault.publicUrl" .) }}
{{- $hosts = prepend $hosts (urlParse .).host }}
{{- end }}
{{- join "," $hosts }}
{{- end }}
