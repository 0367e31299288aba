//go:build race

package rollback

// raceEnabled shrinks the simulations under the race detector, which
// slows their arithmetic tenfold without finding anything more in it.
const raceEnabled = true
