// Package traffic decides which backend serves each request.
//
// A Route names backends with their share of traffic (0.01% resolution),
// match rules that pin requests to a backend by header or cookie, and an
// optional mirror. A Router applies routes; the rollout engine drives one.
//
// traffic is a leaf: it knows nothing of rollouts or analysis. Outcomes of
// requests leave it through the Observer hook, whose method uses only
// standard types.
package traffic
