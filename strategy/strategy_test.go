package strategy

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/traffic"
)

// run collects every step of s, asking as the engine does after each step
// passes.
func run(t *testing.T, s Strategy) []Step {
	t.Helper()
	var steps []Step
	p := Progress{Stable: "v1", Canary: "v2"}
	for {
		st, done := s.Next(p)
		if done {
			return steps
		}
		steps = append(steps, st)
		require.Less(t, len(steps), 20000, "strategy never reports done")
		p.Index++
		p.Percent = st.Percent
		p.Last = analysis.Result{Verdict: analysis.Pass}
	}
}

// shape is the part of a step the tables compare.
type shape struct {
	Name    string
	Percent float64
	Hold    time.Duration
	Rules   int
	Mirror  float64
	Analyse bool
}

func shapes(steps []Step) []shape {
	out := make([]shape, len(steps))
	for i, s := range steps {
		out[i] = shape{s.Name, s.Percent, s.Hold, len(s.Rules), s.MirrorPercent, s.Analysis != nil}
	}
	return out
}

// messages splits a joined error into its lines.
func messages(err error) []string {
	var out []string
	for _, e := range unjoin(err) {
		out = append(out, e.Error())
	}
	return out
}

func policy(interval time.Duration, count int) *Analysis {
	return &Analysis{Policy: analysis.Policy{Interval: interval, Count: count}}
}

func TestStepValidate(t *testing.T) {
	tests := []struct {
		name string
		step Step
		want []string
	}{
		{"zero step is valid: all stable", Step{}, nil},
		{"full step", Step{Percent: 12.25, MirrorPercent: 0.5, Hold: time.Minute, Analysis: policy(time.Second, 3),
			Rules: []traffic.Rule{{Header: "X-Beta", Value: "1"}}}, nil},
		{"rules only at 0%", Step{Rules: []traffic.Rule{{Cookie: "beta", Value: "yes"}}}, nil},
		{"percent over 100", Step{Percent: 120}, []string{"steps[2].percent: 120 is over 100"}},
		{"percent negative", Step{Percent: -1}, []string{"steps[2].percent: -1 is negative"}},
		{"percent NaN", Step{Percent: math.NaN()}, []string{"steps[2].percent: NaN is not a number"}},
		{"percent too fine", Step{Percent: 12.345}, []string{"steps[2].percent: 12.345 is finer than the 0.01 resolution"}},
		{"everything wrong at once",
			Step{Percent: 101, MirrorPercent: math.Inf(1), Hold: -time.Second,
				Analysis: &Analysis{Policy: analysis.Policy{Count: -1}},
				Rules:    []traffic.Rule{{Value: "1"}, {Header: "X A", Match: traffic.Regexp, Value: "("}}},
			[]string{
				"steps[2].percent: 101 is over 100",
				"steps[2].mirror_percent: +Inf is not a number",
				"steps[2].hold: -1s is negative",
				"steps[2].analysis: analysis policy: interval: 0s must be positive",
				"steps[2].analysis: analysis policy: count: -1 is negative",
				"steps[2].rules[0]: neither header nor cookie is set",
				`steps[2].rules[1].header: "X A" is not a valid header name`,
				"steps[2].rules[1].value: bad regexp \"(\": error parsing regexp: missing closing ): `(`",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.step.Validate("steps[2]")
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, messages(err))
		})
	}
}

func TestStepValidateRuleErrorsMatchErrInvalidRoute(t *testing.T) {
	err := Step{Rules: []traffic.Rule{{Value: "1"}}}.Validate("steps[0]")
	require.Error(t, err)
	assert.True(t, errors.Is(err, traffic.ErrInvalidRoute))
}

func TestAnalysisSpan(t *testing.T) {
	tests := []struct {
		name string
		a    *Analysis
		want time.Duration
	}{
		{"nil", nil, 0},
		{"count 0 means 1", policy(time.Minute, 0), time.Minute},
		{"count intervals", policy(time.Minute, 5), 5 * time.Minute},
		{"initial delay added", &Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 2, InitialDelay: 30 * time.Second}}, 150 * time.Second},
		{"invalid interval: delay only", &Analysis{Policy: analysis.Policy{InitialDelay: time.Second}}, time.Second},
		{"saturates", policy(time.Hour, math.MaxInt), time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.a.Span())
		})
	}
}

