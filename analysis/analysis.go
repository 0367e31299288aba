package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Verdict is the outcome of one analysis.
//
// The zero value is NoData, so a Result nobody filled in can never be
// mistaken for a pass.
type Verdict int

// Verdicts.
const (
	// NoData: not enough samples yet to say anything. Never a pass.
	NoData Verdict = iota
	// Pass: the evidence says the canary is no worse than allowed.
	Pass
	// Fail: the evidence says the canary is worse than allowed.
	Fail
	// Error: the source of the measurements failed.
	Error
)

func (v Verdict) String() string {
	switch v {
	case NoData:
		return "no_data"
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Error:
		return "error"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// MarshalText encodes the verdict by name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText decodes a verdict name.
func (v *Verdict) UnmarshalText(b []byte) error {
	for _, c := range []Verdict{NoData, Pass, Fail, Error} {
		if c.String() == string(b) {
			*v = c
			return nil
		}
	}
	return fmt.Errorf("analysis: unknown verdict %q", b)
}

// Query says what to analyse.
type Query struct {
	// Baseline and Canary name the versions (backends) to compare.
	Baseline string
	Canary   string
	// Since and Until bound the window of requests to look at. A zero
	// Since means "as far back as the source keeps"; a zero Until means now.
	Since time.Time
	Until time.Time
	// Step is the index of the rollout step being analysed.
	Step int
	// Vars are extra template variables for providers that use them.
	Vars map[string]string
}

// Result is a verdict with the evidence behind it.
type Result struct {
	Verdict Verdict `json:"verdict"`
	// Reason is one line a person can read: the numbers that decided.
	Reason string `json:"reason"`
	// Metrics holds the evidence, one entry per metric judged.
	Metrics []Measurement `json:"metrics,omitempty"`
	// At is when the analysis was made.
	At time.Time `json:"at"`
}

// Measurement is the evidence for one metric.
type Measurement struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// Canary and Baseline are the measured values (NaN when not measured).
	Canary   float64 `json:"canary"`
	Baseline float64 `json:"baseline"`
	// CanaryN and BaselineN are the sample sizes behind them.
	CanaryN   int64 `json:"canary_n"`
	BaselineN int64 `json:"baseline_n"`
	// Lower and Upper depend on the judge:
	//   - Threshold (Thresholds): the limits Min and Max the canary's
	//     value had to stay within (±Inf for a side without one).
	//   - Comparison: the confidence interval of the Hodges–Lehmann shift
	//     canary − baseline (Estimate), at the Comparison's Confidence.
	//   - SequentialErrorRate: the time-uniform confidence interval of the
	//     canary's error rate (each end at level Alpha).
	//   - SequentialErrorRatio: the time-uniform confidence interval of the
	//     ratio of the canary's error rate to the baseline's.
	//   - SequentialLatency: the time-uniform interval of the gap
	//     (Estimate) between the baseline's and the canary's distribution
	//     functions at the worst latency: gap ± both bands.
	//   - analysis/prometheus: the limits the canary's value had to stay
	//     within, the threshold's and the comparison's together.
	// NaN when not computed.
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// Ratio is canary ÷ baseline of the measured values (Canary /
	// Baseline; for a Comparison the ratio of the means, Kayenta's
	// meanRatio): 1.5 means the canary's value is 50% higher. +Inf when
	// only the baseline's is 0; NaN when either is not measured or both
	// are 0.
	Ratio float64 `json:"ratio"`
	// Statistic and PValue are the test's figures, when a test was run.
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"p_value"`
	// Estimate is the judge's point estimate of the effect when it makes
	// one, e.g. the Hodges–Lehmann shift canary − baseline of a Comparison
	// (whose Lower and Upper are that shift's confidence interval).
	Estimate float64 `json:"estimate,omitempty"`
	// DryRun measurements are reported but never decide the verdict.
	DryRun bool   `json:"dry_run,omitempty"`
	Reason string `json:"reason"`
}

// Analyzer judges the canary. A non-nil error means the source failed; the
// engine treats it as an Error verdict with the error as reason.
type Analyzer interface {
	Analyze(ctx context.Context, q Query) (Result, error)
}

// AnalyzerFunc adapts a function to Analyzer.
type AnalyzerFunc func(ctx context.Context, q Query) (Result, error)

// Analyze calls f.
func (f AnalyzerFunc) Analyze(ctx context.Context, q Query) (Result, error) { return f(ctx, q) }

// jsonFloat writes NaN and ±Inf, which Measurement uses for "not measured"
// and one-sided bounds, as the strings "NaN", "+Inf" and "-Inf" (the
// spelling Prometheus uses), since JSON numbers cannot hold them.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = jsonFloat(math.NaN())
	case `"+Inf"`, `"Inf"`:
		*f = jsonFloat(math.Inf(1))
	case `"-Inf"`:
		*f = jsonFloat(math.Inf(-1))
	case "null":
		*f = jsonFloat(math.NaN())
	default:
		var v float64
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("analysis: measurement value %s: %w", b, err)
		}
		*f = jsonFloat(v)
	}
	return nil
}

type measurementJSON struct {
	Name      string    `json:"name"`
	Verdict   Verdict   `json:"verdict"`
	Canary    jsonFloat `json:"canary"`
	Baseline  jsonFloat `json:"baseline"`
	CanaryN   int64     `json:"canary_n"`
	BaselineN int64     `json:"baseline_n"`
	Lower     jsonFloat `json:"lower"`
	Upper     jsonFloat `json:"upper"`
	Ratio     jsonFloat `json:"ratio"`
	Estimate  jsonFloat `json:"estimate"`
	Statistic jsonFloat `json:"statistic"`
	PValue    jsonFloat `json:"p_value"`
	DryRun    bool      `json:"dry_run,omitempty"`
	Reason    string    `json:"reason"`
}

// MarshalJSON encodes m; non-finite values become "NaN", "+Inf", "-Inf".
func (m Measurement) MarshalJSON() ([]byte, error) {
	return json.Marshal(measurementJSON{
		m.Name, m.Verdict, jsonFloat(m.Canary), jsonFloat(m.Baseline), m.CanaryN, m.BaselineN,
		jsonFloat(m.Lower), jsonFloat(m.Upper), jsonFloat(m.Ratio), jsonFloat(m.Estimate), jsonFloat(m.Statistic), jsonFloat(m.PValue), m.DryRun, m.Reason,
	})
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (m *Measurement) UnmarshalJSON(b []byte) error {
	var j measurementJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Measurement{
		Name: j.Name, Verdict: j.Verdict, Canary: float64(j.Canary), Baseline: float64(j.Baseline),
		CanaryN: j.CanaryN, BaselineN: j.BaselineN, Lower: float64(j.Lower), Upper: float64(j.Upper), Ratio: float64(j.Ratio), Estimate: float64(j.Estimate),
		Statistic: float64(j.Statistic), PValue: float64(j.PValue), DryRun: j.DryRun, Reason: j.Reason,
	}
	return nil
}

// RatioOf is canary ÷ baseline as Measurement.Ratio holds it: +Inf when
// only baseline is 0, NaN when either is NaN or both are 0.
func RatioOf(canary, baseline float64) float64 {
	if math.IsNaN(canary) || math.IsNaN(baseline) || (canary == 0 && baseline == 0) {
		return math.NaN()
	}
	return canary / baseline
}
