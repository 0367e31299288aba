package strategy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ramp-go/ramp/traffic"
)

// Canary moves traffic through a fixed list of steps, in order.
//
// Each step has its own share, hold and analysis. A step is left once its
// hold is over and its analysis, if any, has passed, or when a person
// promotes it; a failed analysis rolls back at once. When the last step is
// left the strategy is done and the engine promotes the new version to
// 100% — so a last step below 100 is fine: it is simply the last one
// analysed, and the switch from it to 100% is made without a further hold.
//
// Shares usually rise, but Validate accepts any order: stepping back to a
// smaller share (say, to soak at 5% after a 50% burst) is legal. ParseSteps,
// which reads what a person types, is stricter.
//
// The zero Canary has no steps and is invalid.
type Canary struct {
	Steps []Step `json:"steps"`
}

// Next returns Steps[p.Index], or done when every step has been left. A
// negative Index is treated as 0. The returned step does not share its
// Rules with c. When c is invalid, Next never reports done: it returns a
// step that keeps all traffic on stable until promoted, named after the
// problem (validate first; the engine does).
func (c Canary) Next(p Progress) (Step, bool) {
	if err := c.Validate(); err != nil {
		return refuse(err), false
	}
	i := max(p.Index, 0)
	if i >= len(c.Steps) {
		return Step{}, true
	}
	return c.Steps[i].clone(), false
}

// Validate reports every problem with c at once, each naming the step and
// field, as in "steps[2].percent: 120 is over 100".
func (c Canary) Validate() error {
	if len(c.Steps) == 0 {
		return errors.New("steps: empty: a canary needs at least one step")
	}
	var errs []error
	for i, s := range c.Steps {
		errs = append(errs, unjoin(s.Validate(fmt.Sprintf("steps[%d]", i)))...)
	}
	return errors.Join(errs...)
}

func (s Step) clone() Step {
	s.Rules = cloneRules(s.Rules)
	return s
}

func cloneRules(r []traffic.Rule) []traffic.Rule {
	if r == nil {
		return nil
	}
	return append([]traffic.Rule(nil), r...)
}

// promoteHold is the hold text ParseSteps reads as UntilPromoted.
const promoteHold = "promote"

// maxParseErrors bounds how many problems ParseSteps lists, so that a long
// garbage argument does not produce a longer error.
const maxParseErrors = 10

// ParseSteps parses the command-line form of a canary: a comma-separated
// list of shares in percent, each optionally followed by ":" and a hold in
// time.ParseDuration form, as in "10,50,100", "0.5, 12.25, 100" or
// "5:10m,25%:30m,100". Spaces around items are ignored and a trailing "%"
// is allowed.
//
// A share has at most two significant decimals (the 0.01 resolution) and
// lies in [0, 100]. Shares must rise strictly from item to item: on a
// command line a falling or repeated share is almost always a typo, so it
// is refused; build the []Step in code when a step back is meant (Canary
// accepts it). An item without a hold, or with hold 0, gets Hold 0, which
// the engine holds for DefaultHold (five minutes): "10,50,100" advances by
// itself every five minutes. The hold "promote" (as in "10:promote") is
// UntilPromoted: the step waits for a manual promote. The steps carry no
// analysis: set Analysis on each step after parsing.
//
// Every problem is reported (up to ten), each naming the item by its
// position from 1 and its text, as in `steps: item 2 "5o": not a number`.
func ParseSteps(s string) ([]Step, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("steps: empty list")
	}
	items := strings.Split(s, ",")
	steps := make([]Step, 0, len(items))
	var errs []error
	problems := 0
	bad := func(n int, item, format string, args ...any) {
		problems++
		if problems <= maxParseErrors {
			errs = append(errs, fmt.Errorf("steps: item %d %q: "+format, append([]any{n, item}, args...)...))
		}
	}
	prev := -1 // hundredths of the last valid share
	for i, raw := range items {
		n, item := i+1, strings.TrimSpace(raw)
		if item == "" {
			bad(n, item, "empty")
			continue
		}
		share, holdText, hasHold := strings.Cut(item, ":")
		share = strings.TrimSpace(share)
		share = strings.TrimSpace(strings.TrimSuffix(share, "%"))
		h, problem := parseHundredths(share)
		ok := problem == ""
		if !ok {
			bad(n, item, "%s", problem)
		}
		var hold time.Duration
		if hasHold {
			holdText = strings.TrimSpace(holdText)
			d, err := time.ParseDuration(holdText)
			promote := strings.EqualFold(holdText, promoteHold)
			if promote {
				d, err = UntilPromoted, nil
			}
			switch {
			case err != nil:
				bad(n, item, "hold %q is not a duration (want e.g. 90s, 5m, 1h30m, or %q)", holdText, promoteHold)
				ok = false
			case d < 0 && !promote:
				bad(n, item, "hold %v is negative", d)
				ok = false
			}
			hold = d
		}
		if problem == "" {
			if h <= prev {
				bad(n, item, "%s is not above the previous share %s (shares must rise)",
					formatHundredths(h), formatHundredths(prev))
				ok = false
			}
			prev = h
		}
		if ok {
			steps = append(steps, Step{Percent: float64(h) / 100, Hold: hold})
		}
	}
	if problems > maxParseErrors {
		errs = append(errs, fmt.Errorf("steps: %d more problems", problems-maxParseErrors))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return steps, nil
}

// parseHundredths reads a share in percent as a whole number of hundredths
// of a percent, exactly (no float rounding), or says what is wrong with it.
func parseHundredths(s string) (int, string) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) {
		return 0, "not a number"
	}
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	if whole == "" && frac == "" {
		return 0, "" // any spelling of zero, "-0" included
	}
	switch {
	case neg:
		return 0, "negative"
	case len(whole) > 3:
		return 0, "over 100"
	case len(frac) > 2:
		return 0, "finer than the 0.01 resolution"
	}
	w, _ := strconv.Atoi("0" + whole)
	f, _ := strconv.Atoi((frac + "00")[:2])
	h := w*100 + f
	if h > 100*100 {
		return 0, "over 100"
	}
	return h, ""
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func formatHundredths(h int) string {
	return strconv.FormatFloat(float64(h)/100, 'f', -1, 64)
}

// FormatSteps writes the shares and holds of steps in the form ParseSteps
// reads, as in "5:10m,25:30m,100". Other fields (analysis, rules, names)
// are not written. For steps ParseSteps returned, ParseSteps of the result
// gives the same steps back.
func FormatSteps(steps []Step) string {
	var b strings.Builder
	for i, s := range steps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(s.Percent, 'f', -1, 64))
		switch s.Hold {
		case 0:
		case UntilPromoted:
			b.WriteString(":" + promoteHold)
		default:
			b.WriteByte(':')
			b.WriteString(formatDuration(s.Hold))
		}
	}
	return b.String()
}

// formatDuration is time.Duration.String without the zero units it leaves
// at the end ("5m" rather than "5m0s"); time.ParseDuration reads both.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
