{{/* Names: the chart name, and the release's full name (63 characters at most). */}}
{{- define "ssh-workspace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ssh-workspace.fullname" -}}
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

{{/* Labels: app.kubernetes.io/* on every object; the selector is a stable subset. */}}
{{- define "ssh-workspace.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ssh-workspace.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ssh-workspace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ssh-workspace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
What the Service and the NetworkPolicy select: the workspace pod only.  The
helm test pod has the same name and instance labels (component: test), and
a policy that selected it would cut its own egress.  (The Deployment's
selector stays name + instance: it is immutable.)
*/}}
{{- define "ssh-workspace.workspaceSelectorLabels" -}}
{{ include "ssh-workspace.selectorLabels" . }}
app.kubernetes.io/component: workspace
{{- end }}

{{- define "ssh-workspace.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Object names */}}
{{- define "ssh-workspace.authorizedKeysSecret" -}}
{{- .Values.ssh.publicKeys.existingSecret | default (printf "%s-authorized-keys" (include "ssh-workspace.fullname" .)) }}
{{- end }}

{{- define "ssh-workspace.hostKeySecret" -}}
{{- .Values.ssh.hostKey.existingSecret | default (printf "%s-host-key" (include "ssh-workspace.fullname" .)) }}
{{- end }}

{{- define "ssh-workspace.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-home" (include "ssh-workspace.fullname" .)) }}
{{- end }}

{{- define "ssh-workspace.hasEnv" -}}
{{- if or .Values.env.secrets .Values.env.configMaps .Values.env.values }}true{{ end }}
{{- end }}

{{/*
The host key, base64-encoded as it is stored in the Secret: the key already
in the release's Secret (lookup: kept across upgrades), else a new ed25519
key.  Generated at most once per render (kept in .Values) so that the
Secret and the pod's checksum annotation see the same key.
*/}}
{{- define "ssh-workspace.hostKeyData" -}}
{{- if not (hasKey .Values "__generatedHostKey") }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "ssh-workspace.hostKeySecret" .) }}
{{- $data := dig "data" "hostkey" "" ($existing | default dict) }}
{{- $_ := set .Values "__generatedHostKey" ($data | default (genPrivateKey "ed25519" | b64enc)) }}
{{- end }}
{{- index .Values "__generatedHostKey" }}
{{- end }}

{{/*
What the pod's checksum annotation covers for the host key: the key's
contents, whether the chart made it or it is an existing Secret (read with
lookup; without a cluster, as in `helm template`, that part is empty).
*/}}
{{- define "ssh-workspace.hostKeyChecksum" -}}
{{- if .Values.ssh.hostKey.existingSecret }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace .Values.ssh.hostKey.existingSecret }}
{{- dig "data" .Values.ssh.hostKey.existingSecretKey "" ($existing | default dict) | sha256sum }}
{{- else }}
{{- include "ssh-workspace.hostKeyData" . | sha256sum }}
{{- end }}
{{- end }}

{{/* The hook library's config file (docs/hook-config.md). */}}
{{- define "ssh-workspace.hooksConf" -}}
# ssh-workspace hook library config, from the Helm chart's values
event_log = {{ .Values.hooks.eventLog }}
log_commands = {{ ternary "yes" "no" .Values.hooks.logCommands }}
client_env_allow = {{ .Values.env.clientAllow | quote }}
env_on_failure = {{ .Values.env.onFailure }}
{{- if include "ssh-workspace.hasEnv" . }}
env_dir = /etc/ssh-workspace/env
{{- end }}
agent_forwarding = {{ ternary "yes" "no" .Values.agent.forwarding }}
{{- if .Values.agent.sidecar.enabled }}
agent_workspace_socket = /run/workspace-agent/agent.sock
{{- end }}
{{- if .Values.fleet.enabled }}
activity_dir = /var/lib/ws-activity
{{- end }}
{{- with .Values.hooks.extraConfig }}
{{ . }}
{{- end }}
{{ end }}

