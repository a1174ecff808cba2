package detector

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time in a signal definition. In a document it is a
// string: a Go duration ("90m", "36h", "1h30m0s") optionally preceded by a
// number of days with the suffix d ("7d", "1d12h", "1.5d"). A day is exactly
// 24 hours: windows are measured in event time, not on a calendar.
//
// Duration marshals to its canonical string (see [Duration.String]) in JSON
// and YAML, and unmarshals from any form [ParseDuration] accepts.
type Duration time.Duration

const day = 24 * time.Hour

// ParseDuration parses a Go duration with an optional leading days part,
// e.g. "7d", "1d12h", "36h" or "-90m". The error names the bad text:
// `"7x" is not a duration`.
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("%q is not a duration", s)
	rest := s
	neg := false
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	var total time.Duration
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days := rest[:i]
		// Only a plain number may precede the d; anything else ("1h2d") is
		// a unit in the wrong place.
		if days == "" || strings.Trim(days, "0123456789.") != "" {
			return 0, bad
		}
		h, err := time.ParseDuration(days + "h")
		if err != nil || h > math.MaxInt64/24 {
			return 0, bad
		}
		total = h * 24
		rest = rest[i+1:]
		if rest == "" {
			return signed(total, neg), nil
		}
		if rest[0] == '-' || rest[0] == '+' {
			return 0, bad
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d > math.MaxInt64-total {
		return 0, bad
	}
	return signed(total+d, neg), nil
}

func signed(d time.Duration, neg bool) Duration {
	if neg {
		return Duration(-d)
	}
	return Duration(d)
}

// String returns the canonical form: whole days with the suffix d, then the
// remainder as a Go duration without zero trailing units ("7d", "1d12h",
// "1h30m", "0s"). ParseDuration(d.String()) == d.
func (d Duration) String() string {
	u := time.Duration(d)
	if u == 0 {
		return "0s"
	}
	if u == math.MinInt64 {
		return u.String()
	}
	var b strings.Builder
	if u < 0 {
		b.WriteByte('-')
		u = -u
	}
	if days := u / day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10))
		b.WriteByte('d')
		u -= days * day
		if u == 0 {
			return b.String()
		}
	}
	s := u.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}

// MarshalText returns the canonical string form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses any form ParseDuration accepts.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
