package prometheus

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ramp-go/ramp/analysis"
)

// judge turns a metric's readings into its measurement. The error is not
// nil exactly when the verdict is Error.
func judge(m compiled, r runs) (analysis.Measurement, error) {
	meas, err := judgeValues(m, r)
	meas.Ratio = analysis.RatioOf(meas.Canary, meas.Baseline)
	return meas, err
}

func judgeValues(m compiled, r runs) (analysis.Measurement, error) {
	meas := analysis.Measurement{
		Name:     m.Name,
		Canary:   math.NaN(),
		Baseline: math.NaN(),
		Lower:    math.Inf(-1),
		Upper:    math.Inf(1),
		DryRun:   m.DryRun,
	}
	if m.Threshold.Min != nil {
		meas.Lower = *m.Threshold.Min
	}
	if m.Threshold.Max != nil {
		meas.Upper = *m.Threshold.Max
	}
	u := m.Unit
	suffix := " (query: " + r.canary.query + ")" + warned(r)

	// The baseline is evidence whenever it was measured.
	var baseDesc string
	baseOK := false
	if r.baseline != nil && r.baseline.ok() {
		meas.Baseline = r.baseline.value
		baseOK = true
		baseDesc = "baseline " + u.Format(meas.Baseline)
	}
	if r.baselineN != nil && r.baselineN.ok() {
		meas.BaselineN = roundCount(r.baselineN.value)
		if baseOK {
			baseDesc += " (n=" + thousands(meas.BaselineN) + ")"
		}
		if r.baselineN.value < m.MinCount {
			baseOK = false
		}
	}

	// The canary first: without its value nothing can be judged.
	subject := "canary " + m.Name
	for _, c := range []*reading{r.canary, r.canaryN} {
		if c == nil {
			continue
		}
		if c.err != nil {
			meas.Verdict = analysis.Error
			q := ""
			if c != r.canary {
				q = " (count query: " + c.query + ")"
			}
			meas.Reason = subject + ": " + c.err.Error() + q + suffix
			return meas, c.err
		}
	}
	if r.canaryN != nil {
		meas.CanaryN = roundCount(r.canaryN.value)
		if r.canaryN.noData != "" {
			meas.Verdict = analysis.NoData
			meas.Reason = subject + ": no data: count " + r.canaryN.noData + " (count query: " + r.canaryN.query + ")" + suffix
			return meas, nil
		}
	}
	if r.canary.noData != "" {
		meas.Verdict = analysis.NoData
		meas.Reason = subject + ": no data: " + r.canary.noData + suffix
		return meas, nil
	}
	// An impossible value is a broken query or exporter, never a pass.
	for _, c := range []struct {
		r     *reading
		err   func(float64) error
		label string
	}{{r.canary, u.check, ""}, {r.canaryN, checkCount, "count "}} {
		if c.r == nil {
			continue
		}
		if err := c.err(c.r.value); err != nil {
			meas.Verdict = analysis.Error
			meas.Reason = subject + ": " + err.Error() + " (" + c.label + "query: " + c.r.query + ")" + warned(r)
			return meas, err
		}
	}
	meas.Canary = r.canary.value
	subject += " " + u.Format(meas.Canary)
	if r.canaryN != nil {
		subject += " (n=" + thousands(meas.CanaryN) + ")"
		if r.canaryN.value < m.MinCount {
			meas.Verdict = analysis.NoData
			meas.Reason = fmt.Sprintf("%s: no data: n below the minimum %s%s", subject, thousands(int64(math.Ceil(m.MinCount))), suffix)
			return meas, nil
		}
	}

	// Threshold.
	var clauses []clause
	if !m.Threshold.isZero() {
		clauses = append(clauses, thresholdClause(m.Threshold, meas.Canary, u))
	}

	// Comparison with the baseline.
	if m.Compare != nil {
		switch {
		case r.baseline == nil:
			clauses = append(clauses, clause{v: analysis.NoData, text: "cannot be compared: no baseline"})
		case r.baseline.err != nil:
			clauses = append(clauses, clause{v: analysis.Error, text: "cannot be compared: baseline: " + r.baseline.err.Error() + " (baseline query: " + r.baseline.query + ")", err: fmt.Errorf("baseline: %w", r.baseline.err)})
		case r.baselineN != nil && r.baselineN.err != nil:
			clauses = append(clauses, clause{v: analysis.Error, text: "cannot be compared: baseline count: " + r.baselineN.err.Error() + " (baseline count query: " + r.baselineN.query + ")", err: fmt.Errorf("baseline count: %w", r.baselineN.err)})
		case u.check(r.baseline.value) != nil && r.baseline.noData == "":
			err := u.check(r.baseline.value)
			clauses = append(clauses, clause{v: analysis.Error, text: "cannot be compared: baseline " + err.Error() + " (baseline query: " + r.baseline.query + ")", err: fmt.Errorf("baseline: %w", err)})
		case r.baselineN != nil && r.baselineN.noData == "" && checkCount(r.baselineN.value) != nil:
			err := checkCount(r.baselineN.value)
			clauses = append(clauses, clause{v: analysis.Error, text: "cannot be compared: baseline " + err.Error() + " (baseline count query: " + r.baselineN.query + ")", err: fmt.Errorf("baseline: %w", err)})
		case r.baseline.noData != "":
			clauses = append(clauses, clause{v: analysis.NoData, text: "cannot be compared: baseline has no data: " + r.baseline.noData + " (baseline query: " + r.baseline.query + ")"})
		case r.baselineN != nil && r.baselineN.noData != "":
			clauses = append(clauses, clause{v: analysis.NoData, text: "cannot be compared: baseline count has no data: " + r.baselineN.noData + " (baseline count query: " + r.baselineN.query + ")"})
		case !baseOK:
			clauses = append(clauses, clause{v: analysis.NoData, text: fmt.Sprintf("cannot be compared: %s has n below the minimum %s", baseDesc, thousands(int64(math.Ceil(m.MinCount))))})
		default:
			lo, hi := m.Compare.bounds(meas.Baseline)
			meas.Lower = math.Max(meas.Lower, lo)
			meas.Upper = math.Min(meas.Upper, hi)
			clauses = append(clauses, compareClause(*m.Compare, meas.Canary, meas.Baseline, baseDesc, u))
			baseDesc = "" // said in the clause
		}
	}

	worst := analysis.Pass
	for _, c := range clauses {
		if rank(c.v) > rank(worst) {
			worst = c.v
		}
	}
	meas.Verdict = worst
	var texts []string
	var err error
	for _, c := range clauses {
		// A pass lists every clause; otherwise only those that decided.
		if worst == analysis.Pass || c.v == worst {
			texts = append(texts, c.text)
			if c.err != nil {
				err = c.err
			}
		}
	}
	reason := subject + " " + strings.Join(texts, " and ")
	if baseDesc != "" {
		reason += "; " + baseDesc
	}
	if worst == analysis.NoData {
		reason = "no data: " + reason
	}
	meas.Reason = reason + suffix
	if worst != analysis.Error {
		err = nil
	}
	return meas, err
}

