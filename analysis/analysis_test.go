package analysis

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResultJSONKeepsNonFiniteValues(t *testing.T) {
	in := Result{Verdict: Fail, Reason: "r", Metrics: []Measurement{{
		Name: "p99", Verdict: Fail, Canary: 0.25, Baseline: math.NaN(), CanaryN: 10,
		Lower: math.Inf(-1), Upper: math.Inf(1), Estimate: -0.5, Statistic: 1.5, PValue: 0.01, Reason: "x",
	}}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"baseline":"NaN"`)
	assert.Contains(t, string(b), `"lower":"-Inf","upper":"+Inf"`)
	var out Result
	require.NoError(t, json.Unmarshal(b, &out))
	m := out.Metrics[0]
	assert.True(t, math.IsNaN(m.Baseline))
	assert.True(t, math.IsInf(m.Lower, -1) && math.IsInf(m.Upper, 1))
	assert.Equal(t, 0.25, m.Canary)
	assert.Equal(t, -0.5, m.Estimate)
	assert.Equal(t, Fail, m.Verdict)
	assert.Error(t, json.Unmarshal([]byte(`{"metrics":[{"canary":"lots"}]}`), &out))
}

func TestVerdictText(t *testing.T) {
	for _, v := range []Verdict{NoData, Pass, Fail, Error} {
		b, err := v.MarshalText()
		require.NoError(t, err)
		var back Verdict
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, v, back)
	}
	var v Verdict
	assert.ErrorContains(t, v.UnmarshalText([]byte("maybe")), `unknown verdict "maybe"`)
}
