package traffic

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/internal/integration"
)

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// observeOnly hides a recorder's Start and Finish, so that the splitter
// calls Observe alone.
type observeOnly struct{ Observer }

func benchRecorder(b *testing.B) *analysis.Recorder {
	r, err := analysis.NewRecorder(analysis.RecorderOptions{}, "stable", "canary")
	if err != nil {
		b.Fatal(err)
	}
	return r
}

type nopObserver struct{}

func (nopObserver) Observe(string, int, time.Duration, int64) {}

func benchSplitter(b *testing.B, opts Options) *Splitter {
	b.Helper()
	if len(opts.Route.Weights) == 0 {
		opts.Route = Split("stable", "canary", 10)
	}
	s, err := NewSplitter(map[string]http.Handler{"stable": nopHandler{}, "canary": nopHandler{}}, opts)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSplitter measures the routing decision plus dispatch to a
// no-op handler, two backends at 90/10, on all cores: by weighted draw
// (budget 15 ns, 0 allocs), by a sticky header key (budget 60 ns, 0
// allocs), by a sticky cookie among others, past two rules that do not
// match, and with an Observer (which costs two clock reads).
func BenchmarkSplitter(b *testing.B) {
	const uuid = "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"
	rules := Split("stable", "canary", 10)
	rules.Rules = []Rule{
		{Header: "X-Canary", Value: "always", Backend: "canary"},
		{Header: "User-Agent", Match: Regexp, Value: `Beta/\d+$`, Backend: "canary"},
	}
	cases := []struct {
		name   string
		opts   Options
		header []string
	}{
		{"weighted", Options{}, nil},
		{"sticky-header", Options{StickyKey: HeaderKey("x-user")}, []string{"X-User", uuid}},
		{"sticky-cookie", Options{StickyCookie: &http.Cookie{Name: "ramp"}},
			[]string{"Cookie", "_ga=GA1.2.3; session=" + uuid + "; ramp=3w5e11264sgsg"}},
		{"rules-no-match", Options{Route: rules}, []string{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"}},
		{"weighted-observed", Options{Observer: nopObserver{}}, nil},
		// The recorder before in-flight tracking (Observe only) and with it
		// (Start and Finish), side by side.
		{"weighted-recorder-observe", Options{Observer: observeOnly{benchRecorder(b)}}, nil},
		{"weighted-recorder-inflight", Options{Observer: benchRecorder(b)}, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := benchSplitter(b, c.opts)
			b.ReportAllocs()
			c0, ok := processCPU()
			defer func() {
				// CPU time per op, summed over the cores: steadier than
				// ns/op (wall time) when other work shares the machine.
				// On idle cores ns/op is about cpu-ns/op / GOMAXPROCS.
				if c1, _ := processCPU(); ok {
					b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/op")
				}
			}()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "/", nil)
				for i := 0; i < len(c.header); i += 2 {
					r.Header.Set(c.header[i], c.header[i+1])
				}
				w := httptest.NewRecorder()
				for pb.Next() {
					s.ServeHTTP(w, r)
				}
			})
		})
	}
}

// throughputRig is the loopback setup of the throughput benchmarks: two
// upstream versions, one bare ReverseProxy to the first, and a Splitter
// at 90/10 in front of one ReverseProxy per version.
type throughputRig struct {
	bare, split, observed, single string // front URLs
	close                         func()
}

type countObserver struct{ n atomic.Int64 }

func (c *countObserver) Observe(string, int, time.Duration, int64) { c.n.Add(1) }

