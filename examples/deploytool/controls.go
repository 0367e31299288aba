package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/lock"
	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/window"
)

// Exit codes of the release controls.
const (
	exitLockHeld     = 4 // another deploytool holds -lock
	exitWindowClosed = 5 // outside the -windows deployment window (or the line is stopped)
	exitRefused      = 6 // the pipeline refuses the release here: order, identity, approval or an earlier failure
)

// controls are the release-control flags: the deploy lock, deployment
// windows, the environment pipeline and the release's identity.
type controls struct {
	lockFile     string
	windowsFile  string
	windowWait   time.Duration
	calendar     *window.Calendar
	overrideBy   string
	overrideWhy  string
	historyFile  string
	envs         []string
	env          string
	promote      bool // the "promote" command: -env and -history are required
	approvedBy   string
	approvalNote string
	approvalEnvs []string
	keysWindow   time.Duration
	labelPattern *regexp.Regexp
	id           release.Identity // Label is -canary-version
	// engineLock is the deploy lock the engine takes (a plain deploy
	// with -lock); nil otherwise.
	engineLock lock.Lock

	// observe, when set, sees every rollout event (deploy calls it).
	observe func(ramp.Event)
}

// controlFlags are the flags' raw values until check.
type controlFlags struct {
	envs, approvalEnvs, commitTime, buildTime, labelPattern string
}

func addControlFlags(fs *flag.FlagSet, c *controls, raw *controlFlags) {
	fs.StringVar(&c.lockFile, "lock", "", "deploy lock `file` (flock): a second deploytool on the same file exits 4 naming the holder")
	fs.StringVar(&c.windowsFile, "windows", "", "deployment windows `file` (JSON, see README): outside them deploytool exits 5 and a running rollout holds its step")
	fs.DurationVar(&c.windowWait, "window-wait", 0, "how long to wait for a closed window to open before exiting 5 (0: exit at once)")
	fs.StringVar(&c.overrideBy, "override-by", "", "`person` overriding a closed window for this run (recorded); needs -override-reason")
	fs.StringVar(&c.overrideWhy, "override-reason", "", "`why` the window is overridden")
	fs.StringVar(&c.historyFile, "history", "", "release history `file` (JSON) of the environment pipeline, shared by the jobs of all environments")
	fs.StringVar(&raw.envs, "envs", "dev,staging,prod", "environments in promotion `order`")
	fs.StringVar(&c.env, "env", "", "`environment` this run deploys to; the release must have succeeded in the one before (needs -history)")
	fs.BoolVar(&c.promote, "promote", false, "same as the promote command: -env and -history are required")
	fs.StringVar(&c.approvedBy, "approved-by", "", "`person` who approved entering an environment listed in -approval-envs")
	fs.StringVar(&c.approvalNote, "approval-note", "", "`note` recorded with the approval (a ticket, a link)")
	fs.StringVar(&raw.approvalEnvs, "approval-envs", "prod", "`environments` that need -approved-by")
	fs.StringVar(&c.id.Commit, "commit", "", "git commit `sha` the canary version was built from")
	fs.StringVar(&raw.commitTime, "commit-time", "", "`time` of that commit (RFC 3339, e.g. $(git show -s --format=%cI)); the lead time for changes runs from it")
	fs.StringVar(&raw.buildTime, "build-time", "", "`time` the canary version was built (RFC 3339)")
	fs.StringVar(&c.id.Digest, "digest", "", "image `digest` of the canary version (sha256:…); every environment must get the same")
	fs.StringVar(&c.id.NotesURL, "notes-url", "", "release notes `URL`")
	fs.StringVar(&raw.labelPattern, "label-pattern", "", "`regexp` of version labels accepted besides semantic versions and git SHAs (with -history)")
	fs.DurationVar(&c.keysWindow, "keys-window", 30*24*time.Hour, "`window` over which the four keys are computed from -history")
}

