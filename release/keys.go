package release

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ramp-go/ramp/rollback"
)

// Band is a performance level of the DORA research, by which a team reads
// where one of its four keys stands.
type Band int

// Bands, worst to best. BandUnknown: no data for the key in the window.
const (
	BandUnknown Band = iota
	Low
	Medium
	High
	Elite
)

func (b Band) String() string {
	switch b {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	case Elite:
		return "elite"
	}
	return "unknown"
}

// BandsSource names the published bands the Band methods place figures
// against.
const BandsSource = "2023 Accelerate State of DevOps Report (DORA, Google Cloud)"

// The bands of the 2023 Accelerate State of DevOps Report, "Software
// delivery performance" clusters (elite, high, medium, low):
//
//	deployment frequency   on demand (several a day) | once a day to once a week | once a week to once a month | (overlaps medium)
//	change lead time       under a day | a day to a week | a week to a month | (overlaps medium)
//	change failure rate    5% | 10% | 15% | 64%
//	failed deployment recovery time  under an hour | under a day | a day to a week | beyond
//
// The report's low cluster overlaps the medium one for frequency and lead
// time and leaves gaps, so these thresholds read each band as "at least
// this good": frequency elite at one or more deployments a day, high at
// one a week, medium at one in 30 days; lead time elite under 24 h, high
// up to 7 days, medium up to 30 days; change failure rate elite up to
// 5%, high up to 10%, medium up to 15%; time to restore elite under an
// hour, high under a day, medium up to 7 days. Anything worse is low.
// (Apache DevLake resolves the same overlaps the same way.)
const (
	day   = 24 * time.Hour
	week  = 7 * day
	month = 30 * day
)

// FrequencyBand places deployments per day.
func FrequencyBand(perDay float64) Band {
	switch {
	case perDay >= 1:
		return Elite
	case perDay >= 1.0/7:
		return High
	case perDay >= 1.0/30:
		return Medium
	}
	return Low
}

// LeadTimeBand places a lead time for changes.
func LeadTimeBand(d time.Duration) Band {
	switch {
	case d < day:
		return Elite
	case d <= week:
		return High
	case d <= month:
		return Medium
	}
	return Low
}

// FailureRateBand places a change failure rate (0 to 1).
func FailureRateBand(r float64) Band {
	switch {
	case r <= 0.05:
		return Elite
	case r <= 0.10:
		return High
	case r <= 0.15:
		return Medium
	}
	return Low
}

// RestoreBand places a time to restore.
func RestoreBand(d time.Duration) Band {
	switch {
	case d < time.Hour:
		return Elite
	case d < day:
		return High
	case d <= week:
		return Medium
	}
	return Low
}

// Keys are the four keys of software delivery over a window, from the
// rollback.Stats of the deployments to the last environment, with each
// placed in its band:
//
//   - deployment frequency: Stats.DeploymentsPerDay;
//   - lead time for changes: Stats.MedianLeadTime (commit time to fully
//     live, over releases that carry a commit time);
//   - change failure rate: Stats.ChangeFailureRate (rolled back ÷
//     finished);
//   - time to restore: Stats.MedianTimeToRestore (fault detected to the
//     stable version serving again).
//
// A band is BandUnknown when the window holds nothing to measure the key
// by (no finished deployment, no commit time, no failure).
type Keys struct {
	rollback.Stats
	Frequency, LeadTime, FailureRate, Restore Band
}

// KeysOf computes the four keys from a rollout history's revisions
// (rollback.History.Revisions, oldest first) over [now-window, now]; see
// rollback.StatsOf for the window.
func KeysOf(revs []rollback.Revision, now time.Time, window time.Duration) Keys {
	return keysFrom(rollback.StatsOf(revs, now, window))
}

// KeysOfRecords computes the four keys from a pipeline's records, counting
// each release's stage in env (the last environment, production) as a
// deployment: succeeded stages are live, failed ones rolled back with
// their FaultAt, running ones still live.
func KeysOfRecords(recs []Record, env string, now time.Time, window time.Duration) Keys {
	return KeysOf(Revisions(recs, env), now, window)
}

// Revisions turns each release's stage in env into a rollback.Revision
// carrying the release's metadata, oldest start first.
func Revisions(recs []Record, env string) []rollback.Revision {
	var revs []rollback.Revision
	for _, r := range recs {
		s, ok := r.Stage(env)
		if !ok {
			continue
		}
		rev := r.Identity.Revision("", s.Start)
		rev.EndedAt, rev.FaultAt, rev.Reason = s.End, s.FaultAt, s.Reason
		switch s.Status {
		case Succeeded:
			rev.Outcome = rollback.OutcomeSucceeded
		case Failed:
			rev.Outcome = rollback.OutcomeRolledBack
		default:
			rev.Outcome, rev.EndedAt = rollback.OutcomeLive, time.Time{}
		}
		revs = append(revs, rev)
	}
	slices.SortStableFunc(revs, func(a, b rollback.Revision) int { return a.StartedAt.Compare(b.StartedAt) })
	return revs
}

