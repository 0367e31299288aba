package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/internal/termview"
)

func get(ctx context.Context, e *env, output string) (int, error) {
	st, err := e.client.status(ctx)
	if err != nil {
		return failed(ctx, err)
	}
	if output == "json" {
		return writeJSON(e, st)
	}
	for _, l := range panel(st, time.Now(), nil) {
		fmt.Fprintln(e.stdout, l)
	}
	return exitOK, nil
}

func history(ctx context.Context, e *env, output string) (int, error) {
	st, err := e.client.status(ctx)
	if err != nil {
		return failed(ctx, err)
	}
	if output == "json" {
		return writeJSON(e, struct {
			Events    any `json:"events"`
			Revisions any `json:"revisions"`
		}{st.History, st.Revisions})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tPHASE\tSTEP\tCANARY\tVERDICT\tREASON")
	for _, ev := range st.History {
		step := "–"
		if ev.Step >= 0 {
			step = strconv.Itoa(ev.Step + 1)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Kind, ev.Phase,
			step, termview.Percent(ev.CanaryPercent), dash(ev.Verdict), dash(oneLine(ev.Reason)))
	}
	tw.Flush()
	if len(st.Revisions) > 0 {
		fmt.Fprintln(e.stdout)
		tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tPREVIOUS\tOUTCOME\tSTARTED\tENDED\tREASON")
		for _, r := range st.Revisions {
			ended := "–"
			if !r.EndedAt.IsZero() {
				ended = r.EndedAt.Local().Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Version, dash(r.Previous), r.Outcome, r.StartedAt.Local().Format("2006-01-02 15:04:05"), ended, dash(oneLine(r.Reason)))
		}
		tw.Flush()
	}
	return exitOK, nil
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func writeJSON(e *env, v any) (int, error) {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitError, err
	}
	return exitOK, nil
}

// phases are the phases wait knows.
var phases = []string{"pending", "progressing", "paused", "rolling_back", "succeeded", "rolled_back"}

type waitCmd struct {
	until    string
	timeout  time.Duration
	interval time.Duration
}

func (w *waitCmd) flags(fs *flag.FlagSet) func() error {
	fs.StringVar(&w.until, "until", "", "`phase` to wait for: "+strings.Join(phases, ", ")+" (required)")
	fs.DurationVar(&w.timeout, "timeout", 10*time.Minute, "give up (exit 4) after this long")
	fs.DurationVar(&w.interval, "interval", time.Second, "time between two reads of the status")
	return func() error {
		var errs []error
		if !contains(phases, w.until) {
			errs = append(errs, fmt.Errorf("--until: %q is not one of %s", w.until, strings.Join(phases, ", ")))
		}
		if w.timeout <= 0 {
			errs = append(errs, fmt.Errorf("--timeout: %v must be positive", w.timeout))
		}
		if w.interval <= 0 {
			errs = append(errs, fmt.Errorf("-interval: %v must be positive", w.interval))
		}
		return errors.Join(errs...)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// run polls the status until the phase is w.until (0), the rollout ends
// otherwise (3) or the timeout passes (4). An unreachable API is retried
// until the timeout: the proxy may be restarting.
func (w *waitCmd) run(ctx context.Context, e *env) (int, error) {
	deadline := time.Now().Add(w.timeout)
	var lastErr error
	var last admin.Status // the last status read
	for {
		rctx, cancel := context.WithDeadline(ctx, deadline)
		st, err := e.client.status(rctx)
		cut := rctx.Err() != nil // by the deadline: not the API's fault
		cancel()
		var ae *apiError
		switch {
		case ctx.Err() != nil:
			return exitInterrupted, errors.New("interrupted")
		case errors.As(err, &ae) && ae.status/100 == 4:
			return failed(ctx, err) // a wrong address does not heal
		case err != nil && cut:
		case err != nil:
			lastErr = err
		case st.Phase == w.until:
			fmt.Fprintf(e.stdout, "%s\n", summary(st))
			return exitOK, nil
		case done(st.Phase) && st.Phase != w.until:
			fmt.Fprintf(e.stdout, "%s\n", summary(st))
			return exitOtherwise, fmt.Errorf("wait: the rollout ended %s, not %s", st.Phase, w.until)
		default:
			lastErr, last = nil, st
		}
		if !time.Now().Before(deadline) {
			msg := fmt.Sprintf("wait: not %s after %v", w.until, w.timeout)
			switch {
			case lastErr != nil:
				msg += fmt.Sprintf(" (last error: %v)", lastErr)
			case last.Phase != "":
				msg += ": " + summary(last)
			}
			return exitTimeout, errors.New(msg)
		}
		t := time.NewTimer(min(w.interval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return exitInterrupted, errors.New("interrupted")
		case <-t.C:
		}
	}
}

// firstEvents is how many past events watch prints when it starts.
const firstEvents = 20

type watchCmd struct {
	interval time.Duration
	plain    bool
}

func (w *watchCmd) flags(fs *flag.FlagSet) func() error {
	fs.DurationVar(&w.interval, "interval", time.Second, "time between two reads of the status")
	fs.BoolVar(&w.plain, "plain", false, "plain lines (events and a status line a second) even on a terminal")
	return func() error {
		if w.interval <= 0 {
			return fmt.Errorf("-interval: %v must be positive", w.interval)
		}
		return nil
	}
}

// run shows the rollout until it ends (exit 0) or the user interrupts
// (exit 0 too: watching is not a verdict; use wait). Events scroll above
// the panel as they happen. Errors reading the status are shown and
// retried.
func (w *watchCmd) run(ctx context.Context, e *env) (int, error) {
	r := termview.New(e.stdout, termview.Options{Plain: w.plain, Getenv: e.getenv})
	defer r.Close()
	var (
		rt       rates
		last     *admin.Event
		shownErr string
		endedAt  time.Time // when the phase was first seen done
	)
	for {
		st, err := e.client.status(ctx)
		var ae *apiError
		switch {
		case ctx.Err() != nil:
			return exitOK, nil
		case errors.As(err, &ae) && ae.status == http.StatusNotFound:
			return failed(ctx, err)
		case err != nil:
			if msg := err.Error(); msg != shownErr {
				r.Println(fmt.Sprintf("rampctl: %v (retrying)", err))
				shownErr = msg
			}
		default:
			shownErr = ""
			evs := newEvents(st.History, last)
			if last == nil && len(evs) > firstEvents {
				r.Println(fmt.Sprintf("… %d earlier events: rampctl history", len(evs)-firstEvents))
				evs = evs[len(evs)-firstEvents:]
			}
			for _, ev := range evs {
				r.Println(eventLine(ev, len(st.Steps)))
				last = &ev
			}
			rt.update(st, time.Now())
			if err := r.Draw(liveView(st, rt.perS)); err != nil {
				return exitError, err
			}
			if done(st.Phase) {
				// The closing event reaches the history a moment after
				// the phase: wait for it, a little.
				if endedAt.IsZero() {
					endedAt = time.Now()
				}
				if last != nil && last.Kind == st.Phase || time.Since(endedAt) > 2*time.Second {
					return exitOK, r.Close()
				}
			}
		}
		t := time.NewTimer(w.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return exitOK, nil
		case <-t.C:
		}
	}
}
