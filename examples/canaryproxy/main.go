// Command canaryproxy is a reverse proxy that releases a new version of a
// service progressively: it moves traffic from a stable upstream to a canary
// upstream in steps, judges each step, rolls back the moment the canary
// misbehaves, and keeps serving after the rollout ends.
//
// Usage:
//
//	canaryproxy -stable http://10.0.0.5:8080 -canary http://10.0.0.6:8080 \
//	    -steps 10,50,100 -step-duration 5m -max-error-rate 0.01 -max-p99 300ms \
//	    -sticky header:X-User -admin-token "$TOKEN"
//
// The rollout starts when the proxy starts. Each step gives the canary its
// share of requests (-steps, in percent; 0.5 is a half percent) for
// -step-duration; an item of -steps may set its own duration, as in
// "1:10m,10,50,100". At the end of a step the analysis judges the canary's
// requests of that step: the share of 5xx responses must be at most
// -max-error-rate and the p99 latency at most -max-p99, over at least
// -min-samples requests. It passes: the next step. It fails: rollback. Not
// enough requests yet: the step is extended until there are, for at most
// -progress-deadline, then rollback. All along, a guard watches every
// canary response and rolls back within milliseconds of a significant
// excess of errors or slow responses, without waiting for the step to end.
// After success the canary takes all traffic; after a rollback the stable
// upstream does. The proxy serves on until SIGINT or SIGTERM, then lets
// in-flight requests finish (up to -drain-timeout) and exits 0.
//
// Upstreams are reached over pooled keep-alive connections. When an
// upstream cannot be reached the client gets 502 Bad Gateway, and the
// response counts as a failure of that version.
//
// With -sticky each client stays on its version: header:NAME keys clients
// by that request header, cookie:NAME by that cookie (one your application
// sets, a session id say), ip by the client's address (behind another
// proxy, use header:X-Real-IP or similar instead). Raising the canary's
// share only moves clients from stable to the canary, never back.
// Requests without the key are drawn at random.
//
// Versions are labelled by -stable-version and -canary-version ("stable"
// and "canary" by default); the labels appear in metrics, in /status and
// in the state file. With -state FILE every transition is saved before it
// is acted on, and a restarted proxy carries on where it was — which is why
// -state requires explicit labels: a release is known by its labels, and
// with the defaults a restart with another -canary URL would resume the
// previous release.
//
// # Flags
//
//	-listen ADDR            proxy address (127.0.0.1:8080)
//	-admin ADDR             admin API and status page (127.0.0.1:8081)
//	-stable URL, -canary URL  the upstreams (required)
//	-stable-version, -canary-version LABEL  version labels (stable, canary)
//	-steps LIST             canary shares in percent, rising (10,50,100)
//	-step-duration D        how long each step lasts (1m)
//	-max-error-rate F       largest share of 5xx responses, 0 to 1 (0.01)
//	-max-p99 D              largest p99 latency (500ms)
//	-min-samples N          canary requests a step needs to pass (100)
//	-sticky KEY             "", header:NAME, cookie:NAME or ip ("")
//	-admin-token T          bearer token of the admin operations ($RAMP_ADMIN_TOKEN)
//	-state FILE             keep the rollout's state in FILE (none)
//	-progress-deadline D    roll back a step stuck without a verdict this long (10m)
//	-rollback-window D      after success, /abort still rolls back this long (1h)
//	-drain-timeout D        on SIGINT/SIGTERM, wait this long for requests (30s)
//	-max-conns N            client connections the proxy holds at once (0: what the open-file limit affords)
//	-admin-max-conns N      connections the admin API holds at once (32)
//	-read-timeout D         longest a client may take to send a whole request (1m)
//	-write-timeout D        longest one write of a response may stall (1m)
//	-idle-timeout D         close keep-alive connections idle this long (1m)
//
// # Limits
//
// Each listener holds a bounded number of connections; more wait in the
// kernel's accept queue, where they cost no file descriptor. The proxy's
// bound, by default, is half of what the open-file limit leaves after the
// admin API's bound and 64 for the program (each proxied connection may
// hold an upstream connection too): 208 at 512 open files, 9,952 at
// 20,000. So a flood of idle or slow clients on the proxy port can neither
// starve the admin API, which an abort needs, nor the upstream connections
// of the requests being served. A full listener makes room by closing the
// connection that has carried no request for longest (an idle keep-alive
// one, or one that has sent nothing for half a second), so idle
// connections cannot keep anyone out, on either port. Every phase of a
// connection is timed: its headers (10s; 5s on the admin port), the whole
// request (-read-timeout), each write of the response (-write-timeout: a
// response that keeps flowing, such as a download or server-sent events,
// is never cut), and idleness between requests (-idle-timeout; 30s on the
// admin port).
//
// # Admin API
//
// On -admin, the handler of package github.com/ramp-go/ramp/admin (which a
// host's own proxy mounts in one line), driven by cmd/rampctl:
//
//	GET  /          status page: share over time, per-version error rate, events
//	GET  /status    JSON: phase, canary_percent, step, reason, per-version counts, …
//	GET  /metrics   Prometheus metrics (ramp_requests_total, ramp_request_duration_seconds,
//	                ramp_rollout_phase, ramp_rollout_canary_percent, ramp_rollout_step, Go runtime)
//	GET  /healthz   200 while the proxy runs
//	POST /promote       leave the current step now
//	POST /promote-full  skip the remaining steps: canary takes all traffic
//	POST /pause         hold the current step (the guard keeps watching)
//	POST /resume        continue a paused rollout
//	POST /abort         roll back now; reason in ?reason= or the body (text or {"reason": …});
//	                    after success, within -rollback-window, returns all traffic to stable
//	POST /retry         after a rollback, start the rollout again from its first step
//
// The POST operations require "Authorization: Bearer <token>" with the token
// of -admin-token or $RAMP_ADMIN_TOKEN. They answer 200 with the status,
// 401 without the token or with a wrong one, 403 when no token is
// configured (the operations are then disabled), and 409 when the
// operation does not apply to the rollout's phase (say, /pause after
// success). The admin listener has no TLS: keep it on a private address.
//
// The phase in /status is one of pending, progressing, paused,
// rolling_back, succeeded or rolled_back. rolling_back is seen only while
// a rollback's route change is being made (usually for microseconds) or,
// after a restart, until it is.
//
// Bad flags exit 2 with a message naming the flag; a failure to start
// (an address in use, an unreadable state file) exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once instead of waiting for the drain
	}()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil))
}

