package rollback

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultHistoryLimit is how many revisions a History keeps when its limit
// is not set.
const DefaultHistoryLimit = 10

// ErrUnknownRevision is wrapped by History methods given a version the
// history does not hold.
var ErrUnknownRevision = errors.New("rollback: no such revision in history")

// History keeps the last revisions that were live, oldest first, and
// derives the delivery figures teams track from them: deployments per day,
// change failure rate and time to restore (see Stats). Collector exposes
// the same figures to Prometheus.
//
// The engine adds a revision when a rollout starts, marks the fault when
// the first rollback reason arrives, and ends the revision when the
// rollout succeeds or is rolled back. The revisions are persisted through
// the rollout's store (Revisions out, NewHistory in).
//
// The zero History is empty and keeps DefaultHistoryLimit revisions. A
// History is safe for concurrent use and must not be copied after first
// use.
type History struct {
	mu    sync.Mutex
	limit int
	revs  []Revision // oldest first
	// Counters for Prometheus: they count every revision ever added or
	// ended through this History (eviction does not lower them).
	started int64
	ended   map[Outcome]int64
}

// NewHistory returns a history keeping the last limit revisions, seeded
// with revs (oldest first, as Revisions returns them; only the last limit
// are kept). A limit below 1 is an error.
func NewHistory(limit int, revs ...Revision) (*History, error) {
	if limit < 1 {
		return nil, fmt.Errorf("rollback history: limit: %d must be at least 1", limit)
	}
	h := &History{limit: limit}
	for i, r := range revs {
		if err := checkRevision(r); err != nil {
			return nil, fmt.Errorf("rollback history: revision %d: %w", i, err)
		}
	}
	if len(revs) > limit {
		revs = revs[len(revs)-limit:]
	}
	h.revs = slices.Clone(revs)
	// Seed the counters from what was restored, so that a restarted
	// process continues its counters rather than resetting to zero.
	h.started = int64(len(h.revs))
	for _, r := range h.revs {
		if r.Outcome != OutcomeLive {
			h.countEnd(endOutcome(r.Outcome))
		}
	}
	return h, nil
}

func checkRevision(r Revision) error {
	var errs []error
	if r.Version == "" {
		errs = append(errs, errors.New("version: empty"))
	}
	switch r.Outcome {
	case OutcomeLive, OutcomeSucceeded, OutcomeRolledBack, OutcomeReplaced:
	default:
		errs = append(errs, fmt.Errorf("outcome: %q is not one of live, succeeded, rolled_back, replaced", r.Outcome))
	}
	if r.StartedAt.IsZero() {
		errs = append(errs, errors.New("started at: zero"))
	}
	if !r.EndedAt.IsZero() && r.EndedAt.Before(r.StartedAt) {
		errs = append(errs, fmt.Errorf("ended at: %s is before started at %s", r.EndedAt.Format(time.RFC3339Nano), r.StartedAt.Format(time.RFC3339Nano)))
	}
	return errors.Join(errs...)
}

// Limit is how many revisions h keeps.
func (h *History) Limit() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lim()
}

func (h *History) lim() int {
	if h.limit == 0 {
		return DefaultHistoryLimit
	}
	return h.limit
}

