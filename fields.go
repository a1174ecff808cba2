package dowser

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The records people and systems maintain, as the REST API's resources and
// `dowser import` name them. [CheckField] and [CheckOwner] are the one
// place their values are validated, so that the API and the importer
// accept exactly the same values.
const (
	KindUsers          = "users"
	KindAccounts       = "accounts"
	KindContacts       = "contacts"
	KindContent        = "content"
	KindTerritoryRules = "territory-rules"
	KindSignals        = "signals"
	KindDoNotTrack     = "do-not-track"
)

// Limits of text values, in bytes. They are far above any real value and
// keep one request from filling rows (and alert frames) with megabytes.
const (
	MaxIDLen        = 128
	MaxNameLen      = 256
	MaxTitleLen     = 512
	MaxURLPrefixLen = 2048
	// MaxTalkingPointLen bounds a content item's talking point: a
	// sentence or two for a rep, not a document.
	MaxTalkingPointLen = 1024
	MaxAttributeLen    = 128
	MinTokenLen        = 20
	MaxTokenLen        = 512
	// minTokenDistinct rejects "aaaa…" and "abab…" tokens of any length.
	minTokenDistinct = 8
)

// CheckText checks a free-text value: valid UTF-8, no NUL (which
// PostgreSQL text cannot hold) and at most max bytes.
func CheckText(field, v string, max int) *FieldError {
	switch {
	case !utf8.ValidString(v):
		return fieldErrorf(field, "is not valid UTF-8")
	case strings.IndexByte(v, 0) >= 0:
		return fieldErrorf(field, "contains a NUL character")
	case len(v) > max:
		return fieldErrorf(field, "is %d bytes, at most %d allowed", len(v), max)
	}
	return nil
}

// CheckID checks an id: letters, digits, _ . @ : -, starting with a letter
// or digit, at most MaxIDLen bytes. The empty id is refused; callers check
// optional ids only when set.
func CheckID(field, v string) *FieldError {
	if v == "" {
		return fieldErrorf(field, "is required")
	}
	ok := len(v) <= MaxIDLen && isAlnum(v[0])
	for i := 1; ok && i < len(v); i++ {
		c := v[i]
		ok = isAlnum(c) || c == '_' || c == '.' || c == '@' || c == ':' || c == '-'
	}
	if !ok {
		return fieldErrorf(field, "%s is not a valid id (letters, digits, _ . @ : -, at most %d)", quoteShort(v), MaxIDLen)
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// quoteShort quotes v for a message, cut to its first 64 bytes: a hostile
// megabyte is not worth echoing.
func quoteShort(v string) string {
	if len(v) <= 64 {
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%q… (%d bytes)", strings.ToValidUTF8(v[:64], ""), len(v))
}

// CheckURLPrefix checks a content item's url_prefix: empty (the item is
// matched by id only), or an absolute http(s) URL with a host and a path,
// so that it names one site: "https://" would match every URL, and
// "https://example.com" would match "https://example.com.evil.test" too.
func CheckURLPrefix(field, v string) *FieldError {
	if v == "" {
		return nil
	}
	if fe := CheckText(field, v, MaxURLPrefixLen); fe != nil {
		return fe
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return fieldErrorf(field, "%s is not a URL", quoteShort(v))
	case u.Scheme != "http" && u.Scheme != "https":
		return fieldErrorf(field, "%s must start with http:// or https://", quoteShort(v))
	case u.Host == "" || u.Hostname() == "":
		return fieldErrorf(field, "%s names no host; give at least scheme://host/", quoteShort(v))
	case u.User != nil:
		return fieldErrorf(field, "%s must not carry a user name or password", quoteShort(v))
	case !strings.HasPrefix(u.EscapedPath(), "/"):
		return fieldErrorf(field, "%s must end its host with a /, as in %s://%s/, or it also matches other hosts", quoteShort(v), u.Scheme, u.Host)
	}
	return nil
}

// CheckInt32 checks an integer that is stored as a PostgreSQL integer.
func CheckInt32(field string, n int64) *FieldError {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return fieldErrorf(field, "%d is out of range (%d to %d)", n, math.MinInt32, math.MaxInt32)
	}
	return nil
}

// CheckField checks the value v of the field of a record of kind (one of
// the Kind constants), as the REST API and `dowser import` take it: the
// JSON member or CSV column of that name. It returns nil for a valid value
// and for a field it does not know (the callers refuse unknown fields).
// An empty value is checked as absent: required fields are refused. The
// records' Validate methods check each of their fields with it.
func CheckField(kind, field, v string) *FieldError {
	switch field {
	case "id":
		return CheckID(field, v)
	case "owner", "account_id":
		if v == "" {
			return nil
		}
		return CheckID(field, v)
	case "rep":
		return CheckID(field, v) // a territory rule without a rep routes nothing
	case "name":
		if kind == KindUsers && v == "" {
			return fieldErrorf(field, "is required")
		}
		return CheckText(field, v, MaxNameLen)
	case "title":
		return CheckText(field, v, MaxTitleLen)
	case "url_prefix":
		return CheckURLPrefix(field, v)
	case "talking_point":
		return CheckText(field, v, MaxTalkingPointLen)
	case "role":
		return Role(v).check(field)
	case "token":
		// Never echo a token: the message may end up in a log.
		if v == "" {
			return nil
		}
		if err := CheckToken(v); err != nil {
			return fieldErrorf(field, "%v", err)
		}
	case "lifecycle":
		if v != LifecycleProspect && v != LifecycleCustomer {
			return fieldErrorf(field, "%s is not prospect or customer", quoteShort(v))
		}
	case "kind":
		if kind == KindDoNotTrack && v != "customer" && v != "account" {
			return fieldErrorf(field, "%s is not customer or account", quoteShort(v))
		}
	case "email":
		return CheckEmail(field, v)
	case "identity_consent":
		if v != "" && v != "true" && v != "false" {
			return fieldErrorf(field, "%s is not true or false (empty is false)", quoteShort(v))
		}
	case "identity_consent_source":
		return CheckText(field, v, MaxNameLen)
	case "region", "industry", "size":
		return CheckText(field, v, MaxAttributeLen)
	}
	return nil
}

// checkFields checks each field of a record of kind with CheckField;
// fields are name, value pairs.
func checkFields(kind string, fields ...string) Problems {
	var p Problems
	for i := 0; i+1 < len(fields); i += 2 {
		p.Add(CheckField(kind, fields[i], fields[i+1]))
	}
	return p
}

// CheckToken says why v is too weak, or too strange, to be a login token;
// nil when it will do. The message never repeats the token.
func CheckToken(v string) error {
	switch {
	case len(v) < MinTokenLen:
		return fmt.Errorf("must be at least %d characters (%d given); create one with `openssl rand -hex 32`", MinTokenLen, len(v))
	case len(v) > MaxTokenLen:
		return fmt.Errorf("must be at most %d bytes", MaxTokenLen)
	case !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0:
		return errors.New("must be valid UTF-8 without NUL characters")
	}
	distinct := map[rune]bool{}
	for _, r := range v {
		distinct[r] = true
	}
	if len(distinct) < minTokenDistinct {
		return fmt.Errorf("has only %d different characters, want at least %d; create one with `openssl rand -hex 32`", len(distinct), minTokenDistinct)
	}
	return nil
}
