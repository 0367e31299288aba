package window_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ramp-go/ramp/window"
)

// Office hours in Berlin with a Friday-afternoon deny window: a step at
// 17:59 may advance, at 18:00 it holds until the next morning.
func ExampleCalendar() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	cal, err := window.New(window.Config{
		Allow: []window.Rule{{Name: "office hours", Location: berlin,
			Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			From: window.At(9, 0), To: window.At(18, 0)}},
		Deny: []window.Rule{{Name: "friday afternoon", Location: berlin,
			Days: []time.Weekday{time.Friday}, From: window.At(15, 0), To: window.At(24, 0)}},
	})
	if err != nil {
		panic(err)
	}
	for _, s := range []string{"2026-12-01 17:59", "2026-12-01 18:00", "2026-12-04 15:30"} {
		t, _ := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		d := cal.Check(t)
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s open=%v next=%s %s", s, d.Open, d.Next.In(berlin).Format("Mon 15:04"), d.Reason)))
	}
	// Output:
	// 2026-12-01 17:59 open=true next=Tue 18:00
	// 2026-12-01 18:00 open=false next=Wed 09:00 closed by being outside every allow window, until Wed 2026-12-02 09:00 CET
	// 2026-12-04 15:30 open=false next=Mon 09:00 closed by deny window "friday afternoon" (fri 15:00–24:00 Europe/Berlin), until Mon 2026-12-07 09:00 CET
}

// A windows file, as deploytool -windows reads it, with an override.
func ExampleParse() {
	cal, err := window.Parse([]byte(`{
	  "format": 1,
	  "time_zone": "Europe/Berlin",
	  "freezes": [{"name": "year-end", "from": "2026-12-21", "to": "2027-01-04"}],
	  "overrides": [{"who": "bob", "why": "CVE fix", "at": "2026-12-22 10:00", "until": "2026-12-22 12:00"}]
	}`))
	if err != nil {
		panic(err)
	}
	d := cal.Check(time.Date(2026, 12, 22, 10, 30, 0, 0, time.UTC))
	fmt.Println(d.Open, d.Override.Who, d.Override.Why)
	_, err = window.Parse([]byte(`{"format": 1, "deny": [{"name": "batch", "cron": "0 25 * * *", "duration": "1h"}]}`))
	fmt.Println(err)
	// Output:
	// true bob CVE fix
	// windows file: deny[0].cron: "0 25 * * *": hour: 25 is outside 0-23
}

// A host that lets a new rollout wait for its window instead of refusing
// it: Wait sleeps until the window's next opening.
func ExampleWait() {
	cal, _ := window.New(window.Config{Freezes: []window.Freeze{{Name: "release train",
		From: time.Now().Add(-time.Hour), To: time.Now().Add(20 * time.Millisecond)}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := window.Wait(ctx, cal, nil, 0) // nil: the real clock
	fmt.Println(d.Open, err)
	// Output:
	// true <nil>
}
