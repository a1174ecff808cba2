package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine or cluster runs where the tests do, so these tests check
// the files: that they parse, that the compose file holds together the way
// `docker compose config` would check it, and that every flag and DOWSER_*
// variable they name is one the binary really has.

// TestFilesParse parses every YAML file under deploy/ (all documents of a
// multi-document file) and every JSON file.
func TestFilesParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Helm templates are YAML only once rendered: deploy/validate
			// renders and decodes them.
			if filepath.Base(path) == "templates" && strings.HasPrefix(path, "helm") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			n++
			if _, err := yamlDocs(path); err != nil {
				t.Error(err)
			}
		case ".json":
			n++
			var v any
			if err := json.Unmarshal(readFile(t, path), &v); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no YAML or JSON files found under deploy/")
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	docs, err := yamlDocs(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	return docs[0]
}

// The helpers below read decoded YAML: a missing or mistyped value is the
// zero value, and the checks report it.
func asMap(v any) map[string]any { x, _ := v.(map[string]any); return x }
func asList(v any) []any         { x, _ := v.([]any); return x }
func asString(v any) string      { x, _ := v.(string); return x }
func dig(v any, keys ...string) any {
	for _, k := range keys {
		v = asMap(v)[k]
	}
	return v
}

// dowserCLI is what `dowser COMMAND -h` says each command accepts.
type dowserCLI struct {
	flags map[string]map[string]bool // command → flag names
	envs  map[string]map[string]bool // command → DOWSER_* names
	help  map[string]string          // command → help text
}

var (
	cliOnce sync.Once
	cli     dowserCLI
	cliErr  error
)

// binaryCLI builds ./cmd/dowser and asks each long-running command for its
// flags, whose usage lines read `--name (env DOWSER_NAME)`.
func binaryCLI(t *testing.T) dowserCLI {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dowser-deploy-test")
		if err != nil {
			cliErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "dowser")
		build := exec.Command("go", "build", "-o", bin, "./cmd/dowser")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build ./cmd/dowser: %v\n%s", err, out)
			return
		}
		cli = dowserCLI{flags: map[string]map[string]bool{}, envs: map[string]map[string]bool{}, help: map[string]string{}}
		usage := regexp.MustCompile(`--([a-z0-9-]+) \(env (DOWSER_[A-Z0-9_]+)\)`)
		for _, cmd := range []string{"serve", "demo", "broker", "migrate"} {
			out, err := exec.Command(bin, cmd, "-h").CombinedOutput()
			if err != nil {
				cliErr = fmt.Errorf("dowser %s -h: %v\n%s", cmd, err, out)
				return
			}
			cli.flags[cmd], cli.envs[cmd], cli.help[cmd] = map[string]bool{}, map[string]bool{}, string(out)
			for _, u := range usage.FindAllStringSubmatch(string(out), -1) {
				cli.flags[cmd][u[1]] = true
				cli.envs[cmd][u[2]] = true
			}
			if len(cli.flags[cmd]) == 0 {
				cliErr = fmt.Errorf("dowser %s -h lists no `--name (env DOWSER_NAME)` lines:\n%s", cmd, out)
				return
			}
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cli
}

// checkArgs reports flags in a dowser command line that its command lacks.
// args[0] is the command (default: the image's CMD, serve).
func (c dowserCLI) checkArgs(t *testing.T, where string, args []string) string {
	t.Helper()
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if c.flags[cmd] == nil {
		t.Errorf("%s: runs `dowser %s`, which is not one of serve, demo, broker, migrate", where, cmd)
		return cmd
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !c.flags[cmd][name] {
			t.Errorf("%s: `dowser %s` has no flag %s", where, cmd, a)
		}
	}
	return cmd
}

// checkEnv reports a DOWSER_* variable the command does not read, and
// DATABASE_URL where the command's help does not mention it.
func (c dowserCLI) checkEnv(t *testing.T, where, cmd, name string) {
	t.Helper()
	switch {
	case strings.HasPrefix(name, "DOWSER_"):
		if !c.envs[cmd][name] {
			t.Errorf("%s: `dowser %s` reads no variable %s", where, cmd, name)
		}
	case name == "DATABASE_URL":
		if !strings.Contains(c.help[cmd], name) {
			t.Errorf("%s: `dowser %s -h` does not mention %s", where, cmd, name)
		}
	}
}

