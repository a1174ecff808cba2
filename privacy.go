package dowser

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Kinds of do-not-track entries.
const (
	DNTCustomer = "customer"
	DNTAccount  = "account"
)

// Erasure is one right-to-erasure request still being applied by the
// detectors.
type Erasure struct {
	Seq        int64
	CustomerID string
	// LinkedIDs are the anonymous ids known to be the person when the
	// erasure was asked for: the detectors forget them too.
	LinkedIDs []string
}

// Hash schemes of erasure audit entries.
const (
	// AuditHashSHA256 is a plain SHA-256 of the id: entries written before
	// the audit hash was keyed. Anyone can recompute it for a guessable id.
	AuditHashSHA256 = "sha256"
	// AuditHashHMAC is HMAC-SHA256 of the id keyed with the privacy key:
	// only the key's holders can check an id against it.
	AuditHashHMAC = "hmac-sha256"
)

// ErasureAuditEntry records one erasure without the person's id.
type ErasureAuditEntry struct {
	Seq int64 `json:"erasure"`
	// SubjectSHA256 is a hash of the id, by SubjectHashScheme: an
	// HMAC-SHA256 keyed with the privacy key (AuditHashHMAC), or for
	// entries older than that a plain SHA-256 (AuditHashSHA256).
	SubjectSHA256     string    `json:"subject_sha256"`
	SubjectHashScheme string    `json:"subject_hash_scheme"`
	RequestedBy       string    `json:"requested_by"`
	RequestedAt       time.Time `json:"requested_at"`
	AlertsDeleted     int       `json:"alerts_deleted"`
	// Pending is true while some detector checkpoint has not applied it.
	Pending bool `json:"pending"`
}

// ErrUnstorableID is returned for an id that cannot be stored or indexed:
// one with a NUL, invalid UTF-8, or too long.
var ErrUnstorableID = errors.New("id cannot be stored: NUL, invalid UTF-8 or too long")

// KeyedHash is the hex HMAC-SHA256 of id keyed with key: what erasure
// audit entries hold, and (its first characters) what logs show instead
// of a person's id.
func KeyedHash(key []byte, id string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}
