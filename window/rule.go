package window

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeOfDay is a wall-clock time as minutes since midnight, 0 (00:00) to
// 1440 (24:00, the end of the day).
type TimeOfDay int

// At returns the time of day h:m.
func At(h, m int) TimeOfDay { return TimeOfDay(h*60 + m) }

// ParseTimeOfDay reads "HH:MM" (24-hour clock; "24:00" is the end of the
// day).
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	hs, ms, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, herr := strconv.Atoi(hs)
	m, merr := strconv.Atoi(ms)
	if !ok || herr != nil || merr != nil || len(ms) != 2 || h < 0 || m < 0 || m > 59 || h*60+m > 1440 {
		return 0, fmt.Errorf("%q is not a time of day (want HH:MM from 00:00 to 24:00)", s)
	}
	return At(h, m), nil
}

func (d TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(d)/60, int(d)%60) }

// Rule is a recurring window, in one of two forms:
//
//   - Days, From and To: a period from From to To on each of Days (the day
//     it starts on). To at or before From crosses midnight and ends on the
//     next day ("fri 22:00–06:00" ends Saturday morning); To equal to
//     From is 24 hours.
//   - Cron and Duration: a period of Duration from each time the five-field
//     cron schedule fires ("0 2 * * *" with 1h: 02:00–03:00 every day).
//
// Times of day are wall-clock times in Location, so "09:00–18:00 in
// Europe/Berlin" follows daylight saving time; a Duration is elapsed time.
// A wall time that a daylight-saving change skips is read as the same
// distance after the change (02:30 on the spring-forward night in Berlin
// is 03:30 CEST); a wall time that occurs twice is its later occurrence.
type Rule struct {
	// Name is how reasons name the window ("office hours").
	Name string
	// Location is the time zone of the wall-clock times; nil means UTC.
	Location *time.Location
	// Days a period starts on; empty means every day.
	Days []time.Weekday
	// From and To bound each period: [From, To).
	From, To TimeOfDay
	// Cron, when set, replaces Days, From and To.
	Cron string
	// Duration is the length of each cron period; it must be positive
	// with Cron and zero without.
	Duration time.Duration
}

// compiled is a checked Rule.
type compiled struct {
	Rule
	loc  *time.Location
	days uint8 // bit d: time.Weekday(d)
	cron *cron
}

func compile(r Rule) (compiled, error) {
	c := compiled{Rule: r, loc: r.Location}
	if c.loc == nil {
		c.loc = time.UTC
	}
	var errs []error
	if strings.TrimSpace(r.Name) == "" {
		errs = append(errs, errors.New("name: empty"))
	}
	if r.Cron != "" {
		if len(r.Days) > 0 || r.From != 0 || r.To != 0 {
			errs = append(errs, errors.New("cron: set together with days/from/to (use one form)"))
		}
		cr, err := parseCron(r.Cron)
		if err != nil {
			errs = append(errs, fmt.Errorf("cron: %w", err))
		}
		c.cron = &cr
		if r.Duration <= 0 {
			errs = append(errs, fmt.Errorf("duration: %v must be positive with a cron schedule", r.Duration))
		}
		return c, errors.Join(errs...)
	}
	if r.Duration != 0 {
		errs = append(errs, fmt.Errorf("duration: %v is only for cron schedules (use from/to)", r.Duration))
	}
	for _, d := range r.Days {
		if d < time.Sunday || d > time.Saturday {
			errs = append(errs, fmt.Errorf("days: %d is not a weekday", int(d)))
			continue
		}
		c.days |= 1 << d
	}
	if len(r.Days) == 0 {
		c.days = 0x7f
	}
	if r.From < 0 || r.From >= 1440 {
		errs = append(errs, fmt.Errorf("from: %d minutes is outside 00:00–23:59", int(r.From)))
	}
	if r.To < 0 || r.To > 1440 {
		errs = append(errs, fmt.Errorf("to: %d minutes is outside 00:00–24:00", int(r.To)))
	}
	return c, errors.Join(errs...)
}

// period returns the period that starts on the local date y-m-d.
func (c *compiled) period(y int, m time.Month, d int) (start, end time.Time) {
	start = time.Date(y, m, d, int(c.From)/60, int(c.From)%60, 0, 0, c.loc)
	endDay := d
	if c.To <= c.From {
		endDay++
	}
	end = time.Date(y, m, endDay, int(c.To)/60, int(c.To)%60, 0, 0, c.loc)
	return start, end
}

// periods calls f with the periods that start on the local dates from
// t's date+first to t's date+last (days), in order.
func (c *compiled) periods(t time.Time, first, last int, f func(start, end time.Time)) {
	y, m, d := t.In(c.loc).Date()
	for i := first; i <= last; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, c.loc)
		if c.days&(1<<day.Weekday()) == 0 {
			continue
		}
		dy, dm, dd := day.Date()
		f(c.period(dy, dm, dd))
	}
}

// active reports whether t lies in one of the rule's periods.
func (c *compiled) active(t time.Time) bool {
	if c.cron != nil {
		f, ok := c.cron.next(t.Add(-c.Duration), c.loc)
		return ok && !f.After(t)
	}
	in := false
	// A period is at most 25 hours long (24 h plus a daylight-saving
	// hour), so one covering t started at most two dates earlier.
	c.periods(t, -2, 0, func(start, end time.Time) {
		in = in || (!t.Before(start) && t.Before(end))
	})
	return in
}

// next returns the first moment strictly after t at which the rule's
// periods start or end. Overlapping or touching cron periods count as one
// run, so that "* * * * *" for a minute has no boundary at every minute.
func (c *compiled) next(t time.Time) (time.Time, bool) {
	if c.cron != nil {
		f, ok := c.cron.next(t.Add(-c.Duration), c.loc)
		if !ok {
			return time.Time{}, false
		}
		if f.After(t) {
			return f, true // t is between runs: the next one starts at f
		}
		return c.runEnd(f)
	}
	var best time.Time
	found := false
	c.periods(t, -2, 8, func(start, end time.Time) {
		for _, b := range []time.Time{start, end} {
			if b.After(t) && (!found || b.Before(best)) {
				best, found = b, true
			}
		}
	})
	return best, found
}

// maxRun bounds how many firings runEnd merges (a day of five-minute
// firings); a longer run (a schedule whose periods always overlap) has no
// end it reports, and Check's Next is then zero: ask again later.
const maxRun = 300

// runEnd returns the end of the run of overlapping or touching cron
// periods that starts with the firing f.
func (c *compiled) runEnd(f time.Time) (time.Time, bool) {
	end := f.Add(c.Duration)
	for range maxRun {
		g, ok := c.cron.next(f, c.loc)
		if !ok || g.After(end) {
			return end, true
		}
		f = g
		if e := g.Add(c.Duration); e.After(end) {
			end = e
		}
	}
	return time.Time{}, false
}

func (c *compiled) describe() string {
	if c.cron != nil {
		return fmt.Sprintf("%q (cron %q for %v, %s)", c.Name, c.Cron, c.Duration, c.loc)
	}
	return fmt.Sprintf("%q (%s %s–%s %s)", c.Name, daysString(c.days), c.From, c.To, c.loc)
}

func daysString(set uint8) string {
	if set == 0x7f {
		return "every day"
	}
	var names []string
	for d := range 7 {
		if set&(1<<d) != 0 {
			names = append(names, dayNames[d])
		}
	}
	return strings.Join(names, ",")
}
