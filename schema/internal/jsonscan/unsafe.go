package jsonscan

import "unsafe"

// transientString views b as a string for a call that does not keep it
// (strconv.ParseFloat, and time.Parse when it succeeds, keep nothing of
// their input): no copy, so no allocation. The string must not outlive
// the call, nor b change during it.
func transientString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
