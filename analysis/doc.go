// Package analysis judges whether a new version is healthy.
//
// An Analyzer turns a Query (which versions, which window) into a Result: a
// Verdict — Pass, Fail, NoData or Error — with the evidence behind it, one
// Measurement per metric, and a one-line reason a person can read. NoData
// is its own verdict and is never a pass: a small sample says nothing.
//
// A Policy says how often a step's analysis is measured and how many
// results of each kind settle it; Tally applies those rules (see Policy for
// the exact comparisons).
//
// analysis is a leaf: it imports neither traffic nor the rollout engine.
package analysis
