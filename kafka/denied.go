package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"

	kafkago "github.com/segmentio/kafka-go"
)

// ErrDenied is wrapped by errors that say the cluster refused Dowser: its
// credentials, its certificate, or a permission (an ACL). Trying again
// meets the same refusal until someone changes the credentials or the
// ACLs, so callers stop, or retry slowly and say so, rather than loop.
var ErrDenied = errors.New("refused by the Kafka cluster")

// ErrMissingTopic is wrapped by the error of a topic that does not exist
// while Dowser may not create it.
var ErrMissingTopic = errors.New("kafka topic missing")

type deniedError struct {
	msg string
	err error
}

func (e *deniedError) Error() string   { return e.msg + ": " + e.err.Error() }
func (e *deniedError) Unwrap() []error { return []error{ErrDenied, e.err} }

// explain wraps err in ErrDenied with what to check when it is a refusal.
// need words the ACL the failed call needs, as docs/operations.md lists
// them ("Read on topic dowser.events"). Other errors are returned as they
// are.
func explain(err error, need string) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case err == nil || errors.Is(err, ErrDenied):
		return err
	case errors.Is(err, kafkago.SASLAuthenticationFailed), errors.Is(err, kafkago.UnsupportedSASLMechanism), errors.Is(err, kafkago.IllegalSASLState):
		return &deniedError{"kafka refused the SASL credentials (check the mechanism, the username and the password)", err}
	case errors.Is(err, kafkago.TopicAuthorizationFailed), errors.Is(err, kafkago.GroupAuthorizationFailed),
		errors.Is(err, kafkago.ClusterAuthorizationFailed), errors.Is(err, kafkago.TransactionalIDAuthorizationFailed):
		return &deniedError{"kafka ACLs deny Dowser's principal " + need, err}
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return &deniedError{"the Kafka brokers' TLS certificate was not accepted (check the CA file and the server name)", err}
	case errors.As(err, &header):
		return &deniedError{"the Kafka brokers do not speak TLS on that port (check the broker address and the TLS setting)", err}
	case errors.As(err, &alert):
		return &deniedError{"the Kafka brokers ended the TLS handshake (check the client certificate and key)", err}
	}
	return err
}

// explain is the function explain for errors of a Cluster's clients and
// writers: their transport reports a connection refused at sign-in as a
// broker "not available", so one direct connection finds the real cause.
func (c Cluster) explain(ctx context.Context, err error, need string) error {
	if err == nil || errors.Is(err, ErrDenied) || (c.sasl == nil && c.tls == nil) || len(c.Brokers) == 0 {
		return explain(err, need)
	}
	if e := explain(err, need); errors.Is(e, ErrDenied) {
		return e
	}
	conn, derr := c.dialer().DialContext(ctx, "tcp", c.Brokers[0])
	if derr != nil {
		if e := explain(derr, need); errors.Is(e, ErrDenied) {
			return e
		}
		return err
	}
	conn.Close()
	return err
}