// Add appends r, the newest revision, dropping the oldest beyond the
// limit. r needs a Version and a StartedAt; an empty Outcome means
// OutcomeLive.
func (h *History) Add(r Revision) error {
	if r.Outcome == "" {
		r.Outcome = OutcomeLive
	}
	if err := checkRevision(r); err != nil {
		return fmt.Errorf("rollback history: add %q: %w", r.Version, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revs = append(h.revs, r)
	if over := len(h.revs) - h.lim(); over > 0 {
		h.revs = slices.Delete(h.revs, 0, over)
	}
	h.started++
	if r.Outcome != OutcomeLive {
		h.countEnd(endOutcome(r.Outcome))
	}
	if r.Outcome == OutcomeSucceeded && r.LiveAt.IsZero() {
		h.revs[len(h.revs)-1].LiveAt = r.EndedAt
	}
	return nil
}

// Fault records at as the moment the newest revision of version was found
// faulty (the first rollback reason), unless a fault is recorded already.
func (h *History) Fault(version string, at time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.find(version)
	if i < 0 {
		return fmt.Errorf("rollback history: fault %q: %w", version, ErrUnknownRevision)
	}
	if h.revs[i].FaultAt.IsZero() {
		h.revs[i].FaultAt = at
	}
	return nil
}

// End records how the newest revision of version ended: outcome (not
// OutcomeLive), reason and when. Ending a revision OutcomeSucceeded marks
// every earlier succeeded revision OutcomeReplaced, ended at the same
// time (as the rollout engine does). A revision rolled back
// with no fault recorded gets at as its fault time too (its time to
// restore is then 0, which understates nothing the history could know).
// Ending a revision again (a rollback within the rollback window after
// success) overwrites the outcome; the Prometheus counters then count the
// revision under both outcomes.
func (h *History) End(version string, outcome Outcome, reason string, at time.Time) error {
	switch outcome {
	case OutcomeSucceeded, OutcomeRolledBack, OutcomeReplaced:
	default:
		return fmt.Errorf("rollback history: end %q: outcome: %q is not an ending (succeeded, rolled_back, replaced)", version, outcome)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.find(version)
	if i < 0 {
		return fmt.Errorf("rollback history: end %q: %w", version, ErrUnknownRevision)
	}
	r := &h.revs[i]
	if at.Before(r.StartedAt) {
		return fmt.Errorf("rollback history: end %q: at: %s is before its start %s", version, at.Format(time.RFC3339Nano), r.StartedAt.Format(time.RFC3339Nano))
	}
	was := r.Outcome
	r.Outcome, r.Reason, r.EndedAt = outcome, reason, at
	if outcome == OutcomeRolledBack && r.FaultAt.IsZero() {
		r.FaultAt = at
	}
	if outcome == OutcomeSucceeded && r.LiveAt.IsZero() {
		r.LiveAt = at
	}
	if was == OutcomeLive || endOutcome(was) != endOutcome(outcome) {
		h.countEnd(endOutcome(outcome))
	}
	if outcome == OutcomeSucceeded {
		for j := range i {
			if h.revs[j].Outcome == OutcomeSucceeded {
				h.revs[j].Outcome, h.revs[j].EndedAt = OutcomeReplaced, at
			}
		}
	}
	return nil
}

// endOutcome maps an outcome to the label it is counted under: a replaced
// revision had succeeded.
func endOutcome(o Outcome) Outcome {
	if o == OutcomeReplaced {
		return OutcomeSucceeded
	}
	return o
}

func (h *History) countEnd(o Outcome) {
	if h.ended == nil {
		h.ended = make(map[Outcome]int64)
	}
	h.ended[o]++
}

func (h *History) find(version string) int {
	for i := len(h.revs) - 1; i >= 0; i-- {
		if h.revs[i].Version == version {
			return i
		}
	}
	return -1
}

// Get returns the newest revision of version.
func (h *History) Get(version string) (Revision, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := h.find(version); i >= 0 {
		return h.revs[i], true
	}
	return Revision{}, false
}

// Revisions returns a copy of the kept revisions, oldest first.
func (h *History) Revisions() []Revision {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.revs)
}

// Len is the number of kept revisions.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.revs)
}

// Stats are the delivery figures over a window of the history. Only the
// revisions a History keeps count: when the window reaches further back
// than the oldest kept revision and the history is full, Truncated is
// set and the figures cover less than the window.
type Stats struct {
	// Since and Until bound the window: revisions started in
	// [Since, Until] count.
	Since, Until time.Time
	// Deployments is the number of revisions started in the window, and
	// DeploymentsPerDay that number per 24 h of window.
	Deployments       int
	DeploymentsPerDay float64
	// Finished counts those that ended: Succeeded (including replaced
	// ones, which had succeeded) plus RolledBack. Still-live revisions
	// count in neither.
	Finished, Succeeded, RolledBack int
	// ChangeFailureRate is RolledBack/Finished; 0 when Finished is 0.
	ChangeFailureRate float64
	// Restores is the number of rolled-back revisions with a fault time;
	// the time to restore of each is EndedAt-FaultAt (fault to rollback
	// complete). Zero when Restores is 0.
	Restores                                 int
	MedianTimeToRestore, MeanTimeToRestore   time.Duration
	TotalTimeToRestore, LongestTimeToRestore time.Duration
	// LeadTimes is the number of succeeded (or replaced) revisions in the
	// window with a CommitTime; the lead time for changes of each is
	// LiveAt-CommitTime (commit to fully live). Zero when LeadTimes is 0.
	LeadTimes                       int
	MedianLeadTime, LongestLeadTime time.Duration
	// Truncated: the history is full and its oldest revision started
	// after Since, so older deployments may be missing.
	Truncated bool
}

// Stats derives the delivery figures from the revisions started in the
// window [now-window, now] (see StatsOf), and sets Truncated when the
// history is full and its oldest revision started inside the window.
func (h *History) Stats(now time.Time, window time.Duration) Stats {
	h.mu.Lock()
	revs := slices.Clone(h.revs)
	full := len(revs) >= h.lim()
	h.mu.Unlock()
	s := StatsOf(revs, now, window)
	s.Truncated = len(revs) > 0 && full && window > 0 && revs[0].StartedAt.After(s.Since)
	return s
}

// StatsOf derives the delivery figures from the revisions (oldest first,
// as a rollout's State.History holds them) started in the window
// [now-window, now]. A window of 0 or less means every revision, from the
// oldest one's start to now; DeploymentsPerDay then divides by at least
// one day, so that a single deployment an hour ago reads 1 per day, not
// 24. Truncated is left false: only a History knows its limit.
func StatsOf(revs []Revision, now time.Time, window time.Duration) Stats {
	s := Stats{Until: now}
	switch {
	case window > 0:
		s.Since = now.Add(-window)
	case len(revs) > 0:
		s.Since = revs[0].StartedAt
	default:
		s.Since = now
	}
	var ttr, lead []time.Duration
	for _, r := range revs {
		if r.StartedAt.Before(s.Since) || r.StartedAt.After(now) {
			continue
		}
		s.Deployments++
		switch r.Outcome {
		case OutcomeSucceeded, OutcomeReplaced:
			s.Finished++
			s.Succeeded++
			if d, ok := leadTime(r); ok {
				lead = append(lead, d)
			}
		case OutcomeRolledBack:
			s.Finished++
			s.RolledBack++
			if !r.FaultAt.IsZero() && !r.EndedAt.IsZero() && !r.EndedAt.Before(r.FaultAt) {
				ttr = append(ttr, r.EndedAt.Sub(r.FaultAt))
			}
		}
	}
	span := s.Until.Sub(s.Since)
	if window <= 0 && span < 24*time.Hour {
		span = 24 * time.Hour
	}
	if span > 0 {
		s.DeploymentsPerDay = float64(s.Deployments) / (span.Hours() / 24)
	}
	if s.Finished > 0 {
		s.ChangeFailureRate = float64(s.RolledBack) / float64(s.Finished)
	}
	if n := len(ttr); n > 0 {
		s.Restores = n
		for _, d := range ttr {
			s.TotalTimeToRestore += d
		}
		s.MeanTimeToRestore = s.TotalTimeToRestore / time.Duration(n)
		s.MedianTimeToRestore, s.LongestTimeToRestore = medianMax(ttr)
	}
	if len(lead) > 0 {
		s.LeadTimes = len(lead)
		s.MedianLeadTime, s.LongestLeadTime = medianMax(lead)
	}
	return s
}

// leadTime is commit to fully live: CommitTime to LiveAt, or to EndedAt
// for a succeeded revision recorded without LiveAt. A replaced revision
// without LiveAt has none (its EndedAt is when it was replaced).
func leadTime(r Revision) (time.Duration, bool) {
	live := r.LiveAt
	if live.IsZero() && r.Outcome == OutcomeSucceeded {
		live = r.EndedAt
	}
	if r.CommitTime.IsZero() || live.IsZero() || live.Before(r.CommitTime) {
		return 0, false
	}
	return live.Sub(r.CommitTime), true
}

// medianMax sorts ds (not empty) and returns its median and maximum.
func medianMax(ds []time.Duration) (median, longest time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	n := len(ds)
	median = ds[n/2]
	if n%2 == 0 {
		median = (ds[n/2-1] + ds[n/2]) / 2
	}
	return median, ds[n-1]
}

// CollectorOpts configures History.Collector.
type CollectorOpts struct {
	// Window over which the gauges and the time-to-restore summary are
	// computed (see History.Stats); 0 means every kept revision.
	Window time.Duration
	// ConstLabels are added to every metric, e.g. {"service": "checkout"}
	// when several rollouts' histories are registered in one registry.
	ConstLabels prometheus.Labels
	// Now is the time source; nil means time.Now.
	Now func() time.Time
}

// Collector returns a prometheus.Collector exposing h:
//
//	ramp_deployments_started_total               counter: revisions added
//	ramp_deployments_total{outcome}              counter: revisions ended, outcome "succeeded" or "rolled_back"
//	ramp_deployments_per_day                     gauge:   Stats.DeploymentsPerDay
//	ramp_change_failure_ratio                    gauge:   Stats.ChangeFailureRate
//	ramp_time_to_restore_seconds                 summary: restores in the window, with the median (quantile 0.5)
//	ramp_history_revisions                       gauge:   revisions kept
//
// The counters count every revision added or ended through h since it was
// made (seeded from the revisions it was made with), not only the kept
// ones. The other figures cover Window.
func (h *History) Collector(o CollectorOpts) prometheus.Collector {
	c := &historyCollector{h: h, o: o}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, o.ConstLabels)
	}
	c.started = d("ramp_deployments_started_total", "Rollouts started (revisions added to the history).")
	c.ended = d("ramp_deployments_total", "Rollouts ended, by outcome (succeeded or rolled_back).", "outcome")
	c.perDay = d("ramp_deployments_per_day", "Deployments per day over the history window.")
	c.cfr = d("ramp_change_failure_ratio", "Share of finished rollouts in the history window that were rolled back.")
	c.ttr = d("ramp_time_to_restore_seconds", "Time from the first rollback reason to rollback complete, over the history window.")
	c.kept = d("ramp_history_revisions", "Revisions kept in the history.")
	return c
}

