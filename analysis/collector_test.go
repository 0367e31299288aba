package analysis_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
)

var recStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type recSample struct {
	backend string
	status  int
	d       time.Duration
	bytes   int64
}

func newTestRecorder(t testing.TB, opts analysis.RecorderOptions, backends ...string) (*analysis.Recorder, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(recStart)
	opts.Clock = clk
	r, err := analysis.NewRecorder(opts, backends...)
	require.NoError(t, err)
	return r, clk
}

func gatherFamilies(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// promHistogram returns the duration histogram of backend.
func promHistogram(t *testing.T, mfs map[string]*dto.MetricFamily, backend string) *dto.Histogram {
	t.Helper()
	mf := mfs["ramp_request_duration_seconds"]
	require.NotNil(t, mf)
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "backend" && l.GetValue() == backend {
				return m.GetHistogram()
			}
		}
	}
	t.Fatalf("no histogram for %q", backend)
	return nil
}

func TestCollectorCounters(t *testing.T) {
	r, clk := newTestRecorder(t, analysis.RecorderOptions{MaxBackends: 3}, "stable", "canary", "idle")
	samples := []recSample{
		{"stable", 200, 2 * time.Millisecond, 100},
		{"stable", 200, 3 * time.Millisecond, 100},
		{"stable", 204, 1 * time.Millisecond, 0},
		{"stable", 404, 1 * time.Millisecond, 20},
		{"canary", 200, 2 * time.Millisecond, 100},
		{"canary", 301, 2 * time.Millisecond, 5},
		{"canary", 503, 100 * time.Millisecond, 7},
		{"canary", 0, time.Millisecond, 0},
		{"canary", analysis.StatusClientClosedRequest, 3 * time.Second, 0}, // the client went away
		{"unknown", 200, time.Millisecond, 1},                              // beyond MaxBackends: dropped
	}
	for _, s := range samples {
		r.Observe(s.backend, s.status, s.d, s.bytes)
		clk.Advance(time.Second)
	}
	c, err := analysis.NewCollector(r, analysis.CollectorOptions{})
	require.NoError(t, err)
	want := `
# HELP ramp_requests_total Requests completed, by backend and HTTP status class.
# TYPE ramp_requests_total counter
ramp_requests_total{backend="canary",code="2xx"} 1
ramp_requests_total{backend="canary",code="3xx"} 1
ramp_requests_total{backend="canary",code="499"} 1
ramp_requests_total{backend="canary",code="5xx"} 1
ramp_requests_total{backend="canary",code="other"} 1
ramp_requests_total{backend="stable",code="2xx"} 3
ramp_requests_total{backend="stable",code="4xx"} 1
# HELP ramp_response_bytes_total Response body bytes written, by backend.
# TYPE ramp_response_bytes_total counter
ramp_response_bytes_total{backend="canary"} 112
ramp_response_bytes_total{backend="idle"} 0
ramp_response_bytes_total{backend="stable"} 220
# HELP ramp_recorder_dropped_observations_total Requests not recorded because their backend name was empty or beyond the recorder's limit.
# TYPE ramp_recorder_dropped_observations_total counter
ramp_recorder_dropped_observations_total 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"ramp_requests_total", "ramp_response_bytes_total", "ramp_recorder_dropped_observations_total"))

	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, problems)

	// Every series carries the time its backend was first seen.
	mfs := gatherFamilies(t, c)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ct time.Time
			switch {
			case m.GetCounter() != nil && mf.GetName() != "ramp_recorder_dropped_observations_total":
				ct = m.GetCounter().GetCreatedTimestamp().AsTime()
			case m.GetHistogram() != nil:
				ct = m.GetHistogram().GetCreatedTimestamp().AsTime()
			default:
				continue
			}
			assert.True(t, recStart.Equal(ct), "%s created %v", mf.GetName(), ct)
		}
	}
	idle := promHistogram(t, mfs, "idle")
	assert.Zero(t, idle.GetSampleCount(), "a registered backend is exposed before its first request")
}

func TestCollectorHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name    string
		buckets []float64
		wantLe  []float64 // nil: check against the requested bounds
	}{
		{"default: powers of two of ns", nil, func() (le []float64) {
			for k := 10; k <= 37; k++ {
				le = append(le, math.Ldexp(1, k)/1e9)
			}
			return le
		}()},
		{"custom bounds snap to edges", []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, nil},
		{"bounds on one edge merge", []float64{0.001, 0.001001, 0.002}, nil},
		{"bounds past the range clamp", []float64{1e-9, 1000}, []float64{1.024e-6, 137.438953472}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newTestRecorder(t, analysis.RecorderOptions{}, "canary")
			var ds []time.Duration
			var exactSum float64
			for range 5000 {
				d := time.Duration(math.Exp(math.Log(5e6) + 1.5*rng.NormFloat64()))
				ds = append(ds, d)
				exactSum += d.Seconds()
				r.Observe("canary", 200, d, 1)
			}
			// Durations exactly on edges must count as <= le.
			for k := 10; k <= 37; k += 3 {
				d := time.Duration(1) << k
				ds = append(ds, d)
				exactSum += d.Seconds()
				r.Observe("canary", 200, d, 1)
			}
			col, err := analysis.NewCollector(r, analysis.CollectorOptions{Buckets: c.buckets})
			require.NoError(t, err)
			h := promHistogram(t, gatherFamilies(t, col), "canary")
			assert.Equal(t, uint64(len(ds)), h.GetSampleCount())
			assert.InEpsilon(t, exactSum, h.GetSampleSum(), 0.01, "sum within 1%")

			var les []float64
			for _, b := range h.GetBucket() {
				le := b.GetUpperBound()
				les = append(les, le)
				var n uint64
				for _, d := range ds {
					if d <= time.Duration(math.Round(le*1e9)) {
						n++
					}
				}
				assert.Equal(t, n, b.GetCumulativeCount(), "le=%v is exact", le)
			}
			switch {
			case c.name == "bounds on one edge merge":
				assert.Len(t, les, 2)
			case c.wantLe != nil:
				assert.Equal(t, c.wantLe, les)
			default:
				require.Len(t, les, len(c.buckets))
				for i, le := range les {
					assert.InEpsilon(t, c.buckets[i], le, 0.01, "le %v moved less than 1%% from %v", le, c.buckets[i])
				}
			}
		})
	}
}

func TestCollectorNeverDecreases(t *testing.T) {
	r, clk := newTestRecorder(t, analysis.RecorderOptions{SliceDuration: time.Second, Slices: 3}, "canary")
	c, err := analysis.NewCollector(r, analysis.CollectorOptions{})
	require.NoError(t, err)
	var lastCount, lastBytes float64
	for round := range 10 {
		for i := range round + 1 {
			r.Observe("canary", 200+100*(i%4), time.Duration(i+1)*time.Millisecond, 10)
		}
		clk.Advance(1700 * time.Millisecond) // slices roll and are reused
		mfs := gatherFamilies(t, c)
		h := promHistogram(t, mfs, "canary")
		count := float64(h.GetSampleCount())
		bytes := mfs["ramp_response_bytes_total"].GetMetric()[0].GetCounter().GetValue()
		var requests float64
		for _, m := range mfs["ramp_requests_total"].GetMetric() {
			requests += m.GetCounter().GetValue()
		}
		assert.GreaterOrEqual(t, count, lastCount, "round %d", round)
		assert.GreaterOrEqual(t, bytes, lastBytes, "round %d", round)
		assert.Equal(t, count, requests, "histogram count and requests agree")
		lastCount, lastBytes = count, bytes
	}
	assert.Equal(t, float64(55), lastCount, "1+2+…+10 requests, none lost to the ring")
}

func TestCollectorConstLabels(t *testing.T) {
	r, _ := newTestRecorder(t, analysis.RecorderOptions{}, "canary")
	r.Observe("canary", 200, time.Millisecond, 1)
	c, err := analysis.NewCollector(r, analysis.CollectorOptions{ConstLabels: prometheus.Labels{"rollout": "checkout"}})
	require.NoError(t, err)
	want := `
# HELP ramp_requests_total Requests completed, by backend and HTTP status class.
# TYPE ramp_requests_total counter
ramp_requests_total{backend="canary",code="2xx",rollout="checkout"} 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), "ramp_requests_total"))
}

