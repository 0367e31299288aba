package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ramp-go/ramp/clock"
)

// A fake clock lets a test move ten minutes in no real time: BlockUntil
// waits until the code under test has armed its timer, Advance fires it.
func ExampleFake() {
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	done := make(chan time.Time)
	go func() {
		t := clk.NewTimer(10 * time.Minute) // e.g. a step's hold
		done <- <-t.C()
	}()
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		fmt.Println(err)
		return
	}
	clk.Advance(10 * time.Minute)
	fmt.Println((<-done).Sub(start))
	// Output: 10m0s
}
