//go:build unix

package analysis

import (
	"syscall"
	"time"
)

// recProcessCPU is the CPU time the process has used, for benchmarks to
// report cpu-ns/op next to ns/op: on a shared machine wall time per op
// also counts the time other processes held the cores.
func recProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
