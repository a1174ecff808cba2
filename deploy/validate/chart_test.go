package validate

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes from the chart's default rendering")

const chartDir = "../helm/dowser"

// render renders the chart as `helm template dowser deploy/helm/dowser`
// with vals over its defaults, and returns each template's output by file
// name (templates that render to nothing left out).
func render(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "dowser", Namespace: "dowser", IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	out, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for name, content := range out {
		if strings.HasSuffix(name, ".yaml") && strings.TrimSpace(content) != "" {
			files[path.Base(name)] = content
		}
	}
	return files, nil
}

// renderObjects renders the chart and decodes every object strictly.
func renderObjects(t *testing.T, vals map[string]any) map[string]object {
	t.Helper()
	files, err := render(t, vals)
	if err != nil {
		t.Fatalf("rendering with %v: %v", vals, err)
	}
	d := newDecoder(t)
	objs := map[string]object{}
	for name, content := range files {
		decoded, err := d.decodeAll(name, []byte(content))
		if err != nil {
			t.Fatalf("rendering with %v: %v\n%s", vals, err, content)
		}
		for _, o := range decoded {
			if _, dup := objs[o.kind]; dup {
				t.Fatalf("two objects of kind %s", o.kind)
			}
			objs[o.kind] = o
		}
	}
	return objs
}

