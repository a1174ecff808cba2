package dowser_test

import (
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
)

func TestChannelDigestSettingsAreChecked(t *testing.T) {
	mail := func(times []string, zone string) dowser.Channel {
		return dowser.Channel{Kind: dowser.ChannelEmail, Target: "ana@example.com", DigestTimes: times, TimeZone: zone}
	}
	for _, tc := range []struct {
		name string
		c    dowser.Channel
		want string // in the error; "" for valid
	}{
		{"two times in Madrid", mail([]string{"09:00", "14:00"}, "Europe/Madrid"), ""},
		{"no digest", mail(nil, ""), ""},
		{"hour without zero", mail([]string{"9:00"}, "UTC"), `digest_times[0]: "9:00" is not a time of day`},
		{"no such hour", mail([]string{"25:00"}, "UTC"), `digest_times[0]: "25:00" is not a time of day`},
		{"twice", mail([]string{"09:00", "09:00"}, "UTC"), "digest_times[1]: 09:00 is given twice"},
		{"no zone", mail([]string{"09:00"}, ""), "time_zone: is required with digest_times"},
		{"unknown zone", mail([]string{"09:00"}, "Mars/Olympus"), `time_zone: "Mars/Olympus" is not a time zone name`},
		{"the server's zone", mail([]string{"09:00"}, "Local"), `time_zone: "Local" is not a time zone name`},
		{"chat channel", dowser.Channel{Kind: dowser.ChannelSlack, Target: "https://hooks.example/x", DigestTimes: []string{"09:00"}, TimeZone: "UTC"},
			"digest_times: only e-mail channels send digests"},
	} {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Validate = %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Validate = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
