package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNormalQuantile(t *testing.T) {
	// Reference values from R 4.2.2's qnorm (also AS 241), printed to 17
	// digits. The oracle: Φ⁻¹(0.01) = −2.326348.
	tests := []struct {
		p, want float64
	}{
		{1e-300, -37.04709629936120052},
		{1e-20, -9.26234008979840517},
		{1e-10, -6.36134090240405570},
		{0.001, -3.09023230616781319},
		{0.01, -2.32634787404084076},
		{0.025, -1.95996398454005383},
		{0.2, -0.84162123357291418},
		{0.5, 0},
		{0.7, 0.52440051270804067},
		{0.975, 1.95996398454005361},
		{0.999, 3.09023230616781319},
		{1 - 1e-12, 7.03448691004783555},
	}
	for _, tt := range tests {
		got := NormalQuantile(tt.p)
		assert.InDelta(t, tt.want, got, 1e-9*math.Max(1, math.Abs(tt.want)), "p=%v", tt.p)
	}
	assert.InDelta(t, -2.326348, NormalQuantile(0.01), 5e-7, "issue oracle")
}

func TestNormalQuantileEdges(t *testing.T) {
	assert.True(t, math.IsInf(NormalQuantile(0), -1))
	assert.True(t, math.IsInf(NormalQuantile(1), 1))
	for _, p := range []float64{-0.1, 1.1, math.NaN(), math.Inf(1)} {
		assert.True(t, math.IsNaN(NormalQuantile(p)), "p=%v", p)
	}
}

func TestNormalQuantileInvertsCDF(t *testing.T) {
	// Upper-tail probabilities are inverted through the survival function:
	// p close to 1 has lost the digits that would pin x down.
	for x := -8.0; x <= 8; x += 0.0625 {
		got := NormalQuantile(NormalCDF(x))
		if x > 0 {
			got = -NormalQuantile(NormalSurvival(x))
		}
		assert.InDelta(t, x, got, 1e-9*math.Max(1, math.Abs(x)), "x=%v", x)
	}
}

func TestNormalCDF(t *testing.T) {
	// R 4.2.2 pnorm.
	tests := []struct{ x, want float64 }{
		{-30, 4.9067139271481872e-198},
		{-8, 6.2209605742717849e-16},
		{-1.5, 6.6807201268858071e-02},
		{0, 0.5},
		{0.3, 6.1791142218895267e-01},
		{2, 9.7724986805182079e-01},
		{5, 9.9999971334842808e-01},
	}
	for _, tt := range tests {
		assert.InEpsilon(t, tt.want, NormalCDF(tt.x), 1e-12, "x=%v", tt.x)
		assert.Equal(t, NormalCDF(-tt.x), NormalSurvival(tt.x), "x=%v", tt.x)
	}
	assert.InEpsilon(t, 4.9067139271481872e-198, NormalSurvival(30), 1e-12)
}
