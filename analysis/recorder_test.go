package analysis

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

// recObserver is traffic.Observer, restated so that this package's tests do
// not depend on traffic.
type recObserver interface {
	Observe(backend string, status int, elapsed time.Duration, bytes int64)
}

var (
	_ recObserver  = (*Recorder)(nil)
	_ WindowSource = (*Recorder)(nil)
)

var recT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeRecorder(t testing.TB, opts RecorderOptions, backends ...string) (*Recorder, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(recT0)
	opts.Clock = clk
	r, err := NewRecorder(opts, backends...)
	require.NoError(t, err)
	return r, clk
}

func TestRecorderWindowSlices(t *testing.T) {
	r, clk := newFakeRecorder(t, RecorderOptions{SliceDuration: time.Second, Slices: 4}, "a")
	at := func(d time.Duration) time.Time { return recT0.Add(d) }
	// k requests in slice k (k = 1..4), each taking k ms.
	clk.Advance(500 * time.Millisecond)
	for k := 1; k <= 4; k++ {
		for range k {
			r.Observe("a", 200, time.Duration(k)*time.Millisecond, 100)
		}
		if k < 4 {
			clk.Advance(time.Second)
		}
	}
	now := at(3500 * time.Millisecond)
	require.Equal(t, now, clk.Now())

	cases := []struct {
		name         string
		since, until time.Time
		requests     int64
		wantSince    time.Time
		wantUntil    time.Time
	}{
		{"everything", time.Time{}, time.Time{}, 10, recT0, now},
		{"aligned span", at(time.Second), at(3 * time.Second), 5, at(time.Second), at(3 * time.Second)},
		{"unaligned span widens to slices", at(1200 * time.Millisecond), at(2100 * time.Millisecond), 5, at(time.Second), at(3 * time.Second)},
		{"since, to now", at(3 * time.Second), time.Time{}, 4, at(3 * time.Second), now},
		{"until in the future is now", at(2 * time.Second), at(time.Hour), 7, at(2 * time.Second), now},
		{"before the backend existed", recT0.Add(-time.Hour), at(time.Second), 1, recT0, at(time.Second)},
		{"until excludes the slice it starts", time.Time{}, at(time.Second), 1, recT0, at(time.Second)},
		{"empty span", at(2 * time.Second), at(2 * time.Second), 0, time.Time{}, time.Time{}},
		{"reversed span", at(3 * time.Second), at(time.Second), 0, time.Time{}, time.Time{}},
		{"since in the future", at(time.Hour), time.Time{}, 0, time.Time{}, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := r.Window("a", c.since, c.until)
			assert.Equal(t, "a", w.Backend)
			assert.Equal(t, c.requests, w.Requests, "requests")
			assert.Equal(t, c.requests, w.Classes[2], "2xx")
			assert.Equal(t, c.requests*100, w.Bytes, "bytes")
			require.NotNil(t, w.Latency)
			assert.Equal(t, c.requests, w.Latency.Count(), "latency count")
			assert.True(t, c.wantSince.Equal(w.Since), "since: want %v, got %v", c.wantSince, w.Since)
			assert.True(t, c.wantUntil.Equal(w.Until), "until: want %v, got %v", c.wantUntil, w.Until)
		})
	}

	// The latency of a window is that of its slices only.
	w := r.Window("a", at(3*time.Second), time.Time{})
	assert.InEpsilon(t, float64(4*time.Millisecond), float64(w.Latency.Quantile(0)), 0.01)
	w = r.Window("a", time.Time{}, at(2*time.Second))
	assert.InEpsilon(t, float64(2*time.Millisecond), float64(w.Latency.Quantile(1)), 0.01)

	// One slice later the oldest slice is forgotten.
	clk.Advance(time.Second)
	w = r.Window("a", time.Time{}, time.Time{})
	assert.Equal(t, int64(9), w.Requests)
	assert.True(t, at(time.Second).Equal(w.Since), "since %v", w.Since)
	assert.Zero(t, r.Window("a", recT0, at(time.Second)).Requests, "forgotten slice")
	assert.True(t, r.Window("a", recT0, at(time.Second)).Since.IsZero(), "a forgotten span covers nothing")

	// Much later: all forgotten, but the recorder knows nothing happened
	// in the slices it remembers.
	clk.Advance(7 * time.Second) // now recT0+11.5s
	w = r.Window("a", time.Time{}, time.Time{})
	assert.Zero(t, w.Requests)
	assert.True(t, at(8*time.Second).Equal(w.Since), "since %v", w.Since)
	assert.True(t, clk.Now().Equal(w.Until))

	// New traffic reuses the ring; totals keep everything.
	r.Observe("a", 503, time.Second, 7)
	w = r.Window("a", time.Time{}, time.Time{})
	assert.Equal(t, int64(1), w.Requests)
	assert.Equal(t, int64(1), w.Errors)
	total := r.Total("a")
	assert.Equal(t, int64(11), total.Requests)
	assert.Equal(t, int64(1), total.Errors)
	assert.Equal(t, int64(1007), total.Bytes)
	assert.Equal(t, int64(11), total.Latency.Count())
	assert.True(t, recT0.Equal(total.Since))
	assert.True(t, clk.Now().Equal(total.Until))
}

