package termview

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const longVerdict = "no_data: canary 5xx rate 0.00% (n=40): too few samples, need 100; baseline 0.00% (n=359) | " +
	"canary p99 latency 8.31ms (n=40): too few samples, need 100; baseline 7.26ms (n=359)"

func sampleView(i int) View {
	v := View{
		Title: "v2 → v3", Phase: "progressing", Canary: "v3",
		Share: float64(i % 101), Target: float64(i % 101),
		Steps: []float64{10, 50, 100}, Step: i % 3,
		Versions: []Version{
			{Name: "v2", RPS: 180, P99: 8300 * time.Microsecond},
			{Name: "v3", RPS: 20, ErrorRate: 0.03, P99: 256 * time.Millisecond},
		},
		Verdict: longVerdict,
	}
	for j := range min(i, 8) {
		v.Log = append(v.Log, fmt.Sprintf("02:09:%02d.%03d  step 1 analysis %s 版本 %d", j, i, longVerdict, j))
	}
	return v
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// The live view redraws one panel in place, whatever the size and however
// long the text: the screen, its history included, never holds a second
// copy, and no row is wider than the terminal (the emulator counts the runes
// that had to wrap).
func TestLiveRedrawsOnePanelInPlace(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {250, 50}, {40, 12}, {20, 5}, {8, 3}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			scr := newScreen(t, size[0], size[1])
			r := New(scr, Options{Width: size[0], Height: size[1], Getenv: env()})
			require.True(t, r.Live())
			for i := range 40 {
				require.NoError(t, r.Draw(sampleView(i)))
				if i%7 == 3 {
					require.NoError(t, r.Println(fmt.Sprintf("%d: step 2: v3 gets 50.00%% of traffic; %s", i, longVerdict)))
				}
				require.Equal(t, 1, scr.count(marker, true), "after draw %d:\n%s", i, scr)
				require.Zero(t, scr.wraps, "a row was wider than %d columns:\n%s", size[0], scr)
				require.True(t, scr.cursorHidden)
			}
			require.NoError(t, r.Close())
			assert.False(t, scr.cursorHidden, "Close shows the cursor again")
			assert.Equal(t, 1, scr.count(marker, true), "the last panel stays on screen")
			assert.ErrorIs(t, r.Draw(View{}), ErrClosed)
			assert.ErrorIs(t, r.Println("x"), ErrClosed)
			assert.NoError(t, r.Close(), "Close twice")
		})
	}
}

// Lines printed with Println stay, in order and whole (wrapped, not cut),
// above the panel.
func TestPrintlnScrollsAboveThePanel(t *testing.T) {
	scr := newScreen(t, 30, 12)
	r := New(scr, Options{Width: 30, Height: 12, Getenv: env()})
	require.NoError(t, r.Draw(sampleView(1)))
	var printed []string
	for i := range 12 {
		line := fmt.Sprintf("line %d: %s", i, strings.Repeat("词", i))
		printed = append(printed, line)
		require.NoError(t, r.Println(line))
	}
	require.NoError(t, r.Close())
	all := append(append([]string(nil), scr.history...), scr.lines()...)
	text := strings.Join(all, "\n")
	panel := strings.Index(text, PanelMarker)
	require.Positive(t, panel)
	above := strings.NewReplacer("\n", "", " ", "").Replace(text[:panel])
	assert.Equal(t, strings.ReplaceAll(strings.Join(printed, ""), " ", ""), above)
	assert.Zero(t, scr.wraps)
	assert.Equal(t, 1, scr.count(marker, true))
}

// A panic on the goroutine that deferred Close still restores the terminal.
func TestCloseRestoresTheTerminalAfterAPanic(t *testing.T) {
	scr := newScreen(t, 80, 24)
	func() {
		defer func() { assert.Equal(t, "boom", recover()) }()
		r := New(scr, Options{Width: 80, Height: 24, Getenv: env()})
		defer r.Close()
		require.NoError(t, r.Draw(sampleView(3)))
		require.True(t, scr.cursorHidden)
		panic("boom")
	}()
	assert.False(t, scr.cursorHidden)
	assert.Equal(t, 1, scr.count(marker, false))
}

// When the terminal got narrower, a terminal that reflows shows each wide
// row on several screen rows: the redraw goes up by all of them.
func TestRedrawAfterShrinkGoesUpByScreenRows(t *testing.T) {
	var out bytes.Buffer
	r := New(&out, Options{Width: 100, Height: 30, Getenv: env()})
	require.NoError(t, r.Draw(sampleView(5)))
	rows := r.view.layout(100, 29)
	want := 0
	for _, row := range rows {
		want += (row.width() + 59) / 60
	}
	require.Greater(t, want, len(rows), "some rows are wider than 60 columns")
	r.fixedW = 60
	out.Reset()
	require.NoError(t, r.Draw(sampleView(5)))
	assert.True(t, strings.HasPrefix(out.String(), fmt.Sprintf("\r\x1b[%dA\x1b[K", want)), "%q", out.String()[:20])

	// Wider again: nothing reflows, the panel takes one row per row.
	r.fixedW = 120
	out.Reset()
	require.NoError(t, r.Draw(sampleView(5)))
	assert.True(t, strings.HasPrefix(out.String(), fmt.Sprintf("\r\x1b[%dA\x1b[K", len(r.view.layout(60, 29)))), "%q", out.String()[:20])
}

