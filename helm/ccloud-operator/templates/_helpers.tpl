{{/*
Names, labels, and the rules every RBAC object is built from. The kinds the operator serves come
from _kinds.tpl, which tools/generate.py writes from ccloud_operator.resources.KINDS: a new kind
reaches the ClusterRole, the Roles and the aggregated roles without an edit here.
*/}}

{{- define "ccloud-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ccloud-operator.fullname" -}}
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

{{- define "ccloud-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ccloud-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ccloud-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ccloud-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ccloud-operator
{{- end }}

{{- define "ccloud-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ccloud-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ccloud-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret the chart makes from credentials.apiKey and credentials.apiSecret. */}}
{{- define "ccloud-operator.inlineCredentialsName" -}}
{{- printf "%s-credentials" (include "ccloud-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The default credentials as namespace/name, from whichever of the three ways is set (at most one:
ccloud-operator.validate says so); empty when none is.
*/}}
{{- define "ccloud-operator.defaultCredentialsSecret" -}}
{{- if .Values.defaultCredentialsSecret }}
{{- .Values.defaultCredentialsSecret }}
{{- else if .Values.credentials.existingSecret }}
{{- printf "%s/%s" .Release.Namespace .Values.credentials.existingSecret }}
{{- else if .Values.credentials.apiKey }}
{{- printf "%s/%s" .Release.Namespace (include "ccloud-operator.inlineCredentialsName" .) }}
{{- end }}
{{- end }}

{{/* Mistakes the schema cannot express, each refused with a message that says what to change. */}}
{{- define "ccloud-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering) }}
{{- fail (printf "replicas is %d but peering is empty: more than one replica needs a kopf peering name (set peering), or every replica would reconcile every resource" (int .Values.replicas)) }}
{{- end }}
{{- $ways := list }}
{{- if .Values.defaultCredentialsSecret }}{{ $ways = append $ways "defaultCredentialsSecret" }}{{ end }}
{{- if .Values.credentials.existingSecret }}{{ $ways = append $ways "credentials.existingSecret" }}{{ end }}
{{- if or .Values.credentials.apiKey .Values.credentials.apiSecret }}{{ $ways = append $ways "credentials.apiKey/apiSecret" }}{{ end }}
{{- if .Values.defaultIdentityPool }}{{ $ways = append $ways "defaultIdentityPool" }}{{ end }}
{{- if gt (len $ways) 1 }}
{{- fail (printf "the default credentials are set in %d ways (%s): set only one" (len $ways) (join ", " $ways)) }}
{{- end }}
{{- if and .Values.defaultIdentityPool (not .Values.workloadIdentity.projectedToken) }}
{{- fail "defaultIdentityPool needs the operator's ServiceAccount token: set workloadIdentity.projectedToken to true" }}
{{- end }}
{{- if and (or .Values.credentials.apiKey .Values.credentials.apiSecret) (not (and .Values.credentials.apiKey .Values.credentials.apiSecret)) }}
{{- fail "credentials.apiKey and credentials.apiSecret go together: set both, or neither" }}
{{- end }}
{{- end }}

{{/* The operator's own kinds, as RBAC resources: each plural and its status subresource. */}}
{{- define "ccloud-operator.crdResources" -}}
{{- range (include "ccloud-operator.kindPlurals" . | fromJsonArray) }}
- {{ . }}
{{- end }}
{{- end }}

{{- define "ccloud-operator.crdStatusResources" -}}
{{- range (include "ccloud-operator.kindPlurals" . | fromJsonArray) }}
- {{ . }}/status
{{- end }}
{{- end }}

{{/*
What the operator does in each namespace it serves: in a ClusterRole when it serves all of them, in
one Role per namespace otherwise. Argument: a dict with root (the chart context) and clusterwide.
*/}}
{{- define "ccloud-operator.namespacedRules" -}}
{{- $root := .root }}
# Its own kinds: listed and watched by kopf, read by the reconcile (get), and JSON-patched to add and
# remove the operator's finalizer. Never created, updated or deleted: those are the user's.
- apiGroups: [{{ include "ccloud-operator.group" $root | quote }}]
  resources:
    {{- include "ccloud-operator.crdResources" $root | trim | nindent 4 }}
  verbs: [get, list, watch, patch]
# Status is a subresource with its own permission: the reconcile merge-patches it, nothing else.
# No <kind>/finalizers: the operator's owner references on Secrets do not set blockOwnerDeletion.
- apiGroups: [{{ include "ccloud-operator.group" $root | quote }}]
  resources:
    {{- include "ccloud-operator.crdStatusResources" $root | trim | nindent 4 }}
  verbs: [patch]
# Secrets. list and watch: kopf's watch of every Secret, which wakes the objects that refer to one
# (RBAC cannot narrow a list or watch by label, and the referenced Secrets are the user's, unlabelled).
# get: credentials, connector secrets and archive passwords, read by name. patch: the credentials
# finalizer on a Secret in use. create, update, delete: an ApiKey's output Secret (update when it
# exists already, delete on replacement or deletion). RBAC cannot say "only Secrets it owns": see the
# README, "What the operator may do".
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update, patch, delete]
# ConfigMaps a spec references (a plugin archive): read by name, and watched to wake their readers;
# never written.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
# kopf's and the operator's Events: both only ever create them (kopf posts, never patches).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if and $root.Values.peering (not .clusterwide) }}
{{- include "ccloud-operator.peeringRules" (dict "resource" "kopfpeerings" "name" $root.Values.peering) }}
{{- end }}
{{- end }}

{{/* kopf peering: it lists and watches every peering object but writes only its own. */}}
{{- define "ccloud-operator.peeringRules" }}
# kopf peering: replicas find each other through the peering object, and keep alive by patching it.
- apiGroups: [kopf.dev]
  resources: [{{ .resource }}]
  verbs: [list, watch]
- apiGroups: [kopf.dev]
  resources: [{{ .resource }}]
  resourceNames: [{{ .name | quote }}]
  verbs: [get, patch]
{{- end }}
