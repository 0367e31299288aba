//go:build windows

package termview

import "golang.org/x/sys/windows"

// enableVT turns on the console's processing of escape sequences (off by
// default in the Windows console host) and returns how to put the console
// mode back. ok is false when the console cannot do it (before Windows 10):
// the Renderer prints plain lines then.
func enableVT(fd int) (restore func(), ok bool) {
	h := windows.Handle(fd)
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return nil, false
	}
	if mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
		return func() {}, true
	}
	if err := windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING); err != nil {
		return nil, false
	}
	return func() { _ = windows.SetConsoleMode(h, mode) }, true
}
