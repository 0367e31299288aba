package strategy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/traffic"
)

func TestCanaryNext(t *testing.T) {
	a := policy(time.Minute, 2)
	tests := []struct {
		name   string
		canary Canary
		want   []shape
	}{
		{"three steps in order",
			Canary{Steps: []Step{
				{Name: "one", Percent: 10, Hold: 5 * time.Minute},
				{Percent: 50, Hold: 10 * time.Minute, Analysis: a},
				{Percent: 100, Analysis: a},
			}},
			[]shape{
				{Name: "one", Percent: 10, Hold: 5 * time.Minute},
				{Percent: 50, Hold: 10 * time.Minute, Analyse: true},
				{Percent: 100, Analyse: true},
			}},
		{"fine shares and a last step below 100",
			Canary{Steps: []Step{{Percent: 0.5}, {Percent: 12.25, MirrorPercent: 50}}},
			[]shape{{Percent: 0.5}, {Percent: 12.25, Mirror: 50}}},
		{"a step back is kept as given",
			Canary{Steps: []Step{{Percent: 50}, {Percent: 5}, {Percent: 100}}},
			[]shape{{Percent: 50}, {Percent: 5}, {Percent: 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, shapes(run(t, tt.canary)))
		})
	}
}

func TestCanaryValidate(t *testing.T) {
	tests := []struct {
		name   string
		canary Canary
		want   []string
	}{
		{"valid", Canary{Steps: []Step{{Percent: 0.5}, {Percent: 12.25}, {Percent: 100}}}, nil},
		{"last step below 100 is valid", Canary{Steps: []Step{{Percent: 10}, {Percent: 50}}}, nil},
		{"decreasing is valid", Canary{Steps: []Step{{Percent: 50}, {Percent: 5}}}, nil},
		{"nil steps", Canary{}, []string{"steps: empty: a canary needs at least one step"}},
		{"empty steps", Canary{Steps: []Step{}}, []string{"steps: empty: a canary needs at least one step"}},
		{"every bad step named",
			Canary{Steps: []Step{
				{Percent: 10},
				{Percent: -5, Hold: -time.Minute},
				{Percent: 120},
				{Percent: 50, Analysis: &Analysis{}},
				{Percent: 60, Rules: []traffic.Rule{{Header: "X", Cookie: "c"}}},
			}},
			[]string{
				"steps[1].percent: -5 is negative",
				"steps[1].hold: -1m0s is negative",
				"steps[2].percent: 120 is over 100",
				"steps[3].analysis: analysis policy: interval: 0s must be positive",
				`steps[4].rules[0]: both header "X" and cookie "c" are set`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.canary.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, messages(err))
		})
	}
}

func TestParseSteps(t *testing.T) {
	tests := []struct {
		in   string
		want []shape
	}{
		{"10,50,100", []shape{{Percent: 10}, {Percent: 50}, {Percent: 100}}},
		{" 10 , 50 ,100 ", []shape{{Percent: 10}, {Percent: 50}, {Percent: 100}}},
		{"0.5,12.25,100", []shape{{Percent: 0.5}, {Percent: 12.25}, {Percent: 100}}},
		{"0.01,99.99", []shape{{Percent: 0.01}, {Percent: 99.99}}},
		{"10%, 50 %,100%", []shape{{Percent: 10}, {Percent: 50}, {Percent: 100}}},
		{"0,100", []shape{{Percent: 0}, {Percent: 100}}},
		{"-0,+5", []shape{{Percent: 0}, {Percent: 5}}},
		{"007,12.250", []shape{{Percent: 7}, {Percent: 12.25}}},
		{"5:10m,25%:30m,100", []shape{{Percent: 5, Hold: 10 * time.Minute}, {Percent: 25, Hold: 30 * time.Minute}, {Percent: 100}}},
		{"1 : 1h30m , 2:0 ,3:90s", []shape{{Percent: 1, Hold: 90 * time.Minute}, {Percent: 2}, {Percent: 3, Hold: 90 * time.Second}}},
		{".5,5.", []shape{{Percent: 0.5}, {Percent: 5}}},
		{"100", []shape{{Percent: 100}}},
		{"100.00", []shape{{Percent: 100}}},
		{"000000000000000000000000000012", []shape{{Percent: 12}}},
		{"12.2500000000000000000000", []shape{{Percent: 12.25}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			steps, err := ParseSteps(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, shapes(steps))
			for _, s := range steps {
				assert.Nil(t, s.Analysis)
				assert.Nil(t, s.Rules)
			}
		})
	}
}

func TestParseStepsErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{"steps: empty list"}},
		{"  \t", []string{"steps: empty list"}},
		{"10,5o,100", []string{`steps: item 2 "5o": not a number`}},
		{"10,,50", []string{`steps: item 2 "": empty`}},
		{"10,50,", []string{`steps: item 3 "": empty`}},
		{",", []string{`steps: item 1 "": empty`, `steps: item 2 "": empty`}},
		{"120", []string{`steps: item 1 "120": over 100`}},
		{"100.01", []string{`steps: item 1 "100.01": over 100`}},
		{"1000000", []string{`steps: item 1 "1000000": over 100`}},
		{"-5", []string{`steps: item 1 "-5": negative`}},
		{"12.255", []string{`steps: item 1 "12.255": finer than the 0.01 resolution`}},
		{"NaN,Inf,1e2,0x10,1_0,.,-,5.5.5", []string{
			`steps: item 1 "NaN": not a number`,
			`steps: item 2 "Inf": not a number`,
			`steps: item 3 "1e2": not a number`,
			`steps: item 4 "0x10": not a number`,
			`steps: item 5 "1_0": not a number`,
			`steps: item 6 ".": not a number`,
			`steps: item 7 "-": not a number`,
			`steps: item 8 "5.5.5": not a number`,
		}},
		{"50,10,100", []string{`steps: item 2 "10": 10 is not above the previous share 50 (shares must rise)`}},
		{"10,10", []string{`steps: item 2 "10": 10 is not above the previous share 10 (shares must rise)`}},
		{"10,x,5", []string{
			`steps: item 2 "x": not a number`,
			`steps: item 3 "5": 5 is not above the previous share 10 (shares must rise)`,
		}},
		{"10:5x,20:-1m,30:", []string{
			`steps: item 1 "10:5x": hold "5x" is not a duration (want e.g. 90s, 5m, 1h30m, or "promote")`,
			`steps: item 2 "20:-1m": hold -1m0s is negative`,
			`steps: item 3 "30:": hold "" is not a duration (want e.g. 90s, 5m, 1h30m, or "promote")`,
		}},
		{"10:5m:3", []string{`steps: item 1 "10:5m:3": hold "5m:3" is not a duration (want e.g. 90s, 5m, 1h30m, or "promote")`}},
		{"1 0", []string{`steps: item 1 "1 0": not a number`}},
		{"10%%", []string{`steps: item 1 "10%%": not a number`}},
		{"120:x,5o", []string{
			`steps: item 1 "120:x": over 100`,
			`steps: item 1 "120:x": hold "x" is not a duration (want e.g. 90s, 5m, 1h30m, or "promote")`,
			`steps: item 2 "5o": not a number`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			steps, err := ParseSteps(tt.in)
			require.Error(t, err)
			assert.Nil(t, steps)
			assert.Equal(t, tt.want, messages(err))
		})
	}
}

func TestParseStepsErrorsAreBounded(t *testing.T) {
	in := strings.Repeat("x,", 25) + "x"
	_, err := ParseSteps(in)
	require.Error(t, err)
	msgs := messages(err)
	require.Len(t, msgs, maxParseErrors+1)
	assert.Equal(t, `steps: item 10 "x": not a number`, msgs[maxParseErrors-1])
	assert.Equal(t, "steps: 16 more problems", msgs[maxParseErrors])
}

// ParseSteps reads every share there is exactly (the float nearest the
// decimal), and FormatSteps writes it back in its shortest form.
func TestParseStepsEveryShare(t *testing.T) {
	for h := 0; h <= 10000; h++ {
		text := fmt.Sprintf("%d.%02d", h/100, h%100)
		steps, err := ParseSteps(text)
		require.NoError(t, err, text)
		want := float64(h) / 100
		require.Equal(t, want, steps[0].Percent, text)
		require.Empty(t, checkPercent(steps[0].Percent), text)
		short := strings.TrimSuffix(strings.TrimRight(text, "0"), ".")
		require.Equal(t, short, FormatSteps(steps), text)
	}
}

func TestFormatSteps(t *testing.T) {
	tests := []struct {
		steps []Step
		want  string
	}{
		{nil, ""},
		{[]Step{{Percent: 10}, {Percent: 50}, {Percent: 100}}, "10,50,100"},
		{[]Step{{Percent: 0.5}, {Percent: 12.25}}, "0.5,12.25"},
		{[]Step{{Percent: 5, Hold: 10 * time.Minute}, {Percent: 25, Hold: 90 * time.Minute}, {Percent: 100, Hold: 90 * time.Second}},
			"5:10m,25:1h30m,100:1m30s"},
		{[]Step{{Percent: 1, Hold: 2 * time.Hour}, {Percent: 2, Hold: 1500 * time.Millisecond}, {Percent: 3, Hold: time.Hour + time.Second}},
			"1:2h,2:1.5s,3:1h0m1s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, FormatSteps(tt.steps))
			if len(tt.steps) > 0 {
				back, err := ParseSteps(tt.want)
				require.NoError(t, err)
				assert.Equal(t, tt.steps, back)
			}
		})
	}
}

func FuzzParseSteps(f *testing.F) {
	for _, s := range []string{
		"10,50,100", "0.5,12.25,100", " 10 , 50 ,100 ", "5:10m,25%:30m,100", "10,5o,100",
		"", ",", "-0,+5", "100.001", "1e2", "10:-5m", "0:0,1:1ns", "10:promote,50", "10:PROMOTE", "10:-1ns",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := ParseSteps(s)
		if err != nil {
			require.Nil(t, steps)
			require.True(t, strings.HasPrefix(err.Error(), "steps: "), "error %q", err)
			return
		}
		require.NotEmpty(t, steps)
		for i, st := range steps {
			require.False(t, math.IsNaN(st.Percent))
			require.GreaterOrEqual(t, st.Percent, 0.0)
			require.LessOrEqual(t, st.Percent, 100.0)
			require.Equal(t, math.Round(st.Percent*100)/100, st.Percent, "0.01 resolution")
			require.True(t, st.Hold >= 0 || st.Hold == UntilPromoted, "hold %v", st.Hold)
			if i > 0 {
				require.Greater(t, st.Percent, steps[i-1].Percent)
			}
			require.NoError(t, st.Validate("step"))
		}
		require.NoError(t, Canary{Steps: steps}.Validate())
		text := FormatSteps(steps)
		back, err := ParseSteps(text)
		require.NoError(t, err, "FormatSteps gave %q", text)
		require.Equal(t, steps, back)
		require.Equal(t, text, FormatSteps(back))
	})
}

func BenchmarkParseSteps(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSteps("1, 5, 10:5m, 25:10m, 50:30m, 100"); err != nil {
			b.Fatal(err)
		}
	}
}
