{{/* Chart name. */}}
{{- define "hookstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it holds the chart name. */}}
{{- define "hookstream.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Selector labels; pass (dict "ctx" $ "component" "api"). */}}
{{- define "hookstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookstream.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* Recommended labels; pass (dict "ctx" $ "component" "api"). */}}
{{- define "hookstream.labels" -}}
{{ include "hookstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: hookstream
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "hookstream.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "hookstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hookstream.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hookstream.secretName" -}}
{{- default (include "hookstream.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Topic prefix and consumer group prefix, as the binary derives them. */}}
{{- define "hookstream.topicPrefix" -}}
{{- default "hookstream." .Values.config.topicPrefix }}
{{- end }}
{{- define "hookstream.groupPrefix" -}}
{{- include "hookstream.topicPrefix" . | trimSuffix "." }}
{{- end }}

{{/*
A config value as an env string: lists joined with commas (lists of
objects, such as config.sources, as JSON), whole numbers without an
exponent (values files decode numbers as float64).
*/}}
{{- define "hookstream.envValue" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) (kindIs "map" (index . 0)) }}
{{- toJson . }}
{{- else if kindIs "slice" . }}
{{- join "," . }}
{{- else if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
Environment shared by every container; pass (dict "ctx" $ "roles" "api").
config.<camelCase> becomes HOOKSTREAM_<UPPER_SNAKE>; empty values are left
to the binary's defaults.
*/}}
{{- define "hookstream.env" -}}
{{- $ctx := .ctx }}
{{- $secret := include "hookstream.secretName" $ctx }}
{{- with .roles }}
- name: HOOKSTREAM_ROLES
  value: {{ . | quote }}
{{- end }}
- name: HOOKSTREAM_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: HOOKSTREAM_HTTP_ADDR
  value: {{ printf ":%d" (int $ctx.Values.containerPort) | quote }}
- name: HOOKSTREAM_METRICS_ADDR
  value: {{ printf ":%d" (int $ctx.Values.metricsPort) | quote }}
{{- if and (has "api" (splitList "," (.roles | default ""))) (not $ctx.Values.config.consolePeers) }}
- name: HOOKSTREAM_CONSOLE_PEERS
  value: {{ printf "%s-metrics.%s.svc:%d" (include "hookstream.fullname" $ctx) $ctx.Release.Namespace (int $ctx.Values.metricsPort) | quote }}
{{- end }}
{{- range $key, $value := $ctx.Values.config }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value "")) (and (kindIs "slice" $value) (empty $value))) }}
- name: {{ printf "HOOKSTREAM_%s" ($key | snakecase | upper) }}
  value: {{ include "hookstream.envValue" $value | quote }}
{{- end }}
{{- end }}
- name: HOOKSTREAM_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secret.keys.databaseUrl }}
- name: HOOKSTREAM_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secret.keys.secretKey }}
- name: HOOKSTREAM_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secret.keys.adminToken }}
- name: HOOKSTREAM_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secret.keys.kafkaSaslPassword }}
      optional: true
{{- with $ctx.Values.tracing }}
{{- with .otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with .samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $ctx.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
