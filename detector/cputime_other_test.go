//go:build !unix

package detector

import "time"

// cpuTime is the CPU time the process has used, or 0 when it cannot be
// read, as here.
func cpuTime() time.Duration { return 0 }