func TestNewCollectorErrors(t *testing.T) {
	r, _ := newTestRecorder(t, analysis.RecorderOptions{})
	cases := []struct {
		name string
		r    *analysis.Recorder
		opts analysis.CollectorOptions
		want []string
	}{
		{"nil recorder", nil, analysis.CollectorOptions{}, []string{"collector recorder: nil"}},
		{"NaN bound", r, analysis.CollectorOptions{Buckets: []float64{0.1, math.NaN()}}, []string{"buckets[1]: NaN is not a positive finite number of seconds"}},
		{"negative and zero", r, analysis.CollectorOptions{Buckets: []float64{-1, 0}}, []string{"buckets[0]: -1 is not", "buckets[1]: 0 is not"}},
		{"infinite", r, analysis.CollectorOptions{Buckets: []float64{math.Inf(1)}}, []string{"buckets[0]: +Inf is not"}},
		{"not increasing", r, analysis.CollectorOptions{Buckets: []float64{0.1, 0.5, 0.5, 0.2}}, []string{"buckets[2]: 0.5 is not above buckets[1] = 0.5", "buckets[3]: 0.2 is not above buckets[2] = 0.5"}},
		{"clashing label", r, analysis.CollectorOptions{ConstLabels: prometheus.Labels{"backend": "x"}}, []string{"collector const labels:", "backend"}},
		{"invalid label", r, analysis.CollectorOptions{ConstLabels: prometheus.Labels{"__bad": "x"}}, []string{"collector const labels:", "__bad"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			col, err := analysis.NewCollector(c.r, c.opts)
			require.Error(t, err)
			assert.Nil(t, col)
			for _, w := range c.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestCollectorZeroRecorder(t *testing.T) {
	var r analysis.Recorder
	c, err := analysis.NewCollector(&r, analysis.CollectorOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, testutil.CollectAndCount(c), "only the dropped counter before any request")
	r.Observe("a", 500, time.Millisecond, 3)
	assert.Equal(t, 4, testutil.CollectAndCount(c))
}

func BenchmarkCollectorCollect(b *testing.B) {
	r, clk := newTestRecorder(b, analysis.RecorderOptions{}, "stable", "canary")
	rng := rand.New(rand.NewPCG(1, 1))
	for range analysis.DefaultSlices {
		for i := range 2000 {
			r.Observe([]string{"stable", "canary"}[i%2], 200+100*(i/2%4), time.Duration(math.Exp(math.Log(3e6)+rng.NormFloat64())), 512)
		}
		clk.Advance(analysis.DefaultSliceDuration)
	}
	c, err := analysis.NewCollector(r, analysis.CollectorOptions{})
	require.NoError(b, err)
	ch := make(chan prometheus.Metric, 64)
	b.ReportAllocs()
	for b.Loop() {
		go func() {
			c.Collect(ch)
			close(ch)
		}()
		n := 0
		for range ch {
			n++
		}
		if n != 1+2*(4+2) {
			b.Fatalf("collected %d metrics", n)
		}
		ch = make(chan prometheus.Metric, 64)
	}
}

func ExampleNewCollector() {
	clk := clock.NewFake(recStart)
	r, _ := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "stable", "canary")
	r.Observe("stable", 200, 3*time.Millisecond, 512)
	r.Observe("canary", 200, 5*time.Millisecond, 512)
	r.Observe("canary", 503, 40*time.Millisecond, 0)

	c, err := analysis.NewCollector(r, analysis.CollectorOptions{Buckets: []float64{0.004, 0.016}})
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c) // and serve reg with promhttp.HandlerFor
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := []string{}
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			switch {
			case m.GetCounter() != nil:
				fmt.Println(mf.GetName(), labels, m.GetCounter().GetValue())
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				fmt.Print(mf.GetName(), " ", labels, " count=", h.GetSampleCount())
				for _, b := range h.GetBucket() {
					fmt.Printf(" le=%g:%d", b.GetUpperBound(), b.GetCumulativeCount())
				}
				fmt.Println()
			}
		}
	}
	// Output:
	// ramp_recorder_dropped_observations_total [] 0
	// ramp_request_duration_seconds [backend=canary] count=2 le=0.004035584:0 le=0.016142336:1
	// ramp_request_duration_seconds [backend=stable] count=1 le=0.004035584:1 le=0.016142336:1
	// ramp_requests_total [backend=canary code=2xx] 1
	// ramp_requests_total [backend=canary code=5xx] 1
	// ramp_requests_total [backend=stable code=2xx] 1
	// ramp_response_bytes_total [backend=canary] 512
	// ramp_response_bytes_total [backend=stable] 512
}
