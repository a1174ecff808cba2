package dowser

import (
	"fmt"
	"slices"
	"time"
)

// MaxDigestTimes bounds the digest times of a channel.
const MaxDigestTimes = 24

// ParseDigestTime reads a digest time, "HH:MM" on a 24-hour clock.
func ParseDigestTime(v string) (hour, minute int, err error) {
	t, err := time.Parse("15:04", v)
	if err != nil || len(v) != 5 {
		return 0, 0, fmt.Errorf("%s is not a time of day such as 09:00 (HH:MM, 24-hour)", quoteShort(v))
	}
	return t.Hour(), t.Minute(), nil
}

// checkDigest checks the digest times and time zone: an e-mail channel's
// only, valid times without repeats, and a zone the server knows.
func (c Channel) checkDigest() []*FieldError {
	if len(c.DigestTimes) == 0 {
		if c.TimeZone != "" {
			if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "Local" {
				return []*FieldError{fieldErrorf("time_zone", "%s is not a time zone name such as Europe/Madrid or UTC", quoteShort(c.TimeZone))}
			}
		}
		return nil
	}
	if c.Kind != ChannelEmail {
		return []*FieldError{fieldErrorf("digest_times", "only e-mail channels send digests; a %s channel receives every alert at once", c.Kind)}
	}
	var out []*FieldError
	if len(c.DigestTimes) > MaxDigestTimes {
		out = append(out, fieldErrorf("digest_times", "has %d times; at most %d", len(c.DigestTimes), MaxDigestTimes))
	}
	for i, v := range c.DigestTimes {
		if _, _, err := ParseDigestTime(v); err != nil {
			out = append(out, fieldErrorf(fmt.Sprintf("digest_times[%d]", i), "%v", err))
		} else if slices.Index(c.DigestTimes, v) < i {
			out = append(out, fieldErrorf(fmt.Sprintf("digest_times[%d]", i), "%s is given twice", v))
		}
	}
	switch _, err := time.LoadLocation(c.TimeZone); {
	case c.TimeZone == "":
		out = append(out, fieldErrorf("time_zone", "is required with digest_times: an IANA name such as Europe/Madrid, or UTC"))
	case err != nil || c.TimeZone == "Local":
		// "Local" is this server's zone, not the user's.
		out = append(out, fieldErrorf("time_zone", "%s is not a time zone name such as Europe/Madrid or UTC", quoteShort(c.TimeZone)))
	}
	return out
}

// DigestSchedule is when an e-mail channel sends digests: its times in
// its zone, and the last digest time already handled.
type DigestSchedule struct {
	ChannelID int64
	Times     []string
	TimeZone  string
	// Last is the last digest time handled (or when the times were set).
	Last time.Time
	// Paused is true while the channel is paused.
	Paused bool
}
