{{/* The objects' name: the release's, so that two releases in one
namespace do not collide; "dowser" for a release named dowser. */}}
{{- define "dowser.fullname" -}}
{{- if contains "dowser" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-dowser" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dowser.selectorLabels" -}}
app.kubernetes.io/name: dowser
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dowser.labels" -}}
{{ include "dowser.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
{{- end -}}

{{- define "dowser.brokers" -}}
{{- required "kafka.brokers: name at least one broker" (join "," .Values.kafka.brokers) -}}
{{- end -}}

{{/* KEDA's SASL names for Dowser's mechanisms. */}}
{{- define "dowser.kedaSASL" -}}
{{- $m := .Values.kafka.sasl.mechanism -}}
{{- if eq $m "PLAIN" -}}plaintext
{{- else if eq $m "SCRAM-SHA-256" -}}scram_sha256
{{- else if eq $m "SCRAM-SHA-512" -}}scram_sha512
{{- else -}}{{ fail (printf "kafka.sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" $m) }}
{{- end -}}
{{- end -}}

{{- define "dowser.kedaAuth" -}}
{{- or .Values.kafka.tls.enabled .Values.kafka.sasl.mechanism -}}
{{- end -}}

{{/*
Whether the Kafka TLS settings need the Secret of certificates: a CA bundle
or a client certificate. TLS with neither trusts the system's public roots.
*/}}
{{- define "dowser.kafkaTLSSecret" -}}
{{- if .Values.kafka.tls.enabled -}}{{- or .Values.kafka.tls.caKey .Values.kafka.tls.certKey -}}{{- end -}}
{{- end }}
