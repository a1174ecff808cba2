package kafka

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Flags are the flags that say how to reach a Kafka cluster that asks
// for TLS or SASL; every command that talks to Kafka registers them (see
// docs/configuration.md and docs/operations.md, "Connect to your
// cluster"). The zero value is plaintext without authentication.
type Flags struct {
	Security Security
	// PasswordFile and KeyFile hold the secrets as files (mounted secrets)
	// instead of flags or variables.
	PasswordFile string
	// Key is the client key in PEM, for a key passed in a variable rather
	// than a file.
	Key string
}

// String describes the settings without the secrets, so that a printed
// configuration does not leak them.
func (k Flags) String() string { return k.Security.String() }

// Register declares the flags on fs.
func (k *Flags) Register(fs *flag.FlagSet) {
	s := &k.Security
	fs.BoolVar(&s.TLS, "kafka-tls", false, "connect to Kafka over TLS (implied by any other --kafka-tls-* flag)")
	fs.StringVar(&s.CAFile, "kafka-tls-ca-file", "", "PEM file of the certificate authorities of the Kafka brokers' certificates; empty trusts the system's")
	fs.StringVar(&s.CertFile, "kafka-tls-cert-file", "", "PEM file of the client certificate, for brokers that authenticate clients by certificate (mutual TLS)")
	fs.StringVar(&s.KeyFile, "kafka-tls-key-file", "", "PEM file of the client certificate's key")
	fs.StringVar(&k.Key, "kafka-tls-key", "", "the client certificate's key in PEM, instead of --kafka-tls-key-file (for a secret passed as DOWSER_KAFKA_TLS_KEY)")
	fs.StringVar(&s.ServerName, "kafka-tls-server-name", "", "name the brokers' certificates must carry; empty takes each broker's host")
	fs.BoolVar(&s.InsecureSkipVerify, "kafka-tls-insecure-skip-verify", false, "accept any broker certificate (tests only: anyone on the path can read the traffic and the credentials)")
	fs.StringVar(&s.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: "+strings.Join(SASLMechanisms(), ", ")+"; empty for none")
	fs.StringVar(&s.Username, "kafka-sasl-username", "", "SASL username (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
	fs.StringVar(&s.Password, "kafka-sasl-password", "", "SASL password; prefer DOWSER_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file to a flag others can see")
	fs.StringVar(&k.PasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password (surrounding white space ignored), instead of --kafka-sasl-password")
	fs.StringVar(&s.AWSRegion, "kafka-aws-region", "", "AWS region of the MSK cluster, with --kafka-sasl-mechanism AWS_MSK_IAM; empty takes AWS_REGION")
}

// Settings returns the settings with the secrets read from their files.
// Errors name the flag, never a secret.
func (k Flags) Settings() (Security, error) {
	s := k.Security
	if k.PasswordFile != "" {
		if s.Password != "" {
			return s, errors.New("--kafka-sasl-password and --kafka-sasl-password-file are both set; set one")
		}
		b, err := os.ReadFile(k.PasswordFile)
		if err != nil {
			return s, fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		s.Password = strings.TrimSpace(string(b))
		if s.Password == "" {
			return s, fmt.Errorf("--kafka-sasl-password-file %s is empty", k.PasswordFile)
		}
	}
	if k.Key != "" {
		if s.KeyFile != "" {
			return s, errors.New("--kafka-tls-key and --kafka-tls-key-file are both set; set one")
		}
		s.KeyPEM = []byte(k.Key)
	}
	return s, nil
}

// Cluster checks the flags and returns the cluster at brokers reached
// with them.
func (k Flags) Cluster(ctx context.Context, brokers []string, log *slog.Logger) (Cluster, error) {
	sec, err := k.Settings()
	if err != nil {
		return Cluster{}, err
	}
	cl, err := Connect(ctx, brokers, sec, log)
	if err != nil {
		return Cluster{}, fmt.Errorf("kafka security flags: %w", err)
	}
	return cl, nil
}