func TestRecorderUnknownBackend(t *testing.T) {
	r, _ := newFakeRecorder(t, RecorderOptions{}, "a")
	for _, w := range []Window{r.Window("nope", time.Time{}, time.Time{}), r.Total("nope")} {
		assert.Equal(t, "nope", w.Backend)
		assert.Zero(t, w.Requests)
		assert.True(t, w.Since.IsZero() && w.Until.IsZero())
		require.NotNil(t, w.Latency, "Latency is never nil")
		assert.Zero(t, w.Latency.Count())
	}
}

func TestRecorderStatusClasses(t *testing.T) {
	r, _ := newFakeRecorder(t, RecorderOptions{})
	statuses := []int{0, -5, 99, 100, 101, 200, 204, 299, 302, 404, 499, 500, 503, 599, 600, 999}
	for _, s := range statuses {
		r.Observe("a", s, time.Millisecond, 1)
	}
	want := [6]int64{}
	var errs int64
	for _, s := range statuses {
		switch {
		case s == StatusClientClosedRequest:
			continue // the client went away: Gone, not a response
		case s >= 100 && s < 600:
			want[s/100]++
		default:
			want[0]++
		}
		if s >= 500 {
			errs++
		}
	}
	for _, w := range []Window{r.Window("a", time.Time{}, time.Time{}), r.Total("a")} {
		assert.Equal(t, want, w.Classes)
		assert.Equal(t, errs, w.Errors, "status >= 500")
		assert.Equal(t, int64(len(statuses)-1), w.Requests)
		assert.Equal(t, int64(1), w.Gone)
		assert.InDelta(t, float64(errs)/float64(len(statuses)-1), w.ErrorRate(), 1e-12)
	}
}

func TestRecorderBytes(t *testing.T) {
	r, _ := newFakeRecorder(t, RecorderOptions{})
	r.Observe("a", 200, time.Millisecond, 10)
	r.Observe("a", 200, time.Millisecond, -10) // nonsense counts as 0
	r.Observe("a", 200, time.Millisecond, 0)
	assert.Equal(t, int64(10), r.Window("a", time.Time{}, time.Time{}).Bytes)
	assert.Equal(t, int64(3), r.Total("a").Requests)
}