func TestStepRoute(t *testing.T) {
	s := Step{Percent: 25, MirrorPercent: 5, Rules: []traffic.Rule{
		{Header: "X-Beta", Value: "1"},
		{Cookie: "old", Value: "1", Backend: "v1"},
	}}
	r := s.Route("v1", "v2")
	require.NoError(t, r.Validate(nil))
	assert.Equal(t, 25.0, r.Percent("v2"))
	assert.Equal(t, 75.0, r.Percent("v1"))
	assert.Equal(t, "v2", r.Rules[0].Backend, "empty backend means the canary")
	assert.Equal(t, "v1", r.Rules[1].Backend)
	assert.Equal(t, &traffic.Mirror{Backend: "v2", Percent: 5}, r.Mirror)
	assert.Empty(t, s.Rules[0].Backend, "Route must not change the step")
}

// Every strategy must answer the same for the same Progress, and the
// built-in ones look only at Index.
func TestDeterministic(t *testing.T) {
	a := policy(time.Minute, 3)
	rules := []traffic.Rule{{Header: "X-Beta", Value: "1"}}
	strategies := map[string]Strategy{
		"canary":    Canary{Steps: []Step{{Percent: 10, Hold: time.Minute, Rules: rules}, {Percent: 50, Analysis: a}}},
		"bluegreen": BlueGreen{PrePromotion: a, PostPromotion: a},
		"ab":        AB{Rules: rules, Analysis: a},
		"linear":    Linear{To: 100, Over: time.Hour, Steps: 7, Analysis: a},
	}
	others := []Progress{
		{},
		{Stable: "v1", Canary: "v2", Elapsed: time.Hour, Percent: 33,
			Last: analysis.Result{Verdict: analysis.Fail, Reason: "x"}},
	}
	for name, s := range strategies {
		t.Run(name, func(t *testing.T) {
			for i := 0; i < 5; i++ {
				want, wantDone := s.Next(Progress{Index: i})
				for _, p := range others {
					p.Index = i
					got, done := s.Next(p)
					assert.Equal(t, wantDone, done, "step %d", i)
					assert.Equal(t, shapes([]Step{want}), shapes([]Step{got}), "step %d", i)
					assert.Equal(t, want.Rules, got.Rules)
				}
			}
		})
	}
}

// A caller that edits a step's rules must not change the strategy.
func TestNextDoesNotShareRules(t *testing.T) {
	rules := func() []traffic.Rule { return []traffic.Rule{{Header: "X-Beta", Value: "1"}} }
	strategies := map[string]Strategy{
		"canary":    Canary{Steps: []Step{{Rules: rules()}}},
		"bluegreen": BlueGreen{Preview: rules()},
		"ab":        AB{Rules: rules(), Analysis: policy(time.Minute, 1)},
	}
	for name, s := range strategies {
		t.Run(name, func(t *testing.T) {
			st, _ := s.Next(Progress{})
			require.Len(t, st.Rules, 1)
			st.Rules[0].Value = "changed"
			again, _ := s.Next(Progress{})
			assert.Equal(t, "1", again.Rules[0].Value)
		})
	}
}

// Steps every built-in strategy yields for a valid configuration are
// themselves valid, so the engine's Step.Validate never refuses them.
func TestStepsOfValidStrategiesAreValid(t *testing.T) {
	a := policy(time.Minute, 2)
	strategies := map[string]interface {
		Strategy
		Validate() error
	}{
		"canary":    Canary{Steps: []Step{{Percent: 0.5, Hold: time.Minute}, {Percent: 100, Analysis: a}}},
		"bluegreen": BlueGreen{PreviewMirror: 10, PrePromotion: a, PostPromotion: a},
		"bg zero":   BlueGreen{},
		"ab":        AB{Rules: []traffic.Rule{{Cookie: "group", Value: "b"}}, Analysis: a},
		"linear":    Linear{From: 0.5, To: 99.99, Over: time.Hour, Steps: 13, Analysis: a},
		"linear2":   Linear{From: 1, To: 100, Over: time.Hour, Increment: 7.5},
	}
	for name, s := range strategies {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, s.Validate())
			steps := run(t, s)
			require.NotEmpty(t, steps)
			for i, st := range steps {
				assert.NoError(t, st.Validate("step"), "step %d", i)
				assert.NoError(t, st.Route("v1", "v2").Validate(nil), "step %d route", i)
			}
		})
	}
}

