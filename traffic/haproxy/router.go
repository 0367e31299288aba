package haproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ramp-go/ramp/traffic"
)

// Config describes the HAProxy backend a Router drives.
type Config struct {
	// Addr is the runtime API's address: a Unix socket path or host:port
	// (see Client.Addr). Required.
	Addr string
	// Timeout bounds each runtime API command. 0 means DefaultTimeout.
	Timeout time.Duration
	// Backend is the HAProxy backend whose servers carry the versions.
	// Required.
	Backend string
	// Servers maps each version label — the backend names of a
	// traffic.Route, such as "v1.4.1" and "v1.4.2" — to the HAProxy server
	// in Backend that runs it. At least one is required; two labels may
	// not share a server. Servers of Backend that are not listed here are
	// never touched.
	Servers map[string]string
	// Logger, when set, receives each runtime API command at debug level.
	// nil: the router is silent.
	Logger *slog.Logger
}

// ErrUnsupported is wrapped by the error Apply returns for a route that
// asks for what HAProxy's server weights cannot do.
var ErrUnsupported = errors.New("haproxy router does not support")

// Router is a traffic.Router that applies routes to an HAProxy backend by
// setting its servers' weights through the runtime API.
//
// A Router is safe for concurrent use; its Apply and Current calls are
// serialised so that each sees the other's effect whole.
type Router struct {
	client  Client
	backend string
	labels  []string // sorted
	servers []string // servers[i] runs labels[i]

	mu sync.Mutex
}

var _ traffic.Router = (*Router)(nil)

