//go:build !unix

package peers

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
