package window

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// cron is a parsed five-field schedule (minute hour day-of-month month
// day-of-week) with the usual syntax: *, n, a-b, */s, a-b/s, a/s, comma
// lists, month and weekday names (jan, mon), 7 as Sunday, and the macros
// @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually).
// As in Vixie cron, when both day fields are restricted a day matches
// either.
type cron struct {
	minute, hour, dom, month, dow uint64 // bit i set: value i matches
	domStar, dowStar              bool
}

var cronMacros = map[string]string{
	"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
	"@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}

var (
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	dayNames   = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

type cronField struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
}

var cronFields = [5]cronField{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, monthNames},
	{"day of week", 0, 7, dayNames},
}

func parseCron(spec string) (cron, error) {
	s := strings.TrimSpace(spec)
	if m, ok := cronMacros[strings.ToLower(s)]; ok {
		s = m
	}
	parts := strings.Fields(s)
	if len(parts) != 5 {
		return cron{}, fmt.Errorf("%q has %d fields, want 5 (minute hour day-of-month month day-of-week) or a macro such as @daily", spec, len(parts))
	}
	var sets [5]uint64
	for i, p := range parts {
		set, err := parseCronField(cronFields[i], p)
		if err != nil {
			return cron{}, fmt.Errorf("%q: %s: %w", spec, cronFields[i].name, err)
		}
		sets[i] = set
	}
	c := cron{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4],
		domStar: strings.HasPrefix(parts[2], "*"), dowStar: strings.HasPrefix(parts[4], "*")}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow = c.dow&^(1<<7) | 1
	}
	return c, nil
}

func parseCronField(f cronField, s string) (uint64, error) {
	var set uint64
	for item := range strings.SplitSeq(s, ",") {
		lo, hi, step := f.min, f.max, 1
		rng, stepText, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max {
				return 0, fmt.Errorf("step %q is not a number in 1-%d", stepText, f.max)
			}
			step = n
		}
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(f, a); err != nil {
				return 0, err
			}
			if hi, err = cronValue(f, b); err != nil {
				return 0, err
			}
			if hi < lo {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			v, err := cronValue(f, rng)
			if err != nil {
				return 0, err
			}
			lo = v
			if !hasStep {
				hi = v
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func cronValue(f cronField, s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number or name", s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%d is outside %d-%d", v, f.min, f.max)
	}
	return v, nil
}

func (c cron) dayMatches(t time.Time) bool {
	if c.month&(1<<uint(t.Month())) == 0 {
		return false
	}
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// cronHorizonDays bounds the search for the next firing: eight years
// reach the next 29 February even across a skipped leap year (2100).
const cronHorizonDays = 8 * 366

// next is the first firing strictly after after, in loc, and false if
// there is none within cronHorizonDays. A wall time that a daylight-saving
// change skips fires at the same distance after the change (02:30 on the
// spring-forward night in Berlin is 03:30 CEST); a wall time that occurs
// twice fires once, at the later one (Go's time.Date resolution).
func (c cron) next(after time.Time, loc *time.Location) (time.Time, bool) {
	local := after.In(loc)
	y, m, d := local.Date()
	for i := range cronHorizonDays {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, loc)
		if !c.dayMatches(day) {
			continue
		}
		// On after's own date no earlier hour can be later than after
		// (a daylight-saving change moves the clock back by at most an
		// hour or two).
		minHour := 0
		if i == 0 {
			minHour = local.Hour() - 2
		}
		if t, ok := c.firstOnDay(day, minHour, after, loc); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// firstOnDay returns the earliest instant after after among the day's
// wall times from minHour on. Instants follow wall order except around a
// daylight-saving change, so the scan goes on for two hours past the
// first hit, and scans the whole of an hour whose offset changes.
func (c cron) firstOnDay(day time.Time, minHour int, after time.Time, loc *time.Location) (time.Time, bool) {
	y, m, d := day.Date()
	var best time.Time
	found, stopHour := false, 24
	for hs := c.hour; hs != 0; hs &= hs - 1 {
		h := bits.TrailingZeros64(hs)
		if h < minHour {
			continue
		}
		if h > stopHour {
			break
		}
		_, off0 := time.Date(y, m, d, h, 0, 0, 0, loc).Zone()
		last := time.Date(y, m, d, h, 63-bits.LeadingZeros64(c.minute), 0, 0, loc)
		_, off1 := last.Zone()
		if off0 == off1 && !last.After(after) {
			continue // the whole hour is before after
		}
		for ms := c.minute; ms != 0; ms &= ms - 1 {
			t := time.Date(y, m, d, h, bits.TrailingZeros64(ms), 0, 0, loc)
			if t.After(after) && (!found || t.Before(best)) {
				best, found = t, true
				stopHour = h + 2
				if off0 == off1 {
					break // minutes of this hour only grow
				}
			}
		}
	}
	return best, found
}
