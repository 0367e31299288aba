package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/traffic"
)

// report is what the release did.
type report struct {
	stages       []stage // the initial route, then one per route change
	phase        ramp.Phase
	reason       string
	history      []rollback.Revision
	rollbackTook time.Duration // from the Abort call to the blue route in force
	failed       int64         // requests not answered 200
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nWhat each route served (requests it routed):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "  route\tusers\ttesters (X-Preview: 1)")
	unsure := 0
	for i, s := range r.stages {
		fmt.Fprintf(tw, "  %s: %s\t%s\t%s\n", stageName(i, s.route), describe(s.route), counts(s.users), counts(s.testers))
		unsure += s.unsure
	}
	tw.Flush()
	fmt.Fprintf(w, "  (%d requests routed during a route change are left out; %d requests failed)\n", unsure, r.failed)
	fmt.Fprintf(w, "\nOutcome: %s, %v after the abort. Reason: %s\n", r.phase, r.rollbackTook.Round(time.Microsecond), r.reason)
	for _, rev := range r.history {
		fmt.Fprintf(w, "History: %s (after %s) %s\n", rev.Version, rev.Previous, rev.Outcome)
	}
}

func stageName(i int, rt traffic.Route) string {
	switch {
	case i == 0:
		return "before"
	case len(rt.Rules) > 0:
		return "preview"
	case rt.Percent(green) == 100:
		return "switch"
	default:
		return "rollback"
	}
}

// describe writes a route as "blue 100%, X-Preview: 1 → green".
func describe(rt traffic.Route) string {
	var parts []string
	for _, w := range rt.Weights {
		if w.Percent > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", w.Backend, w.Percent))
		}
	}
	for _, rl := range rt.Rules {
		parts = append(parts, fmt.Sprintf("%s: %s → %s", rl.Header, rl.Value, rl.Backend))
	}
	return strings.Join(parts, ", ")
}

// counts writes {"blue": 3, "green": 1} as "blue 3, green 1".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "–"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
