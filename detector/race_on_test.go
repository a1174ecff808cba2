//go:build race

package detector

// raceEnabled: the race detector changes what allocates (len([]rune(s))
// is no longer optimized), so allocation bounds are not checked under it.
const raceEnabled = true
