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

// A Router drives the weights of two servers of one HAProxy backend
// through the runtime API; a ramp.Config takes it as its Router. New only
// checks the configuration: nothing is sent until Apply or Current.
func ExampleNew() {
	router, err := haproxy.New(haproxy.Config{
		Addr:    "/run/haproxy/admin.sock", // "stats socket … level admin" in haproxy.cfg
		Backend: "shop",
		Servers: map[string]string{"v1.4.1": "blue", "v1.4.2": "green"},
	})
	fmt.Println(router != nil, err)

	_, err = haproxy.New(haproxy.Config{Backend: "shop"})
	fmt.Println(err)
	// Output:
	// true <nil>
	// haproxy: addr: empty: the runtime API's socket path or host:port is required
	// haproxy: servers: none: map each version label to its server
}
