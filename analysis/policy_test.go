package analysis

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTallyRules(t *testing.T) {
	P, F, N, E := Pass, Fail, NoData, Error
	for _, tc := range []struct {
		name   string
		policy Policy
		seq    []Verdict
		want   Outcome
	}{
		{"nothing yet", Policy{}, nil, Running},
		{"one pass is enough by default", Policy{}, []Verdict{P}, Passed},
		{"count passes needed", Policy{Count: 3}, []Verdict{P, P}, Running},
		{"count reached", Policy{Count: 3}, []Verdict{P, N, P, P}, Passed},
		{"no data never passes", Policy{}, []Verdict{N, N, N, N, N, N}, Running},
		{"first failure fails at limit 0", Policy{}, []Verdict{P, F}, Failed},
		{"failure limit is strict: limit 2 tolerates 2", Policy{FailureLimit: 2}, []Verdict{F, F, P}, Passed},
		{"failure limit crossed", Policy{FailureLimit: 2}, []Verdict{F, F, F}, Failed},
		{"failures are not reset by passes", Policy{FailureLimit: 1, Count: 5}, []Verdict{F, P, P, F}, Failed},
		{"default tolerates 4 errors in a row", Policy{}, []Verdict{E, E, E, E}, Running},
		{"fifth error in a row", Policy{}, []Verdict{E, E, E, E, E}, Errored},
		{"errors reset by any other verdict", Policy{}, []Verdict{E, E, E, E, N, E, E, E, E}, Running},
		{"negative error limit tolerates none", Policy{ConsecutiveErrorLimit: -1}, []Verdict{E}, Errored},
		{"inconclusive unlimited by default", Policy{Count: 2}, []Verdict{N, N, N, N, N, N, N, N, N, N, N, P}, Running},
		{"inconclusive limit strict", Policy{InconclusiveLimit: 2}, []Verdict{N, N}, Running},
		{"inconclusive limit crossed", Policy{InconclusiveLimit: 2}, []Verdict{N, N, N}, Inconclusive},
		{"error after the passes holds the run", Policy{Count: 2}, []Verdict{P, P, E}, Running},
		{"no data after the passes holds the run", Policy{}, []Verdict{P, N}, Running},
		{"a pass after the error passes again", Policy{Count: 2}, []Verdict{P, P, E, P}, Passed},
		{"failure beats pass count", Policy{Count: 1}, []Verdict{P, F}, Failed},
		{"dry run never fails", Policy{DryRun: true, Count: 2}, []Verdict{F, E}, Passed},
		{"dry run waits for count", Policy{DryRun: true, Count: 3}, []Verdict{F, E}, Running},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tl Tally
			for _, v := range tc.seq {
				tl.Add(v)
			}
			assert.Equal(t, tc.want, tl.Outcome(tc.policy), "tally %+v", tl)
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	assert.NoError(t, Policy{Interval: time.Second}.Validate())
	err := Policy{Interval: 0, InitialDelay: -time.Second, Count: -1, FailureLimit: -2, InconclusiveLimit: -3}.Validate()
	for _, want := range []string{"interval: 0s must be positive", "initial delay: -1s is negative", "count: -1 is negative",
		"failure limit: -2 is negative", "inconclusive limit: -3 is negative"} {
		assert.ErrorContains(t, err, want)
	}
	assert.ErrorContains(t, Policy{Interval: -time.Second}.Validate(), "interval: -1s must be positive")
}
