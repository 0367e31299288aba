package termview

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// ErrClosed is returned by Draw and Println after Close.
var ErrClosed = errors.New("termview: renderer closed")

// Options configure a Renderer. The zero value picks the live view on a
// terminal and plain lines everywhere else.
type Options struct {
	// Plain prints plain lines even when the output is a terminal.
	Plain bool
	// Width and Height, when both are positive, fix the size of the live
	// view instead of measuring the terminal, and turn the live view on even
	// when the output is not a terminal (recordings, tests). Zero: measure
	// the terminal on every draw and redraw when it is resized (SIGWINCH);
	// 80×24 when it cannot be measured.
	Width, Height int
	// Getenv reads NO_COLOR and TERM; nil means os.Getenv. A non-empty
	// NO_COLOR turns colour off (https://no-color.org); TERM=dumb, a
	// terminal that cannot move its cursor, gets plain lines.
	Getenv func(string) string
	// PlainInterval is how often Draw prints a status line in plain mode:
	// zero means once a second, a negative value on every Draw.
	PlainInterval time.Duration
}

// Renderer shows a View on w: on a terminal as a panel redrawn in place at
// the bottom of the output, with the lines printed by Println scrolling
// above it; elsewhere as plain lines, every Println line in full and a
// status line now and then. All methods are safe for concurrent use.
//
// On a terminal the Renderer hides the cursor while it draws. Close shows it
// again, resets colours and leaves the last panel on screen: call it on every
// way out — defer it right after New so that it also runs when the program
// panics on that goroutine, and call it before exiting on a signal.
type Renderer struct {
	w          io.Writer
	fd         int // the terminal measured, -1 for none
	live       bool
	color      bool
	fixedW     int
	fixedH     int
	plainEvery time.Duration

	mu         sync.Mutex
	view       View
	hasView    bool
	drawn      []int // widths of the rows of the panel on screen
	drawnWidth int   // terminal width they were drawn at
	hidden     bool  // the cursor is hidden
	lastPlain  time.Time
	closed     bool
	err        error // the first write error

	stopResize func()
	restoreVT  func()
}

// New returns a Renderer writing to w. It decides once whether w gets the
// live view (see Options).
func New(w io.Writer, o Options) *Renderer {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	r := &Renderer{w: w, fd: -1, plainEvery: o.PlainInterval, stopResize: func() {}, restoreVT: func() {}}
	if r.plainEvery == 0 {
		r.plainEvery = time.Second
	}
	if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		r.fd = int(f.Fd())
	}
	if o.Width > 0 && o.Height > 0 {
		r.fixedW, r.fixedH = o.Width, o.Height
	}
	r.live = !o.Plain && getenv("TERM") != "dumb" && (r.fd >= 0 || r.fixedW > 0)
	if r.live && r.fd >= 0 {
		restore, ok := enableVT(r.fd)
		if ok {
			r.restoreVT = restore
		}
		r.live = ok
	}
	r.color = r.live && getenv("NO_COLOR") == ""
	if r.live && r.fixedW == 0 {
		r.stopResize = onResize(r.resized)
	}
	return r
}

// Live reports whether the Renderer draws the live view (true) or prints
// plain lines (false).
func (r *Renderer) Live() bool { return r.live }

// Size is the size the live view lays itself out for: the terminal's, or
// the one fixed by Options.
func (r *Renderer) Size() (width, height int) {
	if r.fixedW > 0 {
		return r.fixedW, r.fixedH
	}
	if r.fd >= 0 {
		if w, h, err := term.GetSize(r.fd); err == nil && w > 0 && h > 0 {
			return w, h
		}
	}
	return 80, 24
}

// Draw shows v: in the live view it replaces the panel on screen; in plain
// mode it prints a one-line status at most once per Options.PlainInterval.
// It returns the first error writing to w, or ErrClosed after Close.
func (r *Renderer) Draw(v View) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.view, r.hasView = v, true
	if r.live {
		r.redrawLocked()
		return r.err
	}
	if now := time.Now(); r.plainEvery < 0 || now.Sub(r.lastPlain) >= r.plainEvery {
		r.lastPlain = now
		r.write(StatusLine(v) + "\n")
	}
	return r.err
}

// Println prints line for good: in the live view above the panel, wrapped
// to the width of the terminal (continuation rows indented by two spaces);
// in plain mode as it is.
func (r *Renderer) Println(line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if !r.live {
		r.write(line + "\n")
		return r.err
	}
	width, height := r.Size()
	var printed []string
	for _, l := range strings.Split(line, "\n") {
		printed = append(printed, Wrap(l, width, "  ", 0)...)
	}
	r.frameLocked(width, height, printed)
	return r.err
}

// Finish leaves the panel on screen as last drawn and lets it be: later
// Println lines go below it, and the next Draw starts a new panel below
// them. Use it when the release shown has ended and something follows (a
// summary, the next release in its own panel). In plain mode it does
// nothing.
func (r *Renderer) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || !r.live {
		return
	}
	if r.hasView {
		r.redrawLocked()
	}
	r.hasView, r.view = false, View{}
	r.drawn = r.drawn[:0]
}

