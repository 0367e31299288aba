package window

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Freeze is a one-off closed period, [From, To).
type Freeze struct {
	Name   string
	Reason string // optional, shown in the decision's reason
	From   time.Time
	To     time.Time
}

func checkFreeze(f Freeze) error {
	var errs []error
	if strings.TrimSpace(f.Name) == "" {
		errs = append(errs, errors.New("name: empty"))
	}
	if f.From.IsZero() || f.To.IsZero() {
		errs = append(errs, errors.New("from, to: both are required"))
	} else if !f.To.After(f.From) {
		errs = append(errs, fmt.Errorf("to: %s is not after from %s", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

// Stop is the stop-the-line switch's state: who stopped deployments, why
// and when.
type Stop struct {
	Who, Why string
	Since    time.Time
}

// Config is what New builds a Calendar from.
type Config struct {
	// Allow windows: when any is given, a rollout may start or advance
	// only inside one of them. None means always, unless denied.
	Allow []Rule
	// Deny windows: closed inside any of them, even inside an allow
	// window.
	Deny []Rule
	// Freezes are one-off closed periods.
	Freezes []Freeze
	// Stop, when set, starts the Calendar with the line stopped.
	Stop *Stop
	// Overrides granted up front (see Calendar.Override).
	Overrides []Override
}

// Calendar is a window.Checker: allow and deny windows, freezes, the
// stop-the-line switch and overrides. It is safe for concurrent use;
// Check takes a read lock and does no I/O. Build one with New or Parse;
// the zero Calendar is always open.
type Calendar struct {
	allow, deny []compiled // immutable after New

	mu        sync.RWMutex
	freezes   []Freeze
	stop      *Stop
	overrides []Override // every override ever granted, in order
}

var _ Checker = (*Calendar)(nil)

// New checks c and returns its Calendar. Every problem is reported at
// once, each naming its window and field.
func New(c Config) (*Calendar, error) {
	cal := &Calendar{}
	var errs []error
	for i, r := range c.Allow {
		rc, err := compile(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("allow[%d]: %w", i, prefixAll(err)))
		}
		cal.allow = append(cal.allow, rc)
	}
	for i, r := range c.Deny {
		rc, err := compile(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("deny[%d]: %w", i, prefixAll(err)))
		}
		cal.deny = append(cal.deny, rc)
	}
	for i, f := range c.Freezes {
		if err := checkFreeze(f); err != nil {
			errs = append(errs, fmt.Errorf("freezes[%d]: %w", i, prefixAll(err)))
		}
	}
	for i, o := range c.Overrides {
		if err := checkOverride(o); err != nil {
			errs = append(errs, fmt.Errorf("overrides[%d]: %w", i, prefixAll(err)))
		}
	}
	if c.Stop != nil {
		if err := checkStop(*c.Stop); err != nil {
			errs = append(errs, fmt.Errorf("stop: %w", prefixAll(err)))
		}
		s := *c.Stop
		cal.stop = &s
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("window: %w", errors.Join(errs...))
	}
	cal.freezes = slices.Clone(c.Freezes)
	cal.overrides = slices.Clone(c.Overrides)
	return cal, nil
}

// prefixAll flattens a joined error into one line per problem joined by
// "; " so that "allow[0]: " prefixes every problem of the window.
func prefixAll(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var parts []string
		for _, e := range j.Unwrap() {
			parts = append(parts, e.Error())
		}
		return errors.New(strings.Join(parts, "; "))
	}
	return err
}

func checkOverride(o Override) error {
	var errs []error
	if strings.TrimSpace(o.Who) == "" {
		errs = append(errs, errors.New("who: empty (an override names the person)"))
	}
	if strings.TrimSpace(o.Why) == "" {
		errs = append(errs, errors.New("why: empty (an override gives its reason)"))
	}
	if o.At.IsZero() {
		errs = append(errs, errors.New("at: zero"))
	}
	if !o.Until.After(o.At) {
		errs = append(errs, fmt.Errorf("until: %s is not after at %s", o.Until.Format(time.RFC3339), o.At.Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

func checkStop(s Stop) error {
	var errs []error
	if strings.TrimSpace(s.Who) == "" {
		errs = append(errs, errors.New("who: empty"))
	}
	if strings.TrimSpace(s.Why) == "" {
		errs = append(errs, errors.New("why: empty"))
	}
	return errors.Join(errs...)
}

// StopLine stops every rollout from starting or advancing until ResumeLine,
// whatever the windows say; overrides do not lift it. Stopping a stopped
// line replaces who and why. Rollbacks are not affected.
func (c *Calendar) StopLine(s Stop) error {
	if err := checkStop(s); err != nil {
		return fmt.Errorf("window: stop: %w", prefixAll(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop = &s
	return nil
}

// ResumeLine lifts the stop-the-line switch and returns the stop it
// lifted, if any.
func (c *Calendar) ResumeLine() (Stop, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop == nil {
		return Stop{}, false
	}
	s := *c.stop
	c.stop = nil
	return s, true
}

// Stopped reports the stop-the-line switch.
func (c *Calendar) Stopped() (Stop, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.stop == nil {
		return Stop{}, false
	}
	return *c.stop, true
}

// AddFreeze adds a one-off freeze.
func (c *Calendar) AddFreeze(f Freeze) error {
	if err := checkFreeze(f); err != nil {
		return fmt.Errorf("window: freeze: %w", prefixAll(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.freezes = append(c.freezes, f)
	return nil
}

// Override grants o: from o.At until o.Until a closed window or freeze
// (not a stopped line) reads as open, and the Decision carries o so that
// the engine records it. Every override granted is kept (Overrides).
func (c *Calendar) Override(o Override) error {
	if err := checkOverride(o); err != nil {
		return fmt.Errorf("window: override: %w", prefixAll(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.overrides = append(c.overrides, o)
	return nil
}

// Overrides returns every override granted, in the order granted.
func (c *Calendar) Overrides() []Override {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.overrides)
}

// snapshot is the mutable part of a Calendar at one moment.
type snapshot struct {
	c         *Calendar
	freezes   []Freeze
	overrides []Override
}

// The walk over boundaries in Check stops after maxSteps boundaries or
// horizon past t (Next is then zero: unknown).
const (
	maxSteps = 5000
	horizon  = 400 * 24 * time.Hour
)

// Check answers whether a rollout may start or advance at t.
func (c *Calendar) Check(t time.Time) Decision {
	c.mu.RLock()
	s := snapshot{c: c, freezes: c.freezes, overrides: c.overrides}
	stop := c.stop
	c.mu.RUnlock()
	if stop != nil {
		return Decision{Reason: fmt.Sprintf("the line is stopped by %s: %s (since %s); rollbacks still go through",
			stop.Who, stop.Why, stop.Since.Format(time.RFC3339))}
	}
	closed := s.closedBy(t)
	d := Decision{Open: closed == ""}
	if !d.Open {
		if o := s.override(t); o != nil {
			d.Open, d.Override = true, o
		}
	}
	d.Next = s.nextChange(t, d.Open)
	switch {
	case d.Override != nil:
		d.Reason = fmt.Sprintf("open by override of %s: %s (until %s); closed by %s", d.Override.Who, d.Override.Why, stamp(d.Override.Until), closed)
	case !d.Open && !d.Next.IsZero():
		d.Reason = fmt.Sprintf("closed by %s, until %s", closed, stamp(d.Next))
	case !d.Open:
		d.Reason = "closed by " + closed
	}
	return d
}

func stamp(t time.Time) string { return t.Format("Mon 2006-01-02 15:04 MST") }

// closedBy names what closes the calendar at t, or "" when it is open
// (overrides and the switch aside).
func (s snapshot) closedBy(t time.Time) string {
	for _, f := range s.freezes {
		if !t.Before(f.From) && t.Before(f.To) {
			r := fmt.Sprintf("freeze %q", f.Name)
			if f.Reason != "" {
				r += " (" + f.Reason + ")"
			}
			return r
		}
	}
	for i := range s.c.deny {
		if s.c.deny[i].active(t) {
			return "deny window " + s.c.deny[i].describe()
		}
	}
	if len(s.c.allow) == 0 {
		return ""
	}
	for i := range s.c.allow {
		if s.c.allow[i].active(t) {
			return ""
		}
	}
	return "being outside every allow window"
}

// override returns the newest override in force at t.
func (s snapshot) override(t time.Time) *Override {
	for i := len(s.overrides) - 1; i >= 0; i-- {
		if o := s.overrides[i]; !t.Before(o.At) && t.Before(o.Until) {
			return &o
		}
	}
	return nil
}

func (s snapshot) open(t time.Time) bool {
	return s.closedBy(t) == "" || s.override(t) != nil
}

// nextChange walks the boundaries after t until the answer differs from
// open; zero when it does not change within maxSteps boundaries.
func (s snapshot) nextChange(t time.Time, open bool) time.Time {
	cur := t
	for range maxSteps {
		b, ok := s.nextBoundary(cur)
		if !ok || b.Sub(t) > horizon {
			return time.Time{}
		}
		if s.open(b) != open {
			return b
		}
		cur = b
	}
	return time.Time{}
}

// nextBoundary is the first moment after t at which any window, freeze or
// override starts or ends.
func (s snapshot) nextBoundary(t time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(b time.Time) {
		if b.After(t) && (!found || b.Before(best)) {
			best, found = b, true
		}
	}
	for _, rules := range [][]compiled{s.c.allow, s.c.deny} {
		for i := range rules {
			if b, ok := rules[i].next(t); ok {
				consider(b)
			}
		}
	}
	for _, f := range s.freezes {
		consider(f.From)
		consider(f.To)
	}
	for _, o := range s.overrides {
		consider(o.At)
		consider(o.Until)
	}
	return best, found
}
