package termview_test

import (
	"fmt"
	"os"
	"time"

	"github.com/ramp-go/ramp/internal/termview"
)

// A Renderer on output that is not a terminal (here standard output under
// go test) prints plain lines: Println lines in full, and a status line for
// a Draw.
func ExampleRenderer() {
	r := termview.New(os.Stdout, termview.Options{PlainInterval: -1})
	defer r.Close() // on a terminal: shows the cursor again, also after a panic

	_ = r.Println("── release v1 → v2")
	_ = r.Draw(termview.View{
		Title: "v1 → v2", Phase: "progressing", Canary: "v2",
		Share: 10, Target: 10, Steps: []float64{10, 50, 100}, Step: 0,
		Versions: []termview.Version{
			{Name: "v1", RPS: 360, P99: 8 * time.Millisecond},
			{Name: "v2", RPS: 40, ErrorRate: 0.025, P99: 9 * time.Millisecond},
		},
	})
	// Output:
	// ── release v1 → v2
	//   v1 → v2 progressing step 1 of 3 v2 10.00% | v1 360 req/s 5xx 0.00% p99 8ms | v2 40 req/s 5xx 2.50% p99 9ms
}

// Rows is the panel as the live view draws it, here for a terminal 60
// columns wide: the verdict wrapped, log lines shortened, nothing wider
// than 60 columns.
func ExampleView_Rows() {
	v := termview.View{
		Title: "v2 → v3", Phase: "rolling_back", Canary: "v3",
		Share: 50, Target: 0, Steps: []float64{10, 50, 100}, Step: 1,
		Versions: []termview.Version{
			{Name: "v2", RPS: 200, P99: 8300 * time.Microsecond},
			{Name: "v3", RPS: 200, ErrorRate: 0.3, P99: 256 * time.Millisecond},
		},
		Verdict: "rollback: guard: canary 5xx rate 30.0% (n=120) over limit 1.0%: e-value 1834 ≥ 600",
		Log:     []string{"12:00:01.250  ROLLING BACK: guard: canary 5xx rate 30.0% (n=120) over limit 1.0%"},
	}
	for _, row := range v.Rows(60, 20) {
		fmt.Println(row)
	}
	// Output:
	// ── ramp v2 → v3 · rolling_back · step 2 of 3 ───────────────
	//  v3 ███████████████████▌░░░░░░░░░░░░░░░░░░░  50.00% → 0.00%
	//  steps   10% → [50%] → 100%
	//  version     req/s      5xx        p99
	//  v2            200    0.00%      8.3ms
	//  v3            200   30.00%      256ms
	//  verdict rollback: guard: canary 5xx rate 30.0% (n=120) over
	//          limit 1.0%: e-value 1834 ≥ 600
	//  12:00:01.250  ROLLING BACK: guard: canary 5xx rate 30.0% (…
	// ────────────────────────────────────────────────────────────
}
