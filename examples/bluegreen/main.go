// Command bluegreen shows a blue-green release with ramp, end to end and
// self-contained:
//
//	go run ./examples/bluegreen            # about 8 s
//	go run ./examples/bluegreen -hold 500ms -rate 400
//	go run ./examples/bluegreen -max-p99 1s  # on a slow or busy machine
//
// It starts two versions of a small web service on loopback — blue, live
// now, and green, the new one — and a router (a traffic.Splitter) in front
// of them, with users sending requests at -rate and testers, one request
// in ten, adding the header "X-Preview: 1". Then it releases green with
// strategy.BlueGreen:
//
//  1. Preview: all weighted traffic stays on blue, but requests with
//     X-Preview: 1 go to green. After -hold, the pre-promotion analysis
//     judges green on those requests alone (5xx rate, p99 latency within
//     -max-p99).
//  2. Switch: green takes 100% of the traffic in one route change. Blue
//     stays up. After -hold, the post-promotion analysis judges green
//     under full load.
//  3. Success. For the rollback window (ramp.Config.RollbackWindow) blue
//     is kept warm, and a rollback is still one route change away.
//  4. An incident that no metric caught is reported -hold later, and
//     Rollout.Abort sends all traffic back to blue at once — the output
//     says how many microseconds that took.
//
// At the end it prints which version answered users and testers under each
// route, and exits 0. Any other course (an analysis failing, say) exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, plays the release and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bluegreen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := options{}
	fs.DurationVar(&opts.hold, "hold", 2*time.Second, "how long the preview and the post-promotion check last, and how long after success the incident comes")
	fs.IntVar(&opts.rate, "rate", 200, "user requests per second (testers add a tenth)")
	fs.DurationVar(&opts.maxP99, "max-p99", 250*time.Millisecond, "the p99 latency green must stay within in both analyses (raise it on a slow or busy machine)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "bluegreen: unexpected arguments %q\n", fs.Args())
		return 2
	case opts.hold < 50*time.Millisecond:
		fmt.Fprintf(stderr, "bluegreen: -hold: %v is below 50ms\n", opts.hold)
		return 2
	case opts.rate < 10 || opts.rate > 10000:
		fmt.Fprintf(stderr, "bluegreen: -rate: %d is outside [10, 10000]\n", opts.rate)
		return 2
	case opts.maxP99 <= 0:
		fmt.Fprintf(stderr, "bluegreen: -max-p99: %v must be positive\n", opts.maxP99)
		return 2
	}
	rep, err := release(ctx, opts, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "bluegreen: %v\n", err)
		return 1
	}
	rep.print(stdout)
	return 0
}