var (
	composeTopKeys = []string{"name", "services", "volumes", "networks", "configs", "secrets", "include"}
	// composeServiceKeys are the service keys these files may use; a key
	// outside it is more likely a typo than a feature.
	composeServiceKeys = []string{"build", "image", "command", "entrypoint", "environment", "env_file", "depends_on",
		"ports", "expose", "volumes", "healthcheck", "restart", "hostname", "container_name", "networks", "labels",
		"user", "working_dir", "read_only", "tmpfs", "profiles", "logging", "stop_grace_period", "init",
		"cap_drop", "cap_add", "security_opt", "ulimits", "pull_policy", "deploy", "shm_size", "stop_signal"}
	portPattern          = regexp.MustCompile(`^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?((\d+(-\d+)?):)?\d+(-\d+)?(/(tcp|udp))?$`)
	interpolationPattern = regexp.MustCompile(`\$(\$|\{[A-Za-z_][A-Za-z0-9_]*(:?[-?+][^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)`)
)

func TestCompose(t *testing.T) {
	const path = "docker-compose.yaml"
	doc := loadYAML(t, path)
	for k := range doc {
		if !slices.Contains(composeTopKeys, k) && !strings.HasPrefix(k, "x-") {
			t.Errorf("%s: unknown top-level key %q", path, k)
		}
	}
	services := asMap(doc["services"])
	if len(services) == 0 {
		t.Fatalf("%s: no services", path)
	}
	volumes := asMap(doc["volumes"])
	for name, raw := range services {
		svc := asMap(raw)
		where := path + ": services." + name
		if svc == nil {
			t.Errorf("%s: not a mapping", where)
			continue
		}
		for k := range svc {
			if !slices.Contains(composeServiceKeys, k) && !strings.HasPrefix(k, "x-") {
				t.Errorf("%s: unknown key %q", where, k)
			}
		}
		if svc["image"] == nil && svc["build"] == nil {
			t.Errorf("%s: neither image nor build", where)
		}
		if b := svc["build"]; b != nil {
			ctx, dockerfile := asString(dig(b, "context")), asString(dig(b, "dockerfile"))
			if ctx == "" {
				ctx = asString(b)
			}
			if dockerfile == "" {
				dockerfile = "Dockerfile"
			}
			if _, err := os.Stat(filepath.Join(ctx, dockerfile)); err != nil {
				t.Errorf("%s: build: %v", where, err)
			}
		}
		var deps []string
		switch d := svc["depends_on"].(type) {
		case []any:
			for _, e := range d {
				deps = append(deps, asString(e))
			}
		case map[string]any:
			for dep, cond := range d {
				deps = append(deps, dep)
				c := asString(dig(cond, "condition"))
				if !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, c) {
					t.Errorf("%s: depends_on.%s: condition %q", where, dep, c)
				}
				if c == "service_healthy" && dig(services[dep], "healthcheck") == nil {
					t.Errorf("%s: waits for %s to be healthy, but it has no healthcheck", where, dep)
				}
			}
		case nil:
		default:
			t.Errorf("%s: depends_on is neither a list nor a mapping", where)
		}
		for _, dep := range deps {
			if _, ok := services[dep]; !ok || dep == name {
				t.Errorf("%s: depends on %q, which is not another service", where, dep)
			}
		}
		for _, p := range asList(svc["ports"]) {
			// An unquoted 80:80 is a number in YAML 1.1 readers.
			ps, ok := p.(string)
			if !ok || !portPattern.MatchString(ps) {
				t.Errorf("%s: port %v (%T) is not a quoted [ip:][host:]container[/proto] string", where, p, p)
			}
		}
		for _, v := range asList(svc["volumes"]) {
			vs, ok := v.(string)
			if !ok {
				t.Errorf("%s: volume %v is not short syntax", where, v)
				continue
			}
			parts := strings.Split(vs, ":")
			if len(parts) < 2 || len(parts) > 3 {
				t.Errorf("%s: volume %q is not source:target[:mode]", where, vs)
				continue
			}
			src := parts[0]
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s: bind mount %q: %v", where, vs, err)
				}
			} else if _, ok := volumes[src]; !ok {
				t.Errorf("%s: volume %q is not declared under top-level volumes", where, src)
			}
		}
		env, ok := svc["environment"].(map[string]any)
		if svc["environment"] != nil && !ok {
			t.Errorf("%s: environment is not a mapping", where)
		}
		for k, v := range env {
			vs, ok := v.(string)
			if !ok {
				t.Errorf("%s: environment.%s = %v (%T), want a quoted string", where, k, v, v)
				continue
			}
			checkInterpolation(t, where+": environment."+k, vs)
		}
		if hc := asMap(svc["healthcheck"]); hc != nil {
			test := asList(hc["test"])
			if len(test) == 0 || !slices.Contains([]any{"CMD", "CMD-SHELL", "NONE"}, test[0]) {
				t.Errorf("%s: healthcheck.test %v does not start with CMD, CMD-SHELL or NONE", where, hc["test"])
			}
		}
	}
}

