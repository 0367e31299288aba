package ramp

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes a rollout's state as Prometheus metrics:
//
//	ramp_rollout_phase{stable,canary,phase}   1 for the current phase, 0 for the others
//	ramp_rollout_canary_percent{stable,canary} the canary's share of weighted traffic
//	ramp_rollout_step{stable,canary}           index of the step in force (-1 before the first)
//
// Register it with a prometheus.Registry: reg.MustRegister(ramp.NewCollector(r)).
func NewCollector(r *Rollout) prometheus.Collector { return &collector{r: r} }

type collector struct{ r *Rollout }

var (
	descPhase   = prometheus.NewDesc("ramp_rollout_phase", "Current phase of the rollout (1 for the phase it is in).", []string{"stable", "canary", "phase"}, nil)
	descPercent = prometheus.NewDesc("ramp_rollout_canary_percent", "Share of weighted traffic sent to the canary, in percent.", []string{"stable", "canary"}, nil)
	descStep    = prometheus.NewDesc("ramp_rollout_step", "Index of the rollout step in force (-1 before the first).", []string{"stable", "canary"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPhase
	ch <- descPercent
	ch <- descStep
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Status()
	for i := range phaseNames {
		v := 0.0
		if Phase(i) == st.Phase {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descPhase, prometheus.GaugeValue, v, st.Stable, st.Canary, phaseNames[i])
	}
	ch <- prometheus.MustNewConstMetric(descPercent, prometheus.GaugeValue, st.Percent, st.Stable, st.Canary)
	ch <- prometheus.MustNewConstMetric(descStep, prometheus.GaugeValue, float64(st.Step), st.Stable, st.Canary)
}
