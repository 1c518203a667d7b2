{{/* NOTES.txt in fleet mode: how users connect, and what the gateway may do. */}}
{{- define "ssh-workspace.fleetNotes" -}}
{{- $fullname := include "ssh-workspace.fullname" . -}}
{{- $gateway := include "ssh-workspace.gatewayName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $managed := include "ssh-workspace.fleetManaged" . -}}
{{- $host := .Values.gateway.host | default "GATEWAY_HOST" -}}
{{- /* ssh takes a port with -p, not after the host */ -}}
{{- $port := "" -}}
{{- if regexMatch ":[0-9]+$" $host -}}
{{- $port = regexFind "[0-9]+$" $host -}}
{{- $host = regexReplaceAll ":[0-9]+$" $host "" -}}
{{- end -}}
{{- $p := ternary (printf "-p %s " $port) "" (ne $port "") -}}
ssh-workspace {{ .Chart.AppVersion }} fleet: a gateway and a workspace per user, release {{ .Release.Name }} in namespace {{ $ns }}.
{{- if hasPrefix "localhost/" .Values.image.repository }}

WARNING: image.repository is {{ .Values.image.repository }}, the name `make image`
gives the image on the machine that built it: no node can pull it unless it
was loaded into the nodes. Push it to a registry and set image.repository.
{{- end }}

Each user, once, then to reach their workspace:
{{- range $name, $u := .Values.users }}

  ssh {{ $p }}{{ $name }}@{{ $host }} config >> ~/.ssh/config
  ssh {{ $name }}.ws
{{- end }}

The first jump creates the workspace named after the user
{{- if .Values.gateway.createOnDemand }}; USER-SOMETHING.ws creates
another, up to {{ int .Values.gateway.maxPerUser }} per user{{ end }}.
`ssh {{ $p }}USER@{{ $host }}` lists a user's workspaces;
`ssh {{ $p }}USER@{{ $host }} start|stop|status NAME` and `rm NAME --yes`
manage them.
{{- if not .Values.gateway.host }}

WARNING: gateway.host is not set: `config` prints the gateway pod's name
after ProxyJump. Set it to the address users ssh to (HOST or HOST:PORT).
{{- end }}

The gateway is the Service {{ $fullname }} (port {{ .Values.service.port }}):
{{- if eq .Values.service.type "LoadBalancer" }}

  kubectl --namespace {{ $ns }} get service {{ $fullname }} -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}'
{{- else if eq .Values.service.type "NodePort" }}

  kubectl --namespace {{ $ns }} get service {{ $fullname }} -o jsonpath='{.spec.ports[0].nodePort}'   # on any node's address
{{- else }}
a ClusterIP Service, reached from outside through a port-forward (then
gateway.host=127.0.0.1:2200):

  kubectl --namespace {{ $ns }} port-forward service/{{ $fullname }} 2200:{{ .Values.service.port }}
{{- end }}
{{- if ne .Values.gateway.idleStop "off" }}

A workspace without sessions for {{ .Values.gateway.idleStop }} is stopped (its home is kept); the
next jump starts it again.
{{- end }}

The gateway's ServiceAccount {{ $gateway }} may, in namespace {{ $ns }} only:
get, list, create, patch and delete StatefulSets; get, list and watch pods
and exec into them; create and patch Secrets (never read them); list and
delete PersistentVolumeClaims. The gateway itself touches only objects
labelled ssh-workspace/gateway={{ $managed }}, but the Role cannot be narrowed
by label: keep the fleet in a namespace of its own.

The workspaces are not part of the release: helm upgrade changes them at
their next start, helm uninstall leaves them and their homes. To remove
them (homes included):

  kubectl --namespace {{ $ns }} delete statefulsets,persistentvolumeclaims -l ssh-workspace/gateway={{ $managed }}

Check the gateway{{ if .Values.tests.fleetUser }} and a login to {{ .Values.tests.fleetUser }}'s workspace{{ end }}:

  helm test {{ .Release.Name }} --namespace {{ $ns }}
{{- end }}