// Close stops following resizes and, in the live view, draws the last
// panel once more, leaves it on screen and restores the terminal (cursor
// shown, colours reset). It is safe to call more than once and from any
// goroutine; it returns the first error writing to w.
func (r *Renderer) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return r.err
	}
	r.closed = true
	if r.live {
		if r.hasView {
			r.redrawLocked()
		}
		r.write(restore)
		r.hidden = false
		r.restoreVT()
	}
	err := r.err
	r.mu.Unlock()
	r.stopResize()
	return err
}

// RestoreOnPanic restores the terminal if the goroutine is panicking, then
// lets the panic go on. Defer it first thing in every goroutine that may
// panic while the view is up: a panic ends the program without running the
// deferred calls of other goroutines, so the Close deferred in main would
// not run.
//
//	go func() {
//		defer r.RestoreOnPanic()
//		…
//	}()
func (r *Renderer) RestoreOnPanic() {
	if p := recover(); p != nil {
		_ = r.Close()
		panic(p)
	}
}

const (
	hideCursor = "\x1b[?25l"
	// restore resets colours and shows the cursor.
	restore = "\x1b[0m\x1b[?25h"
)

// resized redraws at the new size; it runs on SIGWINCH.
func (r *Renderer) resized() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed && r.hasView {
		r.redrawLocked()
	}
}

// redrawLocked replaces the panel on screen with the current view.
func (r *Renderer) redrawLocked() {
	width, height := r.Size()
	r.frameLocked(width, height, nil)
}

// frameLocked goes back to the first row of the panel on screen, writes the
// printed lines over it, then the current view's panel, and erases what is
// left of the old panel below — in one write, so the terminal never shows
// half a frame. Each row is erased just before it is written: erasing the
// whole old panel first would, when it starts at the top of the screen,
// erase the entire screen, which tmux (scroll-on-clear) and some other
// terminals copy into the scrollback.
func (r *Renderer) frameLocked(width, height int, printed []string) {
	var b strings.Builder
	if !r.hidden {
		b.WriteString(hideCursor)
		r.hidden = true
	}
	up := 0
	for _, w := range r.drawn {
		up += screenRows(w, r.drawnWidth, width)
	}
	b.WriteString("\r")
	if up > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", up)
	}
	for _, l := range printed {
		b.WriteString(eraseLine + l + "\r\n")
	}
	r.drawn = r.drawn[:0]
	if r.hasView {
		// One row stays free for the cursor, so the panel never scrolls its
		// own first row off the screen (the cursor could not go back up).
		for _, row := range r.view.layout(width, max(height-1, 1)) {
			b.WriteString(eraseLine)
			r.writeRow(&b, row)
			b.WriteString("\r\n")
			r.drawn = append(r.drawn, row.width())
		}
	}
	r.drawnWidth = width
	b.WriteString(eraseBelow)
	r.write(b.String())
}

const (
	eraseLine  = "\x1b[K" // at the start of a row: the whole row
	eraseBelow = "\x1b[J"
)

// A redraw goes up by screen rows, not panel rows: when the terminal got
// narrower since the panel was drawn, a terminal that reflows its lines
// (tmux, VTE, iTerm2) now shows a wide row on several screen rows.

// screenRows is how many rows a row w columns wide, drawn when the terminal
// was then columns wide, takes now that it is now columns wide.
func screenRows(w, then, now int) int {
	if now >= then || w <= now {
		return 1
	}
	return (w + now - 1) / now
}

func (r *Renderer) writeRow(b *strings.Builder, row row) {
	for _, s := range row {
		if r.color && s.style != plain {
			b.WriteString(sgr[s.style])
			b.WriteString(s.text)
			b.WriteString("\x1b[0m")
			continue
		}
		b.WriteString(s.text)
	}
}

func (r *Renderer) write(s string) {
	if r.err != nil {
		return
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		r.err = fmt.Errorf("termview: write: %w", err)
	}
}

// StatusLine is the view on one line, as plain mode prints it: phase, step,
// share, then each version's figures. The verdict and the log are left out
// (print them with Println).
func StatusLine(v View) string {
	var b strings.Builder
	b.WriteString(" ")
	for _, part := range []string{v.Title, v.Phase, v.stepText()} {
		if part != "" {
			b.WriteString(" " + part)
		}
	}
	fmt.Fprintf(&b, " %s %.2f%%", v.Canary, v.Share)
	if v.Target != v.Share {
		fmt.Fprintf(&b, " → %.2f%%", v.Target)
	}
	for _, ver := range v.Versions {
		p99 := "-"
		if ver.P99 > 0 {
			p99 = roundDuration(ver.P99).String()
		}
		fmt.Fprintf(&b, " | %s %.0f req/s 5xx %.2f%% p99 %s", ver.Name, ver.RPS, 100*ver.ErrorRate, p99)
	}
	return b.String()
}