type historyCollector struct {
	h                                      *History
	o                                      CollectorOpts
	started, ended, perDay, cfr, ttr, kept *prometheus.Desc
}

func (c *historyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.started, c.ended, c.perDay, c.cfr, c.ttr, c.kept} {
		ch <- d
	}
}

func (c *historyCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	if c.o.Now != nil {
		now = c.o.Now()
	}
	s := c.h.Stats(now, c.o.Window)
	c.h.mu.Lock()
	started := c.h.started
	succeeded, rolledBack := c.h.ended[OutcomeSucceeded], c.h.ended[OutcomeRolledBack]
	kept := len(c.h.revs)
	c.h.mu.Unlock()

	ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(started))
	ch <- prometheus.MustNewConstMetric(c.ended, prometheus.CounterValue, float64(succeeded), string(OutcomeSucceeded))
	ch <- prometheus.MustNewConstMetric(c.ended, prometheus.CounterValue, float64(rolledBack), string(OutcomeRolledBack))
	ch <- prometheus.MustNewConstMetric(c.perDay, prometheus.GaugeValue, s.DeploymentsPerDay)
	ch <- prometheus.MustNewConstMetric(c.cfr, prometheus.GaugeValue, s.ChangeFailureRate)
	var quantiles map[float64]float64
	if s.Restores > 0 {
		quantiles = map[float64]float64{0.5: s.MedianTimeToRestore.Seconds()}
	}
	ch <- prometheus.MustNewConstSummary(c.ttr, uint64(s.Restores), s.TotalTimeToRestore.Seconds(), quantiles)
	ch <- prometheus.MustNewConstMetric(c.kept, prometheus.GaugeValue, float64(kept))
}
