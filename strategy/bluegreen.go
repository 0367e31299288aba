package strategy

import (
	"errors"
	"fmt"
	"time"

	"github.com/ramp-go/ramp/traffic"
)

// PreviewHeader is the header that BlueGreen's default preview rule
// matches: requests with "X-Preview: 1" reach the new version.
const PreviewHeader = "X-Preview"

// BlueGreen switches all traffic to the new version in one step, after a
// preview in which only chosen requests reach it.
//
// It yields at most two steps:
//
//  1. "preview": 0% of weighted traffic; requests matching Preview (testers,
//     smoke tests) go to the new version, and PreviewMirror of live
//     requests are copied to it. PrePromotion, when set, is analysed. The
//     step is left once AutoPromoteAfter is over and PrePromotion passed,
//     or when a person promotes it — the only way when AutoPromoteAfter is
//  0. A failing PrePromotion rolls back before either.
//  2. "post-promotion", only when PostPromotion or PostPromotionHold is
//     set: 100% to the new version while the old one stays deployed and
//     routable, held for PostPromotionHold (0: PostPromotion.Span()) while
//     PostPromotion is analysed. A failure here still rolls back — in one
//     route change, since the old version never stopped.
//
// Without a post-promotion step the strategy is done after the preview and
// the engine switches to 100% itself. Either way, after success the
// rollout's RollbackWindow (ramp.Config.RollbackWindow) is the time during
// which a rollback is still one route change back to the old version.
//
// The zero BlueGreen is valid: preview by "X-Preview: 1" until a person
// promotes, then switch.
type BlueGreen struct {
	// Preview routes matching requests to a backend during the preview;
	// an empty Rule.Backend means the new version. nil means one rule:
	// header X-Preview equal to "1".
	Preview []traffic.Rule `json:"preview,omitempty"`
	// PreviewMirror copies this share of live requests (0–100, 0.01
	// resolution) to the new version during the preview; responses are
	// discarded. 0: no mirroring.
	PreviewMirror float64 `json:"preview_mirror,omitempty"`
	// AutoPromoteAfter is how long the preview lasts before it is left
	// without a person; 0 or UntilPromoted waits for a manual promote
	// (bounded by the engine's progress deadline unless the host opts out).
	AutoPromoteAfter time.Duration `json:"auto_promote_after,omitempty"`
	// PrePromotion, when set, must pass before the preview is left. The new
	// version's only traffic then is the preview and mirrored requests:
	// choose an analysis that can judge that sample.
	PrePromotion *Analysis `json:"-"`
	// PostPromotion, when set, is analysed at 100% before the rollout
	// succeeds.
	PostPromotion *Analysis `json:"-"`
	// PostPromotionHold is how long the post-promotion step lasts. 0 means
	// PostPromotion.Span() (as long as its analysis needs), or no
	// post-promotion step when PostPromotion is nil too.
	PostPromotionHold time.Duration `json:"post_promotion_hold,omitempty"`
}

// Next returns the preview step, then the post-promotion step if there is
// one, then done. An invalid BlueGreen yields a step that keeps all traffic
// on stable until promoted, named after the problem, and is never done.
func (b BlueGreen) Next(p Progress) (Step, bool) {
	if err := b.Validate(); err != nil {
		return refuse(err), false
	}
	switch max(p.Index, 0) {
	case 0:
		rules := cloneRules(b.Preview)
		if rules == nil {
			rules = []traffic.Rule{{Header: PreviewHeader, Value: "1"}}
		}
		hold := b.AutoPromoteAfter
		if hold == 0 {
			hold = UntilPromoted
		}
		return Step{
			Name:          "preview",
			Percent:       0,
			Rules:         rules,
			MirrorPercent: b.PreviewMirror,
			Hold:          hold,
			Analysis:      b.PrePromotion,
		}, false
	case 1:
		if b.PostPromotion == nil && b.PostPromotionHold == 0 {
			return Step{}, true
		}
		hold := b.PostPromotionHold
		if hold == 0 {
			hold = b.PostPromotion.Span()
		}
		return Step{
			Name:     "post-promotion",
			Percent:  100,
			Hold:     hold,
			Analysis: b.PostPromotion,
		}, false
	}
	return Step{}, true
}

// Validate reports every problem with b at once, each naming the field and
// value.
func (b BlueGreen) Validate() error {
	var errs []error
	if b.Preview != nil && len(b.Preview) == 0 {
		errs = append(errs, errors.New("preview: empty: no request could reach the new version before the switch (leave it nil for the X-Preview: 1 default)"))
	}
	errs = append(errs, checkRules("preview", b.Preview)...)
	if bad := checkPercent(b.PreviewMirror); bad != "" {
		errs = append(errs, fmt.Errorf("preview_mirror: %v %s", b.PreviewMirror, bad))
	}
	if b.AutoPromoteAfter < 0 {
		errs = append(errs, fmt.Errorf("auto_promote_after: %v is negative", b.AutoPromoteAfter))
	}
	if b.PostPromotionHold < 0 {
		errs = append(errs, fmt.Errorf("post_promotion_hold: %v is negative", b.PostPromotionHold))
	}
	errs = append(errs, checkAnalysis("pre_promotion", b.PrePromotion)...)
	errs = append(errs, checkAnalysis("post_promotion", b.PostPromotion)...)
	return errors.Join(errs...)
}

func checkAnalysis(field string, a *Analysis) []error {
	if a == nil {
		return nil
	}
	var errs []error
	for _, e := range unjoin(a.Validate()) {
		errs = append(errs, fmt.Errorf("%s: %w", field, e))
	}
	return errs
}