func checkInterpolation(t *testing.T, where, v string) {
	t.Helper()
	if rest := interpolationPattern.ReplaceAllString(v, ""); strings.Contains(rest, "$") {
		t.Errorf("%s: %q has a $ that is not $$, $NAME or ${NAME...}", where, v)
	}
}

// isDowser tells the compose services that run the Dowser image.
func isDowser(svc map[string]any) bool {
	return strings.Contains(asString(dig(svc, "build", "dockerfile")), "deploy/Dockerfile") || strings.Contains(asString(svc["image"]), "dowser")
}

func TestComposeNamesRealFlagsAndVariables(t *testing.T) {
	c := binaryCLI(t)
	const path = "docker-compose.yaml"
	services := asMap(loadYAML(t, path)["services"])
	n := 0
	for name, raw := range services {
		svc := asMap(raw)
		if !isDowser(svc) {
			continue
		}
		n++
		where := path + ": services." + name
		var args []string
		for _, a := range asList(svc["command"]) {
			args = append(args, asString(a))
		}
		cmd := c.checkArgs(t, where+": command", args)
		for k := range asMap(svc["environment"]) {
			c.checkEnv(t, where+": environment", cmd, k)
		}
	}
	if n < 2 {
		t.Errorf("%s: %d Dowser services, want 2 sharing the consumer group", path, n)
	}
}

func TestDockerfileNamesRealVariables(t *testing.T) {
	c := binaryCLI(t)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "Dockerfile")))
	for cur := ""; sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur += cont + " "
			continue
		}
		lines, cur = append(lines, cur+line), ""
	}
	var cmd []string
	for _, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "ENV":
			for _, f := range strings.Fields(rest) {
				name, _, _ := strings.Cut(f, "=")
				c.checkEnv(t, "Dockerfile: ENV", "serve", name)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &cmd); err != nil {
				t.Errorf("Dockerfile: CMD %s is not exec form: %v", rest, err)
			}
		}
	}
	c.checkArgs(t, "Dockerfile: CMD", cmd)
}

// manifests returns every Kubernetes object under kubernetes/, by kind.
func manifests(t *testing.T) map[string][]map[string]any {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes (%v)", err)
	}
	out := map[string][]map[string]any{}
	for _, f := range files {
		docs, err := yamlDocs(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			kind := asString(d["kind"])
			if kind == "" || asString(d["apiVersion"]) == "" {
				t.Errorf("%s: a document without apiVersion and kind", f)
			}
			if kind != "Kustomization" && asString(dig(d, "metadata", "name")) == "" {
				t.Errorf("%s: %s without metadata.name", f, kind)
			}
			out[kind] = append(out[kind], d)
		}
	}
	return out
}

func one(t *testing.T, objs map[string][]map[string]any, kind string) map[string]any {
	t.Helper()
	if len(objs[kind]) != 1 {
		t.Fatalf("deploy/kubernetes: %d objects of kind %s, want 1", len(objs[kind]), kind)
	}
	return objs[kind][0]
}

