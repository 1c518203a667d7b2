{{/*
Fleet mode (README.md, "Fleet mode"): a gateway and one workspace per
user, which the gateway's Kubernetes backend (ws-gateway-kube) creates,
starts and stops from the StatefulSet templates rendered here.  Helm never
renders a workspace StatefulSet: the workspaces are not in the release.
*/}}

{{/*
The value of the label ssh-workspace/gateway on everything this release's
gateway creates (WS_KUBE_MANAGED): the release's full name, a valid label
value (63 characters at most, alphanumeric at both ends).  The backend
touches only objects that carry it.
*/}}
{{- define "ssh-workspace.fleetManaged" -}}
{{- include "ssh-workspace.fullname" . | trunc 63 | trimSuffix "-" | trimSuffix "-" }}
{{- end }}

{{- define "ssh-workspace.gatewayName" -}}
{{- printf "%s-gateway" (include "ssh-workspace.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* The gateway pod: the Service's and the NetworkPolicies' selector. */}}
{{- define "ssh-workspace.gatewaySelectorLabels" -}}
{{ include "ssh-workspace.selectorLabels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{/* What selects one workspace (the StatefulSet's selector, its claim). */}}
{{- define "ssh-workspace.fleetWorkspaceSelector" -}}
ssh-workspace/gateway: {{ include "ssh-workspace.fleetManaged" . }}
ssh-workspace/workspace: __NAME__
{{- end }}

{{/*
A fleet workspace's labels (pod and StatefulSet; the component is added
by the caller): not Helm's managed-by and chart labels, since Helm does not
manage it (the backend sets app.kubernetes.io/managed-by: ws-gateway).
*/}}
{{- define "ssh-workspace.fleetWorkspaceLabels" -}}
{{ include "ssh-workspace.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "ssh-workspace.fleetWorkspaceSelector" . }}
{{- end }}

{{/*
The Kubernetes API requests of ws-gateway-kube (its `requests` command
prints the same table): the gateway's Role, in one place.  No get or list
on Secrets: the backend writes each workspace's two Secrets and never
reads one.
*/}}
{{- define "ssh-workspace.fleetRbacRules" -}}
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, watch]
# exec for the activity check: a WebSocket GET, authorized as create
# since Kubernetes 1.30 and as get before
- apiGroups: [""]
  resources: [pods/exec]
  verbs: [create, get]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [list, delete]
{{- end }}

{{/* gateway_create: own (only the workspace named USER) or on (also USER-*). */}}
{{- define "ssh-workspace.gatewayCreate" -}}
{{- ternary "on" "own" .Values.gateway.createOnDemand }}
{{- end }}

{{/*
The gateway's per-user limits (gateway_user_limits): a line `USER
create=own|on|off max=N` for each user who sets mayCreate or
maxWorkspaces, the other field from the gateway's defaults.  Empty if no
user does.
*/}}
{{- define "ssh-workspace.gatewayUserLimits" -}}
{{- range $name, $u := .Values.users }}
{{- if or (hasKey $u "mayCreate") (hasKey $u "maxWorkspaces") }}
{{ $name }} create={{ $u.mayCreate | default (include "ssh-workspace.gatewayCreate" $) }} max={{ int ($u.maxWorkspaces | default $.Values.gateway.maxPerUser) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The gateway's hook config (docs/hook-config.md, "The gateway role"). */}}
{{- define "ssh-workspace.gatewayConf" -}}
# ssh-workspace gateway config, from the Helm chart's values
role = gateway
event_log = {{ .Values.hooks.eventLog }}
gateway_users_dir = /etc/ssh-workspace/gateway-users
gateway_state_dir = /var/lib/ws-gateway
gateway_backend = /usr/bin/ws-gateway-kube
gateway_program = /usr/bin/ws-gateway
gateway_create = {{ include "ssh-workspace.gatewayCreate" . }}
gateway_idle_stop = {{ .Values.gateway.idleStop }}
gateway_max_per_user = {{ int .Values.gateway.maxPerUser }}
gateway_wake_timeout = {{ int .Values.gateway.wakeTimeout }}
gateway_workspace_user = {{ .Values.user.name }}
{{- with .Values.gateway.host }}
gateway_host = {{ . }}
{{- end }}
{{- if include "ssh-workspace.gatewayUserLimits" . }}
gateway_user_limits = /etc/ssh-workspace/hooks/user-limits
{{- end }}
{{ end }}

{{/*
One workspace's StatefulSet, as the backend reads it (WS_KUBE_TEMPLATE_DIR):
__OBJECT__ becomes the object name (PREFIX + NAME), __NAME__ the workspace
name.  No replicas: the backend creates it with 0 and sets 1 to start it,
0 to stop it.  Argument: a dict with root and user (a users entry, or an
empty dict for default.json).
*/}}
{{- define "ssh-workspace.fleetStatefulSet" -}}
{{- $root := .root }}
{{- $user := .user }}
{{- with $root }}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: __OBJECT__
  labels:
    {{- include "ssh-workspace.fleetWorkspaceLabels" . | nindent 4 }}
    app.kubernetes.io/component: workspace
spec:
  # no headless Service: the gateway reaches the pod at its address
  serviceName: ""
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "ssh-workspace.fleetWorkspaceSelector" . | nindent 6 }}
  # deleting the workspace deletes its home; stopping it (replicas 0) keeps it
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Delete
    whenScaled: Retain
  template:
    {{- include "ssh-workspace.workspacePodTemplate" (dict "root" . "fleet" (dict "resources" ($user.resources | default .Values.resources))) }}
  {{- if .Values.persistence.enabled }}
  volumeClaimTemplates:
    - metadata:
        name: home
        labels:
          {{- include "ssh-workspace.fleetWorkspaceSelector" . | nindent 10 }}
        {{- with .Values.persistence.annotations }}
        annotations:
          {{- toYaml . | nindent 10 }}
        {{- end }}
      spec:
        accessModes:
          {{- toYaml .Values.persistence.accessModes | nindent 10 }}
        {{- if eq .Values.persistence.storageClass "-" }}
        storageClassName: ""
        {{- else if .Values.persistence.storageClass }}
        storageClassName: {{ .Values.persistence.storageClass }}
        {{- end }}
        resources:
          requests:
            storage: {{ $user.homeSize | default .Values.persistence.size }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The same as JSON text, the form the backend parses (compact: a
ConfigMap holds at most 1 MiB, for every user's template). */}}
{{- define "ssh-workspace.fleetStatefulSetJson" -}}
{{- $obj := include "ssh-workspace.fleetStatefulSet" . | fromYaml }}
{{- if hasKey $obj "Error" }}
{{- fail (printf "the fleet's StatefulSet template does not parse: %s" $obj.Error) }}
{{- end }}
{{- toJson $obj }}
{{- end }}

{{/* Fleet mode's checks; a failure stops the render. */}}
{{- define "ssh-workspace.validateFleet" -}}
{{- if not .Values.users }}
{{- fail "fleet.enabled needs at least one user in users: e.g. --set-file users.alice.keys=alice.pub" }}
{{- end }}
{{- if .Values.ssh.publicKeys.authorizedKeys }}
{{- fail "ssh.publicKeys.authorizedKeys is for the single workspace: in fleet mode each user's keys are users.NAME.keys" }}
{{- end }}
{{- if .Values.ssh.publicKeys.existingSecret }}
{{- fail "ssh.publicKeys.existingSecret is for the single workspace: in fleet mode each user's keys are users.NAME.keys" }}
{{- end }}
{{- if .Values.ssh.hostKey.existingSecret }}
{{- fail "ssh.hostKey.existingSecret is for the single workspace: in fleet mode the gateway makes each workspace's host key" }}
{{- end }}
{{- if .Values.persistence.existingClaim }}
{{- fail "persistence.existingClaim is for the single workspace: in fleet mode each workspace has a claim of its own (home-PREFIX-NAME-0)" }}
{{- end }}
{{- if .Values.hostPort.enabled }}
{{- fail "hostPort is for the single workspace: in fleet mode users reach the gateway's Service" }}
{{- end }}
{{- if .Values.agent.sidecar.enabled }}
{{- fail "agent.sidecar is for the single workspace: in fleet mode every user's workspace would hold the same deploy keys" }}
{{- end }}
{{- if and .Values.tests.fleetUser (not (hasKey .Values.users .Values.tests.fleetUser)) }}
{{- fail (printf "tests.fleetUser %q is not in users" .Values.tests.fleetUser) }}
{{- end }}
{{- if and .Values.tests.fleetUser (not .Values.tests.privateKeySecret) }}
{{- fail "tests.fleetUser needs tests.privateKeySecret: the Secret (key id_ed25519) with that user's private key" }}
{{- end }}
{{- $idle := .Values.gateway.idleStop }}
{{- if ne $idle "off" }}
{{- $count := regexFind "^[0-9]+" $idle }}
{{- $seconds := mul (int $count) (get (dict "" 1 "s" 1 "m" 60 "h" 3600) (trimPrefix $count $idle)) }}
{{- if or (lt $seconds 10) (gt $seconds 604800) }}
{{- fail (printf "gateway.idleStop %s is %d seconds: the gateway takes 10 s to 7 days (or off)" $idle $seconds) }}
{{- end }}
{{- end }}
{{- with .Values.users.default }}
{{- if or .homeSize .resources }}
{{- fail "users.default cannot have a homeSize or resources of its own: default.json is every other user's template" }}
{{- end }}
{{- end }}
{{- $prefix := .Values.gateway.kubernetes.objectPrefix }}
{{- range $name, $u := .Values.users }}
{{- if not (regexMatch "^[a-z0-9]{1,32}$" $name) }}
{{- fail (printf "users: %q is not a gateway user name: 1 to 32 of a-z and 0-9 (no '-': user U owns the workspaces U and U-*)" $name) }}
{{- end }}
{{- if gt (len (printf "%s%s" $prefix $name)) 52 }}
{{- fail (printf "users.%s: the workspace object %s%s is longer than 52 characters (the StatefulSet pod label limit): a shorter name or gateway.kubernetes.objectPrefix" $name $prefix $name) }}
{{- end }}
{{- $text := $u.keys | default "" }}
{{- if not (trim $text) }}
{{- fail (printf "users.%s.keys is required: that user's public key(s), e.g. --set-file users.%s.keys=%s.pub" $name $name $name) }}
{{- end }}
{{- $bad := include "ssh-workspace.checkAuthorizedKeys" $text }}
{{- if eq $bad "none" }}
{{- fail (printf "users.%s.keys has no public key line: expected lines like 'ssh-ed25519 AAAA... comment' (the contents of a .pub file)" $name) }}
{{- else if $bad }}
{{- fail (printf "users.%s.keys has lines the server would not accept (fix or remove each; blank lines and '#' comments are fine):\n%s" $name $bad) }}
{{- end }}
{{- end }}
{{- end }}