// run is the whole program: it parses args, serves until ctx ends, drains
// and returns the exit code. Log lines go to stdout, flag problems and
// start-up failures to stderr. ready, when not nil, is called with the
// addresses really listened on once both listeners are up.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(proxyAddr, adminAddr string)) int {
	cfg, err := parseFlags(args, getenv, stderr)
	var fe flagError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		return 2 // the flag package has said what is wrong
	case err != nil:
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "canaryproxy: %s\n", line)
		}
		fmt.Fprintln(stderr, "Run canaryproxy -h for usage.")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	p, err := newProxy(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "canaryproxy: %v\n", err)
		return 1
	}
	return p.serve(ctx, stderr, ready)
}

// serve runs the listeners and the rollout until ctx ends, then drains.
func (p *proxy) serve(ctx context.Context, stderr io.Writer, ready func(proxyAddr, adminAddr string)) int {
	var lc net.ListenConfig
	proxyLn, err := lc.Listen(ctx, "tcp", p.cfg.listen)
	if err != nil {
		fmt.Fprintf(stderr, "canaryproxy: -listen: %v\n", err)
		return 1
	}
	adminLn, err := lc.Listen(ctx, "tcp", p.cfg.admin)
	if err != nil {
		proxyLn.Close()
		fmt.Fprintf(stderr, "canaryproxy: -admin: %v\n", err)
		return 1
	}
	proxySrv, adminSrv := p.servers()
	var proxyConns, adminConns connTracker
	proxySrv.ConnState, adminSrv.ConnState = proxyConns.track, adminConns.track
	maxConns := proxyConnLimit(p.cfg.maxConns, p.cfg.adminMaxConns, openFileLimit())
	proxyLn = newLimitListener(proxyLn, maxConns, proxyConns.evictOldest)
	adminLn = newLimitListener(adminLn, p.cfg.adminMaxConns, adminConns.evictOldest)
	serveErr := make(chan error, 2)
	go func() { serveErr <- fmt.Errorf("-listen: %w", proxySrv.Serve(proxyLn)) }()
	go func() { serveErr <- fmt.Errorf("-admin: %w", adminSrv.Serve(adminLn)) }()

	// The rollout goes on while requests drain, so that the guard still
	// protects them; it stops once they have.
	rolloutCtx, stopRollout := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		p.runRollout(rolloutCtx)
	}()
	go func() {
		defer bg.Done()
		p.admin.Run(rolloutCtx)
	}()

	p.log.Info("serving", "proxy", proxyLn.Addr().String(), "admin", adminLn.Addr().String(),
		"max_conns", maxConns, "admin_max_conns", p.cfg.adminMaxConns,
		"stable", p.cfg.stable.Redacted(), "canary", p.cfg.canary.Redacted())
	if ready != nil {
		ready(proxyLn.Addr().String(), adminLn.Addr().String())
	}

	code := 0
	select {
	case <-ctx.Done():
		p.log.Info("shutting down: draining in-flight requests", "timeout", p.cfg.drainTimeout)
	case err := <-serveErr:
		fmt.Fprintf(stderr, "canaryproxy: %v\n", err)
		code = 1
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), p.cfg.drainTimeout)
	defer cancel()
	servers := []*http.Server{proxySrv, adminSrv}
	drained := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { drained <- srv.Shutdown(drainCtx) }()
	}
	// Shutdown would wait 5s for connections that never sent a request
	// (a client's spare keep-alive dial): they carry nothing to drain.
	proxyConns.closeUnused()
	adminConns.closeUnused()
	cutOff := false
	for range servers {
		cutOff = <-drained != nil || cutOff
	}
	if cutOff {
		p.log.Error("requests still in flight after the drain timeout were cut off", "timeout", p.cfg.drainTimeout)
		code = 1
	}
	for _, srv := range servers {
		srv.Close()
	}
	stopRollout()
	bg.Wait()
	p.log.Info("stopped", "phase", p.rollout.Status().Phase.String())
	return code
}

