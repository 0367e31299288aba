package haproxy_test

import (
	"fmt"

	"github.com/ramp-go/ramp/traffic/haproxy"
)

// Shares become HAProxy weights and weights become shares again.
func ExampleWeights() {
	for _, canary := range []float64{0, 0.01, 1, 10, 12.25, 50, 100} {
		w, err := haproxy.Weights([]float64{canary, 100 - canary})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("canary %6.2f%% → weights %3d:%3d → Current reports %v\n", canary, w[0], w[1], haproxy.Percents(w))
	}
	// Output:
	// canary   0.00% → weights   0:256 → Current reports [0 100]
	// canary   0.01% → weights   1:256 → Current reports [0.39 99.61]
	// canary   1.00% → weights   2:198 → Current reports [1 99]
	// canary  10.00% → weights  28:252 → Current reports [10 90]
	// canary  12.25% → weights  31:222 → Current reports [12.25 87.75]
	// canary  50.00% → weights 256:256 → Current reports [50 50]
	// canary 100.00% → weights 256:  0 → Current reports [100 0]
}

// Names that could smuggle a second command are refused before anything
// is sent.
func ExampleValidName() {
	for _, name := range []string{"be_app-v2", "s1;shutdown sessions server app/s1", "s1 0", "#3"} {
		fmt.Println(haproxy.ValidName("server", name))
	}
	// Output:
	// <nil>
	// invalid HAProxy name: server "s1;shutdown sessions server app/s1": character ';' at byte 2 is not allowed (allowed: A-Z a-z 0-9 _ . : -)
	// invalid HAProxy name: server "s1 0": character ' ' at byte 2 is not allowed (allowed: A-Z a-z 0-9 _ . : -)
	// <nil>
}