{{/* The server's arguments after the entrypoint's own (docs/server.md, "Runtime policy options"). */}}
{{- define "ssh-workspace.serverArgs" -}}
{{- $l := .Values.ssh.limits }}
- --crypto-profile={{ .Values.ssh.cryptoProfile }}
- --max-unauth={{ $l.maxUnauth }}
{{- if gt (int $l.maxUnauthPerAddress) 0 }}
- --max-unauth-per-address={{ $l.maxUnauthPerAddress }}
{{- end }}
- --auth-timeout={{ $l.authTimeout }}
- -K
- {{ $l.keepalive | quote }}
{{- if gt (int $l.idleTimeout) 0 }}
- -I
- {{ $l.idleTimeout | quote }}
{{- end }}
{{- if not .Values.ssh.forwarding.local }}
- -j
{{- end }}
{{- if not .Values.ssh.forwarding.remote }}
- -k
{{- end }}
{{- if .Values.ssh.forwarding.remoteAnyAddress }}
- -a
{{- end }}
{{- range .Values.ssh.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Pod and container security settings (Pod Security Standards "restricted"). */}}
{{- define "ssh-workspace.seccompProfile" -}}
{{- if .Values.podman.enabled }}
type: Localhost
localhostProfile: {{ .Values.podman.seccompProfile }}
{{- else }}
type: RuntimeDefault
{{- end }}
{{- end }}

