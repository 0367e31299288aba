// Command rampctl operates a rollout through its admin API (package
// github.com/ramp-go/ramp/admin), as served by examples/canaryproxy or by
// any host that mounts admin.NewHandler.
//
// Usage:
//
//	rampctl [-addr URL] [-token T | -token-file F] COMMAND [flags]
//
// Commands:
//
//	get [-o text|json]        the rollout's status once
//	watch [-interval D] [-plain]
//	                          a live view until the rollout ends (or Ctrl-C): share bar,
//	                          steps, per-version rate, 5xx share and p99, the last verdict,
//	                          the reason, with the events scrolling above it; redrawn in
//	                          place on a terminal (internal/termview, shared with the demo),
//	                          plain lines otherwise: each event, and a status line at most
//	                          once a second
//	promote [--full]          leave the current step now (--full: skip every remaining step)
//	pause                     hold the current step
//	resume                    continue a paused rollout
//	abort [--reason TEXT]     roll back now
//	retry                     start a rolled-back rollout again from its first step
//	history [-o text|json]    the rollout's events and the revisions it made live
//	wait --until PHASE [--timeout D] [-interval D]
//	                          wait until the rollout is in PHASE (succeeded, rolled_back,
//	                          paused, progressing, pending)
//
// Flags may come before or after the command. -addr defaults to
// $RAMP_ADMIN_ADDR, else http://127.0.0.1:8081; host:port means http. The
// token of the operations comes from -token, -token-file or
// $RAMP_ADMIN_TOKEN (prefer the file or the variable: a flag's value is
// visible to other users in the process list). rampctl never prints it.
//
// # Exit status
//
//	0  done: the operation was accepted, or wait saw PHASE
//	1  error: the admin API could not be reached or answered an error
//	2  bad usage
//	3  wait: the rollout ended otherwise (rolled back while waiting for
//	   succeeded, or succeeded while waiting for rolled_back)
//	4  wait: --timeout passed first
//	5  refused: missing or wrong token (401), or operations disabled (403)
//	6  conflict: the operation does not apply to the rollout's phase (409),
//	   e.g. pause after success
//	130 interrupted (SIGINT, SIGTERM)
//
// A script promoting a release reads:
//
//	rampctl wait --until succeeded --timeout 30m || { echo "not promoted: $?"; exit 1; }
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ramp-go/ramp/internal/termview"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitOtherwise   = 3
	exitTimeout     = 4
	exitRefused     = 5
	exitConflict    = 6
	exitInterrupted = 130
)

const (
	tokenEnv    = "RAMP_ADMIN_TOKEN"
	addrEnv     = "RAMP_ADMIN_ADDR"
	defaultAddr = "http://127.0.0.1:8081"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a bad command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// env is the command line's common part.
type env struct {
	addr, token, tokenFile string
	requestTimeout         time.Duration

	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	client *client
}

func (e *env) register(fs *flag.FlagSet) {
	// The current values are the defaults, so that flags given before the
	// command survive the command's flag set.
	fs.StringVar(&e.addr, "addr", e.addr, "admin API `URL` (default $"+addrEnv+", else "+defaultAddr+")")
	fs.StringVar(&e.token, "token", e.token, "bearer `token` of the operations (default $"+tokenEnv+")")
	fs.StringVar(&e.tokenFile, "token-file", e.tokenFile, "`file` holding the token")
	fs.DurationVar(&e.requestTimeout, "request-timeout", e.requestTimeout, "timeout of each request (an abort waits for the rollback: give it time)")
}

const usageText = `Usage: rampctl [-addr URL] [-token T | -token-file F] COMMAND [flags]

Commands:
  get [-o text|json]         the rollout's status
  watch [-interval D] [-plain]  a live view until the rollout ends
  promote [--full]           leave the current step (--full: all remaining steps)
  pause | resume             hold or continue the current step
  abort [--reason TEXT]      roll back now
  retry                      start a rolled-back rollout again
  history [-o text|json]     events and revisions
  wait --until PHASE [--timeout D]  wait for succeeded, rolled_back, paused, …

The token comes from -token, -token-file or $RAMP_ADMIN_TOKEN.
Exit status: 0 done, 1 error, 2 usage, 3 wait: ended otherwise,
4 wait: timed out, 5 refused (token), 6 not allowed in this phase.
`

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{addr: getenv(addrEnv), requestTimeout: 45 * time.Second, getenv: getenv, stdout: stdout, stderr: stderr}
	if e.addr == "" {
		e.addr = defaultAddr
	}
	code, err := e.dispatch(ctx, args)
	var ue usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "rampctl: %v\nRun rampctl -h for usage.\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "rampctl: %v\n", err)
	}
	return code
}

// command is one subcommand: its flags, and what it does.
type command struct {
	flags func(fs *flag.FlagSet) func() error // defines flags; returns a check run after parsing
	run   func(ctx context.Context, e *env) (int, error)
}

