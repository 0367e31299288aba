// Command fleetdemo shows a fleet on etcd: it starts etcd (the "etcd"
// binary on PATH, Debian's etcd-server) on loopback ports with a temporary
// data directory, three proxy replicas and a load generator, then
// releases twice. The first release is promoted (an operation sent to a
// replica that does not lead reaches the leader); the second has a
// failing canary: one replica's own guard moves it to stable at once and
// the leader rolls the whole fleet back.
//
//	go run ./examples/fleetdemo   (from the fleet module's directory)
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/fleet"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetdemo:", err)
		os.Exit(1)
	}
}

func run() error {
	endpoint, stopEtcd, err := startEtcd()
	if err != nil {
		return err
	}
	defer stopEtcd()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Three versions: v3 answers 500.
	versions := map[string]http.Handler{}
	for _, v := range []string{"v1", "v2", "v3"} {
		versions[v] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v == "v3" {
				http.Error(w, "broken", http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, v)
		})
	}
	if err := release(ctx, endpoint, versions, "v1", "v2", false); err != nil {
		return err
	}
	return release(ctx, endpoint, versions, "v2", "v3", true)
}

type member struct {
	rep   *fleet.Replica
	rec   *analysis.Recorder
	split *traffic.Splitter
	cli   *clientv3.Client
	admin *httptest.Server
}

// release runs one release over three replicas.
func release(ctx context.Context, endpoint string, versions map[string]http.Handler, stable, canary string, faulty bool) error {
	fmt.Printf("\n== release %s → %s (3 replicas)\n", stable, canary)
	var ms []*member
	defer func() {
		for _, m := range ms {
			_ = m.rep.Close()
			m.admin.Close()
			_ = m.cli.Close()
		}
	}()
	for i := range 3 {
		m, err := startMember(ctx, endpoint, fmt.Sprintf("%s-r%d", canary, i+1), versions, stable, canary)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	for _, m := range ms {
		go loadgen(loadCtx, m.split)
	}
	steps := []strategy.Step{{Percent: 20, Hold: 2 * time.Second}, {Percent: 50, Hold: strategy.UntilPromoted}}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := m.rep.NewSource(time.Second)
			err := m.rep.Drive(ctx, ramp.Config{
				Stable: stable, Canary: canary, Strategy: strategy.Canary{Steps: steps},
				Router:   m.split,
				Triggers: []rollback.Trigger{&rollback.Guard{Source: src, MaxErrorRate: 0.05}},
				OnEvent: func(e ramp.Event) {
					fmt.Printf("  leader %s: %s %s (%.0f%%) %s\n", m.rep.ID(), e.Kind, strategy.StepText(e.Step, e.Steps), e.Percent, e.Reason)
				},
			}, nil)
			if err != nil {
				fmt.Println("  drive:", err)
			}
		}()
		go guardLocally(ctx, m, stable, canary)
	}
	if !faulty {
		waitStep(ctx, ms, canary, 50)
		show(ctx, ms)
		fmt.Printf("  promote sent to %s\n", ms[2].rep.ID())
		if err := ms[2].rep.Send(ctx, fleet.OpPromote, ""); err != nil {
			return err
		}
	}
	wg.Wait()
	show(ctx, ms)
	return nil
}

func startMember(ctx context.Context, endpoint, id string, versions map[string]http.Handler, stable, canary string) (*member, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, stable, canary)
	if err != nil {
		return nil, err
	}
	split, err := traffic.NewSplitter(map[string]http.Handler{stable: versions[stable], canary: versions[canary]},
		traffic.Options{Route: traffic.Split(stable, canary, 0), Observer: rec})
	if err != nil {
		return nil, err
	}
	admin := httptest.NewServer(fleet.WindowHandler(rec))
	rep, err := fleet.Join(ctx, fleet.Config{Client: cli, Service: "shop-" + canary, ID: id, TTL: 2 * time.Second,
		Router: split, Admin: admin.URL})
	if err != nil {
		return nil, err
	}
	return &member{rep: rep, rec: rec, split: split, cli: cli, admin: admin}, nil
}

// guardLocally: a replica that sees its canary fail moves to stable at
// once and asks the leader to roll back.
func guardLocally(ctx context.Context, m *member, stable, canary string) {
	g := &rollback.Guard{Source: m.rec, MaxErrorRate: 0.05, PollInterval: 20 * time.Millisecond}
	var once sync.Once
	_ = g.Watch(ctx, rollback.Target{Stable: stable, Canary: canary}, func(reason string) {
		once.Do(func() {
			fmt.Printf("  replica %s: local guard: %s → stable now, asking the leader to roll back\n", m.rep.ID(), reason)
			go func() { _ = m.rep.Failsafe(ctx, reason) }()
		})
	})
}

func loadgen(ctx context.Context, h http.Handler) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		}
	}
}

func waitStep(ctx context.Context, ms []*member, canary string, pct float64) {
	for ctx.Err() == nil {
		all := true
		for _, m := range ms {
			if r, _ := m.split.Current(ctx); r.Percent(canary) != pct {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func show(ctx context.Context, ms []*member) {
	st := ms[0].rep.Status(ctx)
	fmt.Printf("  fleet %s: leader %s, route revision %d\n", st.Service, st.Leader, st.RouteRevision)
	for _, r := range st.Replicas {
		fmt.Printf("    %-8s applied revision %d, canary %5.1f%%%s\n", r.ID, r.AppliedRevision, r.CanaryPercent, map[bool]string{true: " (guarded: " + r.Reason + ")"}[r.Guarded])
	}
}

// startEtcd runs etcd from PATH on free loopback ports.
func startEtcd() (string, func(), error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return "", nil, fmt.Errorf("etcd not on PATH (Debian: apt-get install etcd-server): %w", err)
	}
	dir, err := os.MkdirTemp("", "fleetdemo-etcd")
	if err != nil {
		return "", nil, err
	}
	client, peer := freeAddr(), freeAddr()
	cmd := exec.Command(bin, "--name", "demo", "--data-dir", dir,
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "demo=http://"+peer, "--log-level", "error", "--logger", "zap")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = os.RemoveAll(dir) }
	fmt.Printf("etcd %s on %s (data %s)\n", bin, client, dir)
	for range 100 {
		if c, err := net.Dial("tcp", client); err == nil {
			c.Close()
			return "http://" + client, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("etcd did not start on %s", client)
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