func TestRecorderBackends(t *testing.T) {
	r, _ := newFakeRecorder(t, RecorderOptions{MaxBackends: 3}, "stable", "canary")
	assert.Equal(t, []string{"canary", "stable"}, r.Backends())
	r.Observe("mirror", 200, time.Millisecond, 1) // added on first sight
	assert.Equal(t, []string{"canary", "mirror", "stable"}, r.Backends())

	r.Observe("fourth", 200, time.Millisecond, 1) // beyond the limit
	r.Observe("", 200, time.Millisecond, 1)       // never a backend
	r.Observe("fourth", 200, time.Millisecond, 1)
	assert.Equal(t, int64(3), r.Dropped())
	assert.Equal(t, []string{"canary", "mirror", "stable"}, r.Backends())
	assert.Zero(t, r.Total("fourth").Requests)

	err := r.Register("stable", "", "fifth")
	require.Error(t, err)
	assert.ErrorContains(t, err, "backends[1]: empty name")
	assert.ErrorContains(t, err, `backends[2]: "fifth" exceeds the limit of 3 backends`)
	assert.NotContains(t, err.Error(), "stable", "known names are fine")

	_, err = NewRecorder(RecorderOptions{MaxBackends: 1}, "a", "b")
	assert.ErrorContains(t, err, `"b" exceeds the limit of 1 backends`)
}

func TestRecorderManyBackends(t *testing.T) {
	// Past recScanLimit the table switches to a map; lookups still work.
	r, _ := newFakeRecorder(t, RecorderOptions{})
	names := make([]string, 3*recScanLimit)
	for i := range names {
		names[i] = string(rune('a' + i))
		for range i + 1 {
			r.Observe(names[i], 200, time.Millisecond, 1)
		}
	}
	require.NotNil(t, r.state().table.Load().byName)
	for i, n := range names {
		assert.Equal(t, int64(i+1), r.Total(n).Requests, n)
	}
}

func TestRecorderOptionsValidation(t *testing.T) {
	cases := []struct {
		opts RecorderOptions
		want []string
	}{
		{RecorderOptions{SliceDuration: -time.Second}, []string{"slice duration: -1s"}},
		{RecorderOptions{SliceDuration: time.Microsecond}, []string{"slice duration: 1µs must be 0 (default) or at least 1ms"}},
		{RecorderOptions{Slices: -1}, []string{"slices: -1"}},
		{RecorderOptions{Slices: 1 << 20}, []string{"slices: 1048576"}},
		{RecorderOptions{MaxBackends: -2}, []string{"max backends: -2 is negative"}},
		{RecorderOptions{SliceDuration: -1, Slices: -1, MaxBackends: -1}, []string{"slice duration", "slices", "max backends"}},
	}
	for _, c := range cases {
		_, err := NewRecorder(c.opts)
		require.Error(t, err, "%+v", c.opts)
		for _, w := range c.want {
			assert.ErrorContains(t, err, w)
		}
	}
	r, err := NewRecorder(RecorderOptions{SliceDuration: time.Millisecond, Slices: 1})
	require.NoError(t, err, "the smallest valid options")
	r.Observe("a", 200, time.Millisecond, 1)
	assert.Equal(t, int64(1), r.Total("a").Requests)
}

func TestRecorderZeroValue(t *testing.T) {
	var r Recorder
	r.Observe("a", 200, 3*time.Millisecond, 10)
	r.Observe("a", 502, 5*time.Millisecond, 0)
	w := r.Window("a", time.Time{}, time.Time{})
	assert.Equal(t, int64(2), w.Requests)
	assert.Equal(t, int64(1), w.Errors)
	assert.False(t, w.Since.After(w.Until))
	st := r.state()
	assert.Equal(t, int64(DefaultSliceDuration), st.slice)
	assert.Equal(t, int64(DefaultSlices), st.slices)
	assert.Nil(t, st.clk, "the real clock, read coarsely")
	st.timer.Stop()
}

