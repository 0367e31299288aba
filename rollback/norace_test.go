//go:build !race

package rollback

const raceEnabled = false
