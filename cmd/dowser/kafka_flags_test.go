package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
)

// TestProduceAndBacktestThroughSCRAM runs the two commands that talk to
// Kafka on their own against a broker that asks for SCRAM: `produce`
// with the password in its DOWSER_ variable, `signals backtest
// --from-kafka` with it in a file; both reach the broker, and a wrong
// password is refused with a clear error.
func TestProduceAndBacktestThroughSCRAM(t *testing.T) {
	b := startBroker(t, broker.Config{Users: []broker.User{{Mechanism: kafka.SASLSCRAMSHA512, Name: "dowser", Password: "s3cret-pw"}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "sasl.events"
	admin, err := kafka.Connect(ctx, b.Brokers(), kafka.Security{SASLMechanism: kafka.SASLSCRAMSHA512, Username: "dowser", Password: "s3cret-pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(ctx, admin, 3, 1, topic); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	lines := strings.Join([]string{
		pricingLine("a1", "acme", now.Add(-3*time.Hour)),
		pricingLine("a2", "acme", now.Add(-2*time.Hour)),
		pricingLine("a3", "acme", now.Add(-time.Hour)),
	}, "\n") + "\n"
	env := map[string]string{"DOWSER_KAFKA_SASL_PASSWORD": "s3cret-pw"}
	var stderr bytes.Buffer
	args := []string{"--kafka-brokers", b.Addr(), "--events-topic", topic, "--kafka-sasl-mechanism", kafka.SASLSCRAMSHA512, "--kafka-sasl-username", "dowser"}
	if err := runProduce(ctx, args, strings.NewReader(lines), &stderr, func(k string) string { return env[k] }); err != nil {
		t.Fatalf("produce: %v\n%s", err, stderr.String())
	}

	dir := t.TempDir()
	signals := writeSignalsFile(t, dir, "pricing.yaml", testPricingSignal)
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(" s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backtest := []string{"signals", "backtest", "--signals", signals, "--from-kafka", "--kafka-brokers", b.Addr(), "--events-topic", topic,
		"--kafka-sasl-mechanism", kafka.SASLSCRAMSHA512, "--kafka-sasl-username", "dowser", "--kafka-sasl-password-file", pw}
	code, stdout, errOut := runSignalsCmd(t, backtest...)
	if code != 0 || !strings.Contains(stdout, "3 read, 3 valid") {
		t.Fatalf("backtest exit %d:\n%s\n%s", code, stdout, errOut)
	}

	if err := os.WriteFile(pw, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runSignalsCmd(t, backtest...)
	if code == 0 || !strings.Contains(errOut, "kafka refused the SASL credentials") || strings.Contains(errOut, "wrong") {
		t.Errorf("backtest with a wrong password: exit %d, stderr %q; want a failure naming the SASL credentials, without the password", code, errOut)
	}
}

// TestKafkaSecretFlags: a secret is given once, from a flag, its variable
// or its file, and an empty file is an error.
func TestKafkaSecretFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags kafka.Flags
		want  string
	}{
		{"password twice", kafka.Flags{Security: kafka.Security{Password: "a"}, PasswordFile: empty}, "both set"},
		{"empty password file", kafka.Flags{PasswordFile: empty}, "is empty"},
		{"missing password file", kafka.Flags{PasswordFile: filepath.Join(dir, "nope")}, "--kafka-sasl-password-file"},
		{"key twice", kafka.Flags{Security: kafka.Security{KeyFile: "k.pem"}, Key: "-----BEGIN"}, "--kafka-tls-key and --kafka-tls-key-file"},
	} {
		if _, err := tc.flags.Settings(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: security() = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestPrintedConfigurationHidesKafkaSecrets: a serveConfig printed whole
// (a debugging line, a panic) shows no password or key.
func TestPrintedConfigurationHidesKafkaSecrets(t *testing.T) {
	cfg := serveConfig{Kafka: kafka.Flags{Security: kafka.Security{SASLMechanism: kafka.SASLPlain, Username: "u", Password: "pw-1234567"}, Key: "KEY-PEM-BYTES"}}
	for _, out := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg)} {
		if strings.Contains(out, "pw-1234567") || strings.Contains(out, "KEY-PEM-BYTES") {
			t.Errorf("printed configuration holds a secret: %s", out)
		}
	}
}
