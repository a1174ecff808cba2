package dowser

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Calendar is a user's working time and absence. Follow-up rules count
// the time an alert waits only within the working hours of its rep's
// calendar; routing and escalation pass over a user while they are away.
// The zero Calendar works round the clock in UTC and is never away.
type Calendar struct {
	UserID string `json:"user_id"`
	// TimeZone is an IANA name such as Europe/Madrid; "" is UTC.
	TimeZone string `json:"time_zone"`
	// WorkDays are the working weekdays: mon, tue, wed, thu, fri, sat,
	// sun. None counts every day, round the clock (and then WorkStart and
	// WorkEnd must be empty).
	WorkDays []string `json:"work_days"`
	// WorkStart and WorkEnd are the working hours of a working day,
	// local time, as HH:MM: [WorkStart, WorkEnd), WorkEnd up to 24:00.
	WorkStart string `json:"work_start,omitempty"`
	WorkEnd   string `json:"work_end,omitempty"`
	// AwayFrom and AwayUntil bound an absence (out of office): from
	// AwayFrom (nil: already) until AwayUntil. No AwayUntil, no absence.
	AwayFrom  *time.Time `json:"away_from,omitempty"`
	AwayUntil *time.Time `json:"away_until,omitempty"`
}

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Validate checks the time zone, the days, the hours and the absence; a
// [Problems] names every field refused.
func (c Calendar) Validate() error {
	var p Problems
	if _, err := time.LoadLocation(c.TimeZone); err != nil || strings.EqualFold(c.TimeZone, "local") {
		p.Add(fieldErrorf("time_zone", "%s is not an IANA time zone such as Europe/Madrid", quoteShort(c.TimeZone)))
	}
	seen := map[string]bool{}
	for i, d := range c.WorkDays {
		field := fmt.Sprintf("work_days[%d]", i)
		switch {
		case !slices.Contains(weekdayNames, d):
			p.Add(fieldErrorf(field, "%s is not one of mon, tue, wed, thu, fri, sat, sun", quoteShort(d)))
		case seen[d]:
			p.Add(fieldErrorf(field, "%s is listed twice", d))
		}
		seen[d] = true
	}
	start, serr := parseClock(c.WorkStart)
	end, eerr := parseClock(c.WorkEnd)
	switch {
	case len(c.WorkDays) == 0 && (c.WorkStart != "" || c.WorkEnd != ""):
		p.Add(fieldErrorf("work_days", "are required with working hours; without days, time counts round the clock"))
	case len(c.WorkDays) == 0:
	case serr != nil:
		p.Add(fieldErrorf("work_start", "%s %v", quoteShort(c.WorkStart), serr))
	case eerr != nil:
		p.Add(fieldErrorf("work_end", "%s %v", quoteShort(c.WorkEnd), eerr))
	case end <= start:
		p.Add(fieldErrorf("work_end", "%s is not after work_start %s (hours across midnight are not supported)", c.WorkEnd, c.WorkStart))
	}
	switch {
	case c.AwayFrom != nil && c.AwayUntil == nil:
		p.Add(fieldErrorf("away_until", "is required with away_from"))
	case c.AwayFrom != nil && !c.AwayUntil.After(*c.AwayFrom):
		p.Add(fieldErrorf("away_until", "%s is not after away_from %s", c.AwayUntil.Format(time.RFC3339), c.AwayFrom.Format(time.RFC3339)))
	}
	return p.Err()
}

// parseClock reads HH:MM (00:00 to 24:00) as minutes after midnight.
func parseClock(v string) (int, error) {
	var h, m int
	if len(v) != 5 || v[2] != ':' {
		return 0, fmt.Errorf("is not a time of day as HH:MM")
	}
	if _, err := fmt.Sscanf(v, "%2d:%2d", &h, &m); err != nil || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("is not a time of day as HH:MM, 00:00 to 24:00")
	}
	return h*60 + m, nil
}

// WorkMinutes returns the working hours as minutes after midnight: 0 and
// 1440 when the calendar has no working days. Only for a valid calendar.
func (c Calendar) WorkMinutes() (start, end int) {
	if len(c.WorkDays) == 0 {
		return 0, 24 * 60
	}
	start, _ = parseClock(c.WorkStart)
	end, _ = parseClock(c.WorkEnd)
	return start, end
}

// ISOWorkDays returns the working days as ISO weekdays, 1 (Monday) to 7.
func (c Calendar) ISOWorkDays() []int16 {
	out := make([]int16, 0, len(c.WorkDays))
	for _, d := range c.WorkDays {
		i := slices.Index(weekdayNames, d)
		if i == 0 {
			i = 7
		}
		out = append(out, int16(i))
	}
	return out
}

// SetStored fills the calendar's days and hours from their stored form:
// ISO weekdays and minutes after midnight. A day outside 1–7 (only a hand
// edit can store one) is an error, and the calendar keeps no days.
func (c *Calendar) SetStored(isoDays []int16, start, end int) error {
	c.WorkDays = []string{}
	for _, d := range isoDays {
		if d < 1 || d > 7 {
			c.WorkDays = []string{}
			return fmt.Errorf("the calendar of %s: stored work day %d is not an ISO weekday (1 Monday .. 7 Sunday)", c.UserID, d)
		}
		c.WorkDays = append(c.WorkDays, weekdayNames[d%7])
	}
	c.WorkStart, c.WorkEnd = "", ""
	if len(isoDays) > 0 {
		c.WorkStart = fmt.Sprintf("%02d:%02d", start/60, start%60)
		c.WorkEnd = fmt.Sprintf("%02d:%02d", end/60, end%60)
	}
	return nil
}

// Away reports whether the user is out of office at t.
func (c Calendar) Away(t time.Time) bool {
	return c.AwayUntil != nil && t.Before(*c.AwayUntil) && (c.AwayFrom == nil || !t.Before(*c.AwayFrom))
}

// AddWorking returns the moment when d of working time has passed since
// from: time outside the working days and hours does not count. A
// calendar without working days counts all time. Only for a valid
// calendar; a calendar whose working time never comes (it cannot, when
// valid) ends the count after two years.
func (c Calendar) AddWorking(from time.Time, d time.Duration) time.Time {
	if len(c.WorkDays) == 0 || d <= 0 {
		return from.Add(max(d, 0))
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	work := make([]bool, 7)
	for _, day := range c.WorkDays {
		work[slices.Index(weekdayNames, day)] = true
	}
	startMin, endMin := c.WorkMinutes()
	t := from.In(loc)
	for range 2 * 366 {
		y, m, day := t.Date()
		if work[t.Weekday()] {
			// time.Date normalises the minutes and resolves a daylight
			// saving change on the day.
			ws := time.Date(y, m, day, 0, startMin, 0, 0, loc)
			we := time.Date(y, m, day, 0, endMin, 0, 0, loc)
			if t.Before(ws) {
				t = ws
			}
			if t.Before(we) {
				if left := we.Sub(t); d <= left {
					return t.Add(d)
				} else {
					d -= left
				}
			}
		}
		t = time.Date(y, m, day+1, 0, 0, 0, 0, loc)
	}
	return t
}
