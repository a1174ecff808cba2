//go:build unix

package detector

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, every thread included, or
// 0 when it cannot be read.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
