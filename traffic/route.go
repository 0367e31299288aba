package traffic

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
)

// Router applies routes. The rollout engine drives a Router; Splitter is the
// in-process implementation and traffic/haproxy drives HAProxy.
type Router interface {
	// Apply makes r the route in force. When Apply returns nil, every
	// request that starts afterwards is routed by r. An invalid route is
	// rejected with an error and the route in force stays as it was.
	Apply(ctx context.Context, r Route) error
	// Current reports the route the router is really applying: the router,
	// not a stored copy, is the source of truth.
	Current(ctx context.Context) (Route, error)
}

// Route says how requests are spread over named backends.
//
// The zero Route is invalid: it routes nothing.
type Route struct {
	// Weights gives each backend its share of traffic in percent. Shares
	// are in [0, 100] with a resolution of 0.01 and add up to 100, or are
	// all zero when Rules alone decide (requests that match no rule are
	// then refused). Order matters for sticky routing: hash buckets are
	// handed out in slice order, so when the new version is listed first
	// raising its share only moves keys from the others to it.
	Weights []Weight `json:"weights"`
	// Rules pin matching requests to a backend whatever the weights say.
	// The first rule that matches wins.
	Rules []Rule `json:"rules,omitempty"`
	// Mirror, when set, copies a share of requests to a backend whose
	// responses are discarded.
	Mirror *Mirror `json:"mirror,omitempty"`
}

// Weight is one backend's share of traffic.
type Weight struct {
	Backend string  `json:"backend"`
	Percent float64 `json:"percent"`
}

// MatchKind says how a Rule compares a value.
type MatchKind int

// Match kinds. The zero value is Exact.
const (
	Exact MatchKind = iota
	Prefix
	Regexp
)

func (k MatchKind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Prefix:
		return "prefix"
	case Regexp:
		return "regexp"
	}
	return fmt.Sprintf("MatchKind(%d)", int(k))
}

// Rule sends requests whose header (or cookie) matches to Backend.
// Exactly one of Header and Cookie is set.
type Rule struct {
	Header  string    `json:"header,omitempty"`
	Cookie  string    `json:"cookie,omitempty"`
	Match   MatchKind `json:"match"`
	Value   string    `json:"value"`
	Backend string    `json:"backend"`
}

// Mirror copies Percent of requests to Backend.
type Mirror struct {
	Backend string  `json:"backend"`
	Percent float64 `json:"percent"`
}

// Resolution is the smallest share step, in percent.
const Resolution = 0.01

// Split returns the route that sends percent of traffic to canary and the
// rest to stable. The canary is listed first so that sticky keys move
// monotonically as the share changes.
func Split(stable, canary string, percent float64) Route {
	return Route{Weights: []Weight{
		{Backend: canary, Percent: percent},
		{Backend: stable, Percent: 100 - percent},
	}}
}

// Percent returns the share of backend in r, or 0 when r does not list it.
func (r Route) Percent(backend string) float64 {
	var p float64
	for _, w := range r.Weights {
		if w.Backend == backend {
			p += w.Percent
		}
	}
	return p
}

// Clone returns a deep copy of r.
func (r Route) Clone() Route {
	c := Route{
		Weights: append([]Weight(nil), r.Weights...),
		Rules:   append([]Rule(nil), r.Rules...),
	}
	if r.Mirror != nil {
		m := *r.Mirror
		c.Mirror = &m
	}
	return c
}

// ErrInvalidRoute is wrapped by every error Validate returns.
var ErrInvalidRoute = errors.New("invalid route")

// Validate reports every problem with r at once. known, when not nil,
// says whether a backend name exists.
func (r Route) Validate(known func(backend string) bool) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidRoute}, args...)...))
	}
	checkBackend := func(field, name string) {
		switch {
		case name == "":
			bad("%s: backend name is empty", field)
		case known != nil && !known(name):
			bad("%s: unknown backend %q", field, name)
		}
	}
	var sum float64
	seen := make(map[string]bool, len(r.Weights))
	for i, w := range r.Weights {
		f := fmt.Sprintf("weights[%d]", i)
		checkBackend(f+".backend", w.Backend)
		if seen[w.Backend] && w.Backend != "" {
			bad("%s.backend: %q is listed twice", f, w.Backend)
		}
		seen[w.Backend] = true
		switch {
		case math.IsNaN(w.Percent) || math.IsInf(w.Percent, 0):
			bad("%s.percent: %v is not a number", f, w.Percent)
		case w.Percent < 0:
			bad("%s.percent: %v is negative", f, w.Percent)
		case w.Percent > 100:
			bad("%s.percent: %v is over 100", f, w.Percent)
		default:
			sum += w.Percent
		}
	}
	const eps = 1e-6
	switch {
	case sum == 0 && len(r.Rules) == 0:
		bad("weights: all zero (or none) and no rule: no request could be routed")
	case sum != 0 && math.Abs(sum-100) > eps:
		bad("weights: percents add up to %v, want 100", sum)
	}
	for i, rl := range r.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		checkBackend(f+".backend", rl.Backend)
		switch {
		case rl.Header == "" && rl.Cookie == "":
			bad("%s: neither header nor cookie is set", f)
		case rl.Header != "" && rl.Cookie != "":
			bad("%s: both header %q and cookie %q are set", f, rl.Header, rl.Cookie)
		}
		if rl.Header != "" && !isToken(rl.Header) {
			bad("%s.header: %q is not a valid header name", f, rl.Header)
		}
		if rl.Cookie != "" && !isToken(rl.Cookie) {
			bad("%s.cookie: %q is not a valid cookie name", f, rl.Cookie)
		}
		switch rl.Match {
		case Exact, Prefix:
		case Regexp:
			if _, err := regexp.Compile(rl.Value); err != nil {
				bad("%s.value: bad regexp %q: %v", f, rl.Value, err)
			}
		default:
			bad("%s.match: unknown match kind %d", f, int(rl.Match))
		}
	}
	if m := r.Mirror; m != nil {
		checkBackend("mirror.backend", m.Backend)
		if math.IsNaN(m.Percent) || m.Percent < 0 || m.Percent > 100 {
			bad("mirror.percent: %v is outside [0,100]", m.Percent)
		}
	}
	return errors.Join(errs...)
}

// isToken reports whether s is an RFC 9110 token (section 5.6.2), the
// syntax of header field names and of cookie names (RFC 6265).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x80 && c > ' ' && c != 0x7f && !isDelimiter(c):
		default:
			return false
		}
	}
	return true
}

// isDelimiter reports whether c is one of the characters that RFC 9110
// section 5.6.2 excludes from tokens.
func isDelimiter(c byte) bool {
	switch c {
	case '"', '(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}':
		return true
	}
	return false
}