func TestRecorderCoarseClock(t *testing.T) {
	st := newRecState(RecorderOptions{SliceDuration: time.Millisecond})
	st.tick = time.Hour // the test plays the timer itself
	defer st.timer.Stop()
	require.True(t, st.stale.Load(), "stale until the first request")
	require.False(t, st.ticking.Load(), "idle: no timer")

	before := st.slotAt(time.Now().UnixNano())
	first := st.observedSlot()
	assert.GreaterOrEqual(t, first, before)
	assert.LessOrEqual(t, first, st.slotAt(time.Now().UnixNano()))
	assert.Equal(t, first.slice()%st.slices, first.index())
	assert.False(t, st.stale.Load())
	assert.True(t, st.ticking.Load(), "the first request arms the timer")
	for range 3 {
		assert.Equal(t, first, st.observedSlot(), "coarse until the next tick")
	}

	st.onTick() // a tick with requests: stay armed, refresh on the next one
	assert.True(t, st.stale.Load())
	assert.True(t, st.ticking.Load())
	second := st.observedSlot()
	assert.GreaterOrEqual(t, second, first)

	st.onTick()
	st.onTick() // a whole tick without requests: stop
	assert.False(t, st.ticking.Load(), "idle again: the timer stops")
	assert.True(t, st.stale.Load())
	st.observedSlot()
	assert.True(t, st.ticking.Load(), "rearmed by the next request")

	// The wall clock steps back: recorded time holds still.
	future := st.slotAt(time.Now().Add(time.Hour).UnixNano())
	st.coarse.Store(int64(future))
	st.stale.Store(true)
	assert.Equal(t, future, st.observedSlot())
}

func TestRecorderSlotRef(t *testing.T) {
	st := newRecState(RecorderOptions{SliceDuration: time.Second, Slices: 7, Clock: clock.NewFake(recT0)})
	for _, c := range []struct {
		at          time.Time
		slice, slot int64
	}{
		{time.Unix(0, 0), 0, 0},
		{time.Unix(6, 999_999_999), 6, 6},
		{time.Unix(7, 0), 7, 0},
		{time.Unix(-1, 0), -1, 6}, // before 1970: floor, not truncation
		{recT0, recT0.Unix(), recT0.Unix() % 7},
	} {
		ref := st.slotAt(c.at.UnixNano())
		assert.Equal(t, c.slice, ref.slice(), "slice of %v", c.at)
		assert.Equal(t, c.slot, ref.index(), "slot of %v", c.at)
	}
}

func TestRecorderRealClockTicks(t *testing.T) {
	r, err := NewRecorder(RecorderOptions{SliceDuration: time.Millisecond}, "a")
	require.NoError(t, err)
	st := r.state()
	assert.Equal(t, time.Millisecond, st.tick, "tick clamps to 1ms")
	r.Observe("a", 200, time.Millisecond, 1)
	assert.True(t, st.ticking.Load())
	assert.Equal(t, int64(1), r.Total("a").Requests)
	big, err := NewRecorder(RecorderOptions{SliceDuration: time.Hour})
	require.NoError(t, err)
	assert.Equal(t, 50*time.Millisecond, big.state().tick, "tick clamps to 50ms")
}

func TestRecorderStraggler(t *testing.T) {
	r, clk := newFakeRecorder(t, RecorderOptions{SliceDuration: time.Second, Slices: 4}, "a")
	st := r.state()
	b := st.table.Load().get("a")
	clk.Advance(10 * time.Second)
	r.Observe("a", 200, time.Millisecond, 1) // slice 10 in ring slot 2
	// A request that read the time at slice 6 (same ring slot) and
	// stalled for a whole ring is counted in slice 10, not lost.
	b.record(st.slotAt(recT0.Add(6*time.Second).UnixNano()), 200, time.Millisecond, 1)
	w := r.Window("a", time.Time{}, time.Time{})
	assert.Equal(t, int64(2), w.Requests)
	assert.Equal(t, int64(2), r.Total("a").Requests)
}