// check validates the control flags; canary is -canary-version.
func (c *controls) check(raw *controlFlags, canary string, bad func(name, format string, a ...any)) {
	c.envs = splitList(raw.envs)
	c.approvalEnvs = splitList(raw.approvalEnvs)
	if c.lockFile != "" && strings.TrimSpace(c.lockFile) == "" {
		bad("lock", "blank")
	}
	if c.windowsFile != "" {
		cal, err := window.Load(c.windowsFile)
		if err != nil {
			bad("windows", "%v", err)
		}
		c.calendar = cal
	}
	if (c.overrideBy == "") != (c.overrideWhy == "") || (c.overrideBy != "" && (strings.TrimSpace(c.overrideBy) == "" || strings.TrimSpace(c.overrideWhy) == "")) {
		bad("override-by", "an override needs both -override-by and -override-reason, neither blank")
	}
	if c.overrideBy != "" && c.windowsFile == "" {
		bad("override-by", "there is no -windows file to override")
	}
	if c.windowWait < 0 {
		bad("window-wait", "%v is negative", c.windowWait)
	}
	if c.promote && c.env == "" {
		bad("env", "required by promote")
	}
	if c.env != "" && c.historyFile == "" {
		bad("history", "required with -env %q (it holds where each release has been)", c.env)
	}
	if c.env != "" && !contains(c.envs, c.env) {
		bad("env", "%q is not one of -envs %s", c.env, strings.Join(c.envs, ","))
	}
	if len(c.envs) == 0 {
		bad("envs", "empty")
	}
	for i, e := range c.envs {
		if contains(c.envs[:i], e) {
			bad("envs", "%q appears twice", e)
		}
	}
	for name, val := range map[string]string{"commit-time": raw.commitTime, "build-time": raw.buildTime} {
		if val == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(val))
		if err != nil {
			bad(name, "%q is not an RFC 3339 time (e.g. 2026-12-01T09:30:00+01:00)", val)
		}
		if name == "commit-time" {
			c.id.CommitTime = t
		} else {
			c.id.BuildTime = t
		}
	}
	if raw.labelPattern != "" {
		re, err := regexp.Compile(raw.labelPattern)
		if err != nil {
			bad("label-pattern", "%q: %v", raw.labelPattern, err)
		}
		c.labelPattern = re
	}
	if c.keysWindow <= 0 {
		bad("keys-window", "%v must be positive", c.keysWindow)
	}
	c.id.Label = canary
	if c.historyFile != "" || c.env != "" {
		// In a pipeline the label is the release's identity: it must name
		// one build.
		if err := release.CheckLabel("-canary-version", canary, c.labelPattern); err != nil {
			bad("canary-version", "%s", strings.TrimPrefix(err.Error(), "-canary-version: "))
		}
	}
	if err := c.id.Validate(nil); err != nil {
		for _, e := range unjoin(err) {
			if strings.HasPrefix(e.Error(), "label: ") {
				continue // checked above, only in a pipeline
			}
			field, msg, _ := strings.Cut(e.Error(), ": ")
			bad(strings.ReplaceAll(field, "_", "-"), "%s", msg)
		}
	}
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// controlled runs deploy inside the release controls. A plain deploy
// hands the deploy lock and the window to the engine (ramp.Config.Lock,
// Config.Window): the engine holds the lock for the rollout's life and
// holds a step while the window is closed, saying why. With -env the
// pipeline reads and writes the history before and after the rollout, so
// deploytool holds the lock itself around the whole pipeline (a "running"
// stage found while holding it belongs to a dead run).
func controlled(ctx context.Context, o *options, out *lockedWriter, stderr io.Writer) int {
	c := &o.controls
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "deploytool: "+format+"\n", a...)
		return code
	}
	if c.lockFile != "" {
		purpose := fmt.Sprintf("deploytool: %s → %s in backend %s", o.stableVersion, o.canaryVersion, o.backend)
		if c.env != "" {
			purpose += " in " + c.env
		}
		l := &purposeLock{Lock: lock.NewFile(c.lockFile, o.backend), purpose: purpose,
			acquired: func() { out.printf("deploytool: holding the deploy lock %s\n", c.lockFile) }}
		if c.env == "" {
			c.engineLock = l
		} else {
			err := l.TryAcquire(ctx, lock.Holder{Version: o.canaryVersion})
			if errors.Is(err, lock.ErrHeld) {
				return fail(exitLockHeld, "%v", err)
			}
			if err != nil {
				return fail(exitError, "-lock: %v", err)
			}
			defer func() {
				if err := l.Release(context.Background()); err != nil {
					fmt.Fprintf(stderr, "deploytool: releasing the lock: %v\n", err)
				}
			}()
		}
	}
	if c.calendar != nil && c.overrideBy != "" {
		now := time.Now()
		// The override covers this run: it lapses a day on, long after any
		// rollout deploytool runs.
		if err := c.calendar.Override(window.Override{Who: c.overrideBy, Why: c.overrideWhy, At: now, Until: now.Add(24 * time.Hour)}); err != nil {
			return fail(exitUsage, "-override-by: %v", err)
		}
	}
	if c.env == "" {
		// Checked before the preflight, so a closed window touches
		// nothing; the engine asks again when the rollout starts.
		if code, ok := checkWindow(c, out, stderr); !ok {
			return code
		}
		return deploy(ctx, o, out, stderr)
	}
	if c.calendar != nil && c.windowWait > 0 {
		// The pipeline admits a release only into an open window.
		if d := c.calendar.Check(time.Now()); !d.Open {
			out.printf("deploytool: waiting up to %v for the deployment window: %s\n", c.windowWait, d.Reason)
			wctx, cancel := context.WithTimeout(ctx, c.windowWait)
			_, _ = window.Wait(wctx, c.calendar, nil, 0) // still closed: the pipeline refuses
			cancel()
		}
	}
	return promote(ctx, o, out, stderr)
}

