package window

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// FileFormat is the version of the windows file that Parse reads.
const FileFormat = 1

// Parse reads a Calendar from a windows file: JSON, as deploytool -windows
// reads it. Every field but format is optional; unknown fields are
// errors.
//
//	{
//	  "format": 1,
//	  "time_zone": "Europe/Berlin",
//	  "allow": [
//	    {"name": "office hours", "days": "mon-fri", "from": "09:00", "to": "18:00"}
//	  ],
//	  "deny": [
//	    {"name": "friday night", "days": "fri", "from": "20:00", "to": "06:00"},
//	    {"name": "nightly batch", "cron": "0 2 * * *", "duration": "1h", "time_zone": "UTC"}
//	  ],
//	  "freezes": [
//	    {"name": "year-end", "from": "2026-12-21", "to": "2027-01-04", "reason": "holidays"}
//	  ],
//	  "stop": {"who": "alice", "why": "incident 4711"},
//	  "overrides": [
//	    {"who": "bob", "why": "CVE fix", "at": "2026-12-22T10:00:00+01:00", "until": "2026-12-22 14:00"}
//	  ]
//	}
//
// format is 1. time_zone (an IANA name; default UTC) applies to every
// window, freeze and override without its own. A window has a name and
// either days ("mon-fri", "sat,sun", "mon,wed-fri"; default every day)
// with from and to ("HH:MM"; to at or before from crosses midnight,
// "24:00" is the end of the day), or a five-field cron schedule with a
// duration ("90m", "1h30m"). Times of freezes, overrides and the stop are
// RFC 3339, or "YYYY-MM-DD" or "YYYY-MM-DD HH:MM" in the zone. A stop
// starts with the line stopped: editing the file is the switch for tools
// that read it at start. Errors name the field and its value, as in
// `deny[1].cron: "0 25 * * *": hour: 25 is outside 0-23`.
func Parse(data []byte) (*Calendar, error) {
	c, err := parseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("windows file: %w", err)
	}
	cal, err := New(c)
	if err != nil {
		return nil, fmt.Errorf("windows file: %w", err)
	}
	return cal, nil
}

// Load reads and parses the windows file at path.
func Load(path string) (*Calendar, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("windows file: %w", err)
	}
	cal, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cal, nil
}

type fileRoot struct {
	Format    *int           `json:"format"`
	TimeZone  string         `json:"time_zone"`
	Allow     []fileRule     `json:"allow"`
	Deny      []fileRule     `json:"deny"`
	Freezes   []fileFreeze   `json:"freezes"`
	Stop      *fileStop      `json:"stop"`
	Overrides []fileOverride `json:"overrides"`
}

type fileRule struct {
	Name     string `json:"name"`
	TimeZone string `json:"time_zone"`
	Days     string `json:"days"`
	From     string `json:"from"`
	To       string `json:"to"`
	Cron     string `json:"cron"`
	Duration string `json:"duration"`
}

type fileFreeze struct {
	Name     string `json:"name"`
	Reason   string `json:"reason"`
	TimeZone string `json:"time_zone"`
	From     string `json:"from"`
	To       string `json:"to"`
}

type fileStop struct {
	Who   string `json:"who"`
	Why   string `json:"why"`
	Since string `json:"since"`
}

type fileOverride struct {
	Who   string `json:"who"`
	Why   string `json:"why"`
	At    string `json:"at"`
	Until string `json:"until"`
}

// fieldErrs collects problems, each naming its field path.
type fieldErrs []error

func (e *fieldErrs) add(field, format string, a ...any) {
	*e = append(*e, fmt.Errorf("%s: "+format, append([]any{field}, a...)...))
}

