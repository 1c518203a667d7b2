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

{{/* The hook library's config file (README "The hook library's config"). */}}
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
{{- with .Values.hooks.extraConfig }}
{{ . }}
{{- end }}
{{ end }}

{{/* The server's arguments after the entrypoint's own (README "Runtime policy options"). */}}
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
{{- if not $keys.existingSecret }}
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
{{- if .Values.agent.sidecar.enabled }}
{{- if not .Values.agent.sidecar.keysSecret }}
{{- fail "agent.sidecar.keysSecret is required when agent.sidecar.enabled is true: the name of a Secret holding the deploy keys" }}
{{- end }}
{{- if eq (int .Values.agent.sidecar.uid) (int .Values.user.uid) }}
{{- fail "agent.sidecar.uid must differ from user.uid: the sidecar keeps the keys away from the workspace user by running as another uid" }}
{{- end }}
{{- end }}
{{- end }}