func newThroughputRig(b *testing.B) *throughputRig {
	body := bytes.Repeat([]byte("x"), 128)
	up := func() *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		}))
	}
	v1, v2 := up(), up()
	proxy := func(s *httptest.Server) *httputil.ReverseProxy {
		u, _ := url.Parse(s.URL)
		p, err := NewBackend(u, BackendOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	splitter := func(pct float64, obs Observer) *Splitter {
		s, err := NewSplitter(map[string]http.Handler{"stable": proxy(v1), "canary": proxy(v2)},
			Options{Route: Split("stable", "canary", pct), Observer: obs})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	bare := httptest.NewServer(proxy(v1))
	split := httptest.NewServer(splitter(10, nil))
	observed := httptest.NewServer(splitter(10, &countObserver{}))
	single := httptest.NewServer(splitter(0, nil))
	return &throughputRig{
		bare: bare.URL, split: split.URL, observed: observed.URL, single: single.URL,
		close: func() {
			for _, s := range []*httptest.Server{bare, split, observed, single, v1, v2} {
				s.Close()
			}
		},
	}
}

// load sends n GET requests to url from workers goroutines over keep-alive
// connections and returns the time taken.
func load(b *testing.B, client *http.Client, url string, n, workers int) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, err := client.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkThroughput puts the same load (a Go client, keep-alive, 8
// workers) on a bare httputil.ReverseProxy (built by NewBackend, as the
// splitter's are) and on a Splitter at 90/10 in front of two of them,
// alternating in short rounds so that both see the same machine. b.N
// requests go to each front. It reports requests per second of each and
// the ratio splitter/bare; observed-ratio is the same with an Observer,
// and single-ratio a Splitter sending 100% to one of its two proxies,
// which separates the routing's cost from that of feeding a second
// upstream.
func BenchmarkThroughput(b *testing.B) {
	rig := newThroughputRig(b)
	defer rig.close()
	const workers = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxIdleConns: 3 * workers}}
	defer client.CloseIdleConnections()
	// Warm up connections and pools.
	for _, u := range []string{rig.bare, rig.split, rig.observed, rig.single} {
		load(b, client, u, 200, workers)
	}
	// Many short rounds, each front first in turn, so that the load other
	// processes put on the machine falls on all three alike.
	rounds := max(min(b.N/500, 30), 1)
	per := b.N / rounds
	fronts := []string{rig.bare, rig.split, rig.observed, rig.single}
	took := make([]time.Duration, len(fronts))
	cpu := make([]time.Duration, len(fronts))
	b.ResetTimer()
	for i := range rounds {
		for j := range fronts {
			k := (i + j) % len(fronts)
			c0, _ := processCPU()
			took[k] += load(b, client, fronts[k], per, workers)
			c1, _ := processCPU()
			cpu[k] += c1 - c0
		}
	}
	b.StopTimer()
	n := float64(per * rounds)
	bare, split, obs, single := n/took[0].Seconds(), n/took[1].Seconds(), n/took[2].Seconds(), n/took[3].Seconds()
	// CPU time per request (client, proxies and upstreams together) is
	// steadier than wall-clock throughput on a machine shared with other
	// work: on a saturated machine throughput goes as its inverse.
	if _, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu[0].Microseconds())/n, "bare-cpu-µs/req")
		b.ReportMetric(float64(cpu[1].Microseconds())/n, "splitter-cpu-µs/req")
		b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "cpu-ratio")
	}
	b.ReportMetric(bare, "bare-req/s")
	b.ReportMetric(split, "splitter-req/s")
	b.ReportMetric(obs, "observed-req/s")
	b.ReportMetric(split/bare, "ratio")
	b.ReportMetric(obs/bare, "observed-ratio")
	b.ReportMetric(single/bare, "single-ratio")
}

// BenchmarkThroughputWrk is BenchmarkThroughput with wrk as the load
// generator (skipped when wrk is not installed): 1s rounds of
// "wrk -t2 -c16", alternating between the fronts. It also reports this
// process's CPU time per request (the proxies and upstreams; wrk runs
// apart). Run it with -benchtime=1x.
func BenchmarkThroughputWrk(b *testing.B) {
	wrk := integration.Binary(b, "wrk")
	rig := newThroughputRig(b)
	defer rig.close()
	reqs := regexp.MustCompile(`(\d+) requests in`)
	run := func(url string) (n float64, wall, cpu time.Duration) {
		c0, _ := processCPU()
		start := time.Now()
		out, err := exec.Command(wrk, "-t2", "-c16", "-d1s", url).CombinedOutput()
		wall = time.Since(start)
		c1, _ := processCPU()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		if regexp.MustCompile(`Non-2xx|Socket errors`).Match(out) {
			b.Fatalf("wrk saw errors:\n%s", out)
		}
		m := reqs.FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk: no request count in\n%s", out)
		}
		n, _ = strconv.ParseFloat(string(m[1]), 64)
		return n, wall, c1 - c0
	}
	run(rig.bare) // warm up
	run(rig.split)
	const rounds = 3
	var n, cpu [2]float64
	var wall [2]time.Duration
	b.ResetTimer()
	for range b.N {
		for i := range rounds {
			for j := range 2 {
				k := (i + j) % 2
				rn, rw, rc := run([]string{rig.bare, rig.split}[k])
				n[k] += rn
				wall[k] += rw
				cpu[k] += float64(rc.Microseconds())
			}
		}
	}
	// wrk's own "Requests/sec" leaves out its start-up; requests over
	// the wall time of each run is the same for both fronts.
	bare, split := n[0]/wall[0].Seconds(), n[1]/wall[1].Seconds()
	b.ReportMetric(bare, "bare-req/s")
	b.ReportMetric(split, "splitter-req/s")
	b.ReportMetric(split/bare, "ratio")
	if _, ok := processCPU(); ok {
		b.ReportMetric(cpu[0]/n[0], "bare-cpu-µs/req")
		b.ReportMetric(cpu[1]/n[1], "splitter-cpu-µs/req")
		b.ReportMetric((cpu[0]/n[0])/(cpu[1]/n[1]), "cpu-ratio")
	}
}