// purposeLock is a deploy lock that names deploytool's purpose in its
// holder (the engine names the version) and says when it is taken.
type purposeLock struct {
	lock.Lock
	purpose  string
	acquired func()
}

func (l *purposeLock) TryAcquire(ctx context.Context, h lock.Holder) error {
	h.Purpose = l.purpose
	err := l.Lock.TryAcquire(ctx, h)
	if err == nil {
		l.acquired()
	}
	return err
}

// checkWindow refuses a start outside the window unless -window-wait asks
// to wait for it (the engine waits, Config.WindowClosed); an open
// decision on an override is printed.
func checkWindow(c *controls, out *lockedWriter, stderr io.Writer) (int, bool) {
	if c.calendar == nil {
		return 0, true
	}
	d := c.calendar.Check(time.Now())
	switch {
	case !d.Open && c.windowWait > 0:
		out.printf("deploytool: waiting up to %v for the deployment window: %s\n", c.windowWait, d.Reason)
	case !d.Open:
		fmt.Fprintf(stderr, "deploytool: outside the deployment window: %s\n", d.Reason)
		return exitWindowClosed, false
	case d.Override != nil:
		out.printf("deploytool: window closed; going ahead on the override of %s: %s\n", d.Override.Who, d.Override.Why)
	}
	return 0, true
}

