package stats_test

import "math"

func expOf(x float64) float64 { return math.Exp(x) }
