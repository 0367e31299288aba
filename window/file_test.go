package window_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/window"
)

func TestLoadExampleFile(t *testing.T) {
	b := berlin(t)
	cal, err := window.Load(filepath.Join("testdata", "windows.json"))
	require.NoError(t, err)
	for _, tc := range []struct {
		at   time.Time
		open bool
		want string
	}{
		{at(b, "2026-12-01 10:00"), true, ""},
		{at(b, "2026-12-01 12:30"), false, `deny window "lunch"`},
		{at(b, "2026-12-01 18:00"), false, "outside every allow window"},
		{at(b, "2026-12-22 09:30"), false, `freeze "year-end" (holidays)`},
		{at(b, "2026-12-22 11:00"), true, "override of bob: CVE fix"},
		{at(b, "2026-12-22 14:00"), false, `freeze "year-end"`},
	} {
		d := cal.Check(tc.at)
		assert.Equal(t, tc.open, d.Open, "%v: %s", tc.at, d.Reason)
		assert.Contains(t, d.Reason, tc.want)
	}
	// 02:00 UTC is 03:00 in Berlin: outside office hours anyway; on a
	// calendar without the allow window the batch window shows.
	_, err = window.Load(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorContains(t, err, "windows file")
}

func TestParseStop(t *testing.T) {
	cal, err := window.Parse([]byte(`{"format":1,"stop":{"who":"alice","why":"incident 4711","since":"2026-12-01 10:00"}}`))
	require.NoError(t, err)
	d := cal.Check(time.Now())
	assert.False(t, d.Open)
	assert.Contains(t, d.Reason, "stopped by alice: incident 4711")
}

func TestParseDays(t *testing.T) {
	for days, open := range map[string][]string{
		"mon-fri":        {"mon", "tue", "wed", "thu", "fri"},
		"fri-mon":        {"fri", "sat", "sun", "mon"},
		"sat, sun":       {"sat", "sun"},
		"Monday,wed-thu": {"mon", "wed", "thu"},
	} {
		cal, err := window.Parse([]byte(`{"format":1,"allow":[{"name":"w","days":"` + days + `","from":"10:00","to":"11:00"}]}`))
		require.NoError(t, err, days)
		week := map[string]time.Time{ // 2026-12-07 is a Monday
			"mon": utc("2026-12-07 10:30"), "tue": utc("2026-12-08 10:30"), "wed": utc("2026-12-09 10:30"),
			"thu": utc("2026-12-10 10:30"), "fri": utc("2026-12-11 10:30"), "sat": utc("2026-12-12 10:30"), "sun": utc("2026-12-13 10:30"),
		}
		for name, ts := range week {
			want := strings.Contains(strings.Join(open, ","), name)
			assert.Equal(t, want, cal.Check(ts).Open, "days %q on %s", days, name)
		}
	}
}

func TestParseErrorsNameFieldAndValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, "format: missing (want 1)"},
		{`{"format":2}`, "format: 2 is not supported"},
		{`{"format":"1"}`, "format: a JSON string where a number belongs"},
		{`{"format":1,"time_zone":"Mars/Olympus"}`, `time_zone: "Mars/Olympus" is not a known time zone`},
		{`{"format":1,"allow":[{"name":"a","from":"25:00","to":"18:00"}]}`, `allow[0].from: "25:00" is not a time of day`},
		{`{"format":1,"allow":[{"name":"a","from":"9:00"}]}`, "allow[0].to: missing"},
		{`{"format":1,"allow":[{"from":"09:00","to":"10:00"}]}`, "allow[0].name: empty"},
		{`{"format":1,"allow":[{"name":"a","days":"mon-fry","from":"09:00","to":"10:00"}]}`, `allow[0].days: "mon-fry": "fry" is not a weekday`},
		{`{"format":1,"deny":[{"name":"a","cron":"0 25 * * *","duration":"1h"}]}`, `deny[0].cron: "0 25 * * *": hour: 25 is outside 0-23`},
		{`{"format":1,"deny":[{"name":"a","cron":"0 2 * *","duration":"1h"}]}`, `deny[0].cron: "0 2 * *" has 4 fields`},
		{`{"format":1,"deny":[{"name":"a","cron":"0 2 * * *","duration":"an hour"}]}`, `deny[0].duration: "an hour" is not a duration`},
		{`{"format":1,"deny":[{"name":"a","cron":"0 2 * * *"}]}`, "deny[0].duration: 0s must be positive"},
		{`{"format":1,"deny":[{"name":"a","cron":"0 2 * * *","duration":"1h","time_zone":"Nowhere"}]}`, `deny[0].time_zone: "Nowhere" is not a known time zone`},
		{`{"format":1,"freezes":[{"name":"f","from":"tomorrow","to":"2027-01-01"}]}`, `freezes[0].from: "tomorrow" is not a time`},
		{`{"format":1,"freezes":[{"name":"f","from":"2027-01-02","to":"2027-01-01"}]}`, "freezes[0]: to: 2027-01-01T00:00:00Z is not after from"},
		{`{"format":1,"overrides":[{"who":"","why":"x","at":"2026-01-01","until":"2026-01-02"}]}`, "overrides[0]: who: empty"},
		{`{"format":1,"stop":{"who":"a"}}`, "stop: why: empty"},
		{`{"format":1,"alow":[]}`, `"alow" is not a field of the windows file`},
		{`{"format":1,`, "not valid JSON"},
		{`{"format":1} {}`, "more than one JSON value"},
		{`[]`, "a JSON array where an object belongs"},
	} {
		_, err := window.Parse([]byte(tc.in))
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want, tc.in)
		assert.True(t, strings.HasPrefix(err.Error(), "windows file: "), err.Error())
	}
}

// FuzzParse: any input gives a Calendar or an error, never a panic, and a
// Calendar answers Check with a Next after the instant asked.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(f, err)
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cal, err := window.Parse(data)
		if err != nil {
			if cal != nil {
				t.Fatal("a Calendar with an error")
			}
			return
		}
		now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
		d := cal.Check(now)
		if !d.Next.IsZero() && !d.Next.After(now) {
			t.Fatalf("Next %v is not after %v", d.Next, now)
		}
		if !d.Open && d.Reason == "" {
			t.Fatal("closed without a reason")
		}
	})
}
