package traffic

import (
	"math"
	"math/bits"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
)

// unitsPerPercent is the splitter's resolution: shares are rounded to
// 1/10,000 of a percent (one part per million), a hundred times finer
// than Resolution.
const unitsPerPercent = 10_000

// backend is a named handler.
type backend struct {
	name string
	h    http.Handler
}

// table is a compiled, immutable route. ServeHTTP reads it through one
// atomic load; Apply replaces it whole and never mutates one in place.
type table struct {
	route Route // deep copy of the applied route, for Current

	rules []rule

	// picks are the backends with a positive share, in route order. A
	// point x in [0, 2^64) goes to picks[i] for the first i with
	// x < bounds[i], or to the last pick when there is none: bounds has
	// len(picks)-1 entries, cumulative shares scaled to 2^64.
	picks  []*backend
	bounds []uint64

	// mirror, when not nil, receives a copy of a request whose mirror
	// draw is below mirrorBelow (every request when mirrorAll).
	mirror      *backend
	mirrorBelow uint64
	mirrorAll   bool
}

// rule is a compiled Rule.
type rule struct {
	header string // canonical header name; "" for a cookie rule
	host   bool   // the rule reads Request.Host
	cookie string
	kind   MatchKind
	value  string
	re     *regexp.Regexp
	b      *backend
}

// compile turns a route already checked by Validate into a table.
func compile(r Route, backends map[string]*backend) *table {
	t := &table{route: r.Clone()}
	for _, rl := range r.Rules {
		c := rule{cookie: rl.Cookie, kind: rl.Match, value: rl.Value, b: backends[rl.Backend]}
		if rl.Header != "" {
			c.header = textproto.CanonicalMIMEHeaderKey(rl.Header)
			c.host = c.header == "Host"
		}
		if rl.Match == Regexp {
			c.re = regexp.MustCompile(rl.Value) // Validate compiled it already
		}
		t.rules = append(t.rules, c)
	}

	var units []uint64
	var total uint64
	for _, w := range r.Weights {
		u := toUnits(w.Percent)
		if u == 0 {
			continue
		}
		t.picks = append(t.picks, backends[w.Backend])
		units = append(units, u)
		total += u
	}
	var cum uint64
	for _, u := range units[:max(len(units)-1, 0)] {
		cum += u
		t.bounds = append(t.bounds, scale(cum, total))
	}

	if m := r.Mirror; m != nil {
		if u := toUnits(m.Percent); u > 0 {
			t.mirror = backends[m.Backend]
			t.mirrorAll = u >= 100*unitsPerPercent
			t.mirrorBelow = scale(u, 100*unitsPerPercent)
		}
	}
	return t
}

// toUnits converts a percent in [0, 100] to parts per million.
func toUnits(p float64) uint64 {
	return uint64(math.Round(p * unitsPerPercent))
}

// scale returns floor(part * 2^64 / total) for part < total, and the
// largest point for part >= total.
func scale(part, total uint64) uint64 {
	if part >= total {
		return math.MaxUint64
	}
	q, _ := bits.Div64(part, 0, total)
	return q
}

// pick returns the backend of point x, or nil when no backend has a share.
func (t *table) pick(x uint64) *backend {
	for i, b := range t.bounds {
		if x < b {
			return t.picks[i]
		}
	}
	if n := len(t.picks); n > 0 {
		return t.picks[n-1]
	}
	return nil
}

// mirrored reports whether the mirror draw x selects a request for copying.
func (t *table) mirrored(x uint64) bool {
	return t.mirrorAll || x < t.mirrorBelow
}

// match returns the backend of the first rule r matches, or nil.
func (t *table) match(r *http.Request) *backend {
	for i := range t.rules {
		if t.rules[i].matches(r) {
			return t.rules[i].b
		}
	}
	return nil
}

func (rl *rule) matches(r *http.Request) bool {
	switch {
	case rl.host:
		return rl.test(r.Host)
	case rl.header != "":
		for _, v := range r.Header[rl.header] {
			if rl.test(v) {
				return true
			}
		}
		return false
	default:
		return rl.testCookie(r.Header)
	}
}

// testCookie checks every cookie called rl.cookie, not only the first, so
// that a rule behaves like a header rule when a browser sends duplicates.
func (rl *rule) testCookie(h http.Header) bool {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			v, ok := cookiePair(part, rl.cookie)
			if ok && rl.test(v) {
				return true
			}
		}
	}
	return false
}

func (rl *rule) test(v string) bool {
	switch rl.kind {
	case Prefix:
		return strings.HasPrefix(v, rl.value)
	case Regexp:
		return rl.re.MatchString(v)
	default:
		return v == rl.value
	}
}
