{{/*
ssh-workspace.checkAuthorizedKeys: every line of the authorized keys (the
argument) as the server will read it, with the same rule as the image's
entrypoint (container-image/entrypoint.sh): blank lines and '#' comments,
else '[options] TYPE BASE64 [comment]', options the server knows (quoted
values may hold spaces and commas), a key type it accepts, and base64 that
holds a key of that type.  Keys are not in the pod's checksums (they are
re-read at every login), so a bad line added by an upgrade would be skipped
by the running server; refusing it here means it never reaches the pod.
Prints one problem per line ("line N ("excerpt"): why"); an excerpt is left
out where it could be private key material.  Prints "none" if the text
holds no key line at all.
*/}}
{{- define "ssh-workspace.checkAuthorizedKeys" -}}
{{- $types := list "ssh-ed25519" "sk-ssh-ed25519@openssh.com" "ecdsa-sha2-nistp256" "ecdsa-sha2-nistp384" "ecdsa-sha2-nistp521" "sk-ecdsa-sha2-nistp256@openssh.com" "ssh-rsa" }}
{{- /* fields of each type's key blob (RFC 4253, 5656, 8709; PROTOCOL.u2f) */}}
{{- $fields := dict "ssh-ed25519" 2 "sk-ssh-ed25519@openssh.com" 3 "ecdsa-sha2-nistp256" 3 "ecdsa-sha2-nistp384" 3 "ecdsa-sha2-nistp521" 3 "sk-ecdsa-sha2-nistp256@openssh.com" 4 "ssh-rsa" 3 }}
{{- $flags := list "no-port-forwarding" "no-agent-forwarding" "no-x11-forwarding" "no-pty" "restrict" "no-touch-required" "verify-required" }}
{{- $accepted := join " " $types }}
{{- $problems := list }}
{{- $keys := 0 }}
{{- $private := 0 }}
{{- range $i, $line := splitList "\n" . }}
{{- $n := add1 $i }}
{{- $why := "" }}
{{- $safe := true }}
{{- if $private }}
  {{- if regexMatch "-----END [A-Z0-9 ]*PRIVATE KEY-----" $line }}
    {{- $problems = append $problems (printf "lines %d-%d: a private key block (remove it, and replace that key: it has been exposed)" $private $n) }}
    {{- $private = 0 }}
  {{- end }}
{{- else if regexMatch "-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----" $line }}
  {{- $private = $n }}
  {{- if regexMatch "-----END [A-Z0-9 ]*PRIVATE KEY-----" $line }}
    {{- $problems = append $problems (printf "line %d: private key text (remove it, and replace that key: it has been exposed)" $n) }}
    {{- $private = 0 }}
  {{- end }}
{{- else if or (regexMatch "^[ \t]*$" $line) (regexMatch "^[ \t]*#" $line) }}
{{- else }}
  {{- $keys = add1 $keys }}
  {{- /* a line of base64 alone may be a fragment of a private key: not shown */}}
  {{- $safe = not (regexMatch "^[A-Za-z0-9+/=]+$" $line) }}
  {{- $rest := $line }}
  {{- $type := regexReplaceAll "[ \t].*$" $rest "" }}
  {{- $opts := "" }}
  {{- if gt $n 300 }}
    {{- $why = "it is past line 300, which the server never reads" }}
  {{- else if gt (len $line) 3000 }}
    {{- $why = "it is longer than 3000 characters, which the server ignores" }}
  {{- else if regexMatch "^[ \t]" $line }}
    {{- $why = "it starts with white space" }}
  {{- else if not (has $type $types) }}
    {{- /* options: up to the first white space outside double quotes */}}
    {{- $opts = regexFind "^(?:\"(?:[^\"\\\\]|\\\\.)*\"|\\\\.|[^ \t\"\\\\])+" $rest }}
    {{- $rest = trimPrefix $opts $rest }}
    {{- $rest = regexReplaceAll "^[ \t]" $rest "" }}
    {{- $type = regexReplaceAll "[ \t].*$" $rest "" }}
    {{- if not (has $type $types) }}
      {{- $bad := "" }}
      {{- if regexMatch "^(ssh-dss|[a-z0-9-]+-cert-v01@openssh\\.com)$" $opts }}{{ $bad = $opts }}{{ end }}
      {{- if regexMatch "^(ssh-dss|[a-z0-9-]+-cert-v01@openssh\\.com)$" $type }}{{ $bad = $type }}{{ end }}
      {{- if $bad }}
        {{- $why = printf "the server does not accept the key type %s (it accepts %s)" $bad $accepted }}
      {{- else if not $safe }}
        {{- $why = "base64 text without a key type (a fragment of a key?)" }}
      {{- else }}
        {{- $why = printf "no known key type: expected [options] TYPE BASE64 [comment], TYPE one of %s" $accepted }}
      {{- end }}
    {{- else }}
      {{- /* options, split at commas outside double quotes */}}
      {{- $parts := regexFindAll "(?:\"(?:[^\"\\\\]|\\\\.)*\"|\\\\.|[^,\"\\\\])+" $opts -1 }}
      {{- if ne (join "," $parts) $opts }}
        {{- $why = "its options are malformed (an empty option or an unterminated quote)" }}
      {{- end }}
      {{- range $parts }}
        {{- $o := lower . }}
        {{- if and (not $why) (not (has $o $flags)) (not (regexMatch "^(command|permitopen|permitlisten)=\".*\"$" $o)) }}
          {{- $name := regexReplaceAll "=.*$" $o "" }}
          {{- if regexMatch "^[a-z][a-z0-9-]{0,29}$" $name }}
            {{- $why = printf "the server does not support the option %s (it knows %s, command=\"...\", permitopen=\"...\", permitlisten=\"...\")" $name (join " " $flags) }}
          {{- else }}
            {{- $why = "its options are malformed" }}
          {{- end }}
        {{- end }}
      {{- end }}
    {{- end }}
  {{- end }}
  {{- if not $why }}
    {{- $rest = trimPrefix $type $rest }}
    {{- $b64 := regexReplaceAll " .*$" (trimPrefix " " $rest) "" }}
    {{- if not (regexMatch "^ [^ ]" $rest) }}
      {{- $why = printf "no key data after the key type %s (one space, then base64)" $type }}
    {{- else if or (not (regexMatch "^[A-Za-z0-9+/]+=*$" $b64)) (mod (len $b64) 4) }}
      {{- $why = printf "the key data after %s is not base64" $type }}
    {{- else }}
      {{- /* the blob: length-prefixed fields that fill it exactly, the first
             being the type again (a truncated or mixed-up key fails) */}}
      {{- $blob := b64dec $b64 }}
      {{- $pos := 0 }}
      {{- $count := 0 }}
      {{- range until 5 }}
        {{- if lt (add $pos 4) (add (len $blob) 1) }}
          {{- $l := add (mul (index $blob $pos) 16777216) (mul (index $blob (add $pos 1)) 65536) (mul (index $blob (add $pos 2)) 256) (index $blob (add $pos 3)) }}
          {{- $pos = add $pos 4 $l }}
          {{- $count = add1 $count }}
        {{- end }}
      {{- end }}
      {{- $head := printf "%c%c%c%c%s" 0 0 0 (len $type) $type }}
      {{- if or (ne $pos (len $blob)) (ne $count (get $fields $type)) (not (hasPrefix $head $blob)) }}
        {{- $why = printf "the key data is not a %s key (cut short, or another type's?)" $type }}
      {{- end }}
    {{- end }}
  {{- end }}
  {{- if $why }}
    {{- if $safe }}
      {{- $problems = append $problems (printf "line %d (%q%s): %s" $n (trunc 24 $line) (ternary "..." "" (gt (len $line) 24)) $why) }}
    {{- else }}
      {{- $problems = append $problems (printf "line %d: %s" $n $why) }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end }}
{{- if $private }}
  {{- $problems = append $problems (printf "lines %d to the end: a private key block (remove it, and replace that key: it has been exposed)" $private) }}
{{- end }}
{{- if $problems }}
{{- join "\n" $problems }}
{{- else if not $keys }}
{{- "none" }}
{{- end }}
{{- end }}
