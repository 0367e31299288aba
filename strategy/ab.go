package strategy

import (
	"errors"
	"fmt"
	"time"

	"github.com/ramp-go/ramp/traffic"
)

// AB is an A/B test: requests that match Rules go to the new version (B),
// all others stay on the stable one (A), until the analysis decides.
//
// It yields one step, "ab": 0% of weighted traffic plus Rules, analysed by
// Analysis. A step is left once its hold is over and its analysis passed,
// and a hold of 0 would mean "until promoted", so the step holds for
// Duration, or when that is 0 for Analysis.Span() — InitialDelay plus
// Count intervals: the test runs for Count analysis intervals. If every
// interval passes, the strategy is done and the engine promotes B to
// 100%; a failed interval (beyond Analysis.FailureLimit) rolls back to A.
// Intervals with no data do not count, so the test runs longer when the
// matching traffic is thin (the rollout's progress deadline bounds that).
//
// The zero AB is invalid: it needs Rules and an Analysis.
type AB struct {
	// Rules pick B's requests by header or cookie; an empty Rule.Backend
	// means B, the new version. The first matching rule wins.
	Rules []traffic.Rule `json:"rules"`
	// Analysis decides the test; its Count (0 means 1) is the number of
	// passing intervals required.
	Analysis *Analysis `json:"-"`
	// Duration, when set, is how long the test runs at least, for example
	// a full week of business cycles. 0 means Analysis.Span().
	Duration time.Duration `json:"duration,omitempty"`
}

// Next returns the test's single step, then done. An invalid AB yields a
// step that keeps all traffic on stable until promoted, named after the
// problem, and is never done.
func (a AB) Next(p Progress) (Step, bool) {
	if err := a.Validate(); err != nil {
		return refuse(err), false
	}
	if p.Index > 0 {
		return Step{}, true
	}
	hold := a.Duration
	if hold == 0 {
		hold = a.Analysis.Span()
	}
	return Step{
		Name:     "ab",
		Percent:  0,
		Rules:    cloneRules(a.Rules),
		Hold:     hold,
		Analysis: a.Analysis,
	}, false
}

// Validate reports every problem with a at once, each naming the field and
// value.
func (a AB) Validate() error {
	var errs []error
	if len(a.Rules) == 0 {
		errs = append(errs, errors.New("rules: empty: an A/B test needs a header or cookie rule to pick B's requests"))
	}
	errs = append(errs, checkRules("rules", a.Rules)...)
	if a.Analysis == nil {
		errs = append(errs, errors.New("analysis: missing: an A/B test needs an analysis to decide"))
	}
	errs = append(errs, checkAnalysis("analysis", a.Analysis)...)
	if a.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration: %v is negative", a.Duration))
	}
	return errors.Join(errs...)
}