func TestScreenRows(t *testing.T) {
	for _, tc := range []struct{ w, then, now, want int }{
		{80, 80, 80, 1}, {80, 80, 120, 1}, {80, 80, 40, 2}, {81, 100, 40, 3},
		{40, 80, 40, 1}, {0, 80, 40, 1}, {10, 80, 1, 10},
	} {
		assert.Equal(t, tc.want, screenRows(tc.w, tc.then, tc.now), "%+v", tc)
	}
}

// Output that is not a terminal gets plain lines: every Println in full,
// a status line per Draw at most once per interval, no escape sequences.
func TestPlainLines(t *testing.T) {
	var out bytes.Buffer
	r := New(&out, Options{Getenv: env(), PlainInterval: time.Hour})
	require.False(t, r.Live())
	require.NoError(t, r.Println("step 1 analysis "+longVerdict))
	for i := range 5 {
		require.NoError(t, r.Draw(sampleView(i)))
	}
	require.NoError(t, r.Close())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2, out.String())
	assert.Equal(t, "step 1 analysis "+longVerdict, lines[0], "the full text")
	assert.Equal(t, StatusLine(sampleView(0)), lines[1])
	assert.NotContains(t, out.String(), "\x1b")

	out.Reset()
	r = New(&out, Options{Getenv: env(), PlainInterval: -1})
	for i := range 3 {
		require.NoError(t, r.Draw(sampleView(i)))
	}
	assert.Equal(t, 3, strings.Count(out.String(), "\n"))
}

func TestStatusLine(t *testing.T) {
	v := sampleView(1)
	v.Target = 50
	assert.Equal(t, "  v2 → v3 progressing step 2 of 3 v3 1.00% → 50.00% | v2 180 req/s 5xx 0.00% p99 8.3ms | v3 20 req/s 5xx 3.00% p99 256ms",
		StatusLine(v))
}

// TERM=dumb gets plain lines, NO_COLOR a live view without colours, and
// Options.Plain plain lines anywhere.
func TestModesFollowTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        Options
		live, color bool
	}{
		{"terminal", Options{Width: 80, Height: 24, Getenv: env("TERM", "xterm-256color")}, true, true},
		{"NO_COLOR", Options{Width: 80, Height: 24, Getenv: env("TERM", "xterm", "NO_COLOR", "1")}, true, false},
		{"TERM=dumb", Options{Width: 80, Height: 24, Getenv: env("TERM", "dumb")}, false, false},
		{"Plain", Options{Plain: true, Width: 80, Height: 24, Getenv: env()}, false, false},
		{"not a terminal", Options{Getenv: env("TERM", "xterm")}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			r := New(&out, tc.opts)
			assert.Equal(t, tc.live, r.Live())
			v := sampleView(2)
			v.Phase = "rolled_back"
			require.NoError(t, r.Draw(v))
			require.NoError(t, r.Close())
			assert.Equal(t, tc.color, strings.Contains(out.String(), "\x1b[31m"), "%q", out.String())
			assert.Equal(t, tc.live, strings.Contains(out.String(), "\x1b[?25h"))
			assert.True(t, utf8.ValidString(out.String()))
		})
	}
}

// Writing fails: the error comes back, wrapped, and later calls do not write.
func TestWriteErrorIsReturned(t *testing.T) {
	w := &failWriter{}
	r := New(w, Options{Width: 80, Height: 24, Getenv: env()})
	err := r.Draw(sampleView(1))
	require.ErrorIs(t, err, errDiskFull)
	assert.ErrorIs(t, r.Println("x"), errDiskFull)
	assert.ErrorIs(t, r.Close(), errDiskFull)
	assert.Equal(t, 1, w.calls)
}

var errDiskFull = fmt.Errorf("disk full")

type failWriter struct{ calls int }

func (w *failWriter) Write([]byte) (int, error) { w.calls++; return 0, errDiskFull }

// marker is the start of the panel's first row, short enough to survive the
// narrowest terminal in the tests.
var marker = strings.TrimSpace(PanelMarker)

// Finish leaves the panel where it is: what is printed next goes below it,
// and a later Draw starts a second panel below that.
func TestFinishLeavesThePanelAbove(t *testing.T) {
	scr := newScreen(t, 60, 40)
	r := New(scr, Options{Width: 60, Height: 40, Getenv: env()})
	require.NoError(t, r.Draw(sampleView(2)))
	r.Finish()
	require.NoError(t, r.Println("Summary"))
	require.NoError(t, r.Draw(sampleView(3)))
	require.NoError(t, r.Close())
	text := scr.String()
	first := strings.Index(text, marker)
	summary := strings.Index(text, "Summary")
	second := strings.LastIndex(text, marker)
	assert.True(t, first < summary && summary < second, "%s", text)
	assert.Equal(t, 2, scr.count(marker, true))
	assert.False(t, scr.cursorHidden)
}
