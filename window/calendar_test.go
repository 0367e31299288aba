package window_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the Go tz database, whatever the system has

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/window"
)

func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	return loc
}

func at(loc *time.Location, s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func utc(s string) time.Time { return at(time.UTC, s) }

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

func TestCalendarTable(t *testing.T) {
	b := berlin(t)
	office := window.Rule{Name: "office hours", Location: b, Days: weekdays, From: window.At(9, 0), To: window.At(18, 0)}
	daily := window.Rule{Name: "daytime", Location: b, From: window.At(9, 0), To: window.At(18, 0)}
	night := window.Rule{Name: "night", Location: b, From: window.At(22, 0), To: window.At(6, 0)}
	batch := window.Rule{Name: "batch", Location: b, Cron: "0 2 * * *", Duration: time.Hour}
	fridayNight := window.Rule{Name: "friday night", Location: b, Days: []time.Weekday{time.Friday}, From: window.At(20, 0), To: window.At(4, 0)}
	yearEnd := window.Freeze{Name: "year-end", Reason: "holidays", From: at(b, "2026-12-21 00:00"), To: at(b, "2027-01-04 00:00")}

	for _, tc := range []struct {
		name   string
		cfg    window.Config
		t      time.Time
		open   bool
		next   time.Time
		reason string // a part of the reason
	}{
		// 2026-12-01 is a Tuesday; Berlin is on CET (UTC+1).
		{"17:59 inside a window ending 18:00 advances", window.Config{Allow: []window.Rule{office}},
			at(b, "2026-12-01 17:59"), true, at(b, "2026-12-01 18:00"), ""},
		{"18:00 holds", window.Config{Allow: []window.Rule{office}},
			at(b, "2026-12-01 18:00"), false, at(b, "2026-12-02 09:00"), `outside every allow window, until Wed 2026-12-02 09:00 CET`},
		{"Friday evening holds until Monday", window.Config{Allow: []window.Rule{office}},
			at(b, "2026-12-04 18:30"), false, at(b, "2026-12-07 09:00"), "until Mon 2026-12-07 09:00 CET"},
		{"08:59 holds, opens at 09:00", window.Config{Allow: []window.Rule{office}},
			at(b, "2026-12-01 08:59"), false, at(b, "2026-12-01 09:00"), ""},
		{"no windows: always open", window.Config{}, at(b, "2026-12-01 03:00"), true, time.Time{}, ""},

		// March: 2026-03-29 02:00 CET becomes 03:00 CEST (UTC+2).
		{"day before spring forward: 18:00 CET is 17:00 UTC", window.Config{Allow: []window.Rule{daily}},
			utc("2026-03-28 16:59"), true, utc("2026-03-28 17:00"), ""},
		{"spring-forward day: 17:59 CEST advances", window.Config{Allow: []window.Rule{daily}},
			utc("2026-03-29 15:59"), true, utc("2026-03-29 16:00"), ""},
		{"spring-forward day: 18:00 CEST (16:00 UTC) holds", window.Config{Allow: []window.Rule{daily}},
			utc("2026-03-29 16:00"), false, utc("2026-03-30 07:00"), "until Mon 2026-03-30 09:00 CEST"},
		{"spring-forward day: 16:30 UTC would still be open on CET, but holds", window.Config{Allow: []window.Rule{daily}},
			utc("2026-03-29 16:30"), false, utc("2026-03-30 07:00"), ""},
		{"night window over the spring-forward night is 7 hours", window.Config{Deny: []window.Rule{night}},
			at(b, "2026-03-28 23:00"), false, utc("2026-03-29 04:00"), `deny window "night"`},
		{"cron 02:00 on the spring-forward night fires at 03:00 CEST", window.Config{Deny: []window.Rule{batch}},
			utc("2026-03-29 00:30"), true, utc("2026-03-29 01:00"), ""},
		{"inside that cron window", window.Config{Deny: []window.Rule{batch}},
			utc("2026-03-29 01:30"), false, utc("2026-03-29 02:00"), "until Sun 2026-03-29 04:00 CEST"},

		// October: 2026-10-25 03:00 CEST becomes 02:00 CET.
		{"fall-back day: 17:59 CET advances", window.Config{Allow: []window.Rule{daily}},
			utc("2026-10-25 16:59"), true, utc("2026-10-25 17:00"), ""},
		{"fall-back day: 18:00 CET (17:00 UTC) holds", window.Config{Allow: []window.Rule{daily}},
			utc("2026-10-25 17:00"), false, utc("2026-10-26 08:00"), ""},
		{"day before fall back: 18:00 CEST is 16:00 UTC", window.Config{Allow: []window.Rule{daily}},
			utc("2026-10-24 16:00"), false, utc("2026-10-25 08:00"), ""},
		{"night window over the fall-back night is 9 hours", window.Config{Deny: []window.Rule{night}},
			at(b, "2026-10-24 22:00"), false, utc("2026-10-25 05:00"), ""},
		{"in the repeated hour, first pass (CEST)", window.Config{Deny: []window.Rule{night}},
			utc("2026-10-25 00:30"), false, utc("2026-10-25 05:00"), ""},
		{"in the repeated hour, second pass (CET)", window.Config{Deny: []window.Rule{night}},
			utc("2026-10-25 01:30"), false, utc("2026-10-25 05:00"), ""},

		// Over midnight.
		{"Friday 23:59 is in the Friday-night window", window.Config{Deny: []window.Rule{fridayNight}},
			at(b, "2026-12-04 23:59"), false, at(b, "2026-12-05 04:00"), ""},
		{"Saturday 03:59 still is", window.Config{Deny: []window.Rule{fridayNight}},
			at(b, "2026-12-05 03:59"), false, at(b, "2026-12-05 04:00"), ""},
		{"Saturday 04:00 is out", window.Config{Deny: []window.Rule{fridayNight}},
			at(b, "2026-12-05 04:00"), true, at(b, "2026-12-11 20:00"), ""},
		{"Thursday night is not Friday night", window.Config{Deny: []window.Rule{fridayNight}},
			at(b, "2026-12-04 01:00"), true, at(b, "2026-12-04 20:00"), ""},
		{"allow over midnight", window.Config{Allow: []window.Rule{night}},
			at(b, "2026-12-02 00:30"), true, at(b, "2026-12-02 06:00"), ""},

		// Deny wins over allow.
		{"deny inside allow", window.Config{Allow: []window.Rule{daily}, Deny: []window.Rule{{Name: "lunch", Location: b, From: window.At(12, 0), To: window.At(13, 0)}}},
			at(b, "2026-12-01 12:30"), false, at(b, "2026-12-01 13:00"), `deny window "lunch"`},

		// Freezes.
		{"freeze", window.Config{Freezes: []window.Freeze{yearEnd}},
			at(b, "2026-12-24 10:00"), false, at(b, "2027-01-04 00:00"), `freeze "year-end" (holidays), until Mon 2027-01-04 00:00 CET`},
		{"freeze ends outside the allow windows: next open is Monday 09:00", window.Config{Allow: []window.Rule{office}, Freezes: []window.Freeze{{Name: "f", From: at(b, "2026-12-21 00:00"), To: at(b, "2027-01-03 00:00")}}},
			at(b, "2026-12-24 10:00"), false, at(b, "2027-01-04 09:00"), ""},
		{"just before a freeze", window.Config{Freezes: []window.Freeze{yearEnd}},
			at(b, "2026-12-20 23:59"), true, at(b, "2026-12-21 00:00"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cal, err := window.New(tc.cfg)
			require.NoError(t, err)
			d := cal.Check(tc.t)
			assert.Equal(t, tc.open, d.Open, d.Reason)
			assert.True(t, tc.next.Equal(d.Next), "next: want %v, got %v", tc.next.In(b), d.Next.In(b))
			assert.Contains(t, d.Reason, tc.reason)
			if !tc.open {
				assert.NotEmpty(t, d.Reason, "a closed decision says why")
			}
			assert.Nil(t, d.Override)
		})
	}
}

func TestStopTheLine(t *testing.T) {
	b := berlin(t)
	cal, err := window.New(window.Config{})
	require.NoError(t, err)
	now := at(b, "2026-12-01 10:00")
	require.True(t, cal.Check(now).Open)

	require.ErrorContains(t, cal.StopLine(window.Stop{Who: " "}), "who: empty")
	require.NoError(t, cal.StopLine(window.Stop{Who: "alice", Why: "incident 4711", Since: now}))
	// An override does not lift a stopped line.
	require.NoError(t, cal.Override(window.Override{Who: "bob", Why: "hotfix", At: now, Until: now.Add(time.Hour)}))
	d := cal.Check(now.Add(time.Minute))
	assert.False(t, d.Open)
	assert.True(t, d.Next.IsZero(), "only a person lifts the switch")
	assert.Contains(t, d.Reason, "stopped by alice: incident 4711")
	s, ok := cal.Stopped()
	assert.True(t, ok)
	assert.Equal(t, "alice", s.Who)

	s, ok = cal.ResumeLine()
	assert.True(t, ok)
	assert.Equal(t, "incident 4711", s.Why)
	assert.True(t, cal.Check(now.Add(time.Minute)).Open)
	_, ok = cal.ResumeLine()
	assert.False(t, ok)
}

func TestOverride(t *testing.T) {
	b := berlin(t)
	cal, err := window.New(window.Config{Allow: []window.Rule{{Name: "office", Location: b, Days: weekdays, From: window.At(9, 0), To: window.At(18, 0)}}})
	require.NoError(t, err)
	evening := at(b, "2026-12-01 19:00")
	require.False(t, cal.Check(evening).Open)

	for _, bad := range []struct {
		o    window.Override
		want string
	}{
		{window.Override{Why: "x", At: evening, Until: evening.Add(time.Hour)}, "who: empty"},
		{window.Override{Who: "x", At: evening, Until: evening.Add(time.Hour)}, "why: empty"},
		{window.Override{Who: "x", Why: "y", At: evening, Until: evening}, "until:"},
		{window.Override{Who: "x", Why: "y", Until: evening}, "at: zero"},
	} {
		require.ErrorContains(t, cal.Override(bad.o), bad.want)
	}
	assert.Empty(t, cal.Overrides(), "refused overrides are not recorded")

	o := window.Override{Who: "carol", Why: "security fix CVE-2026-1", At: evening, Until: evening.Add(2 * time.Hour)}
	require.NoError(t, cal.Override(o))
	d := cal.Check(evening.Add(time.Minute))
	require.True(t, d.Open)
	require.NotNil(t, d.Override)
	assert.Equal(t, o, *d.Override)
	assert.Contains(t, d.Reason, "override of carol: security fix CVE-2026-1")
	assert.True(t, d.Next.Equal(evening.Add(2*time.Hour)), "open until the override lapses: %v", d.Next)

	d = cal.Check(evening.Add(2 * time.Hour))
	assert.False(t, d.Open, "the override lapsed")
	assert.Nil(t, d.Override)
	// An open window needs no override: none is reported.
	d = cal.Check(at(b, "2026-12-02 10:00"))
	assert.True(t, d.Open)
	assert.Nil(t, d.Override)
	assert.Equal(t, []window.Override{o}, cal.Overrides())
}

func TestConfigErrorsNameTheField(t *testing.T) {
	_, err := window.New(window.Config{
		Allow:     []window.Rule{{Name: "", From: window.At(25, 0)}},
		Deny:      []window.Rule{{Name: "d", Cron: "0 24 * * *", Duration: time.Hour}, {Name: "e", Cron: "@daily"}},
		Freezes:   []window.Freeze{{Name: "f", From: utc("2026-12-02 00:00"), To: utc("2026-12-01 00:00")}},
		Overrides: []window.Override{{Who: "x"}},
	})
	require.Error(t, err)
	for _, want := range []string{
		"allow[0]: name: empty; from: 1500 minutes is outside",
		`deny[0]: cron: "0 24 * * *": hour: 24 is outside 0-23`,
		"deny[1]: duration: 0s must be positive",
		"freezes[0]: to: 2026-12-01T00:00:00Z is not after from",
		"overrides[0]: why: empty",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

// The zero Calendar is open.
func TestZeroCalendar(t *testing.T) {
	var c window.Calendar
	d := c.Check(time.Now())
	assert.True(t, d.Open)
	assert.True(t, d.Next.IsZero())
}

// Model check: for random instants, the answer holds from t until Next
// and changes at Next, minute by minute (every boundary in these
// calendars lies on a minute), and a stepper on the fake clock never
// advances while closed.
func TestNextIsTheNextChange(t *testing.T) {
	b := berlin(t)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	cal, err := window.New(window.Config{
		Allow: []window.Rule{
			{Name: "office", Location: b, Days: weekdays, From: window.At(9, 0), To: window.At(18, 0)},
			{Name: "ny", Location: ny, Days: []time.Weekday{time.Saturday}, From: window.At(23, 30), To: window.At(2, 30)},
		},
		Deny: []window.Rule{
			{Name: "lunch", Location: b, From: window.At(12, 0), To: window.At(12, 45)},
			{Name: "batch", Location: b, Cron: "*/20 1-3 * * *", Duration: 10 * time.Minute},
			{Name: "quarter", Location: time.UTC, Cron: "30 14 * * 1,3", Duration: 90 * time.Minute},
		},
		Freezes: []window.Freeze{{Name: "f", From: at(b, "2026-03-26 16:00"), To: at(b, "2026-03-27 10:00")}},
	})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	// Around both 2026 DST changes in Europe and the US.
	for _, base := range []time.Time{utc("2026-03-05 00:00"), utc("2026-03-24 00:00"), utc("2026-10-22 00:00"), utc("2026-10-30 00:00")} {
		for range 6 { // each sample checks every minute up to its Next: days of minutes
			t0 := base.Add(time.Duration(rng.IntN(7*24*60)) * time.Minute)
			d := cal.Check(t0)
			require.False(t, d.Next.IsZero(), "at %v", t0)
			for m := t0.Add(time.Minute); m.Before(d.Next); m = m.Add(time.Minute) {
				require.Equal(t, d.Open, cal.Check(m).Open, "from %v the answer changed at %v before Next %v", t0, m, d.Next)
			}
			require.NotEqual(t, d.Open, cal.Check(d.Next).Open, "nothing changed at Next %v (from %v)", d.Next, t0)
		}
	}

	// A stepper on the fake clock: it advances a step every 7 minutes,
	// but only while open; it sleeps until Next while closed.
	fc := clock.NewFake(utc("2026-03-27 06:00"))
	var mu sync.Mutex
	steps := 0
	for range 2000 {
		now := fc.Now()
		d := cal.Check(now)
		if d.Open {
			mu.Lock()
			steps++
			mu.Unlock()
			require.True(t, cal.Check(now).Open)
			fc.Advance(7 * time.Minute)
			continue
		}
		require.True(t, d.Next.After(now))
		fc.Advance(d.Next.Sub(now))
	}
	assert.Greater(t, steps, 100)
}

func TestConcurrentUse(t *testing.T) {
	cal, err := window.New(window.Config{Allow: []window.Rule{{Name: "office", Days: weekdays, From: window.At(9, 0), To: window.At(18, 0)}}})
	require.NoError(t, err)
	now := utc("2026-12-01 10:00")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				switch (i + j) % 4 {
				case 0:
					_ = cal.StopLine(window.Stop{Who: "a", Why: "b"})
				case 1:
					cal.ResumeLine()
				case 2:
					_ = cal.Override(window.Override{Who: "a", Why: "b", At: now, Until: now.Add(time.Hour)})
				default:
					_ = cal.AddFreeze(window.Freeze{Name: "f", From: now, To: now.Add(time.Minute)})
				}
				_ = cal.Check(now.Add(time.Duration(j) * time.Second))
			}
		}()
	}
	wg.Wait()
	assert.Len(t, cal.Overrides(), 50)
}

// Cron periods that overlap or touch are one run: a schedule that always
// overlaps never changes the answer, and Next says so (zero: unknown).
func TestOverlappingCronIsOneRun(t *testing.T) {
	cal, err := window.New(window.Config{Allow: []window.Rule{{Name: "every minute", Cron: "* * * * *", Duration: time.Minute}}})
	require.NoError(t, err)
	d := cal.Check(utc("2026-12-01 10:00").Add(30 * time.Second))
	assert.True(t, d.Open)
	assert.True(t, d.Next.IsZero(), "no change ahead: %v", d.Next)

	cal, err = window.New(window.Config{Deny: []window.Rule{{Name: "quarter hours", Cron: "*/15 9 * * *", Duration: 20 * time.Minute}}})
	require.NoError(t, err)
	d = cal.Check(utc("2026-12-01 09:05"))
	assert.False(t, d.Open)
	assert.Equal(t, utc("2026-12-01 10:05"), d.Next, "09:00 to 09:45+20m is one run")
}
