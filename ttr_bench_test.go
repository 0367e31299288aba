package ramp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// BenchmarkTimeToRollback measures, with real HTTP on loopback, how long a
// bad canary keeps getting traffic: a canary at 10% under 1,000 req/s is
// made to fail (every response 5xx, or +300 ms on every response), and the
// continuous guard rolls it back. Each sub-benchmark runs 20 trials and
// reports the median and worst time from the fault's start to the moment
// the splitter stops sending requests to the canary (the rollback Apply
// returned), and how many user requests got the fault. The store
// variants run the 5xx fault with a real FileStore (fsync on every save)
// and with a store that takes 20 ms per Save (a remote store), and report
// how many saves came between the fault and the stable route's Apply (the
// engine promises at most one).
//
//	go test -run '^$' -bench TimeToRollback -benchtime 1x .
func BenchmarkTimeToRollback(b *testing.B) {
	for _, c := range []struct{ name, fault, store string }{
		{"5xx", "5xx", ""},
		{"latency+300ms", "latency+300ms", ""},
		{"5xx/filestore", "5xx", "file"},
		{"5xx/store-20ms", "5xx", "slow"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			const trials = 20
			var ttr []time.Duration
			var hurt []int64
			maxSaves := 0
			for range b.N {
				ttr, hurt = ttr[:0], hurt[:0]
				env := newTTREnv(b)
				for range trials {
					res := env.trial(b, c.fault, newTTRStore(b, c.store))
					ttr = append(ttr, res.ttr)
					hurt = append(hurt, res.hurt)
					maxSaves = max(maxSaves, res.saves)
				}
				env.close()
			}
			if maxSaves > 1 {
				b.Errorf("%d saves before the stable route's Apply (want at most 1)", maxSaves)
			}
			slices.Sort(ttr)
			slices.Sort(hurt)
			b.ReportMetric(float64(ttr[len(ttr)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(ttr[len(ttr)-1].Microseconds())/1000, "worst-ms")
			b.ReportMetric(float64(hurt[len(hurt)/2]), "faulted-req-median")
			b.ReportMetric(float64(hurt[len(hurt)-1]), "faulted-req-worst")
			b.ReportMetric(float64(maxSaves), "saves-before-stable-max")
			b.ReportMetric(0, "ns/op") // the figures above are the result
		})
	}
}

// ttrStore counts saves (and optionally delays them) around a real store.
type ttrStore struct {
	inner ramp.Store // nil: memory only
	delay time.Duration
	saves atomic.Int64
}

func newTTRStore(b *testing.B, kind string) *ttrStore {
	switch kind {
	case "file":
		return &ttrStore{inner: ramp.NewFileStore(filepath.Join(b.TempDir(), "state.json"))}
	case "slow":
		return &ttrStore{delay: 20 * time.Millisecond}
	}
	return &ttrStore{}
}

func (s *ttrStore) Load(ctx context.Context) (ramp.State, error) {
	if s.inner != nil {
		return s.inner.Load(ctx)
	}
	return ramp.State{}, ramp.ErrNoState
}

func (s *ttrStore) Save(ctx context.Context, st ramp.State) error {
	time.Sleep(s.delay)
	s.saves.Add(1)
	if s.inner != nil {
		return s.inner.Save(ctx, st)
	}
	return nil
}

type ttrService struct {
	srv     *http.Server
	url     *url.URL
	fault   atomic.Value // string: "", "5xx", "latency+300ms"
	faulted atomic.Int64 // responses given while faulty
}

func startTTRService(b *testing.B) *ttrService {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &ttrService{url: &url.URL{Scheme: "http", Host: l.Addr().String()}}
	s.fault.Store("")
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.fault.Load().(string) {
		case "5xx":
			s.faulted.Add(1)
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		case "latency+300ms":
			s.faulted.Add(1)
			time.Sleep(300 * time.Millisecond)
		}
		time.Sleep(time.Millisecond)
		io.WriteString(w, "ok")
	})}
	go s.srv.Serve(l)
	return s
}

type ttrEnv struct {
	stable, canary *ttrService
	recorder       *analysis.Recorder
	splitter       *traffic.Splitter
	front          *http.Server
	stopLoad       context.CancelFunc
	loadDone       sync.WaitGroup
}

// zeroRouter remembers when a route without canary traffic took effect,
// and how many saves the store had made when it was asked for it.
type zeroRouter struct {
	*traffic.Splitter
	store       *ttrStore
	mu          sync.Mutex
	zeroAt      time.Time
	savesAtZero int64
}

