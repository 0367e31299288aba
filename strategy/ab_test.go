package strategy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/traffic"
)

func TestABNext(t *testing.T) {
	rules := []traffic.Rule{{Header: "X-Group", Value: "b"}, {Cookie: "group", Value: "b"}}
	tests := []struct {
		name string
		ab   AB
		want []shape
	}{
		{"count intervals",
			AB{Rules: rules, Analysis: policy(5*time.Minute, 12)},
			[]shape{{Name: "ab", Hold: time.Hour, Rules: 2, Analyse: true}}},
		{"count 0 means one interval, plus the initial delay",
			AB{Rules: rules[:1], Analysis: &Analysis{Policy: analysis.Policy{Interval: time.Minute, InitialDelay: 2 * time.Minute}}},
			[]shape{{Name: "ab", Hold: 3 * time.Minute, Rules: 1, Analyse: true}}},
		{"duration overrides",
			AB{Rules: rules, Analysis: policy(time.Hour, 3), Duration: 7 * 24 * time.Hour},
			[]shape{{Name: "ab", Hold: 7 * 24 * time.Hour, Rules: 2, Analyse: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := run(t, tt.ab)
			assert.Equal(t, tt.want, shapes(steps))
			require.Len(t, steps, 1)
			assert.NotEqual(t, UntilPromoted, steps[0].Hold, "an A/B step must end by itself")
		})
	}
}

func TestABRoute(t *testing.T) {
	ab := AB{Rules: []traffic.Rule{{Cookie: "group", Value: "b"}, {Header: "X-Group", Value: "a", Backend: "v1"}},
		Analysis: policy(time.Minute, 1)}
	st, _ := ab.Next(Progress{})
	r := st.Route("v1", "v2")
	require.NoError(t, r.Validate(nil))
	assert.Equal(t, 0.0, r.Percent("v2"), "unmatched requests stay on A")
	assert.Equal(t, []traffic.Rule{
		{Cookie: "group", Value: "b", Backend: "v2"},
		{Header: "X-Group", Value: "a", Backend: "v1"},
	}, r.Rules)
}

func TestABValidate(t *testing.T) {
	tests := []struct {
		name string
		ab   AB
		want []string
	}{
		{"valid", AB{Rules: []traffic.Rule{{Header: "X-Group", Value: "b"}}, Analysis: policy(time.Minute, 3)}, nil},
		{"zero", AB{}, []string{
			"rules: empty: an A/B test needs a header or cookie rule to pick B's requests",
			"analysis: missing: an A/B test needs an analysis to decide",
		}},
		{"bad fields",
			AB{
				Rules:    []traffic.Rule{{Header: "X-Group", Value: "b"}, {Cookie: "c", Match: traffic.MatchKind(9)}},
				Analysis: &Analysis{Policy: analysis.Policy{Interval: -time.Second, InconclusiveLimit: -1}},
				Duration: -time.Hour,
			},
			[]string{
				"rules[1].match: unknown match kind 9",
				"analysis: analysis policy: interval: -1s must be positive",
				"analysis: analysis policy: inconclusive limit: -1 is negative",
				"duration: -1h0m0s is negative",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ab.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, messages(err))
		})
	}
}
