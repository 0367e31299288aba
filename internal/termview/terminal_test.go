package termview

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/termview/tmuxtest"
)

// childEnv, when set, makes the test binary a small program that draws the
// live view on its terminal and then does what the value says.
const childEnv = "TERMVIEW_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv(childEnv); ok {
		child(mode)
		return
	}
	os.Exit(m.Run())
}

func child(mode string) {
	r := New(os.Stdout, Options{})
	if !r.Live() {
		panic("the child's output is not a terminal")
	}
	if mode == "panic-main" {
		defer r.Close()
	}
	for i := range 5 {
		_ = r.Draw(sampleView(i))
		time.Sleep(20 * time.Millisecond)
	}
	switch mode {
	case "panic-main":
		panic("boom on the main goroutine")
	case "panic-goroutine", "panic-unguarded":
		go func() {
			if mode == "panic-goroutine" {
				defer r.RestoreOnPanic()
			}
			panic("boom on another goroutine")
		}()
		select {}
	}
}

// A program that panics while the live view is up leaves the terminal as
// it found it: the cursor shown, the panel and the panic message on screen.
// Without RestoreOnPanic on the panicking goroutine the cursor stays hidden,
// which shows that the test can tell.
func TestPanicRestoresTheTerminal(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	for _, tc := range []struct {
		mode    string
		message string
		cursor  bool
	}{
		{"panic-main", "panic: boom on the main goroutine", true},
		{"panic-goroutine", "panic: boom on another goroutine", true},
		{"panic-unguarded", "panic: boom on another goroutine", false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			p := tmuxtest.Start(t, 80, 24, []string{childEnv + "=" + tc.mode}, self)
			p.Poll(30*time.Second, 50*time.Millisecond, func([]string) bool { _, done := p.Exited(); return done })
			status, _ := p.Exited()
			assert.Equal(t, "2", status, "a panic's exit status")
			screen := strings.Join(p.Lines(true), "\n")
			assert.Contains(t, screen, tc.message)
			assert.Equal(t, 1, strings.Count(screen, strings.TrimSpace(PanelMarker)), screen)
			assert.Equal(t, tc.cursor, p.CursorVisible())
		})
	}
}