func (z *zeroRouter) Apply(ctx context.Context, r traffic.Route) error {
	saves := z.store.saves.Load()
	err := z.Splitter.Apply(ctx, r)
	if err == nil && r.Percent("canary") == 0 {
		z.mu.Lock()
		z.zeroAt, z.savesAtZero = time.Now(), saves
		z.mu.Unlock()
	}
	return err
}

func newTTREnv(b *testing.B) *ttrEnv {
	e := &ttrEnv{stable: startTTRService(b), canary: startTTRService(b)}
	var err error
	e.recorder, err = analysis.NewRecorder(analysis.RecorderOptions{SliceDuration: time.Second}, "stable", "canary")
	if err != nil {
		b.Fatal(err)
	}
	backends := map[string]http.Handler{}
	for name, s := range map[string]*ttrService{"stable": e.stable, "canary": e.canary} {
		p, err := traffic.NewBackend(s.url, traffic.BackendOptions{})
		if err != nil {
			b.Fatal(err)
		}
		backends[name] = p
	}
	e.splitter, err = traffic.NewSplitter(backends, traffic.Options{
		Route: traffic.Split("stable", "canary", 0), Observer: e.recorder,
	})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	e.front = &http.Server{Handler: e.splitter}
	go e.front.Serve(l)

	// 1,000 req/s, open loop: a pacer hands out tokens, 64 workers send.
	ctx, cancel := context.WithCancel(context.Background())
	e.stopLoad = cancel
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 5 * time.Second}
	tokens := make(chan struct{}, 256)
	e.loadDone.Add(1)
	go func() {
		defer e.loadDone.Done()
		defer close(tokens)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case tokens <- struct{}{}:
				default:
				}
			}
		}
	}()
	target := "http://" + l.Addr().String() + "/"
	for range 64 {
		e.loadDone.Add(1)
		go func() {
			defer e.loadDone.Done()
			for range tokens {
				resp, err := client.Get(target)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	return e
}

func (e *ttrEnv) close() {
	e.stopLoad()
	e.loadDone.Wait()
	e.front.Close()
	e.stable.srv.Close()
	e.canary.srv.Close()
}

type ttrResult struct {
	ttr   time.Duration
	hurt  int64
	saves int // between the fault and the stable route's Apply
}

// trial runs one rollout at 10%, injects the fault after a healthy second
// and returns the time to zero canary traffic and the faulted requests.
func (e *ttrEnv) trial(b *testing.B, fault string, store *ttrStore) ttrResult {
	e.canary.fault.Store("")
	router := &zeroRouter{Splitter: e.splitter, store: store}
	guard := &rollback.Guard{Source: e.recorder, MaxErrorRate: 0.01, MaxLatency: 100 * time.Millisecond, LatencyQuantile: 0.99}
	r, err := ramp.New(context.Background(), ramp.Config{
		Stable: "stable", Canary: "canary", Router: router,
		Strategy: strategy.Func(func(p strategy.Progress) (strategy.Step, bool) {
			return strategy.Step{Percent: 10, Hold: strategy.UntilPromoted}, p.Index > 0
		}),
		Triggers:             []rollback.Trigger{guard},
		Store:                store,
		UnboundedPromoteWait: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	for r.Status().Step != 0 {
		<-r.Changed()
	}
	time.Sleep(time.Second) // healthy traffic first: the guard must not fire on it
	if ph := r.Status().Phase; ph != ramp.Progressing {
		b.Fatalf("guard fired on a healthy canary: %s: %s", ph, r.Status().Reason)
	}
	before := e.canary.faulted.Load()
	savesBefore := store.saves.Load()
	start := time.Now()
	e.canary.fault.Store(fault)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if r.Status().Phase != ramp.RolledBack {
		b.Fatalf("not rolled back: %+v", r.Status())
	}
	router.mu.Lock()
	ttr := router.zeroAt.Sub(start)
	saves := int(router.savesAtZero - savesBefore)
	router.mu.Unlock()
	// Requests routed before the rollback may still be in the canary.
	time.Sleep(400 * time.Millisecond)
	e.canary.fault.Store("")
	if err := e.splitter.Apply(context.Background(), traffic.Split("stable", "canary", 0)); err != nil {
		b.Fatal(err)
	}
	return ttrResult{ttr: ttr, hurt: e.canary.faulted.Load() - before, saves: saves}
}
