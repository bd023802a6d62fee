{{/* Names. The default prefix is <release>-mxprobe, shortened to fit DNS labels. */}}
{{- define "mxprobe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mxprobe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* 40 characters leave room for "-headless", pod ordinals and the StatefulSet's revision label (63). */}}
{{- define "mxprobe.controller" -}}{{ include "mxprobe.fullname" . }}{{- end -}}
{{- define "mxprobe.headless" -}}{{ include "mxprobe.fullname" . }}-headless{{- end -}}
{{- define "mxprobe.agent" -}}{{ include "mxprobe.fullname" . }}-agent{{- end -}}
{{- define "mxprobe.tlsSecret" -}}{{ default (printf "%s-tls" (include "mxprobe.fullname" .)) .Values.tls.existingSecret }}{{- end -}}

{{- define "mxprobe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mxprobe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mxprobe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mxprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mxprobe.controllerSelector" -}}
app.kubernetes.io/name: {{ include "mxprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "mxprobe.agentSelector" -}}
app.kubernetes.io/name: {{ include "mxprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "mxprobe.controllerImage" -}}
{{ .Values.image.controller.repository }}:{{ default .Chart.AppVersion .Values.image.controller.tag }}
{{- end -}}
{{- define "mxprobe.agentImage" -}}
{{ .Values.image.agent.repository }}:{{ default .Chart.AppVersion .Values.image.agent.tag }}
{{- end -}}

{{/* The DNS domain of the controller pods: <headless>.<namespace>.svc.<clusterDomain>. */}}
{{- define "mxprobe.podDomain" -}}
{{ include "mxprobe.headless" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end -}}

{{/* Every controller pod's stable gRPC address, as a list (JSON, for fromJsonArray). */}}
{{- define "mxprobe.retryJoin" -}}
{{- $addrs := list -}}
{{- range $i := until (int .Values.controller.replicas) -}}
{{- $addrs = append $addrs (printf "%s-%d.%s:%d" (include "mxprobe.controller" $) $i (include "mxprobe.podDomain" $) (int $.Values.controller.ports.grpc)) -}}
{{- end -}}
{{- toJson $addrs -}}
{{- end -}}

{{/*
The controller's config file, in mxprobe's own keys (docs/configuration.md). Per-pod values
(node_id and the advertise addresses) come from the environment, since one ConfigMap serves
every pod. Listens bind all interfaces: the pod IP changes, the DNS name does not.
*/}}
{{- define "mxprobe.controllerConfig" -}}
{{- $c := .Values.controller -}}
{{- $cfg := dict
  "data_dir" "/var/lib/mxprobe"
  "bootstrap_expect" (int $c.replicas)
  "retry_join" (include "mxprobe.retryJoin" . | fromJsonArray)
  "grpc" (dict "listen" (printf ":%d" (int $c.ports.grpc)))
  "http" (dict "listen" (printf ":%d" (int $c.ports.http)))
  "raft" (dict "listen" (printf ":%d" (int $c.ports.raft)))
-}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $cfg "tls" (dict "cert_file" "/etc/mxprobe/tls/tls.crt" "key_file" "/etc/mxprobe/tls/tls.key" "ca_file" "/etc/mxprobe/tls/ca.crt") -}}
{{- $_ := set $cfg "agent_ca" (dict "cert_file" "/etc/mxprobe/tls/agent-ca.crt" "key_file" "/etc/mxprobe/tls/agent-ca.key") -}}
{{- else -}}
{{- /* The controller refuses to run without TLS unless told this is a lab. */ -}}
{{- $_ := set $cfg "insecure" true -}}
{{- end -}}
{{- /* mergeOverwrite merges nested maps: raft.listen joins the user's raft keys. */ -}}
{{- toYaml (mergeOverwrite (deepCopy $c.config) $cfg) -}}
{{- end -}}

{{- define "mxprobe.agentConfig" -}}
{{- $port := int .Values.controller.ports.grpc -}}
{{- $cfg := dict
  "site" .Values.agent.site
  "roles" .Values.agent.roles
  "state_dir" "/var/lib/mxprobe-agent"
  "controllers" (list (printf "%s.%s.svc.%s:%d" (include "mxprobe.controller" .) .Release.Namespace .Values.clusterDomain $port))
-}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $cfg "controller_ca_file" "/etc/mxprobe-tls/ca.crt" -}}
{{- else -}}
{{- $_ := set $cfg "insecure" true -}}
{{- end -}}
{{- toYaml (mergeOverwrite $cfg (deepCopy .Values.agent.config)) -}}
{{- end -}}

{{/*
GOMEMLIMIT for a container memory limit ("1Gi", "512Mi", "1Ti"): 90% of it in MiB, so the Go runtime
collects harder as it nears the limit instead of being OOM-killed. Empty for other forms.
*/}}
{{- define "mxprobe.goMemLimit" -}}
{{- $q := toString . -}}
{{- $mib := 0 -}}
{{- if regexMatch "^[0-9]+Ti$" $q -}}{{- $mib = mul (trimSuffix "Ti" $q | int) 1048576 -}}
{{- else if regexMatch "^[0-9]+Gi$" $q -}}{{- $mib = mul (trimSuffix "Gi" $q | int) 1024 -}}
{{- else if regexMatch "^[0-9]+Mi$" $q -}}{{- $mib = trimSuffix "Mi" $q | int -}}
{{- end -}}
{{- if gt (int $mib) 0 -}}{{ div (mul $mib 9) 10 }}MiB{{- end -}}
{{- end -}}

{{/* http or https: the controller's HTTP port speaks TLS whenever the cluster has it. */}}
{{- define "mxprobe.httpScheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}

{{/*
Secrets from existing Secret references, as the environment variables of their settings (file/env-only
settings, never in the ConfigMap): the bootstrap admin token and the notifiers' credentials.
*/}}
{{- define "mxprobe.secretEnv" -}}
{{- $refs := list
  (list "MXPROBE_AUTH_BOOTSTRAP_TOKEN" .Values.controller.bootstrapTokenSecret)
  (list "MXPROBE_NOTIFY_PAGERDUTY_ROUTING_KEY" .Values.notify.pagerdutyRoutingKeySecret)
  (list "MXPROBE_NOTIFY_SERVICENOW_PASSWORD" .Values.notify.servicenowPasswordSecret)
  (list "MXPROBE_NOTIFY_WEBHOOK_SECRETS" .Values.notify.webhookSecretsSecret) -}}
{{- range $refs }}
{{- $ref := index . 1 }}
{{- if and $ref $ref.name }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ required (printf "%s: the Secret reference needs a key" (index . 0)) $ref.key }}
{{- end }}
{{- end }}
{{- end -}}