func parseConfig(data []byte) (Config, error) {
	var root fileRoot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&root); err != nil {
		return Config{}, jsonError(err)
	}
	if dec.More() {
		return Config{}, errors.New("more than one JSON value")
	}
	var errs fieldErrs
	switch {
	case root.Format == nil:
		errs.add("format", "missing (want %d)", FileFormat)
	case *root.Format != FileFormat:
		errs.add("format", "%d is not supported (this version reads format %d)", *root.Format, FileFormat)
	}
	zone := time.UTC
	if root.TimeZone != "" {
		var err error
		if zone, err = time.LoadLocation(root.TimeZone); err != nil {
			errs.add("time_zone", "%q is not a known time zone", root.TimeZone)
			zone = time.UTC
		}
	}
	var c Config
	for i, r := range root.Allow {
		c.Allow = append(c.Allow, errs.rule(fmt.Sprintf("allow[%d]", i), r, zone))
	}
	for i, r := range root.Deny {
		c.Deny = append(c.Deny, errs.rule(fmt.Sprintf("deny[%d]", i), r, zone))
	}
	for i, f := range root.Freezes {
		field := fmt.Sprintf("freezes[%d]", i)
		loc := errs.zone(field, f.TimeZone, zone)
		c.Freezes = append(c.Freezes, Freeze{
			Name: f.Name, Reason: f.Reason,
			From: errs.instant(field+".from", f.From, loc), To: errs.instant(field+".to", f.To, loc),
		})
	}
	if root.Stop != nil {
		s := Stop{Who: root.Stop.Who, Why: root.Stop.Why}
		if root.Stop.Since != "" {
			s.Since = errs.instant("stop.since", root.Stop.Since, zone)
		}
		c.Stop = &s
	}
	for i, o := range root.Overrides {
		field := fmt.Sprintf("overrides[%d]", i)
		c.Overrides = append(c.Overrides, Override{
			Who: o.Who, Why: o.Why,
			At: errs.instant(field+".at", o.At, zone), Until: errs.instant(field+".until", o.Until, zone),
		})
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

func (e *fieldErrs) zone(field, name string, def *time.Location) *time.Location {
	if name == "" {
		return def
	}
	loc, err := time.LoadLocation(name)
	if err != nil || strings.TrimSpace(name) == "" {
		e.add(field+".time_zone", "%q is not a known time zone", name)
		return def
	}
	return loc
}

func (e *fieldErrs) rule(field string, f fileRule, def *time.Location) Rule {
	r := Rule{Name: f.Name, Location: e.zone(field, f.TimeZone, def), Cron: f.Cron}
	if f.Days != "" {
		days, err := parseDays(f.Days)
		if err != nil {
			e.add(field+".days", "%v", err)
		}
		r.Days = days
	}
	for _, t := range []struct {
		name, val string
		dst       *TimeOfDay
	}{{"from", f.From, &r.From}, {"to", f.To, &r.To}} {
		if t.val == "" {
			if f.Cron == "" {
				e.add(field+"."+t.name, "missing (a window has from and to, or cron and duration)")
			}
			continue
		}
		v, err := ParseTimeOfDay(t.val)
		if err != nil {
			e.add(field+"."+t.name, "%v", err)
		}
		*t.dst = v
	}
	if f.Duration != "" {
		d, err := time.ParseDuration(f.Duration)
		if err != nil {
			e.add(field+".duration", "%q is not a duration (want e.g. 90m or 1h30m)", f.Duration)
		}
		r.Duration = d
	}
	if _, err := compile(r); err != nil {
		// Name the window's fields with the window's path.
		for _, p := range strings.Split(prefixAll(err).Error(), "; ") {
			*e = append(*e, fmt.Errorf("%s.%s", field, p))
		}
	}
	return r
}

func (e *fieldErrs) instant(field, s string, loc *time.Location) time.Time {
	if s == "" {
		e.add(field, "missing")
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t
		}
	}
	e.add(field, "%q is not a time (want RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM)", s)
	return time.Time{}
}

// parseDays reads "mon-fri", "sat,sun", "mon,wed-fri" (ranges may wrap:
// "fri-mon").
func parseDays(s string) ([]time.Weekday, error) {
	var set uint8
	for item := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(item), "-")
		from, err := weekday(a)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		to := from
		if isRange {
			if to, err = weekday(b); err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			set |= 1 << d
			if d == to {
				break
			}
		}
	}
	var days []time.Weekday
	for d := range 7 {
		if set&(1<<d) != 0 {
			days = append(days, time.Weekday(d))
		}
	}
	return days, nil
}

func weekday(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range dayNames {
		if s == n || (len(s) > 3 && strings.HasPrefix(time.Weekday(i).String(), strings.ToUpper(s[:1])+s[1:])) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a weekday (want mon, tue, … sun)", s)
}

// jsonError turns the decoder's errors into ones that name the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the file"
		}
		return fmt.Errorf("%s: a JSON %s where %s belongs", field, te.Value, jsonKind(te.Type.Kind().String()))
	case errors.As(err, &se):
		return fmt.Errorf("not valid JSON at byte %d: %w", se.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%s is not a field of the windows file", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("not valid JSON: %w", err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int":
		return "a number"
	case "slice":
		return "a list"
	case "struct", "ptr":
		return "an object"
	}
	return k
}