func keysFrom(s rollback.Stats) Keys {
	k := Keys{Stats: s, Frequency: FrequencyBand(s.DeploymentsPerDay)}
	if s.LeadTimes > 0 {
		k.LeadTime = LeadTimeBand(s.MedianLeadTime)
	}
	if s.Finished > 0 {
		k.FailureRate = FailureRateBand(s.ChangeFailureRate)
	}
	if s.Restores > 0 {
		k.Restore = RestoreBand(s.MedianTimeToRestore)
	}
	return k
}

// String is the one-line summary deploytool prints.
func (k Keys) String() string {
	lead, restore := "n/a", "n/a"
	if k.LeadTimes > 0 {
		lead = round(k.MedianLeadTime).String()
	}
	if k.Restores > 0 {
		restore = round(k.MedianTimeToRestore).String()
	}
	cfr := "n/a"
	if k.Finished > 0 {
		cfr = fmt.Sprintf("%.0f%% (%d of %d)", 100*k.ChangeFailureRate, k.RolledBack, k.Finished)
	}
	return fmt.Sprintf("deployment frequency %.2f/day (%s), lead time %s (%s), change failure rate %s (%s), time to restore %s (%s)",
		k.DeploymentsPerDay, k.Frequency, lead, k.LeadTime, cfr, k.FailureRate, restore, k.Restore)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// CollectorOpts configures NewCollector.
type CollectorOpts struct {
	// ConstLabels are added to every metric, e.g. {"service": "checkout"}.
	ConstLabels prometheus.Labels
}

// NewCollector returns a prometheus.Collector that calls keys at every
// scrape and exposes:
//
//	ramp_dora_deployments_per_day        gauge: Keys.DeploymentsPerDay
//	ramp_dora_lead_time_seconds          gauge: Keys.MedianLeadTime (absent without data)
//	ramp_dora_change_failure_ratio       gauge: Keys.ChangeFailureRate (absent without data)
//	ramp_dora_time_to_restore_seconds    gauge: Keys.MedianTimeToRestore (absent without data)
//	ramp_dora_band{key}                  gauge: the key's band, 4 elite, 3 high, 2 medium, 1 low, 0 unknown
//
// key is deployment_frequency, lead_time, change_failure_rate or
// time_to_restore. The names differ from rollback.History's collector
// (ramp_deployments_per_day, …) so that both can share a registry.
func NewCollector(keys func() Keys, o CollectorOpts) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, o.ConstLabels)
	}
	return &keysCollector{keys: keys,
		perDay:  d("ramp_dora_deployments_per_day", "Deployments per day over the window (DORA deployment frequency)."),
		lead:    d("ramp_dora_lead_time_seconds", "Median time from commit to fully live over the window (DORA lead time for changes)."),
		cfr:     d("ramp_dora_change_failure_ratio", "Rolled back ÷ finished deployments over the window (DORA change failure rate)."),
		restore: d("ramp_dora_time_to_restore_seconds", "Median time from fault detected to stable serving again over the window (DORA time to restore)."),
		band:    d("ramp_dora_band", "DORA band of each key (4 elite, 3 high, 2 medium, 1 low, 0 unknown), by the "+BandsSource+".", "key"),
	}
}

type keysCollector struct {
	keys                             func() Keys
	perDay, lead, cfr, restore, band *prometheus.Desc
}

func (c *keysCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.perDay, c.lead, c.cfr, c.restore, c.band} {
		ch <- d
	}
}

func (c *keysCollector) Collect(ch chan<- prometheus.Metric) {
	k := c.keys()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.perDay, k.DeploymentsPerDay)
	if k.LeadTimes > 0 {
		gauge(c.lead, k.MedianLeadTime.Seconds())
	}
	if k.Finished > 0 {
		gauge(c.cfr, k.ChangeFailureRate)
	}
	if k.Restores > 0 {
		gauge(c.restore, k.MedianTimeToRestore.Seconds())
	}
	gauge(c.band, float64(k.Frequency), "deployment_frequency")
	gauge(c.band, float64(k.LeadTime), "lead_time")
	gauge(c.band, float64(k.FailureRate), "change_failure_rate")
	gauge(c.band, float64(k.Restore), "time_to_restore")
}