// promote runs deploy as environment c.env of the pipeline kept in
// -history, and prints the four keys from it.
func promote(ctx context.Context, o *options, out *lockedWriter, stderr io.Writer) int {
	c := &o.controls
	var mu sync.Mutex
	var faultAt, endAt time.Time
	c.observe = func(e ramp.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case ramp.EventRollingBack:
			if faultAt.IsZero() {
				faultAt = e.Time
			}
		case ramp.EventRolledBack, ramp.EventSucceeded:
			endAt = e.Time
		}
	}
	code := exitError
	envs := make([]release.Environment, len(c.envs))
	for i, name := range c.envs {
		envs[i] = release.Environment{Name: name, Run: func(context.Context, release.Identity) (release.Outcome, error) {
			return release.Outcome{}, fmt.Errorf("environment %s runs in its own deploytool job", name)
		}}
		if contains(c.approvalEnvs, name) {
			envs[i].Approve = func(context.Context, release.Identity, string) (release.Approval, error) {
				if strings.TrimSpace(c.approvedBy) == "" {
					return release.Approval{}, fmt.Errorf("%s needs an approval: -approved-by names the person who gave it", name)
				}
				return release.Approval{By: c.approvedBy, Note: c.approvalNote}, nil
			}
		}
		if name == c.env {
			if c.calendar != nil {
				envs[i].Window = c.calendar
			}
			envs[i].Run = func(ctx context.Context, id release.Identity) (release.Outcome, error) {
				code = deploy(ctx, o, out, stderr)
				mu.Lock()
				defer mu.Unlock()
				switch code {
				case exitPromoted:
					return release.Outcome{Succeeded: true, End: endAt}, nil
				case exitRolledBack:
					return release.Outcome{Reason: "rolled back", FaultAt: faultAt, End: endAt}, nil
				}
				return release.Outcome{Reason: fmt.Sprintf("deploytool exited %d", code)}, nil
			}
		}
	}
	p, err := release.New(release.Config{Environments: envs, Store: release.FileStore{Path: c.historyFile}, LabelPattern: c.labelPattern})
	if err != nil {
		fmt.Fprintf(stderr, "deploytool: %v\n", err)
		return exitUsage
	}
	out.printf("deploytool: release %s into %s (pipeline %s)\n", c.id.Label, c.env, strings.Join(c.envs, " → "))
	st, err := p.Promote(ctx, c.env, c.id)
	if errors.Is(err, release.ErrRunning) && c.lockFile != "" {
		// We hold the deploy lock, so the run the history calls running is
		// dead (killed, or its host lost): its outcome is unknown, and the
		// release goes no further.
		if aerr := p.Abandon(ctx, c.env, c.id.Label, "its deploytool run ended without recording how (killed?); found by a later run holding -lock"); aerr != nil {
			err = errors.Join(err, aerr)
		} else {
			err = fmt.Errorf("%w; marked failed: its run died before it ended, so the release is stopped; release a new version", err)
		}
	}
	switch {
	case errors.Is(err, release.ErrDone):
		out.printf("deploytool: %v: nothing to do\n", err)
		code = exitPromoted
	case errors.Is(err, release.ErrClosed):
		fmt.Fprintf(stderr, "deploytool: %v\n", err)
		return exitWindowClosed
	case errors.Is(err, release.ErrOrder), errors.Is(err, release.ErrStopped), errors.Is(err, release.ErrIdentity),
		errors.Is(err, release.ErrNotApproved), errors.Is(err, release.ErrRunning), errors.Is(err, release.ErrLabel):
		fmt.Fprintf(stderr, "deploytool: refused: %v\n", err)
		return exitRefused
	case err != nil:
		fmt.Fprintf(stderr, "deploytool: release history: %v\n", err)
		if code == exitPromoted || code == exitRolledBack {
			return code // the rollout ended; only recording it failed
		}
		return exitError
	default:
		line := fmt.Sprintf("deploytool: release %s: %s in %s", c.id.Label, st.Status, c.env)
		if st.ApprovedBy != "" {
			line += ", approved by " + st.ApprovedBy
		}
		if st.OverrideBy != "" {
			line += ", window overridden by " + st.OverrideBy
		}
		out.printf("%s\n", line)
	}
	printKeys(ctx, p, c, out, stderr)
	return code
}

// printKeys prints the four keys of the last environment from the history.
func printKeys(ctx context.Context, p *release.Pipeline, c *controls, out *lockedWriter, stderr io.Writer) {
	recs, err := p.Records(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "deploytool: four keys: %v\n", err)
		return
	}
	last := c.envs[len(c.envs)-1]
	k := release.KeysOfRecords(recs, last, time.Now(), c.keysWindow)
	out.printf("deploytool: four keys in %s over %v: %s (bands of the %s)\n", last, c.keysWindow, k, release.BandsSource)
}