func TestKubernetesNamesRealFlagsAndVariables(t *testing.T) {
	c := binaryCLI(t)
	objs := manifests(t)
	configMaps := map[string]map[string]any{}
	for _, cm := range objs["ConfigMap"] {
		configMaps[asString(dig(cm, "metadata", "name"))] = asMap(cm["data"])
	}
	dep := one(t, objs, "Deployment")
	containers := asList(dig(dep, "spec", "template", "spec", "containers"))
	if len(containers) == 0 {
		t.Fatal("Deployment: no containers")
	}
	for _, raw := range containers {
		ctr := asMap(raw)
		where := "Deployment: container " + asString(ctr["name"])
		var args []string
		for _, a := range append(asList(ctr["command"]), asList(ctr["args"])...) {
			args = append(args, asString(a))
		}
		cmd := c.checkArgs(t, where, args)
		for _, e := range asList(ctr["env"]) {
			name := asString(dig(e, "name"))
			c.checkEnv(t, where+": env", cmd, name)
			if key := asString(dig(e, "valueFrom", "secretKeyRef", "key")); key != "" && key != name {
				t.Errorf("%s: env %s reads Secret key %s: name the key after the variable", where, name, key)
			}
		}
		for _, e := range asList(ctr["envFrom"]) {
			name := asString(dig(e, "configMapRef", "name"))
			data, ok := configMaps[name]
			if !ok {
				t.Errorf("%s: envFrom ConfigMap %q is not in deploy/kubernetes", where, name)
			}
			for k, v := range data {
				if !strings.HasPrefix(k, "DOWSER_") {
					t.Errorf("ConfigMap %s: %s is not a DOWSER_* setting", name, k)
				}
				c.checkEnv(t, "ConfigMap "+name, cmd, k)
				if _, ok := v.(string); !ok {
					t.Errorf("ConfigMap %s: %s = %v (%T), want a string", name, k, v, v)
				}
			}
		}
	}
}

// TestKubernetesManifests checks what issue #7 asks of them and that they
// agree with each other.
func TestKubernetesManifests(t *testing.T) {
	objs := manifests(t)
	dep := one(t, objs, "Deployment")
	pod := asMap(dig(dep, "spec", "template", "spec"))
	podLabels := asMap(dig(dep, "spec", "template", "metadata", "labels"))
	if replicas, _ := dig(dep, "spec", "replicas").(int); replicas != 2 {
		t.Errorf("Deployment: replicas = %v, want 2", dig(dep, "spec", "replicas"))
	}
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("Deployment: pod securityContext.runAsNonRoot is not true")
	}
	ctr := asMap(asList(pod["containers"])[0])
	if dig(ctr, "securityContext", "readOnlyRootFilesystem") != true || dig(ctr, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("Deployment: container securityContext is not read-only root fs without privilege escalation")
	}
	if dig(ctr, "resources", "requests") == nil || dig(ctr, "resources", "limits", "memory") == nil {
		t.Error("Deployment: container has no resource requests or memory limit")
	}
	var ports []string
	for _, p := range asList(ctr["ports"]) {
		ports = append(ports, asString(dig(p, "name")))
	}
	for probe, path := range map[string]string{"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := asString(dig(ctr, probe, "httpGet", "path")); got != path {
			t.Errorf("Deployment: %s path = %q, want %s", probe, got, path)
		}
		if port := asString(dig(ctr, probe, "httpGet", "port")); !slices.Contains(ports, port) {
			t.Errorf("Deployment: %s port %q is not a named container port %q", probe, port, ports)
		}
	}
	selects := func(kind string, sel map[string]any) {
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", kind)
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s: selector %s=%v does not match the Deployment's pods (%v)", kind, k, v, podLabels)
			}
		}
	}
	svc := one(t, objs, "Service")
	selects("Service", asMap(dig(svc, "spec", "selector")))
	for _, p := range asList(dig(svc, "spec", "ports")) {
		if tp := dig(p, "targetPort"); !slices.Contains(ports, asString(tp)) {
			t.Errorf("Service: targetPort %v is not a named container port %q", tp, ports)
		}
	}
	selects("PodDisruptionBudget", asMap(dig(one(t, objs, "PodDisruptionBudget"), "spec", "selector", "matchLabels")))

	// The scaler must watch what the instances consume, and never ask for
	// more instances than there are partitions.
	cm := asMap(one(t, objs, "ConfigMap")["data"])
	setting := func(name, def string) string {
		if v := asString(cm[name]); v != "" {
			return v
		}
		return def
	}
	so := one(t, objs, "ScaledObject")
	if got := asString(dig(so, "spec", "scaleTargetRef", "name")); got != asString(dig(dep, "metadata", "name")) {
		t.Errorf("ScaledObject: scales %q, not the Deployment", got)
	}
	trig := asMap(asList(dig(so, "spec", "triggers"))[0])
	meta := asMap(trig["metadata"])
	for key, want := range map[string]string{
		"bootstrapServers": setting("DOWSER_KAFKA_BROKERS", ""),
		"consumerGroup":    setting("DOWSER_GROUP_ID", "dowser"),
		"topic":            setting("DOWSER_EVENTS_TOPIC", "dowser.events"),
	} {
		if asString(meta[key]) != want {
			t.Errorf("ScaledObject: %s = %q, but the ConfigMap says %q", key, meta[key], want)
		}
	}
	if asString(trig["type"]) != "kafka" || asString(meta["allowIdleConsumers"]) == "true" {
		t.Errorf("ScaledObject: trigger %v is not a kafka trigger without idle consumers", trig)
	}
	partitions, err := strconv.Atoi(setting("DOWSER_PARTITIONS", "6"))
	if err != nil {
		t.Fatalf("ConfigMap: DOWSER_PARTITIONS: %v", err)
	}
	maxReplicas, _ := dig(so, "spec", "maxReplicaCount").(int)
	minReplicas, _ := dig(so, "spec", "minReplicaCount").(int)
	if maxReplicas < 1 || maxReplicas > partitions {
		t.Errorf("ScaledObject: maxReplicaCount = %d, want 1 to DOWSER_PARTITIONS (%d)", maxReplicas, partitions)
	}
	if minReplicas != 2 || minReplicas > maxReplicas {
		t.Errorf("ScaledObject: minReplicaCount = %d, want the Deployment's 2", minReplicas)
	}

	kust := one(t, objs, "Kustomization")
	for _, r := range asList(kust["resources"]) {
		if _, err := os.Stat(filepath.Join("kubernetes", asString(r))); err != nil {
			t.Errorf("kustomization.yaml: resource %v", err)
		}
	}
}

