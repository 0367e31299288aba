//go:build unix

package termview

import (
	"os"
	"os/signal"
	"syscall"
)

// onResize calls f whenever the terminal is resized, until the returned
// function is called.
func onResize(f func()) (stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGWINCH)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-c:
				f()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
		<-finished
	}
}
