package termview

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkDraw is one redraw of a full panel (long verdict, eight log
// lines) as the demo does four times a second.
func BenchmarkDraw(b *testing.B) {
	for _, size := range [][2]int{{80, 24}, {250, 50}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			r := New(io.Discard, Options{Width: size[0], Height: size[1], Getenv: env()})
			v := sampleView(9)
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Draw(v)
			}
		})
	}
}
