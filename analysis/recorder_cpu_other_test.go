//go:build !unix

package analysis

import "time"

// recProcessCPU is not measured on this platform.
func recProcessCPU() time.Duration { return 0 }
