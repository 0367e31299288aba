package analysis

import (
	"errors"
	"testing"
	"time"
)

// The judges over a WindowSource forward CheckSpan to it when it can
// say (a Recorder), and accept any span when it cannot.
func TestJudgesForwardCheckSpan(t *testing.T) {
	rec, err := NewRecorder(RecorderOptions{}, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	var plain emptySource
	for _, tc := range []struct {
		name string
		of   func(WindowSource) interface{ CheckSpan(time.Duration) error }
	}{
		{"Thresholds", func(s WindowSource) interface{ CheckSpan(time.Duration) error } { return &Thresholds{Source: s} }},
		{"SequentialErrorRate", func(s WindowSource) interface{ CheckSpan(time.Duration) error } {
			return &SequentialErrorRate{Source: s}
		}},
		{"SequentialErrorRatio", func(s WindowSource) interface{ CheckSpan(time.Duration) error } {
			return &SequentialErrorRatio{Source: s}
		}},
		{"SequentialLatency", func(s WindowSource) interface{ CheckSpan(time.Duration) error } { return &SequentialLatency{Source: s} }},
	} {
		if err := tc.of(rec).CheckSpan(10 * time.Minute); !errors.Is(err, ErrSpanTooLong) {
			t.Errorf("%s over a default Recorder, 10m step: %v, want ErrSpanTooLong", tc.name, err)
		}
		if err := tc.of(rec).CheckSpan(30 * time.Second); err != nil {
			t.Errorf("%s over a default Recorder, 30s step: %v", tc.name, err)
		}
		if err := tc.of(plain).CheckSpan(10 * time.Minute); err != nil {
			t.Errorf("%s over a source that cannot say: %v", tc.name, err)
		}
		if err := tc.of(nil).CheckSpan(10 * time.Minute); err != nil {
			t.Errorf("%s without a source: %v", tc.name, err)
		}
	}
}

// emptySource is a WindowSource that cannot say its span.
type emptySource struct{}

func (emptySource) Window(string, time.Time, time.Time) Window { return Window{} }
