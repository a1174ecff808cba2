package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/aws_msk_iam_v2"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms a [Security] may name.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
	// SASLAWSMSKIAM signs in to Amazon MSK with the AWS credentials the
	// AWS SDK finds (environment, shared files, the instance's or pod's
	// role).
	SASLAWSMSKIAM = "AWS_MSK_IAM"
)

// SASLMechanisms lists the mechanisms a [Security] may name.
func SASLMechanisms() []string {
	return []string{SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512, SASLAWSMSKIAM}
}

// Security says how to reach a cluster that asks for TLS or SASL. The
// zero value is plaintext without authentication.
type Security struct {
	// TLS encrypts every connection. Setting any other TLS field implies
	// it.
	TLS bool
	// CAFile is a PEM bundle of the certificate authorities that sign the
	// brokers' certificates; empty trusts the system's.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key (PEM), for
	// clusters that authenticate clients by certificate (mutual TLS).
	CertFile, KeyFile string
	// KeyPEM is the client key itself, instead of KeyFile (a secret
	// passed in a variable).
	KeyPEM []byte
	// ServerName is the name the brokers' certificates must carry; empty
	// takes the host of each broker address.
	ServerName string
	// InsecureSkipVerify accepts any broker certificate: tests only.
	InsecureSkipVerify bool

	// SASLMechanism is one of SASLMechanisms(), or empty for none.
	SASLMechanism string
	// Username and Password are the SASL credentials (PLAIN, SCRAM).
	Username, Password string
	// AWSRegion is the region of the MSK cluster (AWS_MSK_IAM); empty
	// takes the AWS SDK's (AWS_REGION and the shared config).
	AWSRegion string
}

// String describes the settings without the secrets, for logs.
func (s Security) String() string {
	var parts []string
	if s.usesTLS() {
		t := "tls"
		if s.InsecureSkipVerify {
			t += " (certificates not verified)"
		}
		if s.CertFile != "" {
			t += " with a client certificate"
		}
		parts = append(parts, t)
	}
	if s.SASLMechanism != "" {
		p := "sasl " + s.SASLMechanism
		if s.Username != "" {
			p += " as " + s.Username
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "plaintext"
	}
	return strings.Join(parts, ", ")
}

// LogValue keeps the password out of structured logs.
func (s Security) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Enabled reports whether s asks for TLS or SASL.
func (s Security) Enabled() bool { return s.usesTLS() || s.SASLMechanism != "" }

func (s Security) usesTLS() bool {
	return s.TLS || s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || len(s.KeyPEM) > 0 || s.ServerName != "" || s.InsecureSkipVerify
}

// Cluster is a Kafka cluster and how to talk to it: every connection this
// package opens goes through one. A Cluster with only Brokers set speaks
// plaintext without authentication; [Connect] makes one with security.
type Cluster struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	tls     *tls.Config
	sasl    sasl.Mechanism
}

// Connect checks sec and returns the cluster at brokers reached with it:
// it reads the certificate files and, for AWS_MSK_IAM, the AWS SDK's
// configuration. It opens no connection. log gets a warning when
// certificates go unverified.
func Connect(ctx context.Context, brokers []string, sec Security, log *slog.Logger) (Cluster, error) {
	c := Cluster{Brokers: brokers}
	if len(brokers) == 0 {
		return c, errors.New("kafka: no brokers configured")
	}
	if sec.usesTLS() {
		cfg, err := sec.tlsConfig()
		if err != nil {
			return c, err
		}
		if sec.InsecureSkipVerify && log != nil {
			log.Warn("KAFKA TLS CERTIFICATES ARE NOT VERIFIED: anyone on the network path can read and change the traffic and take the credentials; for tests only",
				"brokers", brokers)
		}
		c.tls = cfg
	}
	mech, err := sec.mechanism(ctx)
	if err != nil {
		return c, err
	}
	c.sasl = mech
	return c, nil
}

func (s Security) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // opt-in, warned about in Connect
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the Kafka CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka CA file %s: no PEM certificate in it", s.CAFile)
		}
		cfg.RootCAs = pool
	}
	hasKey := s.KeyFile != "" || len(s.KeyPEM) > 0
	if (s.CertFile == "") != !hasKey {
		return nil, fmt.Errorf("kafka client certificate %q and key: set both or neither", s.CertFile)
	}
	if s.CertFile != "" {
		certPEM, err := os.ReadFile(s.CertFile)
		if err != nil {
			return nil, fmt.Errorf("reading the Kafka client certificate: %w", err)
		}
		keyPEM := s.KeyPEM
		if s.KeyFile != "" {
			if keyPEM, err = os.ReadFile(s.KeyFile); err != nil {
				return nil, fmt.Errorf("reading the Kafka client key: %w", err)
			}
		}
		// X509KeyPair's errors describe the PEM blocks, never the key.
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("kafka client certificate %s and its key: %w", s.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (s Security) mechanism(ctx context.Context) (sasl.Mechanism, error) {
	switch strings.ToUpper(s.SASLMechanism) {
	case "":
		if s.Username != "" || s.Password != "" {
			return nil, errors.New("kafka SASL username or password set without a mechanism: set one of " + strings.Join(SASLMechanisms(), ", "))
		}
		return nil, nil
	case SASLPlain:
		if s.Username == "" || s.Password == "" {
			return nil, errors.New("kafka SASL PLAIN needs a username and a password")
		}
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLSCRAMSHA256, SASLSCRAMSHA512:
		if s.Username == "" || s.Password == "" {
			return nil, fmt.Errorf("kafka SASL %s needs a username and a password", s.SASLMechanism)
		}
		algo := scram.SHA256
		if strings.EqualFold(s.SASLMechanism, SASLSCRAMSHA512) {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka SASL %s: %w", s.SASLMechanism, err)
		}
		return m, nil
	case SASLAWSMSKIAM:
		if s.Username != "" || s.Password != "" {
			return nil, errors.New("kafka SASL AWS_MSK_IAM takes AWS credentials, not a username and password")
		}
		var opts []func(*awsconfig.LoadOptions) error
		if s.AWSRegion != "" {
			opts = append(opts, awsconfig.WithRegion(s.AWSRegion))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("loading the AWS configuration for MSK IAM: %w", err)
		}
		if cfg.Region == "" {
			return nil, errors.New("kafka SASL AWS_MSK_IAM: no AWS region: set the region flag or AWS_REGION")
		}
		return aws_msk_iam_v2.NewMechanism(cfg), nil
	default:
		return nil, fmt.Errorf("kafka SASL mechanism %q: not one of %s", s.SASLMechanism, strings.Join(SASLMechanisms(), ", "))
	}
}

// dialer opens the connections of readers, consumer groups and tailers.
func (c Cluster) dialer() *kafkago.Dialer {
	return &kafkago.Dialer{
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           c.tls,
		SASLMechanism: c.sasl,
	}
}

// transport carries the requests of clients and writers. Each caller gets
// its own and closes its idle connections when done: a Writer closes only
// a transport it made itself.
func (c Cluster) transport() *kafkago.Transport {
	return &kafkago.Transport{
		Dial:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DialTimeout: 5 * time.Second,
		TLS:         c.tls,
		SASL:        c.sasl,
	}
}

// client returns an admin client and the function that releases its
// connections.
func (c Cluster) client(timeout time.Duration) (*kafkago.Client, func()) {
	tr := c.transport()
	return &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Timeout: timeout, Transport: tr}, tr.CloseIdleConnections
}
