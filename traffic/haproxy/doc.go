// Package haproxy drives HAProxy as a traffic.Router: it moves traffic
// between the servers of one HAProxy backend — one server per version —
// by setting their weights through HAProxy's runtime API.
//
// HAProxy needs a runtime API socket at admin level and a backend with a
// dynamic balancing algorithm (roundrobin, the default, or leastconn;
// static-rr ignores weight changes and HAProxy refuses them):
//
//	global
//	    stats socket /run/haproxy/admin.sock mode 600 level admin
//	backend app
//	    balance roundrobin
//	    server v1 10.0.0.1:8080 weight 256 check
//	    server v2 10.0.0.2:8080 weight 0 check
//
// The Router maps version labels to servers and turns a route's shares
// into weights:
//
//	r, err := haproxy.New(haproxy.Config{
//	    Addr:    "/run/haproxy/admin.sock",
//	    Backend: "app",
//	    Servers: map[string]string{"v1.4.1": "v1", "v1.4.2": "v2"},
//	})
//	...
//	err = r.Apply(ctx, traffic.Split("v1.4.1", "v1.4.2", 10)) // v2 weight 28, v1 weight 252
//
// # Resolution
//
// HAProxy weights are integers from 0 to 256, so not every share is
// possible: with two servers the canary's share is c/(c+s). Weights finds
// the weights with the smallest error, keeping a zero share at zero and
// any other share above zero; between 0.39% and 99.61% the error is at
// most 0.048 percentage points, outside it a share is moved to the
// nearest of 1/257 and 256/257. Current maps weights back to shares
// rounded to 0.01%, adding up to exactly 100 (Percents).
//
// # The runtime API
//
// Client sends one command per connection in non-interactive mode and
// reads the answer to the end of the stream; every command has a timeout
// and its errors name the address. Every answer is checked: the "set"
// commands succeed with an empty answer and "get weight" with "<n>
// (initial <m>)"; anything else is a *CommandError that quotes HAProxy
// ("No such backend.", "No such server.", a refused weight). Names are
// checked by ValidName against the characters HAProxy allows in names
// before anything is sent, so that no name can carry a second command.
// Nothing is retried: retries are the caller's choice (the rollout engine
// retries Apply until its progress deadline).
//
// Match rules and mirroring are not HAProxy weights: Apply refuses routes
// that ask for them (ErrUnsupported).
package haproxy
