package analysis

import (
	"errors"
	"fmt"
	"time"
)

// Policy says how often an analysis is measured during a step and how many
// results of each kind settle it. The rules, exactly:
//
//   - The first measurement is taken InitialDelay after the step's route is
//     applied, then one every Interval.
//   - A Fail adds one to the failure count. When failures > FailureLimit the
//     run fails (so the default 0 fails on the first failing measurement).
//   - An Error adds one to the consecutive-error count; any other verdict
//     resets it to 0. When consecutive errors > ConsecutiveErrorLimit the
//     run ends in error.
//   - A NoData adds one to the inconclusive count. When InconclusiveLimit > 0
//     and inconclusive > InconclusiveLimit the run is inconclusive (the
//     engine pauses the rollout for a person to decide). With the default 0,
//     no data is simply waited out (a progress deadline bounds the wait).
//   - The run passes once passes >= Count (Count 0 means 1), no limit
//     above was crossed, and the latest measurement is a Pass. Only a Pass
//     counts toward it: no data never does, and an error or no data after
//     the passes holds the run until the next Pass (current evidence).
//   - DryRun: measurements are made and reported, but the run never fails,
//     errors or turns inconclusive; it always counts as passed.
//
// The zero Policy is not valid: Interval must be set.
type Policy struct {
	Interval              time.Duration
	InitialDelay          time.Duration
	Count                 int
	FailureLimit          int
	InconclusiveLimit     int
	ConsecutiveErrorLimit int // 0 means the default, 4; negative means none tolerated
	DryRun                bool
}

// DefaultConsecutiveErrorLimit is used when Policy.ConsecutiveErrorLimit is 0.
const DefaultConsecutiveErrorLimit = 4

// Validate reports every problem with p at once.
func (p Policy) Validate() error {
	var errs []error
	if p.Interval <= 0 {
		errs = append(errs, fmt.Errorf("analysis policy: interval: %v must be positive", p.Interval))
	}
	if p.InitialDelay < 0 {
		errs = append(errs, fmt.Errorf("analysis policy: initial delay: %v is negative", p.InitialDelay))
	}
	if p.Count < 0 {
		errs = append(errs, fmt.Errorf("analysis policy: count: %d is negative", p.Count))
	}
	if p.FailureLimit < 0 {
		errs = append(errs, fmt.Errorf("analysis policy: failure limit: %d is negative", p.FailureLimit))
	}
	if p.InconclusiveLimit < 0 {
		errs = append(errs, fmt.Errorf("analysis policy: inconclusive limit: %d is negative", p.InconclusiveLimit))
	}
	return errors.Join(errs...)
}

// Outcome is the state of an analysis run.
type Outcome int

// Outcomes of a run.
const (
	Running Outcome = iota
	Passed
	Failed
	Errored
	Inconclusive
)

func (o Outcome) String() string {
	switch o {
	case Running:
		return "running"
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	case Errored:
		return "errored"
	case Inconclusive:
		return "inconclusive"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Tally counts a run's measurements and applies a Policy's limits.
// The zero Tally is a run with no measurements yet.
type Tally struct {
	Passes, Failures, Inconclusive, Errors, ConsecutiveErrors int
	// Last is the latest verdict counted (NoData before the first).
	Last Verdict
}

// Add counts one verdict.
func (t *Tally) Add(v Verdict) {
	t.Last = v
	switch v {
	case Pass:
		t.Passes++
		t.ConsecutiveErrors = 0
	case Fail:
		t.Failures++
		t.ConsecutiveErrors = 0
	case NoData:
		t.Inconclusive++
		t.ConsecutiveErrors = 0
	case Error:
		t.Errors++
		t.ConsecutiveErrors++
	}
}

// Outcome applies p to the counts so far.
func (t Tally) Outcome(p Policy) Outcome {
	need := p.Count
	if need == 0 {
		need = 1
	}
	if p.DryRun {
		if t.Passes+t.Failures+t.Inconclusive+t.Errors >= need {
			return Passed
		}
		return Running
	}
	errLimit := p.ConsecutiveErrorLimit
	switch {
	case errLimit == 0:
		errLimit = DefaultConsecutiveErrorLimit
	case errLimit < 0:
		errLimit = 0
	}
	switch {
	case t.Failures > p.FailureLimit:
		return Failed
	case t.ConsecutiveErrors > errLimit:
		return Errored
	case p.InconclusiveLimit > 0 && t.Inconclusive > p.InconclusiveLimit:
		return Inconclusive
	case t.Passes >= need && t.Last == Pass:
		return Passed
	}
	return Running
}
