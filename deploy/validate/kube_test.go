package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// object is one decoded Kubernetes object: a typed value of the upstream
// API (or of the KEDA and kustomize structures below) and where it came
// from.
type object struct {
	where string
	kind  string
	name  string
	value any
}

// decoder decodes the built-in kinds Dowser deploys strictly: a field the
// API type does not have, or a field given twice, is an error, as it is
// for `kubectl apply --validate=strict`.
type decoder struct {
	scheme *runtime.Scheme
	strict *json.Serializer
}

func newDecoder(t *testing.T) *decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return &decoder{
		scheme: scheme,
		strict: json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true}),
	}
}

// decodeAll decodes every document of a YAML stream.
func (d *decoder) decodeAll(where string, data []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", where, i, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", where, i, err)
		}
		if len(probe) == 0 {
			continue // only comments
		}
		o, err := d.decode(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", where, i, err)
		}
		o.where = fmt.Sprintf("%s: %s %s", where, o.kind, o.name)
		out = append(out, o)
	}
}

// decode decodes one document by its apiVersion and kind.
func (d *decoder) decode(doc []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return object{}, errors.New("no apiVersion or kind")
	}
	gvk := tm.GroupVersionKind()
	var (
		value any
		meta  metav1.ObjectMeta
	)
	switch {
	case d.scheme.Recognizes(gvk):
		obj, _, err := d.strict.Decode(doc, nil, nil)
		if err != nil {
			return object{}, err
		}
		value = obj
		m, ok := obj.(metav1.Object)
		if !ok {
			return object{}, fmt.Errorf("%s has no object metadata", gvk)
		}
		meta.Name = m.GetName()
	case gvk.Group == "keda.sh" && gvk.Version == "v1alpha1" && gvk.Kind == "ScaledObject":
		var so ScaledObject
		if err := yaml.UnmarshalStrict(doc, &so); err != nil {
			return object{}, err
		}
		if err := so.check(); err != nil {
			return object{}, err
		}
		value, meta = &so, so.ObjectMeta
	case gvk.Group == "keda.sh" && gvk.Version == "v1alpha1" && gvk.Kind == "TriggerAuthentication":
		var ta TriggerAuthentication
		if err := yaml.UnmarshalStrict(doc, &ta); err != nil {
			return object{}, err
		}
		value, meta = &ta, ta.ObjectMeta
	case gvk.Group == "kustomize.config.k8s.io" && gvk.Kind == "Kustomization":
		var k Kustomization
		if err := yaml.UnmarshalStrict(doc, &k); err != nil {
			return object{}, err
		}
		return object{kind: gvk.Kind, value: &k}, nil
	default:
		return object{}, fmt.Errorf("%s: not a kind these tests know; add its type", gvk)
	}
	if meta.Name == "" {
		return object{}, fmt.Errorf("%s without metadata.name", gvk.Kind)
	}
	return object{kind: gvk.Kind, name: meta.Name, value: value}, nil
}

// manifests decodes every file of deploy/kubernetes.
func manifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("../kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes (%v)", err)
	}
	d := newDecoder(t)
	var out []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := d.decodeAll(strings.TrimPrefix(f, "../"), b)
		if err != nil {
			t.Error(err)
			continue
		}
		out = append(out, objs...)
	}
	return out
}

func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	objs := manifests(t)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.kind)
	}
	slices.Sort(kinds)
	want := []string{"ConfigMap", "Deployment", "Kustomization", "PodDisruptionBudget", "ScaledObject", "Service"}
	if !slices.Equal(kinds, want) {
		t.Errorf("deploy/kubernetes holds %q, want %q", kinds, want)
	}
	for _, o := range objs {
		if k, ok := o.value.(*Kustomization); ok {
			for _, r := range k.Resources {
				if _, err := os.Stat(filepath.Join("../kubernetes", r)); err != nil {
					t.Errorf("kustomization.yaml: resource %v", err)
				}
			}
		}
	}
}

// TestStrictDecodingRejectsMistakes shows that the decoding above is
// strict: each document differs from a valid one by one mistake that a
// lenient decoder would drop without a word.
func TestStrictDecodingRejectsMistakes(t *testing.T) {
	d := newDecoder(t)
	for name, doc := range map[string]string{
		"unknown field": `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replica: 2
  selector: {matchLabels: {a: b}}
  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: x, image: x}]}}`,
		"field twice": `apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports: [{port: 80}]
  ports: [{port: 81}]`,
		"wrong type": `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: x}
spec: {maxUnavailable: [1]}`,
		"unknown KEDA field": `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: x}
spec:
  scaleTargetRef: {name: x}
  maxReplicas: 3
  triggers: [{type: kafka, metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: t}}]`,
		"unknown Kafka scaler setting": `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: x}
spec:
  scaleTargetRef: {name: x}
  triggers: [{type: kafka, metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: t, lagTreshold: "5"}}]`,
		"unknown kind": `apiVersion: v1
kind: Sevrice
metadata: {name: x}`,
	} {
		if _, err := d.decodeAll(name, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