{{- define "ssh-workspace.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* Checks with messages that say what to set; a failure stops the render. */}}
{{- define "ssh-workspace.validate" -}}
{{- $keys := .Values.ssh.publicKeys }}
{{- if .Values.fleet.enabled }}
{{- include "ssh-workspace.validateFleet" . }}
{{- else if not $keys.existingSecret }}
{{- if not (trim $keys.authorizedKeys) }}
{{- fail "ssh.publicKeys.authorizedKeys is required: set it to your public key(s), e.g. --set-file ssh.publicKeys.authorizedKeys=$HOME/.ssh/id_ed25519.pub (or name a Secret holding them in ssh.publicKeys.existingSecret)" }}
{{- end }}
{{- $bad := include "ssh-workspace.checkAuthorizedKeys" $keys.authorizedKeys }}
{{- if eq $bad "none" }}
{{- fail "ssh.publicKeys.authorizedKeys has no public key line: expected lines like 'ssh-ed25519 AAAA... comment' (the contents of a .pub file, not a private key or a file name)" }}
{{- else if $bad }}
{{- fail (printf "ssh.publicKeys.authorizedKeys has lines the server would not accept (fix or remove each; blank lines and '#' comments are fine):\n%s" $bad) }}
{{- end }}
{{- end }}
{{- if and .Values.persistence.existingClaim (not .Values.persistence.enabled) }}
{{- fail (printf "persistence.existingClaim (%s) is set but persistence.enabled is false: the home would be an emptyDir and the claim unused; set persistence.enabled=true to mount it, or unset existingClaim" .Values.persistence.existingClaim) }}
{{- end }}
{{- range $label := list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" "ssh-workspace/gateway" "ssh-workspace/workspace" }}
{{- if hasKey $.Values.podLabels $label }}
{{- fail (printf "podLabels must not set %s: the chart sets it, and the Service, the NetworkPolicy or the gateway select the workspace pod by it" $label) }}
{{- end }}
{{- end }}
{{- if has .Values.user.name (include "ssh-workspace.imageAccounts" . | splitList " ") }}
{{- fail (printf "user.name %q is a system account of the image (root, nobody, daemon, www-data, ... are in its /etc/passwd): the entrypoint would refuse to start; choose another name" .Values.user.name) }}
{{- end }}
{{- $nodePort := int .Values.service.nodePort }}
{{- if and (ne $nodePort 0) (or (lt $nodePort 30000) (gt $nodePort 32767)) }}
{{- fail (printf "service.nodePort %d is outside the node port range 30000-32767 (the API server refuses it): use 0 to let the cluster choose, or a port in that range" $nodePort) }}
{{- end }}
{{- include "ssh-workspace.validateExtraConfig" . }}
{{- if and .Values.tcpRoute.enabled (not .Values.tcpRoute.parentRefs) }}
{{- fail "tcpRoute.parentRefs is required when tcpRoute.enabled is true: the Gateway(s) to attach to, e.g. [{name: my-gateway, sectionName: ssh}]" }}
{{- end }}
{{- if and .Values.podSecurityContext.omitIds .Values.agent.sidecar.enabled }}
{{- fail "agent.sidecar.enabled needs the uids: with podSecurityContext.omitIds the workspace uid is assigned by the platform, so the sidecar can neither run as another fixed uid nor admit the workspace's (ALLOW_UID)" }}
{{- end }}
{{- if .Values.agent.sidecar.enabled }}
{{- if not .Values.agent.sidecar.keysSecret }}
{{- fail "agent.sidecar.keysSecret is required when agent.sidecar.enabled is true: the name of a Secret holding the deploy keys" }}
{{- end }}
{{- if eq (int .Values.agent.sidecar.uid) (int .Values.user.uid) }}
{{- fail "agent.sidecar.uid must differ from user.uid: the sidecar keeps the keys away from the workspace user by running as another uid" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The accounts in the image's /etc/passwd (debian:trixie-slim's base-passwd):
the entrypoint refuses a WS_USER that names one of them with another uid,
so the pod would never start.
*/}}
{{- define "ssh-workspace.imageAccounts" -}}
root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc _apt nobody
{{- end }}

{{/*
hooks.extraConfig, checked as the hook library reads it (plugins/config.c):
blank and # lines are skipped, every other line is "key = value" with a
known key, and a key set twice (by the chart or in extraConfig) stops the
server at start ("'KEY' is already set on line N").
*/}}
{{- define "ssh-workspace.validateExtraConfig" -}}
{{- $known := list "event_log" "log_commands" "env_dir" "env_file" "env_command" "env_command_timeout" "env_socket" "env_socket_url" "env_socket_timeout" "env_output_max" "env_max_vars" "env_max_bytes" "env_value_max" "env_allow_path" "env_on_failure" "client_env_allow" "client_env_forced_command" "agent_forwarding" "agent_dir" "agent_workspace_socket" "activity_dir" "activity_interval" "role" "gateway_users_dir" "gateway_keys_command" "gateway_keys_socket" "gateway_suffix" "gateway_grants" "gateway_create" "gateway_user_limits" "gateway_max_per_user" "gateway_idle_stop" "gateway_wake_timeout" "gateway_backend" "gateway_state_dir" "gateway_program" "gateway_host" "gateway_workspace_user" }}
{{- $chart := dict "event_log" "hooks.eventLog" "log_commands" "hooks.logCommands" "client_env_allow" "env.clientAllow" "env_on_failure" "env.onFailure" "agent_forwarding" "agent.forwarding" }}
{{- if include "ssh-workspace.hasEnv" . }}
{{- $_ := set $chart "env_dir" "env.secrets, env.configMaps and env.values" }}
{{- end }}
{{- if .Values.agent.sidecar.enabled }}
{{- $_ := set $chart "agent_workspace_socket" "agent.sidecar.enabled" }}
{{- end }}
{{- if .Values.fleet.enabled }}
{{- $_ := set $chart "activity_dir" "fleet.enabled (the gateway's idle stop reads it)" }}
{{- end }}
{{- $seen := dict }}
{{- range $i, $line := splitList "\n" .Values.hooks.extraConfig }}
{{- $n := add1 $i }}
{{- if regexMatch "[\\x00-\\x08\\x0a-\\x1f]" $line }}
{{- fail (printf "hooks.extraConfig line %d: control character in line (the hook library refuses it; a file with CRLF line ends?)" $n) }}
{{- end }}
{{- if not (regexMatch "^[ \\t]*(#.*)?$" $line) }}
{{- if not (regexMatch "^[ \\t]*[a-z0-9_]+[ \\t]*=" $line) }}
{{- fail (printf "hooks.extraConfig line %d: expected 'key = value', got %q" $n $line) }}
{{- end }}
{{- $key := regexReplaceAll "^[ \\t]*([a-z0-9_]+)[ \\t]*=.*$" $line "${1}" }}
{{- if not (has $key $known) }}
{{- fail (printf "hooks.extraConfig line %d: unknown key '%s' (the keys are in the repository's docs/hook-config.md)" $n $key) }}
{{- end }}
{{- if hasKey $chart $key }}
{{- fail (printf "hooks.extraConfig line %d sets '%s', which the chart already sets from %s: set that value instead (a key set twice stops the server at start)" $n $key (get $chart $key)) }}
{{- end }}
{{- if hasKey $seen $key }}
{{- fail (printf "hooks.extraConfig sets '%s' twice (lines %d and %d): the hook library refuses a key set twice and the server would not start" $key (get $seen $key) $n) }}
{{- end }}
{{- $_ := set $seen $key $n }}
{{- end }}
{{- end }}
{{- end }}
