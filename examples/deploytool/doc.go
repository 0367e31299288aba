// Command deploytool is a release step for pipelines whose traffic goes
// through HAProxy: it moves traffic from the server running the stable
// version to the server running the new one, step by step (-steps
// 10,50,100), through HAProxy's runtime API, judges each step with
// Prometheus queries, and rolls all traffic back to the stable server the
// moment a step fails. Its exit status tells the pipeline what happened:
// 0 promoted, 3 rolled back, 2 bad usage, 1 any other error, 4 the deploy
// lock is held, 5 outside the deployment window, 6 refused by the
// environment pipeline. SIGINT and SIGTERM roll back before the tool exits.
//
// The release controls (controls.go): -lock is a lock.File the engine
// takes for the rollout (ramp.Config.Lock; with -env deploytool holds it
// around the whole pipeline); -windows reads a window.Calendar, refuses a
// start outside it (or waits, -window-wait) and the engine
// (ramp.Config.Window) holds a running rollout's step while it is closed;
// -commit, -digest and the like reach the history through
// ramp.Config.Release; "deploytool promote
// -env prod -history FILE" runs the rollout as one environment of a
// release.Pipeline and prints the four keys of its history.
//
// It is a thin shell over ramp: traffic/haproxy is the router, the
// rollout engine (ramp.Rollout) runs a strategy.Canary whose steps are
// judged by an analysis/prometheus analyzer. The default queries read the
// metrics of HAProxy's own Prometheus exporter (haproxy_server_*); run
// deploytool -h for every flag, and see README.md for a GitHub Actions job.
package main
