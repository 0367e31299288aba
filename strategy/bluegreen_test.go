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

func TestBlueGreenNext(t *testing.T) {
	pre := policy(time.Minute, 3)
	post := &Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 5, InitialDelay: 30 * time.Second}}
	tests := []struct {
		name string
		bg   BlueGreen
		want []shape
	}{
		{"zero: preview until promoted, engine switches",
			BlueGreen{},
			[]shape{{Name: "preview", Percent: 0, Hold: UntilPromoted, Rules: 1}}},
		{"auto promotion with pre-promotion analysis",
			BlueGreen{AutoPromoteAfter: 10 * time.Minute, PrePromotion: pre, PreviewMirror: 25},
			[]shape{{Name: "preview", Hold: 10 * time.Minute, Rules: 1, Mirror: 25, Analyse: true}}},
		{"post-promotion analysis holds for its span",
			BlueGreen{PrePromotion: pre, PostPromotion: post},
			[]shape{
				{Name: "preview", Hold: UntilPromoted, Rules: 1, Analyse: true},
				{Name: "post-promotion", Percent: 100, Hold: 5*time.Minute + 30*time.Second, Analyse: true},
			}},
		{"post-promotion hold set",
			BlueGreen{AutoPromoteAfter: time.Minute, PostPromotion: post, PostPromotionHold: time.Hour},
			[]shape{
				{Name: "preview", Hold: time.Minute, Rules: 1},
				{Name: "post-promotion", Percent: 100, Hold: time.Hour, Analyse: true},
			}},
		{"post-promotion soak without analysis",
			BlueGreen{PostPromotionHold: 15 * time.Minute},
			[]shape{
				{Name: "preview", Hold: UntilPromoted, Rules: 1},
				{Name: "post-promotion", Percent: 100, Hold: 15 * time.Minute},
			}},
		{"own preview rules",
			BlueGreen{Preview: []traffic.Rule{{Cookie: "tester", Value: "1"}, {Header: "X-Smoke", Match: traffic.Prefix, Value: "ci-"}}},
			[]shape{{Name: "preview", Hold: UntilPromoted, Rules: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, shapes(run(t, tt.bg)))
		})
	}
}

func TestBlueGreenPreviewRoute(t *testing.T) {
	st, done := BlueGreen{PreviewMirror: 10}.Next(Progress{})
	require.False(t, done)
	r := st.Route("v1", "v2")
	require.NoError(t, r.Validate(nil))
	assert.Equal(t, 0.0, r.Percent("v2"))
	assert.Equal(t, 100.0, r.Percent("v1"))
	assert.Equal(t, []traffic.Rule{{Header: PreviewHeader, Match: traffic.Exact, Value: "1", Backend: "v2"}}, r.Rules)
	assert.Equal(t, &traffic.Mirror{Backend: "v2", Percent: 10}, r.Mirror)

	st, done = BlueGreen{PostPromotion: policy(time.Minute, 1)}.Next(Progress{Index: 1})
	require.False(t, done)
	r = st.Route("v1", "v2")
	assert.Equal(t, 100.0, r.Percent("v2"))
	assert.Equal(t, []traffic.Weight{{Backend: "v2", Percent: 100}, {Backend: "v1", Percent: 0}}, r.Weights,
		"the old version stays routable during post-promotion")
}

func TestBlueGreenValidate(t *testing.T) {
	tests := []struct {
		name string
		bg   BlueGreen
		want []string
	}{
		{"zero is valid", BlueGreen{}, nil},
		{"full is valid", BlueGreen{Preview: []traffic.Rule{{Cookie: "t", Value: "1", Backend: "v2"}}, PreviewMirror: 0.25,
			AutoPromoteAfter: time.Minute, PrePromotion: policy(time.Second, 1), PostPromotion: policy(time.Second, 1),
			PostPromotionHold: time.Hour}, nil},
		{"everything wrong at once",
			BlueGreen{
				Preview:           []traffic.Rule{{Header: "X-Preview", Value: "1"}, {Value: "2"}},
				PreviewMirror:     math.NaN(),
				AutoPromoteAfter:  -time.Second,
				PrePromotion:      &Analysis{},
				PostPromotion:     &Analysis{Policy: analysis.Policy{Interval: time.Second, FailureLimit: -2}},
				PostPromotionHold: -time.Minute,
			},
			[]string{
				"preview[1]: neither header nor cookie is set",
				"preview_mirror: NaN is not a number",
				"auto_promote_after: -1s is negative",
				"post_promotion_hold: -1m0s is negative",
				"pre_promotion: analysis policy: interval: 0s must be positive",
				"post_promotion: analysis policy: failure limit: -2 is negative",
			}},
		{"empty preview rules",
			BlueGreen{Preview: []traffic.Rule{}, PreviewMirror: 100.5},
			[]string{
				"preview: empty: no request could reach the new version before the switch (leave it nil for the X-Preview: 1 default)",
				"preview_mirror: 100.5 is over 100",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.bg.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, messages(err))
			if len(tt.bg.Preview) > 1 {
				assert.True(t, errors.Is(err, traffic.ErrInvalidRoute))
			}
		})
	}
}
