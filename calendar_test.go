package dowser_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

func TestCalendarValidate(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	before := from.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		c    dowser.Calendar
		want string // "" for valid; else a part of the error
	}{
		{"zero", dowser.Calendar{}, ""},
		{"office", dowser.Calendar{TimeZone: "Europe/Madrid", WorkDays: []string{"mon", "tue"}, WorkStart: "09:00", WorkEnd: "24:00"}, ""},
		{"zone", dowser.Calendar{TimeZone: "Mars/Olympus"}, `time_zone: "Mars/Olympus" is not an IANA time zone`},
		{"local", dowser.Calendar{TimeZone: "Local"}, `time_zone: "Local" is not an IANA time zone`},
		{"day", dowser.Calendar{WorkDays: []string{"monday"}, WorkStart: "09:00", WorkEnd: "17:00"}, `work_days[0]: "monday" is not one of mon`},
		{"twice", dowser.Calendar{WorkDays: []string{"mon", "mon"}, WorkStart: "09:00", WorkEnd: "17:00"}, `work_days[1]: mon is listed twice`},
		{"hours without days", dowser.Calendar{WorkStart: "09:00"}, "work_days: are required with working hours"},
		{"bad start", dowser.Calendar{WorkDays: []string{"mon"}, WorkStart: "9am", WorkEnd: "17:00"}, `work_start: "9am" is not a time of day as HH:MM`},
		{"bad end", dowser.Calendar{WorkDays: []string{"mon"}, WorkStart: "09:00", WorkEnd: "24:30"}, `work_end: "24:30" is not a time of day`},
		{"overnight", dowser.Calendar{WorkDays: []string{"mon"}, WorkStart: "22:00", WorkEnd: "06:00"}, "work_end: 06:00 is not after work_start 22:00"},
		{"away without end", dowser.Calendar{AwayFrom: &from}, "away_until: is required with away_from"},
		{"away backwards", dowser.Calendar{AwayFrom: &from, AwayUntil: &before}, "away_until: 2026-11-30T23:00:00Z is not after away_from"},
	} {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCalendarAddWorking(t *testing.T) {
	madrid, _ := time.LoadLocation("Europe/Madrid")
	office := dowser.Calendar{TimeZone: "Europe/Madrid", WorkDays: []string{"mon", "tue", "wed", "thu", "fri"}, WorkStart: "09:00", WorkEnd: "17:00"}
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, madrid) }
	for _, tc := range []struct {
		name string
		c    dowser.Calendar
		from time.Time
		d    time.Duration
		want time.Time
	}{
		{"round the clock", dowser.Calendar{}, at(2026, 12, 5, 23, 50), 15 * time.Minute, at(2026, 12, 6, 0, 5)},
		{"within the day", office, at(2026, 12, 2, 10, 0), 15 * time.Minute, at(2026, 12, 2, 10, 15)},
		{"before opening", office, at(2026, 12, 2, 6, 0), 15 * time.Minute, at(2026, 12, 2, 9, 15)},
		{"over the evening", office, at(2026, 12, 2, 16, 50), 15 * time.Minute, at(2026, 12, 3, 9, 5)},
		{"over the weekend", office, at(2026, 12, 4, 16, 0), 4 * time.Hour, at(2026, 12, 7, 12, 0)},
		{"on a Sunday", office, at(2026, 12, 6, 12, 0), time.Hour, at(2026, 12, 7, 10, 0)},
		{"longer than a day", office, at(2026, 12, 1, 9, 0), 10 * time.Hour, at(2026, 12, 2, 11, 0)},
		// 29 March 2026: clocks go from 02:00 to 03:00 in Madrid.
		{"daylight saving", dowser.Calendar{TimeZone: "Europe/Madrid", WorkDays: []string{"sun"}, WorkStart: "01:00", WorkEnd: "05:00"}, at(2026, 3, 29, 1, 0), 2 * time.Hour, at(2026, 3, 29, 4, 0)},
	} {
		if got := tc.c.AddWorking(tc.from, tc.d); !got.Equal(tc.want) {
			t.Errorf("%s: AddWorking(%v, %v) = %v, want %v", tc.name, tc.from, tc.d, got.In(madrid), tc.want)
		}
	}
}

func TestCalendarAway(t *testing.T) {
	from, until := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	c := dowser.Calendar{AwayFrom: &from, AwayUntil: &until}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{from.Add(-time.Second), false}, {from, true}, {until.Add(-time.Second), true}, {until, false}} {
		if got := c.Away(tc.at); got != tc.want {
			t.Errorf("Away(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if (dowser.Calendar{}).Away(from) {
		t.Error("the zero calendar is away")
	}
}