// New checks cfg and returns a Router. It sends nothing to HAProxy; the
// first Apply or Current does.
func New(cfg Config) (*Router, error) {
	var errs []error
	if cfg.Addr == "" {
		errs = append(errs, errors.New("haproxy: addr: empty: the runtime API's socket path or host:port is required"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("haproxy: timeout: %v is negative", cfg.Timeout))
	}
	if err := ValidName("backend", cfg.Backend); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.Servers) == 0 {
		errs = append(errs, errors.New("haproxy: servers: none: map each version label to its server"))
	}
	r := &Router{
		client:  Client{Addr: cfg.Addr, Timeout: cfg.Timeout, Logger: cfg.Logger},
		backend: cfg.Backend,
	}
	for label := range cfg.Servers {
		r.labels = append(r.labels, label)
	}
	sort.Strings(r.labels)
	owner := make(map[string]string, len(cfg.Servers))
	for _, label := range r.labels {
		srv := cfg.Servers[label]
		if label == "" {
			errs = append(errs, fmt.Errorf("haproxy: servers: empty version label (server %q)", srv))
		}
		if err := ValidName(fmt.Sprintf("servers[%q]", label), srv); err != nil {
			errs = append(errs, err)
		} else if prev, dup := owner[srv]; dup {
			errs = append(errs, fmt.Errorf("haproxy: servers: versions %q and %q both map to server %q", prev, label, srv))
		}
		owner[srv] = label
		r.servers = append(r.servers, srv)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Client returns the runtime API client the router uses, for commands of
// the caller's own.
func (r *Router) Client() *Client { return &r.client }

// Apply sets the weights of the servers so that each version gets its
// share of r's traffic, mapped onto HAProxy weights by Weights (see there
// for the resolution). A configured version that r does not list gets
// weight 0.
//
// Routes HAProxy's weights cannot express are refused before anything is
// sent: match rules and mirroring (ErrUnsupported), versions the router
// has no server for, and anything traffic.Route.Validate refuses.
//
// Apply first reads every server's weight, then sends only the changes,
// one command each, in an order that never leaves all the servers at
// weight 0 (HAProxy would answer 503 to everything in between): first it
// raises the weights that go up, then it lowers those that go down.
// Within each group, servers whose share shrinks are raised first and
// servers whose share grows are lowered first. With two servers this
// means:
//
//   - the version whose share grows never has more than its new share
//     on the way (a step never over-exposes the canary);
//   - when one weight rises and the other falls, or only one changes —
//     every rollback to 0%, every promotion to 100%, and most steps — the
//     shares move straight from old to new;
//   - when both rise or both fall (the best weights for two shares can
//     differ in scale: 50% is 256:256 and 10% is 28:252), the version
//     whose share shrinks can have a few points more than its old share
//     for the time between the two commands (50% → 10% passes through
//     256:252, 50.4%). No order of two commands avoids that.
//
// HAProxy has no transaction across servers. When a command fails, Apply
// stops and returns the error (HAProxy's text, or the connection's
// failure) naming what was and was not set; the servers already set keep
// their new weights, a state between the old route and the new one. A
// retried Apply reads the weights again and sends only what is left.
func (r *Router) Apply(ctx context.Context, rt traffic.Route) error {
	want, err := r.plan(rt)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	have, err := r.read(ctx)
	if err != nil {
		return fmt.Errorf("haproxy: apply: reading weights: %w", err)
	}
	order := changeOrder(have, want)
	for k, i := range order {
		if err := r.client.SetWeight(ctx, r.backend, r.servers[i], want[i]); err != nil {
			return fmt.Errorf("haproxy: apply: setting %s: %w (already set: %s; not set: %s)",
				r.describe(order[k:k+1], want), err, r.describe(order[:k], want), r.describe(order[k+1:], want))
		}
	}
	return nil
}

// describe lists the weights w of the servers at idx, or says "none".
func (r *Router) describe(idx []int, w []int) string {
	if len(idx) == 0 {
		return "none"
	}
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = fmt.Sprintf("version %q server %s/%s weight %d", r.labels[i], r.backend, r.servers[i], w[i])
	}
	return strings.Join(parts, ", ")
}

// plan checks rt and returns the weight of each configured server.
func (r *Router) plan(rt traffic.Route) ([]int, error) {
	var errs []error
	if n := len(rt.Rules); n > 0 {
		errs = append(errs, fmt.Errorf("%w match rules: the route has %d; HAProxy's weights split traffic by share only", ErrUnsupported, n))
	}
	if rt.Mirror != nil {
		errs = append(errs, fmt.Errorf("%w mirroring (mirror to %q): HAProxy's weights split traffic by share only", ErrUnsupported, rt.Mirror.Backend))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := rt.Validate(r.known); err != nil {
		return nil, fmt.Errorf("haproxy: route refused (versions with a server in %s: %s): %w",
			r.backend, strings.Join(r.labels, ", "), err)
	}
	shares := make([]float64, len(r.labels))
	for i, label := range r.labels {
		shares[i] = rt.Percent(label)
	}
	return Weights(shares)
}

func (r *Router) known(label string) bool {
	_, found := slices.BinarySearch(r.labels, label)
	return found
}

// read returns the current weight of every configured server.
func (r *Router) read(ctx context.Context) ([]int, error) {
	have := make([]int, len(r.servers))
	for i, srv := range r.servers {
		w, err := r.client.Weight(ctx, r.backend, srv)
		if err != nil {
			return nil, fmt.Errorf("version %q: %w", r.labels[i], err)
		}
		have[i] = w.Current
	}
	return have, nil
}

// changeOrder returns the servers whose weight changes, in the order to
// set them (see Apply).
func changeOrder(have, want []int) []int {
	var haveSum, wantSum int
	for i := range have {
		haveSum += have[i]
		wantSum += want[i]
	}
	gain := make([]float64, len(have)) // change of share
	for i := range have {
		var before float64
		if haveSum > 0 {
			before = float64(have[i]) / float64(haveSum)
		}
		gain[i] = float64(want[i])/float64(wantSum) - before
	}
	var up, down []int
	for i := range have {
		switch {
		case want[i] > have[i]:
			up = append(up, i)
		case want[i] < have[i]:
			down = append(down, i)
		}
	}
	// Raise the losers of share first; lower the gainers of share first.
	sort.SliceStable(up, func(a, b int) bool { return gain[up[a]] < gain[up[b]] })
	sort.SliceStable(down, func(a, b int) bool { return gain[down[a]] > gain[down[b]] })
	return append(up, down...)
}

// Current reads every configured server's weight ("get weight") and
// reports the shares they give, in percent rounded to 0.01 by Percents
// (the shares add up to exactly 100), one Weight per version in sorted
// label order. When every weight is 0 the route's weights are all zero:
// HAProxy has no server to send a request to.
//
// Current reports weights. A server that is drained, in maintenance or
// down by its health checks gets no traffic whatever its weight: HAProxy
// gives its share to the others.
func (r *Router) Current(ctx context.Context) (traffic.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	have, err := r.read(ctx)
	if err != nil {
		return traffic.Route{}, fmt.Errorf("haproxy: current: %w", err)
	}
	pct := Percents(have)
	rt := traffic.Route{Weights: make([]traffic.Weight, len(r.labels))}
	for i, label := range r.labels {
		rt.Weights[i] = traffic.Weight{Backend: label, Percent: pct[i]}
	}
	return rt, nil
}

// SetState sets the administrative state of the server that runs the
// version label. Drain takes a server out of load balancing and keeps its
// health checks and persistent connections; Maint stops both; Ready puts
// it back. The weight is kept throughout.
func (r *Router) SetState(ctx context.Context, label string, s State) error {
	i, found := slices.BinarySearch(r.labels, label)
	if !found {
		return fmt.Errorf("haproxy: version %q has no server (known: %s)", label, strings.Join(r.labels, ", "))
	}
	if err := r.client.SetState(ctx, r.backend, r.servers[i], s); err != nil {
		return fmt.Errorf("haproxy: version %q: %w", label, err)
	}
	return nil
}

// Drain puts the server of version label into the drain state.
func (r *Router) Drain(ctx context.Context, label string) error { return r.SetState(ctx, label, Drain) }

// Ready puts the server of version label back into load balancing.
func (r *Router) Ready(ctx context.Context, label string) error { return r.SetState(ctx, label, Ready) }