// servers returns the proxy's and the admin API's servers. Every phase of a
// connection has a bound: the headers (10s, 5s on the admin API), the
// whole request (-read-timeout; 10s on the admin API: net/http lifts it
// once the body is read, so a slow upstream is not cut), each write of a
// response (-write-timeout, per write because proxied responses may
// stream; the admin API's answers are whole, bounded by the abort's wait)
// and idleness between requests (-idle-timeout; 30s on the admin API).
func (p *proxy) servers() (proxySrv, adminSrv *http.Server) {
	errLog := slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)
	proxySrv = newProxyServer(p.splitter, p.cfg.readTimeout, p.cfg.writeTimeout, p.cfg.idleTimeout)
	proxySrv.ErrorLog = errLog
	adminSrv = &http.Server{
		Handler:           p.admin,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      admin.DefaultAbortTimeout + 10*time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          errLog,
	}
	return proxySrv, adminSrv
}

func newProxyServer(h http.Handler, read, write, idle time.Duration) *http.Server {
	return &http.Server{
		Handler:           writeDeadlines(h, write),
		ReadHeaderTimeout: min(10*time.Second, read),
		ReadTimeout:       read,
		IdleTimeout:       idle,
	}
}

// runRollout drives the rollout to its end, and again after each POST
// /retry. An error other than ctx ending leaves the proxy serving with the
// route in force: stopping would take both versions down.
func (p *proxy) runRollout(ctx context.Context) {
	for {
		err := p.rollout.Run(ctx)
		switch {
		case err == nil:
			st := p.rollout.Status()
			p.log.Info("rollout over: serving on", "phase", st.Phase.String(), "canary_percent", st.Percent)
		case ctx.Err() != nil:
			return
		default:
			p.log.Error("rollout stopped: serving on with the route in force", "err", err)
			return
		}
		if !p.awaitRetry(ctx) {
			return
		}
		p.log.Info("retrying the rollout from its first step")
	}
}

// awaitRetry waits until the rollout is pending again (POST /retry after a
// rollback) and reports whether it is; false when ctx ends first.
func (p *proxy) awaitRetry(ctx context.Context) bool {
	for {
		changed := p.rollout.Changed()
		if p.rollout.Status().Phase == ramp.Pending {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}
