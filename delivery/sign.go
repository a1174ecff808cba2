package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of every delivery request.
const (
	// HeaderDeliveryID carries the delivery id: the same on every attempt
	// of one delivery, across retries, crashes and instances, so that a
	// receiver that remembers the ids it processed processes each once.
	HeaderDeliveryID = "Dowser-Delivery-Id"
	// HeaderAttempt is the attempt's number, from 1.
	HeaderAttempt = "Dowser-Attempt"
	// HeaderSignature is a webhook's signature: "t=<unix seconds>,v1=<hex>",
	// with one v1 per secret in use (two during a rotation).
	HeaderSignature = "Dowser-Signature"
)

// Sign returns the Dowser-Signature value of body sent at t: the Unix
// time, then for each secret the hex HMAC-SHA256, keyed by the secret, of
// the time, a dot and the body.
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		b.WriteString(",v1=" + signature(s, ts, body))
	}
	return b.String()
}

func signature(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	// ErrBadSignature: no v1 of the header matches the body and secret.
	ErrBadSignature = errors.New("no signature matches")
	// ErrStaleSignature: the timestamp is further from now than the
	// tolerance, as a replayed request's would be.
	ErrStaleSignature = errors.New("signature timestamp outside the tolerance")
)

// Verify checks a Dowser-Signature header against body, as a receiver
// does: the timestamp within tolerance of now, and some v1 equal (in
// constant time) to the HMAC of the timestamp and body with secret.
func Verify(header string, body []byte, secret string, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("signature header %q: element %q is not key=value", header, part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("signature header %q: t=%q is not Unix seconds", header, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signed at %d, %v from now: %w", sec, d.Round(time.Second), ErrStaleSignature)
	}
	want := []byte(signature(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return ErrBadSignature
}