// clause is one judgement of a metric's canary value and its words.
type clause struct {
	v    analysis.Verdict
	text string
	err  error
}

func thresholdClause(t Threshold, v float64, u Unit) (c clause) {
	c.v = analysis.Pass
	switch {
	case t.Min != nil && t.Max != nil:
		span := "[" + u.Format(*t.Min) + ", " + u.Format(*t.Max) + "]"
		if v < *t.Min || v > *t.Max {
			c.v, c.text = analysis.Fail, "outside "+span
		} else {
			c.text = "within " + span
		}
	case t.Max != nil:
		if v > *t.Max {
			c.v, c.text = analysis.Fail, "> limit "+u.Format(*t.Max)
		} else {
			c.text = "≤ limit " + u.Format(*t.Max)
		}
	default:
		if v < *t.Min {
			c.v, c.text = analysis.Fail, "< minimum "+u.Format(*t.Min)
		} else {
			c.text = "≥ minimum " + u.Format(*t.Min)
		}
	}
	return c
}

func compareClause(cmp Comparison, c, b float64, baseDesc string, u Unit) (cl clause) {
	lo, hi := cmp.bounds(b)
	margin := u.Format(cmp.Absolute + cmp.Relative*math.Abs(b))
	cl.v = analysis.Pass
	switch cmp.Direction {
	case analysis.Increase:
		if c > hi {
			cl.v, cl.text = analysis.Fail, fmt.Sprintf("> %s allowed (%s + margin %s)", u.Format(hi), baseDesc, margin)
		} else {
			cl.text = fmt.Sprintf("≤ %s allowed (%s + margin %s)", u.Format(hi), baseDesc, margin)
		}
	case analysis.Decrease:
		if c < lo {
			cl.v, cl.text = analysis.Fail, fmt.Sprintf("< %s allowed (%s − margin %s)", u.Format(lo), baseDesc, margin)
		} else {
			cl.text = fmt.Sprintf("≥ %s allowed (%s − margin %s)", u.Format(lo), baseDesc, margin)
		}
	default:
		span := "[" + u.Format(lo) + ", " + u.Format(hi) + "]"
		if c < lo || c > hi {
			cl.v, cl.text = analysis.Fail, fmt.Sprintf("outside %s allowed (%s ± margin %s)", span, baseDesc, margin)
		} else {
			cl.text = fmt.Sprintf("within %s allowed (%s ± margin %s)", span, baseDesc, margin)
		}
	}
	return cl
}

func warned(r runs) string {
	var w []string
	for _, x := range []*reading{r.canary, r.canaryN, r.baseline, r.baselineN} {
		if x != nil {
			w = append(w, x.warnings...)
		}
	}
	if len(w) == 0 {
		return ""
	}
	return " [prometheus warnings: " + strings.Join(w, "; ") + "]"
}

// roundCount rounds a count (increase() extrapolates, so counts are
// often fractional) to an integer; NaN, negative or huge counts give 0 or
// the largest int64.
func roundCount(v float64) int64 {
	switch {
	case !(v > 0):
		return 0
	case v >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(math.Round(v))
}

// thousands writes n with commas between groups of three digits: 10,877.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
