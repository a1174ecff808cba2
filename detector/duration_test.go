package detector

import (
	"fmt"
	"strings"
	"testing"
)

// TestDurationsTooLong: a duration beyond what time.Duration holds is an
// error naming the field and saying why, never a wrapped value.
func TestDurationsTooLong(t *testing.T) {
	doc := func(field, value string) string {
		d := map[string]string{"within": "1h", "cooldown": "1h", "half_life": "1h"}
		d[field] = value
		if field == "half_life" {
			return fmt.Sprintf("id: s\nowner: o\ncooldown: %s\nwhen:\n  score:\n    rules: [{match: {type: page_view}, points: 1}]\n    half_life: %s\n    level: 1\n", d["cooldown"], d["half_life"])
		}
		return fmt.Sprintf("id: s\nowner: o\ncooldown: %s\nwhen: {threshold: {match: {type: page_view}, count: 1, within: %s}}\n", d["cooldown"], d["within"])
	}
	tests := []struct{ field, path, value string }{
		{"within", "when.threshold.within", "1000000d"},
		{"within", "when.threshold.within", "106752d"},
		{"within", "when.threshold.within", "99999999999999999999d"},
		{"cooldown", "cooldown", "2562048h"},
		{"cooldown", "cooldown", "1d2562047h"},
		{"half_life", "when.score.half_life", "9223372036854775808ns"},
		{"half_life", "when.score.half_life", "106751d23h47m16.854775808s"},
	}
	for _, tc := range tests {
		_, err := ParseSignal([]byte(doc(tc.field, tc.value)))
		want := fmt.Sprintf("%s: %q is too long: a duration is at most 106751d23h47m16.854775807s", tc.path, tc.value)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %s: got error %v, want %q", tc.field, tc.value, err, want)
		}
	}
	// The longest representable durations parse, and are then too long for
	// a signal.
	for _, s := range []string{"106751d23h47m16.854775807s", "9223372036854775807ns", "106751d"} {
		if _, err := ParseDuration(s); err != nil {
			t.Errorf("%s: got %v, want it parsed", s, err)
		}
		_, err := ParseSignal([]byte(doc("within", s)))
		if err == nil || !strings.Contains(err.Error(), "when.threshold.within: must be at most 400d") {
			t.Errorf("%s: got error %v, want it over the longest window", s, err)
		}
	}
	if _, err := ParseDuration("1x"); err == nil || err.Error() != `"1x" is not a duration` {
		t.Errorf("got %v, want a syntax error", err)
	}
}
