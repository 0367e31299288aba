package prometheus

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// FuzzDecodeResponse feeds arbitrary bodies and statuses to the decoder.
// It must never panic; it must answer with a value, an *APIError or an
// error wrapping ErrDecode; and a value it accepts must survive a round
// trip through model's own JSON encoding. The seed corpus is in
// testdata/fuzz/FuzzDecodeResponse.
func FuzzDecodeResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp, err := decodeResponse(status, body)
		if err != nil {
			var apiErr *APIError
			if !errors.As(err, &apiErr) && !errors.Is(err, ErrDecode) {
				t.Fatalf("error of unexpected kind: %v", err)
			}
			if apiErr != nil && apiErr.Message == "" {
				t.Fatalf("APIError without a message: %#v", apiErr)
			}
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("accepted HTTP status %d", status)
		}
		require.NotNil(t, resp.Value)

		// Extraction never panics and its outcomes are exclusive.
		v, _, noData, xerr := extract(resp.Value)
		switch {
		case xerr != nil:
			require.Empty(t, noData)
		case noData != "":
			require.True(t, math.IsNaN(v) || noData == noSeries, "no data %q with value %v", noData, v)
		default:
			// An infinity is a value, judged impossible against the unit.
			require.False(t, math.IsNaN(v))
		}

		if !roundTrippable(resp.Value) {
			return
		}
		data, err := json.Marshal(struct {
			ResultType model.ValueType `json:"resultType"`
			Result     model.Value     `json:"result"`
		}{resp.Value.Type(), resp.Value})
		require.NoError(t, err)
		again, err := decodeResponse(200, []byte(`{"status":"success","data":`+string(data)+`}`))
		require.NoError(t, err, "re-decoding %s", data)
		requireSameValue(t, resp.Value, again.Value)
	})
}

// roundTrippable excludes timestamps that model's encoding (seconds as a
// float64) cannot carry exactly.
func roundTrippable(v model.Value) bool {
	okTime := func(t model.Time) bool { return t > -1<<50 && t < 1<<50 }
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			if !okTime(s.Timestamp) {
				return false
			}
		}
	case model.Matrix:
		for _, s := range v {
			for _, p := range s.Values {
				if !okTime(p.Timestamp) {
					return false
				}
			}
			for _, p := range s.Histograms {
				if !okTime(p.Timestamp) {
					return false
				}
			}
		}
	case *model.Scalar:
		return okTime(v.Timestamp)
	case *model.String:
		return okTime(v.Timestamp)
	}
	return true
}

func requireSameValue(t *testing.T, want, got model.Value) {
	t.Helper()
	require.Equal(t, want.Type(), got.Type())
	switch w := want.(type) {
	case model.Vector:
		require.True(t, w.Equal(got.(model.Vector)), "want %v, got %v", w, got)
	case model.Matrix:
		g := got.(model.Matrix)
		require.Len(t, g, len(w))
		for i := range w {
			require.True(t, w[i].Metric.Equal(g[i].Metric))
			require.Len(t, g[i].Values, len(w[i].Values))
			for j := range w[i].Values {
				require.True(t, w[i].Values[j].Equal(&g[i].Values[j]), "point %d: want %v, got %v", j, w[i].Values[j], g[i].Values[j])
			}
			require.Len(t, g[i].Histograms, len(w[i].Histograms))
		}
	case *model.Scalar:
		g := got.(*model.Scalar)
		require.True(t, w.Value.Equal(g.Value) && w.Timestamp == g.Timestamp, "want %v, got %v", w, g)
	case *model.String:
		require.Equal(t, w, got)
	}
}

// FuzzParseTemplate checks that parsing any text and rendering it never
// panics, and that a rendered template with only literal text is the text.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{errRateTmpl, `x{a="{{b}}"}`, "x # {{c}}\n", "`{{a}}`", `'{{a}}'`, `{{`, `}}`, `"\`, "{{ a }}{{b}}"} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		tm, err := ParseTemplate(text)
		if err != nil {
			return
		}
		vars := map[string]string{}
		for _, n := range tm.Vars() {
			vars[n] = value
		}
		out, err := tm.Render(vars)
		if len(tm.Vars()) == 0 {
			require.NoError(t, err)
			require.Equal(t, text, out)
		}
	})
}
