// Package termview draws the live view of a release in a terminal: a panel
// with the phase, the step in force, a bar of the new version's share of
// traffic, each version's request rate, 5xx share and p99 latency, the last
// verdict and the newest log lines. The demo (examples/demo) and
// `rampctl watch` draw with it, so both look and behave alike.
//
// The caller fills a View, a plain value with no methods to call, and hands
// it to a Renderer as often as it likes:
//
//	r := termview.New(os.Stdout, termview.Options{})
//	defer r.Close() // restores the cursor, also when the program panics
//	r.Println("── release v1 → v2")
//	for range ticker.C {
//		r.Draw(termview.View{Title: "v1 → v2", Phase: "progressing", ...})
//	}
//
// On a terminal the panel is redrawn in place at the bottom of the output
// and lines printed with Println scroll above it. The layout fits the
// terminal: it is measured on every draw and redrawn when resized
// (SIGWINCH); no row is wider than the terminal, counting display columns
// rather than bytes (wide East Asian characters take two, combining marks
// none); long text is wrapped or shortened with "…" and never cut inside a
// character; the bar scales with the width; the panel is never taller than
// the screen. A redraw moves the cursor up by the screen rows the last
// panel really took, so a terminal that reflowed it after a resize does not
// leave copies behind.
//
// On Windows the Renderer turns on the console's escape-sequence processing
// for the live view and puts the console mode back on Close.
//
// When the output is not a terminal, when Options.Plain is set, or when
// TERM=dumb, the Renderer prints plain lines instead: every Println line in
// full and a one-line status (StatusLine) at most once a second. NO_COLOR
// turns colours off.
//
// The width functions (Width, RuneWidth, Truncate, Wrap, Sanitize) are
// exported for output that is not part of the panel, such as a summary
// table printed after it.
package termview
