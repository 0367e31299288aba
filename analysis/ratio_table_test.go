package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/ramp-go/ramp/analysis/stats"
)

// The table of SequentialErrorRatio's figures published in the package
// doc ("Requests to a verdict"). TestSimErrorRatioTable reproduces it:
// with RAMP_LONG_SIM=1, exactly (1,000 runs a row, the doc's figures);
// by default on the first 200 runs of the same seeds, within the sampling
// error of a median and a p90.
var ratioTable = []struct {
	ratio       float64
	median, p90 float64 // requests (both versions) to a fail
	fixed80     float64 // a fixed-sample one-sided test at power 0.8
}{
	{1.5, 45000, 97700, 39892},
	{2, 10400, 24100, 11952},
	{3, 3500, 7200, 3972},
	{10, 600, 900, 528},
}

// ratioTableAA is the A/A false-fail rate published with the table.
const ratioTableAA = 0.008

// ratioTableOracle is the median of Wald's SPRT that knows the effect is
// 3× (the fastest e-process at that effect) in the same simulation.
const ratioTableOracle = 3200

// simRatioRun runs one canary at ratio × the baseline's 0.5% error rate,
// 50/50 traffic, looked at every 100 requests up to horizon, and returns
// the requests to a fail (or +Inf).
func simRatioRun(rng *rand.Rand, m *ErrorRatioMonitor, ratio float64, horizon int64) float64 {
	const base = 0.005
	var cn, ce, bn, be int64
	for cn+bn < horizon {
		c := binomial(rng, simBatch, 0.5)
		cn += c
		bn += simBatch - c
		ce += binomial(rng, c, base*ratio)
		be += binomial(rng, simBatch-c, base)
		r, err := m.Update(cn, ce, bn, be)
		if err != nil {
			panic(err)
		}
		if r.Verdict == Fail {
			return float64(cn + bn)
		}
	}
	return math.Inf(1)
}

// simOracleRun is simRatioRun for the SPRT of ratio 3 against 1, on
// where each look's errors land.
func simOracleRun(rng *rand.Rand, horizon int64) float64 {
	const base = 0.005
	var n int64
	var llr float64
	for n < horizon {
		c := binomial(rng, simBatch, 0.5)
		ec := binomial(rng, c, 3*base)
		eb := binomial(rng, simBatch-c, base)
		n += simBatch
		if c > 0 && c < simBatch && ec+eb > 0 {
			odds := float64(c) / float64(simBatch-c)
			s0, q := odds/(1+odds), 3*odds/(1+3*odds)
			llr += float64(ec)*math.Log(q/s0) + float64(eb)*math.Log((1-q)/(1-s0))
			if llr >= math.Log(1/simAlpha) {
				return float64(n)
			}
		}
	}
	return math.Inf(1)
}

func quantileOf(sorted []float64, q float64) float64 {
	return sorted[int(math.Ceil(q*float64(len(sorted))))-1]
}

type ratioFigures struct {
	median, p90, fixed80 []float64
	aa, oracle           float64
}

func simRatioTable(runs int) ratioFigures {
	var f ratioFigures
	test := SequentialErrorRatio{Alpha: simAlpha}
	for i, row := range ratioTable {
		rng := rand.New(rand.NewPCG(21, uint64(i)))
		stops := make([]float64, runs)
		for k := range stops {
			m, _ := test.NewMonitor()
			stops[k] = simRatioRun(rng, m, row.ratio, 1_000_000)
		}
		slices.Sort(stops)
		f.median = append(f.median, quantileOf(stops, 0.5))
		f.p90 = append(f.p90, quantileOf(stops, 0.9))
		n, _ := stats.TwoProportionSampleSize(0.005*row.ratio, 0.005, simAlpha, 0.8, true)
		f.fixed80 = append(f.fixed80, 2*math.Ceil(n))
	}
	rng := rand.New(rand.NewPCG(22, 0))
	fails := 0
	for range runs {
		m, _ := test.NewMonitor()
		if !math.IsInf(simRatioRun(rng, m, 1, simHorizon), 1) {
			fails++
		}
	}
	f.aa = float64(fails) / float64(runs)
	rng = rand.New(rand.NewPCG(23, 0))
	stops := make([]float64, runs)
	for k := range stops {
		stops[k] = simOracleRun(rng, 1_000_000)
	}
	slices.Sort(stops)
	f.oracle = quantileOf(stops, 0.5)
	return f
}

func TestSimErrorRatioTable(t *testing.T) {
	long := os.Getenv("RAMP_LONG_SIM") != ""
	runs := 200
	if long {
		runs = simRuns
	}
	f := simRatioTable(runs)
	for i, row := range ratioTable {
		t.Logf("%4gx: median %6.0f  p90 %6.0f  fixed n (power 0.8) %6.0f", row.ratio, f.median[i], f.p90[i], f.fixed80[i])
		if long {
			check(t, fmt.Sprintf("%gx median", row.ratio), row.median, f.median[i], 0)
			check(t, fmt.Sprintf("%gx p90", row.ratio), row.p90, f.p90[i], 0)
		} else {
			// 200 runs: a median's standard error is about 9% of it, a
			// p90's about 12%; allow three of them.
			check(t, fmt.Sprintf("%gx median", row.ratio), row.median, f.median[i], 0.27)
			check(t, fmt.Sprintf("%gx p90", row.ratio), row.p90, f.p90[i], 0.36)
		}
		check(t, fmt.Sprintf("%gx fixed n", row.ratio), row.fixed80, f.fixed80[i], 0)
	}
	t.Logf("A/A false fails %.1f%% (%d runs, looks every 100 requests up to %d); SPRT knowing the 3× effect: median %.0f",
		100*f.aa, runs, simHorizon, f.oracle)
	// 1,000 runs: at most α; 200 runs: within the sampling slack.
	if limit := map[bool]float64{true: simAlpha, false: simSlack}[long]; f.aa > limit {
		t.Errorf("A/A false fails %.2f%% > %.1f%%", 100*f.aa, 100*limit)
	}
	if long {
		check(t, "A/A", ratioTableAA, f.aa, 0)
		check(t, "oracle median", ratioTableOracle, f.oracle, 0)
	}
	if f.median[2] >= 4400 {
		t.Errorf("3x median %.0f: no better than the Dirichlet Bayes factor's 4,400", f.median[2])
	}
}

// check compares a published figure with a simulated one, within a
// relative tolerance.
func check(t *testing.T, what string, published, got, tol float64) {
	t.Helper()
	if math.Abs(got-published) > tol*published {
		t.Errorf("%s: simulated %.4g, published %.4g (tolerance %.0f%%)", what, got, published, 100*tol)
	}
}
