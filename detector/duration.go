package detector

import (
	"fmt"
	"math"
	"regexp"
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

// durationSyntax is what time.ParseDuration reads (after an optional
// sign), so that its failure on such text can only be an overflow.
var durationSyntax = regexp.MustCompile(`^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// longest is the longest Duration, about 292 years.
const longest = Duration(math.MaxInt64)

// ParseDuration parses a Go duration with an optional leading days part,
// e.g. "7d", "1d12h", "36h" or "-90m". The error names the bad text:
// `"7x" is not a duration`, or `"1000000d" is too long: ...` for a
// duration beyond what a time.Duration holds, which is never wrapped.
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("%q is not a duration", s)
	tooLong := fmt.Errorf("%q is too long: a duration is at most %s", s, longest)
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
		if !durationSyntax.MatchString(days + "h") {
			return 0, bad
		}
		h, err := time.ParseDuration(days + "h")
		if err != nil || h > math.MaxInt64/24 {
			return 0, tooLong
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
	switch {
	case err != nil && durationSyntax.MatchString(rest):
		return 0, tooLong
	case err != nil:
		return 0, bad
	case d > math.MaxInt64-total:
		return 0, tooLong
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