func (e *env) dispatch(ctx context.Context, args []string) (int, error) {
	fs := newFlagSet("rampctl")
	e.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, flagErr(err)
	}
	if fs.NArg() == 0 {
		return exitUsage, usageError{"no command: want one of get, watch, promote, pause, resume, abort, retry, history, wait"}
	}
	name := fs.Arg(0)
	cmds := commands()
	cmd, ok := cmds[name]
	if !ok {
		return exitUsage, usageError{fmt.Sprintf("unknown command %q", name)}
	}
	sub := newFlagSet("rampctl " + name)
	e.register(sub)
	check := cmd.flags(sub)
	if err := sub.Parse(fs.Args()[1:]); err != nil {
		return exitUsage, flagErr(err)
	}
	if sub.NArg() > 0 {
		return exitUsage, usageError{fmt.Sprintf("%s: unexpected argument %q", name, sub.Arg(0))}
	}
	if err := check(); err != nil {
		return exitUsage, usageError{name + ": " + err.Error()}
	}
	if err := e.connect(); err != nil {
		return exitUsage, err
	}
	return cmd.run(ctx, e)
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors; -h prints usageText
	return fs
}

func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}

// connect checks -addr and finds the token.
func (e *env) connect() error {
	base, err := parseAddr(e.addr)
	if err != nil {
		return usageError{"-addr: " + err.Error()}
	}
	if e.requestTimeout <= 0 {
		return usageError{fmt.Sprintf("-request-timeout: %v must be positive", e.requestTimeout)}
	}
	token := e.token
	if token == "" && e.tokenFile != "" {
		b, err := os.ReadFile(e.tokenFile)
		if err != nil {
			return usageError{fmt.Sprintf("-token-file: %v", err)}
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		token = e.getenv(tokenEnv)
	}
	e.client = newClient(base, token, e.requestTimeout)
	return nil
}

// failed turns an error of the API into an exit code and a message.
func failed(ctx context.Context, err error) (int, error) {
	var ae *apiError
	switch {
	case ctx.Err() != nil:
		return exitInterrupted, errors.New("interrupted")
	case errors.As(err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden):
		return exitRefused, err
	case errors.As(err, &ae) && ae.status == http.StatusConflict:
		return exitConflict, err
	}
	return exitError, err
}

func commands() map[string]command {
	noFlags := func(*flag.FlagSet) func() error { return func() error { return nil } }
	op := func(name string, query func() url.Values) func(context.Context, *env) (int, error) {
		return func(ctx context.Context, e *env) (int, error) {
			var q url.Values
			if query != nil {
				q = query()
			}
			res, code, err := e.client.op(ctx, name, q)
			if err != nil {
				return failed(ctx, err)
			}
			msg := fmt.Sprintf("%s: accepted; rollout %s, canary %s", name, res.Phase, termview.Percent(res.CanaryPercent))
			if code == http.StatusAccepted {
				msg = fmt.Sprintf("%s: accepted; the rollback is still under way (rollout %s): follow it with rampctl watch", name, res.Phase)
			}
			fmt.Fprintln(e.stdout, msg)
			return exitOK, nil
		}
	}

	var full bool
	var reason string
	var output string
	outputFlag := func(fs *flag.FlagSet) func() error {
		fs.StringVar(&output, "o", "text", "output `format`: text or json")
		return func() error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o: %q is not text or json", output)
			}
			return nil
		}
	}
	w := &waitCmd{}
	wt := &watchCmd{}
	return map[string]command{
		"get":     {flags: outputFlag, run: func(ctx context.Context, e *env) (int, error) { return get(ctx, e, output) }},
		"history": {flags: outputFlag, run: func(ctx context.Context, e *env) (int, error) { return history(ctx, e, output) }},
		"watch":   {flags: wt.flags, run: wt.run},
		"wait":    {flags: w.flags, run: w.run},
		"promote": {
			flags: func(fs *flag.FlagSet) func() error {
				fs.BoolVar(&full, "full", false, "skip every remaining step: the canary takes all traffic")
				return func() error { return nil }
			},
			run: func(ctx context.Context, e *env) (int, error) {
				if full {
					return op("promote-full", nil)(ctx, e)
				}
				return op("promote", nil)(ctx, e)
			},
		},
		"pause":  {flags: noFlags, run: op("pause", nil)},
		"resume": {flags: noFlags, run: op("resume", nil)},
		"retry":  {flags: noFlags, run: op("retry", nil)},
		"abort": {
			flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&reason, "reason", "", "why, recorded with the rollback")
				return func() error { return nil }
			},
			run: op("abort", func() url.Values {
				if reason == "" {
					return nil
				}
				return url.Values{"reason": {reason}}
			}),
		},
	}
}
