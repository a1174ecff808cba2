package validate

import (
	"fmt"
	"slices"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The KEDA types, as far as Dowser's manifests use them, with the field
// names of KEDA's CRDs (keda.sh/v1alpha1). KEDA's own Go module pulls in
// every scaler's client library; these structures, decoded strictly, catch
// the same misspelt or misplaced fields.

// ScaledObject is KEDA's ScaledObject.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec is the spec of a ScaledObject.
type ScaledObjectSpec struct {
	ScaleTargetRef        *ScaleTarget    `json:"scaleTargetRef"`
	PollingInterval       *int32          `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32          `json:"maxReplicaCount,omitempty"`
	Advanced              *AdvancedConfig `json:"advanced,omitempty"`
	Triggers              []ScaleTrigger  `json:"triggers"`
	Fallback              *FallbackConfig `json:"fallback,omitempty"`
}

// ScaleTarget names what a ScaledObject scales.
type ScaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

// AdvancedConfig is a ScaledObject's spec.advanced.
type AdvancedConfig struct {
	HorizontalPodAutoscalerConfig *HPAConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool       `json:"restoreToOriginalReplicaCount,omitempty"`
}

// HPAConfig shapes the HorizontalPodAutoscaler KEDA creates; its behavior
// is the upstream autoscaling/v2 type.
type HPAConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Name     string                                         `json:"name,omitempty"`
}

// FallbackConfig is a ScaledObject's spec.fallback.
type FallbackConfig struct {
	FailureThreshold int32  `json:"failureThreshold"`
	Replicas         int32  `json:"replicas"`
	Behavior         string `json:"behavior,omitempty"`
}

// ScaleTrigger is one of spec.triggers.
type ScaleTrigger struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *AuthenticationRef             `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// AuthenticationRef names a TriggerAuthentication.
type AuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// TriggerAuthentication is KEDA's TriggerAuthentication.
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              TriggerAuthenticationSpec `json:"spec"`
}

// TriggerAuthenticationSpec is the part of KEDA's spec that reads
// Kubernetes Secrets and the scale target's environment.
type TriggerAuthenticationSpec struct {
	SecretTargetRef []AuthSecretTargetRef `json:"secretTargetRef,omitempty"`
	Env             []AuthEnvironment     `json:"env,omitempty"`
}

// AuthSecretTargetRef is one parameter from a Secret's key.
type AuthSecretTargetRef struct {
	Parameter string `json:"parameter"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// AuthEnvironment is one parameter from the scale target's environment.
type AuthEnvironment struct {
	Parameter     string `json:"parameter"`
	Name          string `json:"name"`
	ContainerName string `json:"containerName,omitempty"`
}

// kafkaScalerSettings are the metadata keys of KEDA's Kafka scaler.
var kafkaScalerSettings = []string{
	"bootstrapServers", "bootstrapServersFromEnv", "consumerGroup", "consumerGroupFromEnv", "topic", "topicFromEnv",
	"lagThreshold", "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag",
	"scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions",
	"partitionLimitation", "version", "sasl", "tls", "unsafeSsl",
}

// kafkaSASL are the scaler's SASL mechanisms that Dowser also speaks.
var kafkaSASL = []string{"plaintext", "scram_sha256", "scram_sha512"}

// check does what KEDA's admission webhook and CRD schema do for the
// fields above.
func (so *ScaledObject) check() error {
	s := so.Spec
	if s.ScaleTargetRef == nil || s.ScaleTargetRef.Name == "" {
		return fmt.Errorf("ScaledObject %s: no spec.scaleTargetRef.name", so.Name)
	}
	if len(s.Triggers) == 0 {
		return fmt.Errorf("ScaledObject %s: no triggers", so.Name)
	}
	if s.MinReplicaCount != nil && s.MaxReplicaCount != nil && *s.MinReplicaCount > *s.MaxReplicaCount {
		return fmt.Errorf("ScaledObject %s: minReplicaCount %d > maxReplicaCount %d", so.Name, *s.MinReplicaCount, *s.MaxReplicaCount)
	}
	for _, tr := range s.Triggers {
		if tr.Type != "kafka" {
			continue
		}
		for k, v := range tr.Metadata {
			if !slices.Contains(kafkaScalerSettings, k) {
				return fmt.Errorf("ScaledObject %s: the kafka scaler has no setting %q", so.Name, k)
			}
			if k == "sasl" && !slices.Contains(kafkaSASL, v) {
				return fmt.Errorf("ScaledObject %s: sasl %q is not one of %q", so.Name, v, kafkaSASL)
			}
			if k == "tls" && v != "enable" && v != "disable" {
				return fmt.Errorf("ScaledObject %s: tls %q is neither enable nor disable", so.Name, v)
			}
		}
		for _, k := range []string{"bootstrapServers", "consumerGroup", "topic"} {
			if tr.Metadata[k] == "" {
				return fmt.Errorf("ScaledObject %s: the kafka trigger has no %s", so.Name, k)
			}
		}
	}
	return nil
}

// Kustomization is the part of kustomize's Kustomization that
// deploy/kubernetes uses.
type Kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Resources       []string `json:"resources"`
	Images          []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}
