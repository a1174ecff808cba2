package kafka_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
)

// TestRefusedCredentialsAreDeniedEverywhere signs in with a wrong password
// through every kind of connection the package opens: each fails with an
// error wrapping ErrDenied that says the credentials were refused, after
// few attempts.
func TestRefusedCredentialsAreDeniedEverywhere(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 2, Users: []broker.User{{Mechanism: kafka.SASLSCRAMSHA512, Name: "dowser", Password: "right"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var attempts atomic.Int64
	b.OnSASLAuthenticate(func() { attempts.Add(1) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	right, err := kafka.Connect(ctx, b.Brokers(), kafka.Security{SASLMechanism: kafka.SASLSCRAMSHA512, Username: "dowser", Password: "right"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(ctx, right, 2, 1, "events"); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	wrong, err := kafka.Connect(ctx, b.Brokers(), kafka.Security{SASLMechanism: kafka.SASLSCRAMSHA512, Username: "dowser", Password: "wrong"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"EnsureTopics": func() error { return kafka.EnsureTopics(ctx, wrong, 2, 1, "events") },
		"CheckTopics":  func() error { return kafka.CheckTopics(ctx, wrong, "events") },
		"Ping":         func() error { return kafka.Ping(ctx, wrong) },
		"OpenHistory": func() error {
			_, err := kafka.OpenHistory(ctx, wrong, "events", time.Time{})
			return err
		},
		"NewTailer": func() error {
			_, err := kafka.NewTailer(ctx, wrong, "events", nil)
			return err
		},
	} {
		before := attempts.Load()
		err := call()
		if !errors.Is(err, kafka.ErrDenied) || !strings.Contains(err.Error(), "SASL credentials") {
			t.Errorf("%s = %v, want ErrDenied naming the SASL credentials", name, err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("%s: the password is in the error: %v", name, err)
		}
		// SCRAM takes two SASLAuthenticate round trips a sign-in; a call
		// signs in at most twice (its own try, and the diagnosis).
		if n := attempts.Load() - before; n > 4 {
			t.Errorf("%s: %d SASLAuthenticate requests, want at most 4", name, n)
		}
	}
}

// TestSecurityStringHidesThePassword: the settings as logged name the
// mechanism and user, never the password.
func TestSecurityStringHidesThePassword(t *testing.T) {
	s := kafka.Security{CAFile: "ca.pem", SASLMechanism: kafka.SASLPlain, Username: "svc", Password: "hunter2-secret", KeyPEM: []byte("KEYBYTES")}
	got := s.String()
	if want := "tls, sasl PLAIN as svc"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if v := s.LogValue().String(); strings.Contains(v, "hunter2") || strings.Contains(v, "KEYBYTES") {
		t.Errorf("LogValue() = %q holds a secret", v)
	}
}

// TestConnectRejectsBadSettings: each mistake gets an error naming it.
func TestConnectRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		sec  kafka.Security
		want string
	}{
		{"unknown mechanism", kafka.Security{SASLMechanism: "GSSAPI", Username: "u", Password: "p"}, `"GSSAPI": not one of PLAIN`},
		{"no password", kafka.Security{SASLMechanism: kafka.SASLSCRAMSHA256, Username: "u"}, "needs a username and a password"},
		{"password without mechanism", kafka.Security{Username: "u", Password: "p"}, "without a mechanism"},
		{"missing CA file", kafka.Security{CAFile: "/nonexistent/ca.pem"}, "reading the Kafka CA file"},
		{"certificate without key", kafka.Security{CertFile: "client.pem"}, "set both or neither"},
		{"IAM with a password", kafka.Security{SASLMechanism: kafka.SASLAWSMSKIAM, Username: "u", Password: "p"}, "takes AWS credentials"},
	} {
		_, err := kafka.Connect(context.Background(), []string{"127.0.0.1:9092"}, tc.sec, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Connect = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestAWSMSKIAMSignsIn: with AWS_MSK_IAM the client offers that mechanism
// with credentials from the AWS SDK's chain (here the environment); the
// embedded broker does not speak it, so it refuses, which shows the
// mechanism is the one on the wire. Without a region Connect says so.
func TestAWSMSKIAMSignsIn(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.Connect(ctx, []string{"127.0.0.1:9098"}, kafka.Security{TLS: true, SASLMechanism: kafka.SASLAWSMSKIAM}, nil); err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("Connect without a region = %v, want an error saying so", err)
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Users: []broker.User{{Mechanism: kafka.SASLPlain, Name: "u", Password: "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kafka.Connect(ctx, b.Brokers(), kafka.Security{SASLMechanism: kafka.SASLAWSMSKIAM, AWSRegion: "eu-west-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = kafka.Ping(ctx, cl)
	if !errors.Is(err, kafka.ErrDenied) || !strings.Contains(err.Error(), "Unsupported SASL Mechanism") {
		t.Errorf("Ping = %v, want ErrDenied for the mechanism the broker does not support", err)
	}
}
