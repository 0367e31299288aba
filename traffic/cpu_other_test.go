//go:build !unix

package traffic

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
