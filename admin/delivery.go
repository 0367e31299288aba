package admin

import (
	"time"

	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/rollback"
)

// DefaultDeliveryWindow is the span the four keys are computed over when
// Options.DeliveryWindow is not set.
const DefaultDeliveryWindow = 30 * 24 * time.Hour

// Delivery is the four keys of software delivery, computed with
// release.KeysOf from the rollout's history (Status.Revisions) over the
// last WindowSeconds, each placed in its band of the report Bands names.
type Delivery struct {
	WindowSeconds float64 `json:"window_seconds"`
	// Bands names the published performance bands (release.BandsSource).
	Bands string `json:"bands"`
	// Deployments started in the window; Finished of them ended,
	// RolledBack of those were rolled back.
	Deployments int `json:"deployments"`
	Finished    int `json:"finished"`
	RolledBack  int `json:"rolled_back"`
	// DeploymentFrequency is in deployments per day.
	DeploymentFrequency Key `json:"deployment_frequency"`
	// LeadTime is the median seconds from commit to fully live, over the
	// releases that carry a commit time (ramp.Config.Release).
	LeadTime Key `json:"lead_time"`
	// ChangeFailureRate is rolled back ÷ finished, 0 to 1.
	ChangeFailureRate Key `json:"change_failure_rate"`
	// TimeToRestore is the median seconds from the fault to the stable
	// version serving again.
	TimeToRestore Key `json:"time_to_restore"`
}

// Key is one of the four keys: its value (null when the window holds
// nothing to measure it by), its unit, its band (elite, high, medium,
// low, or unknown) and how many deployments it was measured over.
type Key struct {
	Value   *float64 `json:"value"`
	Unit    string   `json:"unit"`
	Band    string   `json:"band"`
	Samples int      `json:"samples"`
}

func deliveryOf(revs []rollback.Revision, now time.Time, window time.Duration) Delivery {
	k := release.KeysOf(revs, now, window)
	key := func(v float64, known bool, unit string, b release.Band, n int) Key {
		out := Key{Unit: unit, Band: b.String(), Samples: n}
		if known {
			out.Value = &v
		}
		return out
	}
	return Delivery{
		WindowSeconds: window.Seconds(), Bands: release.BandsSource,
		Deployments: k.Deployments, Finished: k.Finished, RolledBack: k.RolledBack,
		DeploymentFrequency: key(k.DeploymentsPerDay, true, "per_day", k.Frequency, k.Deployments),
		LeadTime:            key(k.MedianLeadTime.Seconds(), k.LeadTimes > 0, "seconds", k.LeadTime, k.LeadTimes),
		ChangeFailureRate:   key(k.ChangeFailureRate, k.Finished > 0, "ratio", k.FailureRate, k.Finished),
		TimeToRestore:       key(k.MedianTimeToRestore.Seconds(), k.Restores > 0, "seconds", k.Restore, k.Restores),
	}
}
