//go:build !windows

package termview

// enableVT has nothing to do where terminals understand escape sequences.
func enableVT(int) (restore func(), ok bool) { return func() {}, true }
