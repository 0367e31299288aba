// Command fleetproxy is a canary reverse proxy that runs as one replica of
// a fleet coordinated through etcd: every replica applies one route,
// published by the elected leader, and the rollout moves on only when
// every live replica has confirmed it.
//
// Usage:
//
//	fleetproxy -etcd http://10.0.0.9:2379 -service shop -replica shop-1 \
//	    -stable http://10.0.0.5:8080 -canary http://10.0.0.6:8080 \
//	    -stable-version v1.4.1 -canary-version v1.4.2 -steps 10:5m,50:5m \
//	    -listen :8080 -admin :9090
//
// Each step of -steps is PERCENT:HOLD (strategy.ParseSteps); the hold
// "promote" waits for a promote, no hold or 0 is strategy.DefaultHold.
// The leader judges each step on the requests of the whole fleet (merged
// from every replica's admin server: error rate at most -max-error-rate
// over at least -min-samples requests) and a guard on the fleet's traffic
// rolls back at once on a significant excess of 5xx. Each replica also
// guards its own traffic: when it sees the canary failing it routes to
// stable at once and asks the leader to roll the fleet back. A replica
// cut off from etcd for longer than -ttl routes to stable and says so on
// /status; it rejoins when etcd is back.
//
// The admin server (-admin) serves a status page at / listing the
// replicas, GET /status (JSON with a "fleet"
// object), POST /promote, /promote-fully, /pause, /resume and /abort (sent
// to the leader, whichever replica receives them), and the replica's
// recorded windows for the leader (fleet.WindowPath). SIGINT or SIGTERM
// stops the replica: it leaves the fleet, and another replica leads.
//
// fleetproxy lives in the fleet module because the core module never
// depends on the etcd client; examples/canaryproxy is the single-process
// proxy.
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
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ramp-go/ramp/fleet"
	"github.com/ramp-go/ramp/fleet/internal/etcdflags"
)

type config struct {
	listen, admin                string
	stable, canary               *url.URL
	stableVersion, canaryVersion string
	steps                        string
	etcd                         *etcdflags.Flags
	service, replica             string
	ttl                          time.Duration
	maxErrorRate                 float64
	minSamples                   int64
	progressDeadline             time.Duration
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("fleetproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var stable, canary string
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to proxy on")
	fs.StringVar(&c.admin, "admin", "127.0.0.1:9090", "admin address (status, operations, windows for the leader)")
	fs.StringVar(&stable, "stable", "", "stable upstream URL (required)")
	fs.StringVar(&canary, "canary", "", "canary upstream URL (required)")
	fs.StringVar(&c.stableVersion, "stable-version", "stable", "stable version label")
	fs.StringVar(&c.canaryVersion, "canary-version", "canary", "canary version label")
	fs.StringVar(&c.steps, "steps", "10:1m,50:1m", "steps PERCENT:HOLD, comma-separated; hold \"promote\" waits for a promote, none or 0 is 5m")
	c.etcd = etcdflags.Register(fs, "FLEETPROXY_ETCD_PASSWORD")
	fs.StringVar(&c.service, "service", "", "service name: the fleet (required)")
	fs.StringVar(&c.replica, "replica", "", "replica ID (default hostname-pid)")
	fs.DurationVar(&c.ttl, "ttl", fleet.DefaultTTL, "session TTL: how long a silent replica stays in the fleet")
	fs.Float64Var(&c.maxErrorRate, "max-error-rate", 0.05, "highest acceptable share of canary 5xx, in (0,1)")
	fs.Int64Var(&c.minSamples, "min-samples", 50, "canary requests a step needs before it is judged")
	fs.DurationVar(&c.progressDeadline, "progress-deadline", 5*time.Minute, "roll back when a step makes no progress this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	for _, u := range []struct {
		name, val string
		dst       **url.URL
	}{{"stable", stable, &c.stable}, {"canary", canary, &c.canary}} {
		p, err := url.Parse(u.val)
		if u.val == "" || err != nil || p.Scheme == "" || p.Host == "" {
			errs = append(errs, fmt.Errorf("-%s: %q is not an upstream URL (http://host:port)", u.name, u.val))
			continue
		}
		*u.dst = p
	}
	if _, err := c.etcd.Endpoints(); err != nil {
		errs = append(errs, err)
	}
	if c.service == "" {
		errs = append(errs, errors.New("-service: required"))
	}
	if !(c.maxErrorRate > 0 && c.maxErrorRate < 1) {
		errs = append(errs, fmt.Errorf("-max-error-rate: %v is not in (0,1)", c.maxErrorRate))
	}
	if c.ttl < time.Second {
		errs = append(errs, fmt.Errorf("-ttl: %v is under one second", c.ttl))
	}
	return c, errors.Join(errs...)
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetproxy:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("fleetproxy", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, log *slog.Logger) error {
	cli, err := cfg.etcd.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", cfg.admin)
	if err != nil {
		return err
	}
	p, err := newProxy(ctx, cfg, cli, "http://"+adminLn.Addr().String(), log)
	if err != nil {
		return err
	}
	defer p.close()
	srv := &http.Server{Handler: p.splitter, ReadHeaderTimeout: 10 * time.Second}
	admin := &http.Server{Handler: p.adminMux(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { _ = admin.Serve(adminLn) }()
	log.Info("serving", "listen", ln.Addr().String(), "admin", adminLn.Addr().String(), "replica", p.replica.ID())
	go p.drive(ctx)
	go p.guardLocally(ctx)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = admin.Shutdown(sctx)
	return srv.Shutdown(sctx)
}