func TestNegativeIndexIsTreatedAsZero(t *testing.T) {
	a := policy(time.Minute, 1)
	for name, s := range map[string]Strategy{
		"canary":    Canary{Steps: []Step{{Percent: 10}}},
		"bluegreen": BlueGreen{},
		"ab":        AB{Rules: []traffic.Rule{{Header: "X", Value: "1"}}, Analysis: a},
		"linear":    Linear{To: 100, Over: time.Hour, Steps: 2},
	} {
		t.Run(name, func(t *testing.T) {
			want, wantDone := s.Next(Progress{})
			got, done := s.Next(Progress{Index: -3})
			assert.False(t, done)
			assert.Equal(t, wantDone, done)
			assert.Equal(t, shapes([]Step{want}), shapes([]Step{got}))
		})
	}
}

// An invalid built-in strategy must never report done (the engine would
// promote fully): it holds all traffic on stable until promoted, and says
// why in the step's name.
func TestInvalidStrategiesRefuse(t *testing.T) {
	tests := []struct {
		name string
		s    interface {
			Strategy
			Validate() error
		}
		why string
	}{
		{"canary without steps", Canary{}, "invalid strategy: steps: empty: a canary needs at least one step"},
		{"canary bad second step", Canary{Steps: []Step{{Percent: 10}, {Percent: 120}, {Percent: 130}}},
			"invalid strategy: steps[1].percent: 120 is over 100; steps[2].percent: 130 is over 100"},
		{"bluegreen", BlueGreen{PostPromotion: &Analysis{}}, "invalid strategy: post_promotion: analysis policy: interval: 0s must be positive"},
		{"ab", AB{Rules: []traffic.Rule{{Header: "X", Value: "1"}}}, "invalid strategy: analysis: missing: an A/B test needs an analysis to decide"},
		{"linear", Linear{To: 100, Over: time.Hour}, "invalid strategy: increment, steps: neither is set: set one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, tt.s.Validate())
			for i := -1; i < 5; i++ {
				st, done := tt.s.Next(Progress{Index: i, Last: analysis.Result{Verdict: analysis.Pass}})
				require.False(t, done, "index %d", i)
				assert.Equal(t, shape{Name: tt.why, Percent: 0, Hold: UntilPromoted}, shapes([]Step{st})[0], "index %d", i)
				require.NoError(t, st.Validate("step"))
				require.NoError(t, st.Route("v1", "v2").Validate(nil))
			}
		})
	}
}

func TestFunc(t *testing.T) {
	f := Func(func(p Progress) (Step, bool) {
		return Step{Percent: float64(p.Index * 10)}, p.Index >= 3
	})
	assert.Equal(t, []shape{{Percent: 0}, {Percent: 10}, {Percent: 20}}, shapes(run(t, f)))
}

func TestStepText(t *testing.T) {
	assert.Equal(t, "step 2 of 3", StepText(1, 3))
	assert.Equal(t, "step 1 of 1", StepText(0, 1))
	assert.Equal(t, "step 4", StepText(3, 0), "length unknown ahead")
	assert.Equal(t, "no step yet", StepText(-1, 3))
}

func TestZeroHoldIsDefaultHold(t *testing.T) {
	steps, err := ParseSteps("10,50,100")
	require.NoError(t, err)
	for i, s := range steps {
		assert.Equal(t, time.Duration(0), s.Hold, "step %d", i)
		assert.Equal(t, DefaultHold, s.EffectiveHold(), "a bare step list advances by itself (step %d)", i)
	}
	assert.Equal(t, UntilPromoted, Step{Hold: UntilPromoted}.EffectiveHold())
	assert.Equal(t, time.Minute, Step{Hold: time.Minute}.EffectiveHold())
	assert.NotEqual(t, time.Duration(0), UntilPromoted, "waiting for a person is never the zero value")
}

func TestParseStepsPromoteHold(t *testing.T) {
	steps, err := ParseSteps("10:promote, 50:5m, 100")
	require.NoError(t, err)
	assert.Equal(t, UntilPromoted, steps[0].Hold)
	assert.NoError(t, Canary{Steps: steps}.Validate())
	assert.Equal(t, "10:promote,50:5m,100", FormatSteps(steps))
	back, err := ParseSteps(FormatSteps(steps))
	require.NoError(t, err)
	assert.Equal(t, steps, back)
	assert.ErrorContains(t, Step{Hold: -2}.Validate("s"), "s.hold: -2ns is negative")
	_, err = ParseSteps("10:-1ns")
	assert.ErrorContains(t, err, "hold -1ns is negative", "only the word promote waits for a person")
}
