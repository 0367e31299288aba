// Package strategy turns "what has happened so far" into "what traffic state
// comes next".
//
// A Strategy returns Steps one at a time. A Step is a canary share (0.01%
// resolution), match rules that pin some requests to a version, a mirror
// share, how long to hold it, the analysis that must pass to leave it and
// an optional approval gate.
package strategy
