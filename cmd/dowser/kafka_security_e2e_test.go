package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// testPKI is a throwaway certificate authority with a server certificate
// for 127.0.0.1 and a client certificate, written as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dowser test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	srvCert, srvKey := issue(2, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kafka.test"}, DNSNames: []string{"kafka.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	cliCert, cliKey := issue(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "dowser"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	if p.server, err = tls.X509KeyPair(srvCert, srvKey); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p.caFile = write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	p.clientCert = write("client.pem", cliCert)
	p.clientKey = write("client-key.pem", cliKey)
	return p
}

// serverTLS is the broker's side: its certificate, and client
// certificates required and checked against the CA.
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool,
	}
}

// startBroker starts an embedded broker configured by cfg on a free port.
func startBroker(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	cfg.Addr, cfg.Partitions = "127.0.0.1:0", 3
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestEndToEndThroughSecuredKafka runs the whole service against a broker
// that asks for TLS (with client certificates), or for SASL PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512: an event is consumed and its alert
// delivered to a websocket client, a bad one dead-lettered, all through
// the service's own connections.
func TestEndToEndThroughSecuredKafka(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name   string
		broker broker.Config
		flags  kafka.Flags
	}{
		{"tls", broker.Config{TLS: pki.serverTLS()}, kafka.Flags{Security: kafka.Security{
			CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "kafka.test",
		}}},
		{"sasl-plain", broker.Config{Users: []broker.User{{Mechanism: kafka.SASLPlain, Name: "dowser", Password: "plain-secret"}}},
			kafka.Flags{Security: kafka.Security{SASLMechanism: kafka.SASLPlain, Username: "dowser", Password: "plain-secret"}}},
		{"sasl-scram-sha-256", broker.Config{Users: []broker.User{{Mechanism: kafka.SASLSCRAMSHA256, Name: "dowser", Password: "scram-secret"}}},
			kafka.Flags{Security: kafka.Security{SASLMechanism: kafka.SASLSCRAMSHA256, Username: "dowser", Password: "scram-secret"}}},
		{"sasl-scram-sha-512-over-tls", broker.Config{TLS: pki.serverTLS(), Users: []broker.User{{Mechanism: kafka.SASLSCRAMSHA512, Name: "dowser", Password: "scram-secret"}}},
			kafka.Flags{Security: kafka.Security{
				CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey,
				SASLMechanism: kafka.SASLSCRAMSHA512, Username: "dowser", Password: "scram-secret",
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, tc.broker)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// The broker refuses a client without the security.
			if err := kafka.Ping(ctx, kafka.Cluster{Brokers: b.Brokers()}); err == nil {
				t.Fatal("a plaintext client without credentials reached the secured broker")
			}

			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
			app := startAppWithLog(t, log, func(c *serveConfig) { c.KafkaBrokers = b.Addr(); c.Kafka = tc.flags })
			app.seed()
			ana := app.connect("rep-ana")

			sec, err := tc.flags.Settings()
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kafka.Connect(ctx, b.Brokers(), sec, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := kafka.NewProducer(cl, "dowser.events")
			defer p.Close()
			bad := []byte(`{"id": "evt-bad", "type": "page_view"`)
			msgs := []kafka.Message{{Key: []byte("acme"), Value: bad}}
			now := time.Now()
			for i := 3; i > 0; i-- {
				k, v := pricingView("acme", "c-1", now.Add(-time.Duration(i)*time.Minute))
				msgs = append(msgs, kafka.Message{Key: k, Value: v})
			}
			if err := p.Produce(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			if _, a := ana.nextAlert(30 * time.Second); a["account_id"] != "acme" {
				t.Errorf("alert = %v, want one for acme", a)
			}
			found := false
			await(t, 30*time.Second, "the bad event on the dead-letter topic", func() bool {
				h, err := kafka.OpenHistory(ctx, cl, kafka.DLQTopic("dowser.events"), time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				err = h.Read(ctx, func(_ int, _ int64, value []byte) error {
					found = found || bytes.Equal(value, bad)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return found
			})
			if pw := sec.Password; pw != "" && strings.Contains(logs.String(), pw) {
				t.Errorf("the SASL password is in the service's log")
			}
		})
	}
}

// TestWrongKafkaCredentialsFailFastWithoutRetryStorm starts the service
// with a wrong SASL password: it stops at once with an error that says the
// credentials were refused, after a handful of attempts, not a loop.
func TestWrongKafkaCredentialsFailFastWithoutRetryStorm(t *testing.T) {
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLSCRAMSHA256} {
		t.Run(mech, func(t *testing.T) {
			b := startBroker(t, broker.Config{Users: []broker.User{{Mechanism: mech, Name: "dowser", Password: "right"}}})
			var attempts atomic.Int64
			b.OnSASLAuthenticate(func() { attempts.Add(1) })
			dir := t.TempDir()
			pwFile := filepath.Join(dir, "password")
			if err := os.WriteFile(pwFile, []byte("wrong-password\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			cfg := serveConfig{
				HTTPAddr: "127.0.0.1:0", DatabaseURL: pgtest.URL(t), KafkaBrokers: b.Addr(),
				EventsTopic: "dowser.events", AlertsTopic: "dowser.alerts", GroupID: "dowser", Partitions: 3, Replication: 1,
				MaxEventBytes: 64 << 10, SignalsPoll: 50 * time.Millisecond,
				Kafka: kafka.Flags{Security: kafka.Security{SASLMechanism: mech, Username: "dowser"}, PasswordFile: pwFile},
			}
			app, err := newApp(cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			err = app.Run(ctx)
			t.Logf("Run returned after %v, %d SASL attempts: %v", time.Since(start), attempts.Load(), err)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("Run = %v, want a failure before the deadline", err)
			}
			if !errors.Is(err, kafka.ErrDenied) || !strings.Contains(err.Error(), "SASL credentials") {
				t.Errorf("Run = %v, want an error wrapping kafka.ErrDenied that names the SASL credentials", err)
			}
			if n := attempts.Load(); n < 1 || n > 5 {
				t.Errorf("%d SASL authentication attempts, want between 1 and 5", n)
			}
			if strings.Contains(logs.String(), "wrong-password") || strings.Contains(err.Error(), "wrong-password") {
				t.Error("the password is in the log or the error")
			}
		})
	}
}

// TestKafkaCreateTopicsFalseChecksInsteadOfCreating runs the service with
// --kafka-create-topics=false: a missing topic stops it with its name;
// once the topics exist it starts, and created none of its own.
func TestKafkaCreateTopicsFalseChecksInsteadOfCreating(t *testing.T) {
	b := startBroker(t, broker.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := kafka.Cluster{Brokers: b.Brokers()}
	if err := kafka.EnsureTopics(ctx, cl, 3, 1, "dowser.events", "dowser.alerts"); err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{
		HTTPAddr: "127.0.0.1:0", DatabaseURL: pgtest.URL(t), KafkaBrokers: b.Addr(),
		EventsTopic: "dowser.events", AlertsTopic: "dowser.alerts", GroupID: "dowser", Partitions: 3, Replication: 1,
		MaxEventBytes: 64 << 10, SignalsPoll: 50 * time.Millisecond, KafkaNoCreateTopics: true,
	}
	app, err := newApp(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = app.Run(ctx)
	if !errors.Is(err, kafka.ErrMissingTopic) || !strings.Contains(err.Error(), "dowser.events.dlq") {
		t.Fatalf("Run = %v, want ErrMissingTopic naming dowser.events.dlq", err)
	}
	if err := kafka.CheckTopics(ctx, cl, "dowser.events.dlq"); !errors.Is(err, kafka.ErrMissingTopic) {
		t.Fatalf("the service created dowser.events.dlq: CheckTopics = %v", err)
	}

	if err := kafka.EnsureTopics(ctx, cl, 3, 1, "dowser.events.dlq"); err != nil {
		t.Fatal(err)
	}
	startApp(t, func(c *serveConfig) { c.KafkaBrokers = b.Addr(); c.KafkaNoCreateTopics = true })
}

// TestKafkaGroupDeniedByACLIsReportedByReadyz gives the service's user
// every right on its topics but none on its consumer group: the service
// starts, /readyz answers 503 naming the group and the ACLs, and the
// refusal is retried slowly.
func TestKafkaGroupDeniedByACLIsReportedByReadyz(t *testing.T) {
	var grants []broker.Grant
	for _, topic := range []string{"dowser.events", "dowser.events.dlq", "dowser.alerts"} {
		for _, op := range []string{"read", "write", "describe", "create", "describeconfigs"} {
			grants = append(grants, broker.Grant{Resource: "topic", Name: topic, Operation: op})
		}
	}
	b := startBroker(t, broker.Config{Users: []broker.User{{Mechanism: kafka.SASLSCRAMSHA256, Name: "dowser", Password: "pw", Grants: grants}}})
	var logs syncBuffer
	app := startAppLogging(t, &logs, func(c *serveConfig) {
		c.KafkaBrokers = b.Addr()
		c.Kafka = kafka.Flags{Security: kafka.Security{SASLMechanism: kafka.SASLSCRAMSHA256, Username: "dowser", Password: "pw"}}
	})
	var problems []string
	await(t, 30*time.Second, "/readyz reporting the denied group", func() bool {
		resp, err := http.Get("http://" + app.HTTPAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Problems []string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("decoding /readyz: %v", err)
		}
		problems = body.Problems
		return resp.StatusCode == http.StatusServiceUnavailable && slices.ContainsFunc(problems, func(p string) bool {
			return strings.Contains(p, "ACLs deny") && strings.Contains(p, "group dowser")
		})
	})
	t.Logf("/readyz problems: %q", problems)
	if n := strings.Count(logs.String(), "kafka refused the consumer"); n < 1 || n > 3 {
		t.Errorf("%d refusal lines by the time /readyz reported it, want 1 to 3 (a slow retry)", n)
	}
}

// TestUntrustedKafkaCertificateFailsFast: a broker whose certificate the
// service cannot verify (no CA file for a private CA) stops start-up with
// an error that says so.
func TestUntrustedKafkaCertificateFailsFast(t *testing.T) {
	pki := newTestPKI(t)
	srv := pki.serverTLS()
	srv.ClientAuth = tls.NoClientCert
	b := startBroker(t, broker.Config{TLS: srv})
	cfg := serveConfig{
		HTTPAddr: "127.0.0.1:0", DatabaseURL: pgtest.URL(t), KafkaBrokers: b.Addr(),
		EventsTopic: "dowser.events", AlertsTopic: "dowser.alerts", GroupID: "dowser", Partitions: 3, Replication: 1,
		MaxEventBytes: 64 << 10, SignalsPoll: 50 * time.Millisecond,
		Kafka: kafka.Flags{Security: kafka.Security{TLS: true}},
	}
	app, err := newApp(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = app.Run(ctx)
	if !errors.Is(err, kafka.ErrDenied) || !strings.Contains(err.Error(), "TLS certificate was not accepted") {
		t.Fatalf("Run = %v, want ErrDenied saying the certificate was not accepted", err)
	}
}
