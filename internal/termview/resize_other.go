//go:build !unix

package termview

// onResize does nothing where there is no SIGWINCH: Draw measures the
// terminal every time, so the next Draw follows a resize.
func onResize(func()) (stop func()) { return func() {} }
