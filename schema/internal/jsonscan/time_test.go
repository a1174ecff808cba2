package jsonscan

import (
	"strings"
	"testing"
	"time"
)

func TestParseUTCTime(t *testing.T) {
	var cases []string
	for _, date := range []string{"2026-11-23", "2024-02-29", "2025-02-29", "2000-02-29", "1900-02-29", "0000-02-29", "9999-12-31", "2026-04-31", "2026-00-10", "2026-13-10", "2026-01-00", "2026-1a-01"} {
		for _, clock := range []string{"07:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "7:00:00x"} {
			for _, frac := range []string{"", ".", ".5", ".123456789", ".1234567891234", ".12a", ",5", ".-1"} {
				for _, zone := range []string{"Z", "z", "+00:00", "+01:30", ""} {
					cases = append(cases, date+"T"+clock+frac+zone)
				}
			}
		}
	}
	cases = append(cases, "2026-11-23t07:00:00Z", "2026-11-23 07:00:00Z", "2026-11-23T07:00:00ZZ", " 2026-11-23T07:00:00Z")
	for _, c := range cases {
		want, err := time.Parse(time.RFC3339Nano, c)
		got, ok := parseUTCTime([]byte(c))
		if ok && (err != nil || got != want) {
			t.Errorf("parseUTCTime(%q) = %v, time.Parse: %v, %v", c, got, want, err)
		}
		if !ok && err == nil && strings.HasSuffix(c, "Z") && !strings.Contains(c, ",") {
			t.Errorf("parseUTCTime(%q) left a plain UTC time to time.Parse", c)
		}
		// A parsed offset is a new *time.Location each time: compare the
		// instant and how it prints.
		if got, ok := ParseTime([]byte(c)); ok != (err == nil) || !got.Equal(want) || got.String() != want.String() {
			t.Errorf("ParseTime(%q) = %v, %v; time.Parse: %v, %v", c, got, ok, want, err)
		}
	}
}
