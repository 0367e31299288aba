// Package fleet runs one ramp rollout across many replicas of a proxy,
// coordinated through etcd: one elected driver, one route confirmed by
// every live replica, one deploy lock per service.
//
// It is a Go module of its own (github.com/ramp-go/ramp/fleet) so that the
// core module never depends on the etcd client and gRPC.
//
// # Replicas
//
// Every replica calls Join with its local router (a *traffic.Splitter):
// Join opens a session (an etcd lease of Config.TTL), applies the route
// the fleet publishes, registers the replica under a key bound to its
// lease, and returns only then, so a replica never serves before it
// applies the fleet's route. From then on the replica applies every
// published route from a watch and acknowledges each route's revision in
// its key. A replica that is killed, stopped or cut off leaves the fleet
// when its lease expires.
//
// # One driver
//
// Every replica calls Drive (or Lead for a driver of its own) with the same
// ramp.Config. The replicas campaign; the leader runs the rollout with a
// Store and a Router of its term, both fenced by its election key: each
// write is a transaction that succeeds only while that key, of that create
// revision, exists. A leader that lost its session (SIGSTOP, a partition)
// can therefore never write again: its Save fails with an error wrapping
// ErrDeposed and its rollout stops, while another replica, elected within
// the TTL, resumes from the state in etcd: no step replayed, none skipped.
// Operations (Send: promote, pause, resume, abort) sent to any replica are
// keys the leader watches; each is carried out at most once. A leader
// whose rollout is over answers the operations still waiting before it
// resigns, and an abort of a rollout already rolled back is confirmed
// (it changes nothing), by Send itself when no replica leads any more.
//
// # Routes confirmed by every replica
//
// The leader's Router.Apply publishes the route and returns only when
// every live replica has acknowledged its revision, or fails after
// Config.AckTimeout naming the replicas that lag (the rollout retries; its
// progress deadline holds). Router.Current reports the route of the
// least-advanced live replica.
//
// # Judged on the whole fleet
//
// Each replica serves its recorder's windows on its admin server
// (WindowHandler at WindowPath); the leader's Source keeps the list of
// live replicas from a watch and pulls and merges their windows
// (MergeWindows: counts add, latency histograms merge exactly), so
// analysis and guards judge the fleet's traffic while etcd carries no
// metrics. A replica's 5xx wakes the leader's guard at once: the Source
// holds a long-poll on each replica's window handler, answered at the
// replica's next error, and its Errored channel wakes a rollback.Guard
// (at most every 10 ms), which then judges the merged windows with its
// usual thresholds; the guard need not wait for its next poll while each
// replica sees only its slice of the canary's traffic.
//
// # Fail-safe
//
// A replica whose own guard sees the canary failing calls Failsafe: it
// routes to stable at once and asks the leader to roll the fleet back
// (the leader starts an abort as soon as it sees it, while it claims the
// operation). A
// replica cut off from etcd for longer than its TTL routes to the fallback
// route published with each route (the stable version during a rollout
// and after a rollback; the new version once a route gives it all
// traffic, since it is then the stable one), says so in Status, and
// rejoins with the current route when etcd is back.
//
// # Deploy lock
//
// Lock is a lock.Lock on etcd: a try-lock naming its holder (host, pid,
// version, since) that dies with its holder's lease. Its Release deletes
// only the key it created (compared by create revision), so a retried
// release never frees a newer lock (etcd issue #22082).
//
// # Known etcd traps handled
//
//   - Campaign does not return when its own session expires (etcd #19597):
//     it is raced against Session.Done.
//   - An Observe channel closes when its watch is disrupted: the leader is
//     observed again.
//   - A watch on a compacted revision fails: the route is read again and
//     watched from that read's revision + 1.
//   - A retried Unlock can delete a newer lock of the same session (#22082).
//
// # Keys
//
// Under Prefix + service + "/": election/, state, lock, route, members/ID,
// ops/ID. In a steady step etcd sees no writes but the sessions' lease
// keep-alives (one per replica every TTL/3); each route change writes the
// route once and each replica's key once.
package fleet