// metricNames are the metrics Dowser exposes (with a histogram's series
// suffixes), besides the Go and process collectors'.
var metricNames = []string{
	"dowser_events_consumed_total", "dowser_events_rejected_total", "dowser_alerts_fired_total",
	"dowser_websocket_connections", "dowser_consumer_lag",
	"dowser_consumer_lag_age_seconds",
	"dowser_event_processing_seconds", "dowser_delivery_latency_seconds",
	"dowser_checkpoint_duration_seconds", "dowser_checkpoint_written_bytes_total", "dowser_checkpoint_rows_written_total",
	"dowser_checkpoint_behind_seconds", "dowser_checkpoints_deferred_total", "dowser_checkpoint_failures_total",
	"dowser_detector_states", "dowser_detector_cold_subjects", "dowser_detector_cold_bytes", "dowser_checkpoint_restore_seconds",
	"dowser_checkpoint_table_bytes", "dowser_checkpoint_log_bytes", "dowser_checkpoint_keys",
	"dowser_checkpoint_compactions_total", "dowser_checkpoint_compactions_skipped_total",
	"dowser_checkpoint_compaction_seconds_total", "dowser_checkpoint_compaction_written_bytes_total",
	"dowser_postgres_pool_acquired_conns", "dowser_postgres_pool_idle_conns", "dowser_postgres_pool_total_conns",
	"dowser_events_dropped_do_not_track_total", "dowser_alerts_purged_total",
	"dowser_partition_stalled_seconds",
	"dowser_routing_owner_skipped_total",
	"dowser_channel_deliveries_sent_total", "dowser_channel_delivery_retries_total", "dowser_channel_deliveries_failed_total",
	"dowser_channels_paused_total", "dowser_channel_delivery_latency_seconds",
	"dowser_email_digests_total", "dowser_email_digest_alerts_total",
	"dowser_escalations_total",
	"dowser_journey_written_total", "dowser_journey_dropped_total", "dowser_journey_buffered", "dowser_journey_paused_seconds_total", "dowser_journey_write_seconds",
	"dowser_verdict_news_listening", "dowser_verdict_news_failures_total",
	"dowser_loop_failures_total", "dowser_loop_items_set_aside_total", "dowser_loop_last_success_timestamp_seconds",
}

var metricRef = regexp.MustCompile(`\bdowser_[a-z0-9_]+`)

