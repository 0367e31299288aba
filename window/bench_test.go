package window_test

import (
	"testing"
	"time"

	"github.com/ramp-go/ramp/window"
)

// Check is asked before every step: what one answer with its Next costs.
func BenchmarkCheck(b *testing.B) {
	loc := berlin(b)
	for _, bc := range []struct {
		name string
		cfg  window.Config
	}{
		{"office-hours", window.Config{Allow: []window.Rule{{Name: "office", Location: loc, Days: weekdays, From: window.At(9, 0), To: window.At(18, 0)}}}},
		{"allow+deny+cron", window.Config{
			Allow: []window.Rule{{Name: "office", Location: loc, Days: weekdays, From: window.At(9, 0), To: window.At(18, 0)}},
			Deny:  []window.Rule{{Name: "batch", Location: loc, Cron: "*/20 1-3 * * *", Duration: 10 * time.Minute}, {Name: "lunch", Location: loc, From: window.At(12, 0), To: window.At(13, 0)}},
		}},
		{"always-overlapping-cron", window.Config{Allow: []window.Rule{{Name: "all", Cron: "* * * * *", Duration: time.Minute}}}},
	} {
		cal, err := window.New(bc.cfg)
		if err != nil {
			b.Fatal(err)
		}
		t0 := at(loc, "2026-12-04 17:00") // Friday: the next opening is Monday
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = cal.Check(t0.Add(time.Duration(i%600) * time.Second))
			}
		})
	}
}