func TestRecorderConcurrent(t *testing.T) {
	r, clk := newFakeRecorder(t, RecorderOptions{SliceDuration: time.Second, Slices: 4}, "stable")
	const goroutines, each = 8, 3000
	var wg sync.WaitGroup
	var done atomic.Bool
	// The clock moves while requests are recorded, so slots are reused
	// under writers.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			clk.Advance(300 * time.Millisecond)
			runtime.Gosched()
		}
	}()
	// Readers see totals that never go down.
	var readErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last int64
		for !done.Load() {
			n := r.Total("canary").Requests
			if n < last {
				readErr.Store("total went down")
			}
			last = n
			_ = r.Window("canary", time.Time{}, time.Time{})
		}
	}()
	var writers sync.WaitGroup
	for g := range goroutines {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range each {
				status := []int{200, 404, 503}[i%3]
				r.Observe([]string{"stable", "canary"}[(g+i)%2], status, time.Duration(i+1)*time.Microsecond, int64(i%7))
			}
		}()
	}
	writers.Wait()
	done.Store(true)
	wg.Wait()
	require.Nil(t, readErr.Load())

	var bytes int64
	for i := range each {
		bytes += int64(i % 7)
	}
	bytes *= goroutines
	var total Window
	for _, name := range []string{"stable", "canary"} {
		w := r.Total(name)
		total.Requests += w.Requests
		total.Errors += w.Errors
		total.Bytes += w.Bytes
		for k := range w.Classes {
			total.Classes[k] += w.Classes[k]
		}
		assert.Equal(t, w.Requests, w.Latency.Count(), name)
	}
	assert.Equal(t, int64(goroutines*each), total.Requests)
	assert.Equal(t, int64(goroutines*each/3), total.Errors)
	assert.Equal(t, [6]int64{0, 0, goroutines * each / 3, 0, goroutines * each / 3, goroutines * each / 3}, total.Classes)
	assert.Equal(t, bytes, total.Bytes)
}

// recBackendBytes is the memory of one backend, from the types' sizes.
func recBackendBytes(slices int) uintptr {
	return unsafe.Sizeof(recBackend{}) + uintptr(slices)*(unsafe.Sizeof(recSlot{})+unsafe.Sizeof(atomic.Int64{}))
}

func TestRecorderMemory(t *testing.T) {
	const budget = 64 << 10
	assert.LessOrEqual(t, recBackendBytes(DefaultSlices), uintptr(budget))
	t.Logf("per backend: %d bytes from type sizes (backend %d + %d slices × %d)",
		recBackendBytes(DefaultSlices), unsafe.Sizeof(recBackend{}), DefaultSlices, unsafe.Sizeof(recSlot{})+8)
	assert.Zero(t, unsafe.Sizeof(recSlot{})%cacheLine, "slots are whole cache lines")

	// Measured on the heap, allocator rounding included.
	const n = 32
	names := make([]string, n)
	for i := range names {
		names[i] = string(rune('A' + i))
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	r, clk := newFakeRecorder(t, RecorderOptions{}, names...)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	created := ms.HeapAlloc
	perBackend := (int64(created) - int64(before)) / n
	t.Logf("per backend: %d bytes on the heap", perBackend)
	assert.LessOrEqual(t, perBackend, int64(budget))
	assert.Greater(t, perBackend, int64(recBackendBytes(DefaultSlices))*9/10, "the measure sees the backends")

	// 32k requests over 20 minutes: no growth.
	const requests = 32_000
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range requests {
		if i%125 == 0 {
			clk.Advance(5 * time.Second)
		}
		r.Observe(names[i%n], 200+100*(i%4), time.Duration(math.Exp(12+2*rng.NormFloat64())), int64(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	growth := int64(ms.HeapAlloc) - int64(created)
	t.Logf("growth after %d requests: %d bytes", requests, growth)
	assert.Less(t, growth, int64(n*1024), "memory must not grow with requests")
	assert.Equal(t, int64(requests/n), r.Total(names[0]).Requests)
	runtime.KeepAlive(r)
}

func TestRecorderObserveAllocs(t *testing.T) {
	r, err := NewRecorder(RecorderOptions{}, "stable")
	require.NoError(t, err)
	r.Observe("canary", 200, time.Millisecond, 1) // first sight allocates once
	allocs := testing.AllocsPerRun(1000, func() {
		r.Observe("stable", 200, time.Millisecond, 100)
		r.Observe("canary", 503, 2*time.Second, 0)
	})
	assert.Zero(t, allocs)
	full, err := NewRecorder(RecorderOptions{MaxBackends: 1}, "only")
	require.NoError(t, err)
	allocs = testing.AllocsPerRun(1000, func() { full.Observe("other", 200, time.Millisecond, 1) })
	assert.Zero(t, allocs, "a dropped request allocates nothing")
}

// latencies are log-normal request durations (median ~3ms), so that
// parallel benchmarks spread over buckets as real traffic does.
var recBenchLatencies = func() (d [1024]time.Duration) {
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range d {
		d[i] = time.Duration(math.Exp(math.Log(3e6) + rng.NormFloat64()))
	}
	return d
}()

func BenchmarkRecorderObserve(b *testing.B) {
	for _, c := range []struct {
		name     string
		backends []string
		same     bool
	}{
		{"spread", []string{"stable", "canary"}, false},
		{"same-bucket", []string{"stable"}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, err := NewRecorder(RecorderOptions{}, c.backends...)
			require.NoError(b, err)
			var seed atomic.Uint64
			b.ReportAllocs()
			defer recReportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(977))
				for pb.Next() {
					i++
					d := recBenchLatencies[i&1023]
					if c.same {
						d = 3 * time.Millisecond
					}
					r.Observe(c.backends[i%len(c.backends)], 200, d, 512)
				}
			})
		})
	}
}