// TestChartMatchesKubernetesManifests keeps deploy/kubernetes, for
// `kubectl apply -k`, what the chart renders with its defaults; -update
// writes them anew.
func TestChartMatchesKubernetesManifests(t *testing.T) {
	files, err := render(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		for name, content := range files {
			header := "# Rendered from deploy/helm/dowser with its default values: edit the\n" +
				"# chart, then run `go test -run TestChartMatchesKubernetesManifests -update`\n" +
				"# in deploy/validate.\n"
			if err := os.WriteFile(filepath.Join("../kubernetes", name), []byte(header+strings.TrimLeft(content, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := newDecoder(t)
	rendered := map[string]object{}
	for name, content := range files {
		objs, err := d.decodeAll(name, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			rendered[o.kind+"/"+o.name] = o
		}
	}
	committed := map[string]object{}
	for _, o := range manifests(t) {
		if o.kind != "Kustomization" {
			committed[o.kind+"/"+o.name] = o
		}
	}
	for key, r := range rendered {
		c, ok := committed[key]
		if !ok {
			t.Errorf("the chart renders %s, which deploy/kubernetes lacks (run the test with -update)", key)
			continue
		}
		if !reflect.DeepEqual(r.value, c.value) {
			t.Errorf("%s differs from the chart's rendering (run the test with -update):\n%s", c.where, lineDiff(t, c.value, r.value))
		}
	}
	for key := range committed {
		if _, ok := rendered[key]; !ok {
			t.Errorf("deploy/kubernetes holds %s, which the chart does not render", key)
		}
	}
}

// lineDiff lists the lines of a's and b's YAML that the other lacks.
func lineDiff(t *testing.T, a, b any) string {
	t.Helper()
	ya, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	la, lb := strings.Split(string(ya), "\n"), strings.Split(string(yb), "\n")
	var out []string
	for _, l := range la {
		if !slices.Contains(lb, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range lb {
		if !slices.Contains(la, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// security is the chart's values for a cluster like the managed ones:
// TLS with a client certificate, SASL SCRAM, PostgreSQL over TLS.
var security = map[string]any{
	"kafka": map[string]any{
		"brokers": []any{"b-1.example.com:9096", "b-2.example.com:9096"},
		"tls":     map[string]any{"enabled": true, "secretName": "kafka-tls", "caKey": "ca.crt", "certKey": "tls.crt", "keyKey": "tls.key"},
		"sasl":    map[string]any{"mechanism": "SCRAM-SHA-512", "username": "dowser", "passwordSecret": map[string]any{"name": "kafka-sasl", "key": "password"}},
	},
	"database": map[string]any{"tls": map[string]any{"enabled": true, "secretName": "postgres-tls"}},
}

// container returns the Deployment's dowser container and the settings it
// gets, from its env and its ConfigMap.
func container(t *testing.T, objs map[string]object) (*corev1.Container, map[string]string) {
	t.Helper()
	dep := objs["Deployment"].value.(*appsv1.Deployment)
	cm := objs["ConfigMap"].value.(*corev1.ConfigMap)
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment: %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	c := &dep.Spec.Template.Spec.Containers[0]
	settings := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil || ef.ConfigMapRef.Name != cm.Name {
			t.Errorf("Deployment: envFrom %v is not the chart's ConfigMap %s", ef, cm.Name)
		}
	}
	for k, v := range cm.Data {
		settings[k] = v
	}
	for _, e := range c.Env {
		settings[e.Name] = e.Value
	}
	return c, settings
}

// mountedFile checks that file lies in a volume mounted from Secret
// secret, and returns the Secret key it reads.
func mountedFile(t *testing.T, objs map[string]object, file, secret string) string {
	t.Helper()
	dep := objs["Deployment"].value.(*appsv1.Deployment)
	c, _ := container(t, objs)
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, m.MountPath+"/")
		if !ok {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s: mount %s is writable", file, m.MountPath)
		}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret == nil || v.Secret.SecretName != secret {
				t.Errorf("%s: volume %s is not the Secret %s", file, v.Name, secret)
				return ""
			}
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0 {
				t.Errorf("%s: Secret %s is readable by group or others", file, secret)
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					return it.Key
				}
			}
			if len(v.Secret.Items) > 0 {
				t.Errorf("%s: Secret %s projects no item to %s", file, secret, rel)
			}
			return rel
		}
	}
	t.Errorf("%s: no volume mounted there", file)
	return ""
}

func TestChartRendersSecurity(t *testing.T) {
	objs := renderObjects(t, security)
	_, env := container(t, objs)
	for file, want := range map[string][2]string{
		"DOWSER_KAFKA_TLS_CA_FILE":        {"kafka-tls", "ca.crt"},
		"DOWSER_KAFKA_TLS_CERT_FILE":      {"kafka-tls", "tls.crt"},
		"DOWSER_KAFKA_TLS_KEY_FILE":       {"kafka-tls", "tls.key"},
		"DOWSER_KAFKA_SASL_PASSWORD_FILE": {"kafka-sasl", "password"},
	} {
		if env[file] == "" {
			t.Errorf("no %s", file)
			continue
		}
		if key := mountedFile(t, objs, env[file], want[0]); key != want[1] {
			t.Errorf("%s = %s reads key %q of Secret %s, want %q", file, env[file], key, want[0], want[1])
		}
	}
	mountedFile(t, objs, "/etc/dowser/postgres-tls/ca.crt", "postgres-tls")
	// Secret files mounted 0400 belong to root: only fsGroup lets the
	// non-root user read them.
	if sc := objs["Deployment"].value.(*appsv1.Deployment).Spec.Template.Spec.SecurityContext; sc == nil || sc.FSGroup == nil || sc.RunAsGroup == nil || *sc.FSGroup != *sc.RunAsGroup {
		t.Errorf("pod securityContext %+v: no fsGroup of the pod's group, so it cannot read its mounted Secrets", sc)
	}
	if env["DOWSER_KAFKA_SASL_MECHANISM"] != "SCRAM-SHA-512" || env["DOWSER_KAFKA_SASL_USERNAME"] != "dowser" {
		t.Errorf("SASL settings %q %q", env["DOWSER_KAFKA_SASL_MECHANISM"], env["DOWSER_KAFKA_SASL_USERNAME"])
	}
	for k := range env {
		if strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "_FILE") {
			t.Errorf("%s: a password in the environment; mount it as a file", k)
		}
	}

	// The scaler reads the lag with the same credentials.
	so := objs["ScaledObject"].value.(*ScaledObject)
	tr := so.Spec.Triggers[0]
	if tr.Metadata["sasl"] != "scram_sha512" || tr.Metadata["tls"] != "enable" {
		t.Errorf("ScaledObject: sasl %q tls %q, want scram_sha512 and enable", tr.Metadata["sasl"], tr.Metadata["tls"])
	}
	if tr.Metadata["bootstrapServers"] != env["DOWSER_KAFKA_BROKERS"] {
		t.Errorf("ScaledObject: bootstrapServers %q, the instances' %q", tr.Metadata["bootstrapServers"], env["DOWSER_KAFKA_BROKERS"])
	}
	ta, ok := objs["TriggerAuthentication"]
	if !ok || tr.AuthenticationRef == nil || tr.AuthenticationRef.Name != ta.name {
		t.Fatalf("ScaledObject: authenticationRef %v, want the TriggerAuthentication %q", tr.AuthenticationRef, ta.name)
	}
	params := map[string]string{}
	for _, r := range ta.value.(*TriggerAuthentication).Spec.SecretTargetRef {
		params[r.Parameter] = r.Name + "/" + r.Key
	}
	for _, e := range ta.value.(*TriggerAuthentication).Spec.Env {
		if _, ok := env[e.Name]; !ok {
			t.Errorf("TriggerAuthentication: %s from %s, which the container does not have", e.Parameter, e.Name)
		}
		params[e.Parameter] = "env/" + e.Name
	}
	want := map[string]string{
		"username": "env/DOWSER_KAFKA_SASL_USERNAME", "password": "kafka-sasl/password",
		"ca": "kafka-tls/ca.crt", "cert": "kafka-tls/tls.crt", "key": "kafka-tls/tls.key",
	}
	if !reflect.DeepEqual(params, want) {
		t.Errorf("TriggerAuthentication parameters %v, want %v", params, want)
	}
}

// TLS to a managed service whose certificates public roots sign: no CA
// bundle, no client certificate, so no Secret to mount or require.
func TestChartRendersTLSWithPublicRoots(t *testing.T) {
	objs := renderObjects(t, map[string]any{"kafka": map[string]any{
		"tls": map[string]any{"enabled": true, "caKey": ""},
		"sasl": map[string]any{"mechanism": "PLAIN", "username": "key",
			"passwordSecret": map[string]any{"name": "kafka-sasl", "key": "password"}},
	}})
	_, env := container(t, objs)
	if env["DOWSER_KAFKA_TLS"] != "true" || env["DOWSER_KAFKA_TLS_CA_FILE"] != "" {
		t.Errorf("DOWSER_KAFKA_TLS %q, DOWSER_KAFKA_TLS_CA_FILE %q: want TLS on the system's roots", env["DOWSER_KAFKA_TLS"], env["DOWSER_KAFKA_TLS_CA_FILE"])
	}
	for _, v := range objs["Deployment"].value.(*appsv1.Deployment).Spec.Template.Spec.Volumes {
		if v.Name == "kafka-tls" {
			t.Errorf("a kafka-tls volume (%+v) without certificates to hold", v)
		}
	}
	if tr := objs["ScaledObject"].value.(*ScaledObject).Spec.Triggers[0]; tr.Metadata["tls"] != "enable" {
		t.Errorf("ScaledObject: tls %q, want enable", tr.Metadata["tls"])
	}
	for _, r := range objs["TriggerAuthentication"].value.(*TriggerAuthentication).Spec.SecretTargetRef {
		if r.Parameter == "ca" {
			t.Errorf("TriggerAuthentication: a ca from %s/%s", r.Name, r.Key)
		}
	}
}

func TestChartRendersWithoutKEDA(t *testing.T) {
	objs := renderObjects(t, map[string]any{"keda": map[string]any{"enabled": false}, "replicas": 3})
	var kinds []string
	for k := range objs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	if want := []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %q, want %q", kinds, want)
	}
	if r := objs["Deployment"].value.(*appsv1.Deployment).Spec.Replicas; r == nil || *r != 3 {
		t.Errorf("replicas %v, want 3", r)
	}
}

// TestChartDefaultsHoldTogether checks the default rendering's objects
// against each other: selectors, ports, probes and the scaler.
func TestChartDefaultsHoldTogether(t *testing.T) {
	objs := renderObjects(t, nil)
	dep := objs["Deployment"].value.(*appsv1.Deployment)
	c, env := container(t, objs)
	pod := dep.Spec.Template
	for what, sel := range map[string]map[string]string{
		"Deployment":          dep.Spec.Selector.MatchLabels,
		"Service":             objs["Service"].value.(*corev1.Service).Spec.Selector,
		"PodDisruptionBudget": objs["PodDisruptionBudget"].value.(*policyv1.PodDisruptionBudget).Spec.Selector.MatchLabels,
	} {
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range sel {
			if pod.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pods' labels %v", what, k, v, pod.Labels)
			}
		}
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for what, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || !ports[p.HTTPGet.Port.String()] {
			t.Errorf("%s probe %v is not an HTTP probe on a named port", what, p)
		}
	}
	so := objs["ScaledObject"].value.(*ScaledObject)
	if so.Spec.ScaleTargetRef.Name != dep.Name {
		t.Errorf("ScaledObject scales %q, not the Deployment %q", so.Spec.ScaleTargetRef.Name, dep.Name)
	}
	meta := so.Spec.Triggers[0].Metadata
	for key, setting := range map[string]string{"bootstrapServers": "DOWSER_KAFKA_BROKERS", "consumerGroup": "DOWSER_GROUP_ID", "topic": "DOWSER_EVENTS_TOPIC"} {
		if meta[key] != env[setting] {
			t.Errorf("ScaledObject: %s %q, but %s is %q", key, meta[key], setting, env[setting])
		}
	}
	partitions, err := strconv.Atoi(env["DOWSER_PARTITIONS"])
	if err != nil {
		t.Fatalf("DOWSER_PARTITIONS: %v", err)
	}
	if so.Spec.MaxReplicaCount == nil || int(*so.Spec.MaxReplicaCount) > partitions {
		t.Errorf("ScaledObject: maxReplicaCount %d above DOWSER_PARTITIONS %s", *so.Spec.MaxReplicaCount, env["DOWSER_PARTITIONS"])
	}
	if _, ok := objs["TriggerAuthentication"]; ok {
		t.Error("a TriggerAuthentication without Kafka security")
	}
}

// TestChartRefusesBadValues: values that would deploy something broken
// fail the rendering with a message naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	for want, vals := range map[string]map[string]any{
		"keda.maxReplicas": {"keda": map[string]any{"maxReplicas": 24}},
		"kafka.sasl.mechanism": {"kafka": map[string]any{"sasl": map[string]any{
			"mechanism": "GSSAPI", "username": "u", "passwordSecret": map[string]any{"name": "s"}}}},
		"kafka.sasl.username":     {"kafka": map[string]any{"sasl": map[string]any{"mechanism": "PLAIN", "passwordSecret": map[string]any{"name": "s"}}}},
		"kafka.tls.secretName":    {"kafka": map[string]any{"tls": map[string]any{"enabled": true}}},
		"kafka.tls.keyKey":        {"kafka": map[string]any{"tls": map[string]any{"enabled": true, "secretName": "s", "certKey": "tls.crt"}}},
		"database.tls.secretName": {"database": map[string]any{"tls": map[string]any{"enabled": true}}},
		"kafka.brokers":           {"kafka": map[string]any{"brokers": []any{}}},
	} {
		_, err := render(t, vals)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %v: %v, want an error naming %s", vals, err, want)
		}
	}
}
