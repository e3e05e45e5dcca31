{{/*
Names and labels, as `helm create` makes them.
*/}}
{{- define "itsm-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name (63 characters at most: DNS label). When the release name already
contains the chart name, the release name alone is used.
*/}}
{{- define "itsm-bridge.fullname" -}}
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

{{- define "itsm-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "itsm-bridge.labels" -}}
helm.sh/chart: {{ include "itsm-bridge.chart" . }}
{{ include "itsm-bridge.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: itsm-bridge
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "itsm-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "itsm-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "itsm-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "itsm-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "itsm-bridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Storage mode guard: SQLite is one file on one volume, so it serves exactly one replica.
Several replicas (or an autoscaler that may create them) need the PostgreSQL store, which
claims work with row leases shared by every replica. Rendering stops here otherwise.
*/}}
{{- define "itsm-bridge.validateStore" -}}
{{- if not .Values.store.postgres.enabled }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount is %d but the store is SQLite, which serves one replica only (one file on a ReadWriteOnce volume). Set replicaCount: 1, or use PostgreSQL: store.postgres.enabled=true and store.postgres.existingSecret=<Secret holding the postgres:// URL>." (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled is true but the store is SQLite, which serves one replica only (one file on a ReadWriteOnce volume). Disable autoscaling, or use PostgreSQL: store.postgres.enabled=true and store.postgres.existingSecret=<Secret holding the postgres:// URL>." }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Where the gateway reads its mappings: the chart's mappings ConfigMap, the operator's own
ConfigMap, or (neither given) the defaults baked into the image.
*/}}
{{- define "itsm-bridge.mappingsMounted" -}}
{{- if or .Values.mappings.files .Values.mappings.existingConfigMap }}true{{ end }}
{{- end }}

{{- define "itsm-bridge.mappingsDir" -}}
{{- if include "itsm-bridge.mappingsMounted" . }}
{{- .Values.mappings.mountPath }}
{{- else }}
{{- .Values.mappings.imageDefaultsPath }}
{{- end }}
{{- end }}

{{/*
A mapping's relative path as a ConfigMap key (keys cannot hold "/"); the volume's `items`
put each key back at its path, so `demo/jira-incident.yaml` stays a nested file.
*/}}
{{- define "itsm-bridge.mappingKey" -}}
{{- . | replace "/" "__" }}
{{- end }}

{{/*
The gateway config file. Rendered as JSON (which is YAML) so that every string, and so every
`${ENV_VAR}` placeholder, is double-quoted: the gateway then escapes whatever a Secret holds
(quotes, `: `, `#`) instead of refusing it. Secrets never reach this ConfigMap, only names.
*/}}
{{- define "itsm-bridge.gatewayConfig" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $_ := set $cfg "mappings_dir" (include "itsm-bridge.mappingsDir" .) }}
{{- $store := dict "max_connections" (int .Values.store.maxConnections) }}
{{- if .Values.store.postgres.enabled }}
{{- $_ := set $store "url" "${ITSM_BRIDGE_DATABASE_URL}" }}
{{- else }}
{{- $_ := set $store "url" (printf "sqlite://%s/itsm-bridge.db" .Values.store.sqlite.path) }}
{{- end }}
{{- $_ := set $cfg "store" $store }}
{{- if .Values.admin.existingSecret }}
{{- $_ := set $cfg "admin" (dict "token" "${ITSM_BRIDGE_ADMIN_TOKEN}") }}
{{- end }}
{{- $_ := set $cfg "tenants" .Values.tenants }}
{{- if include "itsm-bridge.tenantFilesMounted" . }}
{{- $_ := set $cfg "tenants_dir" .Values.tenantFiles.mountPath }}
{{- end }}
{{- toPrettyJson $cfg }}
{{- end }}

{{/*
Whether tenant files are mounted (the chart's ConfigMap or the operator's own).
*/}}
{{- define "itsm-bridge.tenantFilesMounted" -}}
{{- if or .Values.tenantFiles.files .Values.tenantFiles.existingConfigMap }}true{{ end }}
{{- end }}

{{/*
The tenant files of the chart's ConfigMap, one JSON document (which is YAML) per file, so that
every `${…}` placeholder is double-quoted as in the config file.
*/}}
{{- define "itsm-bridge.tenantFilesData" -}}
{{- range $name, $tenant := .Values.tenantFiles.files }}
{{ $name }}: |
  {{- toPrettyJson $tenant | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Environment of both containers: chart-owned variables, then the operator's Secret references.
*/}}
{{- define "itsm-bridge.env" -}}
{{- if .Values.store.postgres.enabled }}
- name: ITSM_BRIDGE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.store.postgres.existingSecret }}
      key: {{ .Values.store.postgres.secretKey }}
{{- end }}
{{- if .Values.admin.existingSecret }}
- name: ITSM_BRIDGE_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.admin.existingSecret }}
      key: {{ .Values.admin.secretKey }}
{{- end }}
{{- range .Values.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Every `${VAR}` of the config must come from somewhere, or the pod would crash-loop on
"environment variable … is not set". When whole Secrets are imported (envFromSecrets) their
keys cannot be known at render time, so the check is left to the `check` init container.
*/}}
{{- define "itsm-bridge.validateEnv" -}}
{{- if not .Values.envFromSecrets }}
{{- $known := dict "ITSM_BRIDGE_DATABASE_URL" .Values.store.postgres.enabled "ITSM_BRIDGE_ADMIN_TOKEN" (not (empty .Values.admin.existingSecret)) }}
{{- range .Values.secretEnv }}{{ $_ := set $known .name true }}{{ end }}
{{- range .Values.extraEnv }}{{ $_ := set $known .name true }}{{ end }}
{{- $missing := list }}
{{- $text := printf "%s\n%s" (include "itsm-bridge.gatewayConfig" .) (include "itsm-bridge.tenantFilesData" .) }}
{{- range regexFindAll "\\$\\{[A-Za-z0-9_]+\\}" $text -1 }}
{{- $name := trimSuffix "}" (trimPrefix "${" .) }}
{{- if not (get $known $name) }}{{ $missing = append $missing $name }}{{ end }}
{{- end }}
{{- if $missing }}
{{- fail (printf "the config uses ${%s} but no such environment variable is defined: add it to secretEnv (name, secretName, key) or extraEnv, or import whole Secrets with envFromSecrets" (join "}, ${" (uniq $missing))) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
`env` and `envFrom` of a container (the same for `check` and `serve`).
*/}}
{{- define "itsm-bridge.containerEnv" -}}
{{- $env := include "itsm-bridge.env" . | trim }}
{{- if $env }}
env:
  {{- $env | nindent 2 }}
{{- end }}
{{- if or .Values.envFromSecrets .Values.extraEnvFrom }}
envFrom:
  {{- range .Values.envFromSecrets }}
  - secretRef:
      name: {{ . }}
  {{- end }}
  {{- with .Values.extraEnvFrom }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Mounts: the config file, the mappings folder (when not the image's), /tmp, and the SQLite
folder (`data`: only for the gateway, never for `check`, which must not touch the store).
*/}}
{{- define "itsm-bridge.volumeMounts" -}}
{{- $ := .ctx }}
- name: config
  mountPath: /etc/itsm-bridge/config.yaml
  subPath: config.yaml
  readOnly: true
{{- if include "itsm-bridge.mappingsMounted" $ }}
- name: mappings
  mountPath: {{ $.Values.mappings.mountPath }}
  readOnly: true
{{- end }}
{{- /* Whole folders, never subPath: a subPath mount is not updated when its source changes. */}}
{{- if include "itsm-bridge.tenantFilesMounted" $ }}
- name: tenants
  mountPath: {{ $.Values.tenantFiles.mountPath }}
  readOnly: true
{{- end }}
{{- range $i, $s := $.Values.secretFiles }}
- name: secret-files-{{ $i }}
  mountPath: {{ $s.mountPath }}
  readOnly: true
{{- end }}
{{- with $.Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
- name: tmp
  mountPath: /tmp
{{- if .data }}
- name: data
  mountPath: {{ $.Values.store.sqlite.path }}
{{- end }}
{{- end }}