func BenchmarkRecorderObserveSerial(b *testing.B) {
	r, err := NewRecorder(RecorderOptions{}, "stable", "canary")
	require.NoError(b, err)
	b.ReportAllocs()
	defer recReportCPU(b)()
	for i := 0; b.Loop(); i++ {
		r.Observe("canary", 200, recBenchLatencies[i&1023], 512)
	}
}

// recReportCPU starts measuring the process's CPU time; the function it
// returns reports it per op as cpu-ns/op. In a parallel benchmark on an
// idle machine ns/op is about cpu-ns/op divided by the cores used.
func recReportCPU(b *testing.B) func() {
	start := recProcessCPU()
	return func() {
		if cpu := recProcessCPU() - start; cpu > 0 && b.N > 0 {
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		}
	}
}

func BenchmarkRecorderWindow(b *testing.B) {
	r, clk := newFakeRecorder(b, RecorderOptions{}, "canary")
	for s := range DefaultSlices {
		for i := range 1000 {
			r.Observe("canary", 200, recBenchLatencies[(i+s)&1023], 512)
		}
		clk.Advance(DefaultSliceDuration)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := r.Window("canary", time.Time{}, time.Time{})
		if w.Requests == 0 {
			b.Fatal("empty window")
		}
	}
}

func TestRecorderTotalIntoReusesHistogram(t *testing.T) {
	r, err := NewRecorder(RecorderOptions{}, "a")
	require.NoError(t, err)
	for i := range 100 {
		r.Observe("a", 200+300*(i%2), time.Duration(i+1)*time.Millisecond, 10)
	}
	var h Histogram
	w := r.TotalInto("a", &h)
	want := r.Total("a")
	assert.Equal(t, want.Requests, w.Requests)
	assert.Equal(t, want.Errors, w.Errors)
	assert.Equal(t, want.Latency.Count(), w.Latency.Count())
	assert.Equal(t, want.Latency.Quantile(0.5), w.Latency.Quantile(0.5))
	assert.Same(t, &h, w.Latency.(*Histogram), "the caller's histogram")

	r.Observe("a", 200, time.Second, 10)
	w = r.TotalInto("a", &h) // overwritten, not added to
	assert.Equal(t, int64(101), w.Latency.Count())
	assert.Equal(t, int64(101), h.Count())

	allocs := testing.AllocsPerRun(100, func() { r.TotalInto("a", &h) })
	assert.Zero(t, allocs)
	assert.Equal(t, int64(0), r.TotalInto("unknown", &h).Requests)
}
