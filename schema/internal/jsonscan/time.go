package jsonscan

import "time"

// ParseTime parses b as time.Parse(time.RFC3339Nano, string(b)) does,
// without copying b: the usual form, RFC 3339 in UTC
// ("2006-01-02T15:04:05Z", with up to nine digits of fraction kept), by
// hand and a little faster. ok is false where time.Parse fails.
func ParseTime(b []byte) (t time.Time, ok bool) {
	if t, ok := parseUTCTime(b); ok {
		return t, true
	}
	return parseTime(b)
}

// parseTime is time.Parse(time.RFC3339Nano, b), apart so that ParseTime
// is inlined. time.Parse's error would hold a view of b: it is dropped.
func parseTime(b []byte) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, transientString(b))
	return t, err == nil
}

// parseUTCTime parses the usual form of an event time, RFC 3339 in UTC
// ("2006-01-02T15:04:05Z", with up to nine digits of fraction kept), to
// what time.Parse(time.RFC3339Nano, b) returns; ok is false for any other
// form, valid or not.
func parseUTCTime(b []byte) (t time.Time, ok bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || b[len(b)-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return t, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return t, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || frac[0] != '.' {
			return t, false
		}
		n, ok := digits(frac[1:min(len(frac), 10)])
		if !ok {
			return t, false
		}
		if _, ok := digits(frac[1:]); !ok {
			return t, false
		}
		for range 10 - min(len(frac), 10) {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits reads b as a decimal number of only digits.
func digits(b []byte) (n int, ok bool) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
