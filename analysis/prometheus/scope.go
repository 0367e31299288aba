package prometheus

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/ramp-go/ramp/analysis"
)

// Built-in template variables. Those holding names (backend, version,
// role, canary, baseline) may only stand inside string literals.
const (
	// VarBackend is the backend the query is run for: the analysis
	// Query's Canary, or its Baseline for the baseline's run.
	VarBackend = "backend"
	// VarVersion is the same value as VarBackend, for label schemes that
	// call it a version.
	VarVersion = "version"
	// VarRole is "canary" or "baseline": which of the two the run is for.
	VarRole = "role"
	// VarCanary and VarBaseline are the Query's Canary and Baseline names
	// in both runs (for queries that look at both).
	VarCanary   = "canary"
	VarBaseline = "baseline"
	// VarWindow is the span analysed, as a Prometheus duration ("5m",
	// "1m30s"): use it for range selectors, rate(x[{{window}}]).
	VarWindow = "window"
	// VarStep is the resolution of range queries and a fitting subquery
	// step, as a Prometheus duration.
	VarStep = "step"
	// VarRolloutStep is the analysis Query's Step: the index of the
	// rollout step, as a decimal number.
	VarRolloutStep = "rollout_step"
)

var builtins = map[string]bool{
	VarBackend: true, VarVersion: true, VarRole: true, VarCanary: true, VarBaseline: true,
	VarWindow: true, VarStep: true, VarRolloutStep: true,
}

// nameVars hold names, which are only safe inside string literals.
var nameVars = []string{VarBackend, VarVersion, VarRole, VarCanary, VarBaseline}

// scope is what Analyzer and Source share: the client, the window and
// the variables of the templates.
type scope struct {
	client *Client
	window time.Duration
	step   time.Duration
	vars   map[string]string
	now    func() time.Time
}

// newScope checks the shared settings, reporting problems through fail,
// and fills in the defaults.
func newScope(client *Client, window, step time.Duration, vars map[string]string, now func() time.Time, fail func(string, ...any)) scope {
	if client == nil {
		fail("Client is nil")
	}
	if window < 0 {
		fail("Window %v is negative", window)
	}
	if step < 0 {
		fail("Step %v is negative", step)
	}
	for _, name := range sortedKeys(vars) {
		switch {
		case !validName(name):
			fail("Vars: name %q: want letters, digits and _, not starting with a digit", name)
		case builtins[name]:
			fail("Vars: %q is a built-in variable and cannot be redefined", name)
		}
	}
	sc := scope{client: client, window: window, step: step, vars: vars, now: now}
	if sc.window <= 0 {
		sc.window = DefaultWindow
	}
	if sc.now == nil {
		sc.now = time.Now
	}
	return sc
}

// checkTemplate parses text and checks that it uses known variables, and
// names only inside string literals.
func (s *scope) checkTemplate(text string) (*Template, error) {
	t, err := ParseTemplate(text)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range t.Vars() {
		if _, ok := s.vars[name]; !ok && !builtins[name] {
			errs = append(errs, fmt.Errorf("unknown variable %q (built in: %s; declare others in Config.Vars)", name, strings.Join(sortedKeys(builtins), ", ")))
		}
	}
	for _, name := range nameVars {
		if off := t.inCode(name); off >= 0 {
			errs = append(errs, fmt.Errorf("variable %q at offset %d is outside a string literal; write it inside quotes, like label=\"{{%s}}\"", name, off, name))
		}
	}
	return t, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ErrEmptyWindow is wrapped by the error for an analysis window shorter
// than a millisecond (Since at or just before Until): there is nothing to
// measure yet. Analyze reports it as NoData, not as an error.
var ErrEmptyWindow = errors.New("empty analysis window")

// span works out the instant and the window of q.
func (s *scope) span(q analysis.Query) (at time.Time, window, step time.Duration, err error) {
	at = q.Until
	if at.IsZero() {
		at = s.now()
	}
	window = s.window
	if !q.Since.IsZero() {
		window = at.Sub(q.Since)
		if window < 0 {
			return at, 0, 0, fmt.Errorf("prometheus analyzer: query window: Since %s is after Until %s", q.Since.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
		}
	}
	// Prometheus durations have millisecond resolution.
	if window.Truncate(time.Millisecond) <= 0 {
		return at, 0, 0, fmt.Errorf("prometheus analyzer: %w: %v is below Prometheus's 1ms resolution", ErrEmptyWindow, window)
	}
	window = window.Truncate(time.Millisecond)
	step = s.step
	if step == 0 {
		step = (window / 60).Truncate(time.Second)
		if step < time.Second {
			step = time.Second
		}
	}
	return at, window, step, nil
}

// varsFor returns the template variables of one run.
func (s *scope) varsFor(q analysis.Query, role, backend string, window, step time.Duration) map[string]string {
	v := make(map[string]string, len(builtins)+len(s.vars))
	for k, def := range s.vars {
		v[k] = def
		if qv, ok := q.Vars[k]; ok {
			v[k] = qv
		}
	}
	v[VarBackend] = backend
	v[VarVersion] = backend
	v[VarRole] = role
	v[VarCanary] = q.Canary
	v[VarBaseline] = q.Baseline
	v[VarWindow] = model.Duration(window).String()
	v[VarStep] = model.Duration(step).String()
	v[VarRolloutStep] = strconv.Itoa(q.Step)
	return v
}

// Roles of a run.
const (
	roleCanary   = "canary"
	roleBaseline = "baseline"
)
