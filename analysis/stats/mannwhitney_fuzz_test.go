package stats

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// FuzzMannWhitney checks the invariants of MannWhitney on arbitrary
// samples: no panic, an error only for bad input, and otherwise an ordered
// interval around the estimate inside [min(x)−max(y), max(x)−min(y)], a
// p-value in [0, 1] and U in [0, N·M].
func FuzzMannWhitney(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 0, 10, 20, 30, 40}, uint8(4), uint8(95))
	f.Add([]byte{0, 0, 0, 0, 5, 0, 0, 0, 0, 7}, uint8(5), uint8(98))
	f.Add([]byte{9, 9, 9, 9}, uint8(2), uint8(50))
	f.Fuzz(func(t *testing.T, data []byte, split, confPct uint8) {
		// Samples are small integers scaled by a factor taken from the
		// data, so ties, tiny and huge values all occur.
		if len(data) < 2 || len(data) > 400 {
			return
		}
		scale := math.Pow(10, float64(int(data[0]%25)-12))
		vals := make([]float64, 0, len(data)-1)
		for i := 1; i+1 < len(data); i += 2 {
			vals = append(vals, float64(int16(binary.LittleEndian.Uint16(data[i:])))*scale)
		}
		k := int(split) % (len(vals) + 1)
		x, y := vals[:k], vals[k:]
		conf := float64(confPct) / 100
		r, err := MannWhitney(x, y, conf)
		if err != nil {
			if len(x) > 0 && len(y) > 0 && conf > 0 && conf < 1 && !errors.Is(err, ErrAllTied) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, a := range x {
			for _, b := range y {
				lo, hi = math.Min(lo, a-b), math.Max(hi, a-b)
			}
		}
		if !(r.Lower <= r.Estimate && r.Estimate <= r.Upper) {
			t.Fatalf("unordered: %v ≤ %v ≤ %v", r.Lower, r.Estimate, r.Upper)
		}
		if r.Lower < lo || r.Upper > hi {
			t.Fatalf("interval [%v, %v] outside [%v, %v]", r.Lower, r.Upper, lo, hi)
		}
		if !(r.PValue >= 0 && r.PValue <= 1) || r.U < 0 || r.U > float64(len(x)*len(y)) {
			t.Fatalf("bad statistic: %+v", r)
		}
	})
}