func checkMetrics(t *testing.T, where, expr string) {
	t.Helper()
	for _, name := range metricRef.FindAllString(expr, -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && strings.HasSuffix(b, "_seconds") {
				base = b
			}
		}
		if !slices.Contains(metricNames, base) {
			t.Errorf("%s: unknown metric %s in %q", where, name, expr)
		}
	}
}

func TestAlertRules(t *testing.T) {
	doc := loadYAML(t, "prometheus/alerts.yaml")
	n := 0
	for _, g := range asList(doc["groups"]) {
		for _, r := range asList(dig(g, "rules")) {
			n++
			name, expr := asString(dig(r, "alert")), asString(dig(r, "expr"))
			if name == "" || expr == "" || asString(dig(r, "labels", "severity")) == "" || asString(dig(r, "annotations", "summary")) == "" {
				t.Errorf("alerts.yaml: rule %v lacks alert, expr, labels.severity or annotations.summary", r)
			}
			checkMetrics(t, "alerts.yaml: "+name, expr)
		}
	}
	for _, want := range []string{"dowser_consumer_lag", "dowser_events_rejected_total", "dowser_events_consumed_total"} {
		if !strings.Contains(string(readFile(t, "prometheus/alerts.yaml")), want) {
			t.Errorf("alerts.yaml: no rule on %s", want)
		}
	}
	if n == 0 {
		t.Error("alerts.yaml: no rules")
	}
}

// TestMonitoringWiring checks that Prometheus scrapes the compose Dowser
// services and loads the rules compose mounts, and that Grafana finds the
// dashboard where compose mounts it.
func TestMonitoringWiring(t *testing.T) {
	compose := asMap(loadYAML(t, "docker-compose.yaml")["services"])
	mounts := map[string]string{} // host path → container path, every service
	for _, svc := range compose {
		for _, v := range asList(asMap(svc)["volumes"]) {
			parts := strings.Split(asString(v), ":")
			if len(parts) >= 2 {
				mounts[filepath.Clean(parts[0])] = parts[1]
			}
		}
	}
	prom := loadYAML(t, "prometheus/prometheus.yaml")
	for _, f := range asList(prom["rule_files"]) {
		if mounts["prometheus/alerts.yaml"] != asString(f) {
			t.Errorf("prometheus.yaml: rule file %v is not where compose mounts prometheus/alerts.yaml (%s)", f, mounts["prometheus/alerts.yaml"])
		}
	}
	var targets []string
	for _, sc := range asList(prom["scrape_configs"]) {
		for _, st := range asList(dig(sc, "static_configs")) {
			for _, tg := range asList(dig(st, "targets")) {
				targets = append(targets, asString(tg))
			}
		}
	}
	for name, svc := range compose {
		if isDowser(asMap(svc)) && !slices.Contains(targets, name+":8080") {
			t.Errorf("prometheus.yaml: does not scrape %s:8080 (targets %q)", name, targets)
		}
	}

	prov := loadYAML(t, "grafana/provisioning/dashboards/dowser.yaml")
	for _, p := range asList(prov["providers"]) {
		if got := asString(dig(p, "options", "path")); got != mounts["grafana/dashboards"] {
			t.Errorf("grafana provisioning: dashboards path %q, but compose mounts grafana/dashboards at %q", got, mounts["grafana/dashboards"])
		}
	}
	if mounts["grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Errorf("compose mounts grafana/provisioning at %q, not /etc/grafana/provisioning", mounts["grafana/provisioning"])
	}

	var dash map[string]any
	if err := json.Unmarshal(readFile(t, "grafana/dashboards/dowser.json"), &dash); err != nil {
		t.Fatal(err)
	}
	if asString(dash["uid"]) == "" || len(asList(dash["panels"])) == 0 {
		t.Error("dowser.json: no uid or no panels")
	}
	seen := map[string]bool{}
	for _, p := range asList(dash["panels"]) {
		for _, tg := range asList(dig(p, "targets")) {
			expr := asString(dig(tg, "expr"))
			checkMetrics(t, "dowser.json: "+asString(dig(p, "title")), expr)
			for _, name := range metricRef.FindAllString(expr, -1) {
				seen[name] = true
			}
		}
	}
	for _, name := range metricNames {
		if !seen[name] && !seen[name+"_bucket"] {
			t.Errorf("dowser.json: no panel shows %s", name)
		}
	}
}
