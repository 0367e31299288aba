package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/fleet"
	"github.com/ramp-go/ramp/lock"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// Every replica of the service runs this: it joins the fleet with its
// splitter, serves, and takes part in the release; the elected leader
// drives it.
func ExampleJoin() {
	ctx := context.Background()
	cli, _ := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	defer cli.Close()
	split, _ := traffic.NewSplitter(map[string]http.Handler{"v1": http.NotFoundHandler(), "v2": http.NotFoundHandler()},
		traffic.Options{Route: traffic.Split("v1", "v2", 0)})
	rep, err := fleet.Join(ctx, fleet.Config{Client: cli, Service: "shop", Router: split, TTL: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rep.Close()
	go http.ListenAndServe(":8080", split) // serves the fleet's route from now on

	steps, _ := strategy.ParseSteps("10:2m,50:2m")
	err = rep.Drive(ctx, ramp.Config{Stable: "v1", Canary: "v2", Strategy: strategy.Canary{Steps: steps}, Router: split}, nil)
	fmt.Println(err, rep.Status(ctx).Route)
}

// A deploy tool takes the service's lock for the whole release; a second
// one fails at once, naming the holder.
func ExampleNewLock() {
	ctx := context.Background()
	cli, _ := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	defer cli.Close()
	l, _ := fleet.NewLock(cli, "shop", fleet.LockOptions{})
	err := l.TryAcquire(ctx, lock.Holder{Version: "v2.1.0", Purpose: "rollout of shop v2.1.0"})
	var held *lock.HeldError
	if errors.As(err, &held) {
		fmt.Println("another release is running:", held.Holder)
		return
	}
	defer l.Release(ctx)
	// … release …
}
