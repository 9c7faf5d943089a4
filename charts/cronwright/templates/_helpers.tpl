{{/* Names: <release>-cronwright unless the release name already says cronwright. */}}
{{- define "cronwright.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cronwright.fullname" -}}
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

{{/* Component names stay within 63 characters, the limit of Service names. */}}
{{- define "cronwright.operator.fullname" -}}
{{- printf "%s-operator" (include "cronwright.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "cronwright.facade.fullname" -}}
{{- printf "%s-api" (include "cronwright.fullname" . | trunc 59 | trimSuffix "-") }}
{{- end }}

{{- define "cronwright.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "cronwright.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cronwright
{{- end }}

{{- define "cronwright.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cronwright.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cronwright.operator.selectorLabels" -}}
{{ include "cronwright.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "cronwright.facade.selectorLabels" -}}
{{ include "cronwright.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{- define "cronwright.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "cronwright.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cronwright.facade.serviceAccountName" -}}
{{- if .Values.facade.serviceAccount.create }}
{{- default (include "cronwright.facade.fullname" .) .Values.facade.serviceAccount.name }}
{{- else }}
{{- required "facade.serviceAccount.name is required when facade.serviceAccount.create is false" .Values.facade.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cronwright.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "cronwright.webhookServiceName" -}}
{{- printf "%s-webhook" (include "cronwright.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* The ValidatingWebhookConfiguration is cluster-scoped: the release namespace keeps two
releases of the same name in different namespaces apart. */}}
{{- define "cronwright.webhookConfigurationName" -}}
{{- printf "%s-%s" .Release.Namespace (include "cronwright.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
