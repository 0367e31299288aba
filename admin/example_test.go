package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/strategy"
)

// A host mounts the admin API of its rollout under a prefix of its own
// server, next to whatever else it serves.
func ExampleNewHandler() {
	events := &admin.Events{}
	rollout, err := ramp.New(context.Background(), ramp.Config{
		Stable:   "v1",
		Canary:   "v2",
		Strategy: strategy.Canary{Steps: steps},
		Router:   &router{},
		OnEvent:  events.Add, // the history in /status
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/ramp/", http.StripPrefix("/ramp", admin.NewHandler(rollout, admin.Options{Token: "s3cret", Steps: steps, Events: events})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/ramp/status")
	if err != nil {
		panic(err)
	}
	var st admin.Status
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	fmt.Println(st.Phase, len(st.Steps), "steps")

	resp, err = http.Post(srv.URL+"/ramp/pause", "", nil) // no token
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// pending 3 steps
	// 401 Unauthorized
}
