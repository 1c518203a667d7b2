{{/*
ssh-workspace.workspacePodTemplate: the workspace's pod template (its
metadata and spec, indented for a Deployment's or a StatefulSet's
spec.template), one definition for the single workspace's Deployment and
for the fleet's StatefulSet template (fleet.yaml), so that a fleet
workspace is the same pod as the single chart's.  Argument: a dict with
  root:  the chart's context
  fleet: for a fleet workspace, a dict with resources (the user's or
         resources); absent for the single workspace.
A fleet workspace differs only where the gateway takes over: its keys and
host key come from the Secrets the gateway makes for it (__OBJECT__-keys,
__OBJECT__-hostkey), its home from the StatefulSet's claim template, its
labels name the gateway, and it records session activity for idle stop.
*/}}
{{- define "ssh-workspace.workspacePodTemplate" -}}
{{- $root := .root }}
{{- $fleet := .fleet }}
{{- with $root }}
{{- $fullname := include "ssh-workspace.fullname" . }}
{{- $home := printf "/home/%s" .Values.user.name }}
{{- $resources := .Values.resources }}
{{- if $fleet }}
{{- $resources = $fleet.resources }}
{{- end }}
    metadata:
      labels:
        {{- if $fleet }}
        {{- include "ssh-workspace.fleetWorkspaceLabels" . | nindent 8 }}
        {{- else }}
        {{- include "ssh-workspace.labels" . | nindent 8 }}
        {{- end }}
        app.kubernetes.io/component: workspace
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Contents, not names: a change of the hook config or the host key
        # rolls the pod.  Authorized keys and env sources are re-read at
        # every login/session, so changing them needs no restart.
        checksum/hooks-config: {{ include "ssh-workspace.hooksConf" . | sha256sum }}
        {{- if not $fleet }}
        checksum/host-key: {{ include "ssh-workspace.hostKeyChecksum" . }}
        {{- end }}
        # kubectl exec/logs without -c reach the workspace, not the sidecar
        kubectl.kubernetes.io/default-container: workspace
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with .Values.serviceAccountName }}
      serviceAccountName: {{ . }}
      {{- end }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      {{- if and .Values.podman.enabled (kindIs "bool" .Values.podman.hostUsers) }}
      hostUsers: {{ .Values.podman.hostUsers }}
      {{- end }}
      {{- with .Values.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      securityContext:
        runAsNonRoot: true
        {{- if not .Values.podSecurityContext.omitIds }}
        runAsUser: {{ .Values.user.uid }}
        runAsGroup: {{ .Values.user.gid }}
        fsGroup: {{ .Values.user.gid }}
        {{- end }}
        fsGroupChangePolicy: OnRootMismatch
        seccompProfile:
          {{- include "ssh-workspace.seccompProfile" . | trim | nindent 10 }}
      containers:
        - name: workspace
          image: {{ include "ssh-workspace.image" . }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          args:
            {{- include "ssh-workspace.serverArgs" . | trim | nindent 12 }}
          env:
            - name: WS_USER
              value: {{ .Values.user.name | quote }}
            - name: WS_LISTEN
              value: {{ .Values.ssh.port | quote }}
            - name: WS_HOOK_CONFIG
              value: /etc/ssh-workspace/hooks/hooks.conf
            {{- with .Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: ssh
              containerPort: {{ .Values.ssh.port }}
              protocol: TCP
              {{- if .Values.hostPort.enabled }}
              hostPort: {{ .Values.hostPort.port }}
              {{- with .Values.hostPort.hostIP }}
              hostIP: {{ . }}
              {{- end }}
              {{- end }}
          # The probes speak SSH: healthcheck requires the server's SSH-2.0-
          # identification line (container-image/healthcheck.sh).
          startupProbe:
            exec:
              command: [/usr/lib/ssh-workspace/healthcheck]
            periodSeconds: 2
            timeoutSeconds: 10
            failureThreshold: 60
          readinessProbe:
            exec:
              command: [/usr/lib/ssh-workspace/healthcheck]
            periodSeconds: 15
            timeoutSeconds: 10
            failureThreshold: 2
          livenessProbe:
            exec:
              command: [/usr/lib/ssh-workspace/healthcheck]
            periodSeconds: 30
            timeoutSeconds: 10
            failureThreshold: 3
          {{- with $resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- include "ssh-workspace.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: home
              mountPath: {{ $home }}
            - name: run
              mountPath: /run
            - name: tmp
              mountPath: /tmp
            - name: authorized-keys
              mountPath: /etc/ssh-workspace/authorized-keys
              readOnly: true
            - name: host-key
              mountPath: /etc/ssh-workspace/host-key
              readOnly: true
            - name: hooks
              mountPath: /etc/ssh-workspace/hooks
              readOnly: true
            {{- if $fleet }}
            - name: activity
              mountPath: /var/lib/ws-activity
            {{- end }}
            {{- if include "ssh-workspace.hasEnv" . }}
            - name: env
              mountPath: /etc/ssh-workspace/env
              readOnly: true
            {{- end }}
            {{- if .Values.agent.sidecar.enabled }}
            - name: workspace-agent
              mountPath: /run/workspace-agent
            {{- end }}
            {{- with .Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
        {{- if .Values.agent.sidecar.enabled }}
        # Holds the deploy keys in ssh-agent as another uid; the workspace
        # reaches it only through ws-agent-proxy's socket (list and sign).
        # No probes, and the script never exits over a key it cannot load:
        # the pod's readiness is the SSH server's alone.  An ordinary
        # container, not a native sidecar, whose readiness would count too
        # (README.md, "The deploy-key agent sidecar").
        - name: workspace-agent
          image: {{ include "ssh-workspace.image" . }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          command: [/usr/bin/catatonit, --, /usr/bin/ws-workspace-agent]
          env:
            - name: KEYS_DIR
              value: /etc/ssh-workspace/deploy-keys
            - name: AGENT_DIR
              value: /run/agent-private
            - name: LISTEN
              value: /run/workspace-agent/agent.sock
            - name: ALLOW_UID
              value: {{ .Values.user.uid | quote }}
          {{- with .Values.agent.sidecar.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- include "ssh-workspace.containerSecurityContext" . | nindent 12 }}
            runAsUser: {{ .Values.agent.sidecar.uid }}
            runAsGroup: {{ .Values.agent.sidecar.gid }}
          volumeMounts:
            - name: deploy-keys
              mountPath: /etc/ssh-workspace/deploy-keys
              readOnly: true
            - name: agent-run
              mountPath: /run
            - name: workspace-agent
              mountPath: /run/workspace-agent
        {{- end }}
      volumes:
        {{- if $fleet }}
        {{- if not .Values.persistence.enabled }}
        - name: home
          emptyDir: {}
        {{- end }}
        {{- else }}
        - name: home
          {{- if .Values.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ include "ssh-workspace.claimName" . }}
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
        - name: run
          emptyDir:
            medium: Memory
            sizeLimit: {{ .Values.run.sizeLimit }}
        - name: tmp
          emptyDir:
            sizeLimit: {{ .Values.tmp.sizeLimit }}
        - name: authorized-keys
          secret:
            {{- if $fleet }}
            # made by the gateway for each workspace (ws-gateway-kube)
            secretName: __OBJECT__-keys
            items:
              - key: authorized_keys
            {{- else }}
            secretName: {{ include "ssh-workspace.authorizedKeysSecret" . }}
            items:
              - key: {{ .Values.ssh.publicKeys.existingSecret | empty | ternary "authorized_keys" .Values.ssh.publicKeys.existingSecretKey }}
            {{- end }}
                path: authorized_keys
            # read-only for everyone; the entrypoint refuses keys the
            # workspace uid could change (the mount is read-only as well)
            defaultMode: 0444
        - name: host-key
          secret:
            {{- if $fleet }}
            secretName: __OBJECT__-hostkey
            items:
              - key: hostkey
            {{- else }}
            secretName: {{ include "ssh-workspace.hostKeySecret" . }}
            items:
              - key: {{ .Values.ssh.hostKey.existingSecret | empty | ternary "hostkey" .Values.ssh.hostKey.existingSecretKey }}
            {{- end }}
                path: hostkey
            # root:fsGroup, readable by the workspace's group only
            defaultMode: 0440
        - name: hooks
          configMap:
            name: {{ $fullname }}-hooks
        {{- if $fleet }}
        # the sessions' activity records, which the gateway's keeper reads
        # (through the API's exec) to stop an idle workspace
        - name: activity
          emptyDir:
            medium: Memory
            sizeLimit: 1Mi
        {{- end }}
        {{- if include "ssh-workspace.hasEnv" . }}
        - name: env
          projected:
            defaultMode: 0440
            sources:
              {{- if .Values.env.values }}
              - secret:
                  name: {{ $fullname }}-env
              {{- end }}
              {{- range .Values.env.secrets }}
              - secret:
                  {{- toYaml . | nindent 18 }}
                  {{- if and (eq $root.Values.env.onFailure "open") (not (hasKey . "optional")) }}
                  # env.onFailure open: a missing source is skipped, not a
                  # pod that cannot mount its volume
                  optional: true
                  {{- end }}
              {{- end }}
              {{- range .Values.env.configMaps }}
              - configMap:
                  {{- toYaml . | nindent 18 }}
                  {{- if and (eq $root.Values.env.onFailure "open") (not (hasKey . "optional")) }}
                  # env.onFailure open: a missing source is skipped, not a
                  # pod that cannot mount its volume
                  optional: true
                  {{- end }}
              {{- end }}
        {{- end }}
        {{- if .Values.agent.sidecar.enabled }}
        - name: deploy-keys
          secret:
            secretName: {{ .Values.agent.sidecar.keysSecret }}
            # root:fsGroup: mounted only into the sidecar
            defaultMode: 0440
        - name: agent-run
          emptyDir:
            medium: Memory
            sizeLimit: 16Mi
        - name: workspace-agent
          emptyDir:
            medium: Memory
            sizeLimit: 1Mi
        {{- end }}
        {{- with .Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end }}
