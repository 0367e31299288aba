// Package traffic decides which backend serves each request.
//
// A Route names backends with their share of traffic, match rules that pin
// requests to a backend by header or cookie (exact, prefix or regular
// expression), and an optional mirror that receives a copy of a share of
// requests. A Router applies routes; the rollout engine drives one.
// Splitter is the in-process Router; traffic/haproxy drives HAProxy.
//
// # Splitter
//
// A Splitter is an http.Handler over named backends, typically one
// httputil.ReverseProxy per version built with NewBackend:
//
//	s, err := traffic.NewSplitter(map[string]http.Handler{
//		"stable": v1Proxy,
//		"canary": v2Proxy,
//	}, traffic.Options{
//		Route:     traffic.Split("stable", "canary", 0),
//		StickyKey: traffic.HeaderKey("X-User-ID"),
//		Observer:  recorder, // e.g. an analysis.Recorder
//	})
//	...
//	err = s.Apply(ctx, traffic.Split("stable", "canary", 10))
//
// Apply validates a route, compiles it into an immutable table and swaps
// the table in with one atomic store, so every request that starts after
// Apply returns is routed by the new route, and requests never take a
// lock. An invalid route is rejected with every problem named and leaves
// the route in force alone. Until a route is given (in Options.Route or by
// Apply) the splitter answers 503.
//
// For each request the first matching rule wins. Otherwise the request is
// placed at a point in [0, 2^64): the 64-bit hash of its sticky key (its
// 8-byte words multiplied in, then the MurmurHash3 finaliser; the same in
// every process) or, without a key, a per-request random draw. Backends own consecutive
// ranges of points in the order Route.Weights lists them, sized by their
// shares at a resolution of one part per million (0.0001%). Because
// Split lists the canary first, raising its share only moves keys from
// stable to canary and lowering it only moves them back: a user never
// flaps between versions while a rollout moves in one direction. With
// Options.StickyCookie set, browsers without a key get a random one in a
// cookie, so they too keep their version.
//
// Mirroring copies a share of requests (bodies up to a limit, read before
// dispatch) to a mirror backend on a goroutine of its own, with bounded
// concurrency (copies beyond it are dropped, never queued) and a timeout;
// the responses are discarded and never delay the user's request.
// Shutdown drains the copies in flight.
//
// A panic in a backend is recovered: the client gets 502 (or, when the
// response had started, an aborted response, as net/http does), and the
// Observer sees 502. When no backend can take a request, the client gets
// 503.
//
// # Observing outcomes
//
// traffic is a leaf: it knows nothing of rollouts or analysis. Outcomes of
// requests leave it through the Observer hook, whose method uses only
// builtin and standard types so that analysis can implement it without
// importing traffic. An Observer that is also a StartObserver (as
// analysis.Recorder is) is told when each request is dispatched too, so
// that it can count requests still in flight: a backend that hangs is
// seen before any of its requests ends. A request whose client went away
// before its response is observed as StatusClientClosedRequest (499)
// rather than the 502 a reverse proxy answers it with: a client giving up
// is no server error.
//
// # Cost
//
// Routing by weight or by a header key, including the dispatch, does not
// allocate; the benchmarks in this package and in the separate module
// bench/peers measure it, and the throughput of a Splitter in front of two
// reverse proxies against one bare reverse proxy.
package traffic
