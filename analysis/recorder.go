package analysis

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ramp-go/ramp/clock"
)

// Defaults for RecorderOptions.
const (
	// DefaultSliceDuration is the width of a recorder's time slices.
	DefaultSliceDuration = 6 * time.Second
	// DefaultSlices is how many slices a recorder keeps per backend: with
	// DefaultSliceDuration, at least the last 60 s, so a one-minute window
	// is always whole.
	DefaultSlices = 11
	// DefaultMaxBackends bounds the distinct backends a recorder keeps.
	DefaultMaxBackends = 64
	// DefaultInFlightResolution is the resolution at which requests in
	// flight are aged (RecorderOptions.InFlightResolution): 4 ms, so that
	// InFlight resolves ages up to 508 ms.
	DefaultInFlightResolution = 4 * time.Millisecond
)

// Limits on RecorderOptions.
const (
	minSliceDuration = time.Millisecond
	maxSlices        = 1 << 16
)

// RecorderOptions configure a Recorder. The zero value gives the defaults.
type RecorderOptions struct {
	// SliceDuration is the width of one time slice, the resolution at which
	// Window selects a span. Zero means DefaultSliceDuration (6 s); it must
	// otherwise be at least 1 ms.
	SliceDuration time.Duration
	// Span is the longest span of time a Window must cover whole: the
	// longest step of the rollouts it judges. When set, the slice width is
	// derived from it — Span/(Slices−1), rounded up to a millisecond — so
	// that memory stays the same and only the resolution coarsens. Zero
	// means (Slices−1)·SliceDuration (60 s by default). Set Span or
	// SliceDuration, not both. See Recorder.Span and CheckSpan.
	Span time.Duration
	// Slices is how many slices each backend keeps: the recorder remembers
	// the slice filling now and the Slices-1 before it. Zero means
	// DefaultSlices (11). Each slice costs 4,424 bytes per backend, so the
	// default keeps a backend within 64 KiB (see the package doc).
	Slices int
	// MaxBackends bounds how many distinct backend names are kept, so that
	// a stream of made-up names cannot grow memory without bound.
	// Observations for a name beyond the limit are counted by Dropped and
	// otherwise ignored. Zero means DefaultMaxBackends (64).
	MaxBackends int
	// InFlightResolution is the resolution at which requests still in
	// flight are aged (see Recorder.InFlight); 127 of it is the longest
	// age resolved. Zero means DefaultInFlightResolution (4 ms, so up to
	// 508 ms); it must otherwise be at least 1 ms.
	InFlightResolution time.Duration
	// Clock tells the time. Nil means the wall clock, read coarsely on the
	// request path: the recorder refreshes its idea of now at most once
	// every SliceDuration/100 (at most 50 ms, at least 1 ms) while requests
	// flow, so a request may be filed in the slice before the one it ended
	// in when it ended within that much of the boundary. Any other clock
	// (a clock.Fake in tests) is asked for every request, and Start and
	// Finish time requests on it.
	Clock clock.Clock
}

func (o RecorderOptions) validate() error {
	var errs []error
	if o.SliceDuration < 0 || (o.SliceDuration > 0 && o.SliceDuration < minSliceDuration) {
		errs = append(errs, fmt.Errorf("analysis: recorder slice duration: %v must be 0 (default) or at least %v", o.SliceDuration, minSliceDuration))
	}
	if o.Slices < 0 || o.Slices > maxSlices {
		errs = append(errs, fmt.Errorf("analysis: recorder slices: %d must be 0 (default) to %d", o.Slices, maxSlices))
	}
	if o.Span < 0 {
		errs = append(errs, fmt.Errorf("analysis: recorder span: %v is negative", o.Span))
	}
	if o.Span > 0 && o.SliceDuration > 0 {
		errs = append(errs, fmt.Errorf("analysis: recorder span: %v and slice duration %v are both set; set one (the other is derived)", o.Span, o.SliceDuration))
	}
	if o.Span > 0 && o.Slices == 1 {
		errs = append(errs, fmt.Errorf("analysis: recorder slices: 1 cannot hold a span of %v; use 0 (default) or at least 2", o.Span))
	}
	if o.InFlightResolution < 0 || (o.InFlightResolution > 0 && o.InFlightResolution < time.Millisecond) {
		errs = append(errs, fmt.Errorf("analysis: recorder in-flight resolution: %v must be 0 (default) or at least 1ms", o.InFlightResolution))
	}
	if o.MaxBackends < 0 {
		errs = append(errs, fmt.Errorf("analysis: recorder max backends: %d is negative", o.MaxBackends))
	}
	return errors.Join(errs...)
}

// Recorder records the outcome of requests per backend, for the judges to
// read back as Windows. It implements the traffic splitter's Observer and
// is a WindowSource.
//
// For each backend it keeps a ring of time slices, each counting responses
// by status class, response bytes and the latency histogram, plus the
// totals since the backend was first seen. Memory per backend is fixed
// when the backend is added (about 57 KiB with the default options) and
// never grows with the number of requests.
//
// Observe is safe for concurrent use, takes no lock and allocates nothing
// once a backend is known. Backends can be named up front (NewRecorder,
// Register) or are added the first time Observe sees them.
//
// The zero Recorder is ready to use with the default options.
type Recorder struct {
	st     atomic.Pointer[recState]
	initMu sync.Mutex
}

// NewRecorder returns a recorder with the given options and backends
// registered. It fails if the options are invalid or there are more
// backends than opts.MaxBackends.
func NewRecorder(opts RecorderOptions, backends ...string) (*Recorder, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r := &Recorder{}
	r.st.Store(newRecState(opts))
	if err := r.Register(backends...); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Recorder) state() *recState {
	if st := r.st.Load(); st != nil {
		return st
	}
	r.initMu.Lock()
	defer r.initMu.Unlock()
	if st := r.st.Load(); st != nil {
		return st
	}
	st := newRecState(RecorderOptions{})
	r.st.Store(st)
	return st
}

// Register adds backends ahead of their first request, so that they show
// in Backends and the Collector's output from the start. Names already
// known are left as they are. It reports an empty name, or a name that
// would exceed MaxBackends, and still registers the others.
func (r *Recorder) Register(backends ...string) error {
	st := r.state()
	var errs []error
	for i, name := range backends {
		if name == "" {
			errs = append(errs, fmt.Errorf("analysis: recorder backends[%d]: empty name", i))
			continue
		}
		if st.add(name) == nil {
			errs = append(errs, fmt.Errorf("analysis: recorder backends[%d]: %q exceeds the limit of %d backends", i, name, st.maxBackends))
		}
	}
	return errors.Join(errs...)
}

// Observe records one completed request: the backend that served it, the
// response status, how long it took and the response body bytes (negative
// counts as 0). Status >= 500 is an error; StatusClientClosedRequest
// (499) is a client that went away, counted in Window.Gone with elapsed as
// a censored latency. An empty backend name, or a new one beyond
// MaxBackends, is counted by Dropped and not recorded.
func (r *Recorder) Observe(backend string, status int, elapsed time.Duration, bytes int64) {
	st := r.st.Load()
	if st == nil {
		st = r.state()
	}
	b := st.table.Load().get(backend)
	if b == nil {
		if b = st.add(backend); b == nil {
			st.dropped.Add(1)
			return
		}
	}
	// The coarse clock's fast path, inlined: two loads.
	var at recSlotRef
	if st.clk == nil && !st.stale.Load() {
		at = recSlotRef(st.coarse.Load())
	} else {
		at = st.observedSlot()
	}
	b.record(at, status, elapsed, bytes)
}

// Start records that a request to backend has been dispatched and returns
// the token to give Finish when it ends. While it is in flight, InFlight
// counts it by age, so that a version that hangs is seen before any of
// its requests ends. Start and Finish time the request themselves, read
// the monotonic clock once each, take no lock and allocate nothing; the
// traffic splitter calls them (traffic.StartObserver) in place of
// Observe.
func (r *Recorder) Start(backend string) int64 {
	st := r.st.Load()
	if st == nil {
		st = r.state()
	}
	b := st.table.Load().get(backend)
	if b == nil {
		if b = st.add(backend); b == nil {
			return inflightUntracked
		}
	}
	now := st.monoNow()
	e := now / st.inflightWidth
	slot := &b.inflight[e%inflightBuckets]
	for {
		w := slot.Load()
		switch we := int64(w >> inflightCountBits); {
		case we == e:
			if slot.CompareAndSwap(w, w+1) {
				return now << 1
			}
		case we < e:
			// The bucket held an older epoch: whatever of it is still in
			// flight moves to inOld, which Finish then decrements.
			if slot.CompareAndSwap(w, uint64(e)<<inflightCountBits|1) {
				if c := int64(w & inflightCountMask); c != 0 {
					b.inOld.Add(c)
				}
				return now << 1
			}
		default: // this goroutine stalled for a whole ring
			b.inOld.Add(1)
			return now<<1 | inflightOld
		}
	}
}

// A token of Start is the start (monotonic ns since the recorder began)
// shifted left by one, with inflightOld set when the request is counted
// in inOld; inflightUntracked when it is not counted at all.
const (
	inflightUntracked = -1
	inflightOld       = 1
)

// Finish records the end of a request begun with Start, whose token is
// token: Observe with the time since Start, and the request no longer in
// flight.
func (r *Recorder) Finish(backend string, token int64, status int, bytes int64) {
	st := r.st.Load()
	if st == nil || token == inflightUntracked {
		r.state().dropped.Add(1)
		return
	}
	b := st.table.Load().get(backend)
	if b == nil {
		st.dropped.Add(1)
		return
	}
	now := st.monoNow()
	start := token >> 1
	var at recSlotRef
	if st.clk == nil && !st.stale.Load() {
		at = recSlotRef(st.coarse.Load())
	} else {
		at = st.observedSlot()
	}
	b.record(at, status, time.Duration(now-start), bytes)
	if token&inflightOld != 0 {
		b.inOld.Add(-1)
		return
	}
	e := start / st.inflightWidth
	slot := &b.inflight[e%inflightBuckets]
	for {
		w := slot.Load()
		if int64(w>>inflightCountBits) != e {
			b.inOld.Add(-1) // the bucket was reused: it is counted in inOld
			return
		}
		if slot.CompareAndSwap(w, w-1) {
			return
		}
	}
}

// InFlight returns how many requests to backend, begun with Start, are
// still in flight and have been for longer than d: requests known to be
// slower than d before they end (right-censored). A request is counted
// once its start is surely more than d ago, which is at most
// InFlightResolution after it is; requests in flight for longer than
// InFlightSpan are counted for any d up to that span. A d of
// -InFlightResolution or less counts every request in flight.
func (r *Recorder) InFlight(backend string, d time.Duration) int64 {
	b := r.state().table.Load().get(backend)
	if b == nil {
		return 0
	}
	return b.LongerThan(d)
}

// LongerThan counts the backend's requests in flight for longer than d
// (Recorder.InFlight); it makes a backend a Window's Pending.
func (b *recBackend) LongerThan(d time.Duration) int64 {
	st := b.st
	cutoff := st.monoNow() - int64(d) // started before this: older than d
	var n int64
	for i := range b.inflight {
		w := b.inflight[i].Load()
		c := int64(w & inflightCountMask)
		if c != 0 && (int64(w>>inflightCountBits)+1)*st.inflightWidth <= cutoff {
			n += c
		}
	}
	if int64(d) <= (inflightBuckets-1)*st.inflightWidth {
		n += max(0, b.inOld.Load())
	}
	return n
}

// NextLongerThan returns how long from now until InFlight(backend, d)
// next counts one more request, if no request ends meanwhile: the wait
// for the oldest request in flight not yet counted. ok is false when every
// request in flight is counted already, or none is. A guard sleeps until
// then instead of polling, so that a hung request is judged the moment it
// is known to be slower than d.
func (r *Recorder) NextLongerThan(backend string, d time.Duration) (wait time.Duration, ok bool) {
	st := r.state()
	b := st.table.Load().get(backend)
	if b == nil {
		return 0, false
	}
	now := st.monoNow()
	best := int64(math.MaxInt64)
	for i := range b.inflight {
		w := b.inflight[i].Load()
		if w&inflightCountMask == 0 {
			continue
		}
		// Counted once (e+1)·width <= now − d.
		at := (int64(w>>inflightCountBits)+1)*st.inflightWidth + int64(d)
		if at > now && at < best {
			best = at
		}
	}
	if best == math.MaxInt64 {
		return 0, false
	}
	return time.Duration(best - now), true
}

// InFlightResolution is the width of the epochs in-flight requests are
// counted by (RecorderOptions.InFlightResolution).
func (r *Recorder) InFlightResolution() time.Duration {
	return time.Duration(r.state().inflightWidth)
}

// InFlightSpan is the longest age InFlight resolves:
// InFlightResolution × 127.
func (r *Recorder) InFlightSpan() time.Duration {
	return time.Duration((inflightBuckets - 1) * r.state().inflightWidth)
}

// Errored returns a channel that is closed when the next response with
// status >= 500 is recorded for backend, so that a guard can react at
// once instead of at its next poll. Every call until then returns the
// same channel; recording an error costs one atomic load more when nobody
// waits. An unknown backend is added (nil beyond MaxBackends).
func (r *Recorder) Errored(backend string) <-chan struct{} {
	st := r.state()
	b := st.table.Load().get(backend)
	if b == nil {
		if b = st.add(backend); b == nil {
			return nil
		}
	}
	for {
		if p := b.waiter.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if b.waiter.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// ErrSpanTooLong is wrapped by CheckSpan's error.
var ErrSpanTooLong = errors.New("longer than the recorder remembers")

// Span returns the longest span a Window covers whole: (Slices−1) ×
// SliceDuration (60 s with the defaults). A window reaching further back
// holds only what the recorder still remembers: it would judge the last
// Span of a longer step.
func (r *Recorder) Span() time.Duration {
	st := r.state()
	return time.Duration((st.slices - 1) * st.slice)
}

// CheckSpan returns an error wrapping ErrSpanTooLong, naming d and the
// recorder's Span, when d is longer than a Window covers whole. A rollout
// engine calls it with its longest step before it starts, so that a step
// longer than the recorder can judge is refused rather than judged on
// its last minute only.
func (r *Recorder) CheckSpan(d time.Duration) error {
	if span := r.Span(); d > span {
		return fmt.Errorf("analysis: recorder: a step of %v is %w (span %v = (slices %d − 1) × slice %v): set RecorderOptions.Span to at least %v",
			d, ErrSpanTooLong, span, r.state().slices, time.Duration(r.state().slice), d)
	}
	return nil
}

// Dropped returns how many observations were not recorded because their
// backend name was empty or beyond MaxBackends.
func (r *Recorder) Dropped() int64 { return r.state().dropped.Load() }

// Backends returns the names of the backends recorded, sorted.
func (r *Recorder) Backends() []string {
	t := r.state().table.Load()
	names := make([]string, len(t.list))
	for i, b := range t.list {
		names[i] = b.name
	}
	slices.Sort(names)
	return names
}

// Window returns what backend did over [since, until). A zero since means
// as far back as the recorder remembers; a zero until means now. The
// window is made of every slice that overlaps the span, so Since may be up
// to one slice earlier than asked, and never earlier than when the backend
// was first seen; Until is the end of the last slice, or now when that
// slice is still filling. A span the recorder no longer (or never)
// remembered gives an empty window with zero Since and Until. Latency is
// never nil.
func (r *Recorder) Window(backend string, since, until time.Time) Window {
	st := r.state()
	w := Window{Backend: backend, Latency: emptyHistogram}
	b := st.table.Load().get(backend)
	if b == nil {
		return w
	}
	now := st.exactNow()
	cur := floorDiv(now, st.slice)
	lo := max(cur-st.slices+1, floorDiv(b.created, st.slice))
	// Until now (or later) takes the slice filling now, even at its very
	// first instant; an earlier until takes the slices that start before it.
	hiNs, hi := now, cur
	if !until.IsZero() && until.UnixNano() < now {
		hiNs = until.UnixNano()
		hi = floorDiv(hiNs-1, st.slice)
	}
	if !since.IsZero() {
		s := since.UnixNano()
		// Empty when since is past the span's end; since == now still
		// takes the slice filling now.
		if s > hiNs || (s == hiNs && hi != cur) {
			return w
		}
		lo = max(lo, floorDiv(s, st.slice))
	}
	if lo > hi {
		return w
	}
	h := new(Histogram)
	var status [recStatuses]uint64
	var bytes uint64
	b.mu.Lock()
	for i := range b.slots {
		if e := b.epochs[i].Load(); e < lo || e > hi {
			continue
		}
		s := &b.slots[i]
		var n uint64
		for k := range status {
			c := s.status[k].Load()
			status[k] += c
			n += c
		}
		bytes += s.bytes.Load()
		if n == 0 {
			continue // an idle slice: skip its thousand buckets
		}
		s.addInto(h)
	}
	b.mu.Unlock()
	recFill(&w, status, bytes, h)
	w.Since = time.Unix(0, max(lo*st.slice, b.created)).UTC()
	if hiNs == now {
		w.Pending = b // the span reaches now: what is in flight belongs to it
	}
	if hi == cur {
		w.Until = time.Unix(0, now).UTC()
	} else {
		w.Until = time.Unix(0, (hi+1)*st.slice).UTC()
	}
	return w
}

// Total returns what backend did since it was first seen: totals that
// never expire. Since is when the backend was first seen (or registered),
// Until is now. An unknown backend gives an empty window with zero times.
func (r *Recorder) Total(backend string) Window { return r.total(backend, nil) }

// TotalInto is Total without allocating: the latency distribution is
// written into h, which the caller owns and may reuse. The returned
// Window's Latency is h, overwritten by the next call with the same h. A
// guard that reads the totals every few milliseconds uses it.
func (r *Recorder) TotalInto(backend string, h *Histogram) Window {
	if h == nil {
		h = new(Histogram)
	}
	return r.total(backend, h)
}

// total is Total, into h when h is not nil.
func (r *Recorder) total(backend string, h *Histogram) Window {
	st := r.state()
	w := Window{Backend: backend, Latency: emptyHistogram}
	b := st.table.Load().get(backend)
	if b == nil {
		return w
	}
	if h == nil {
		h = new(Histogram)
	}
	now := st.exactNow()
	status, bytes := b.totalInto(h)
	recFill(&w, status, bytes, h)
	w.Pending = b
	w.Since = time.Unix(0, b.created).UTC()
	w.Until = time.Unix(0, max(now, b.created)).UTC()
	return w
}

func recFill(w *Window, status [recStatuses]uint64, bytes uint64, h *Histogram) {
	for k, c := range status {
		if k == recStatusGone {
			w.Gone += int64(c)
			continue
		}
		w.Requests += int64(c)
		switch {
		case k == recStatusHigh:
			w.Classes[0] += int64(c)
			w.Errors += int64(c)
		case k == 5:
			w.Classes[5] += int64(c)
			w.Errors += int64(c)
		default:
			w.Classes[k] += int64(c)
		}
	}
	w.Bytes = int64(bytes)
	for _, c := range h.counts {
		h.n += int64(c)
	}
	w.Latency = h
	w.GoneLatency = h
}

// Per-backend layout. The figures in the package doc come from here.
const (
	// recStatuses: status < 100 or unknown, 1xx, 2xx, 3xx, 4xx, 5xx,
	// >= 600, and the client went away (StatusClientClosedRequest).
	recStatuses   = 8
	recStatusHigh = 6
	recStatusGone = 7
	cacheLine     = 64
)

// StatusClientClosedRequest is the status a request is observed with when
// its client went away before the response (nginx logs it as 499): a tab
// closed, a long poll given up, a load balancer's own timeout. The
// traffic splitter reports it (traffic.StatusClientClosedRequest) in place
// of the 502 httputil.ReverseProxy answers a cancelled request with. Such
// a request is no server error and says nothing about the response: the
// Recorder keeps it out of Requests and Errors, counts it in Window.Gone,
// and keeps how long the client waited as a censored latency — the
// response would have taken at least that long (Histogram.GoneLongerThan).
const StatusClientClosedRequest = 499

// recSlot is one time slice of one backend. Counters are atomic so that
// Observe needs no lock; per-slice latency counts are 32 bits (4 billion
// requests in one bucket in one slice) to halve the ring's memory.
type recSlot struct {
	status [recStatuses]atomic.Uint64
	bytes  atomic.Uint64
	hist   [hgBuckets]atomic.Uint32
	gone   [goneBuckets]atomic.Uint32 // how long gone clients waited
	_      [(cacheLine - (recStatuses*8+8+hgBuckets*4+goneBuckets*4)%cacheLine) % cacheLine]byte
}

// recFold accumulates the slices as they are reused, so that a backend's
// totals are fold + the live slices. Guarded by recBackend.mu.
type recFold struct {
	status [recStatuses]uint64
	bytes  uint64
	hist   [hgBuckets]uint64
	gone   [goneBuckets]uint64
}

// recBackend is everything recorded for one backend. Fields read on every
// request, counters written on every request and state written rarely sit
// on separate cache lines so that they do not slow each other down.
type recBackend struct {
	st      *recState
	name    string
	created int64           // unix ns
	epochs  []atomic.Int64  // epochs[i]: the slice number slots[i] holds
	slots   []recSlot       // the ring
	_       [cacheLine]byte // read-mostly above, written below
	mu      sync.Mutex      // serialises reuse of a slot with readers
	fold    recFold

	// Requests in flight (Start to Finish), by when they started: bucket
	// i holds epoch<<inflightCountBits | count for the requests that
	// started in that inflightWidth-wide epoch; inOld counts those whose
	// bucket was reused while they were still in flight.
	_        [cacheLine]byte
	inflight [inflightBuckets]atomic.Uint64
	inOld    atomic.Int64
	// waiter, when not nil, is closed by the next 5xx (see Errored).
	waiter atomic.Pointer[chan struct{}]
}

// In-flight tracking: inflightBuckets epochs of st.inflightWidth each.
const (
	inflightBuckets   = 128
	inflightCountBits = 24
	inflightCountMask = 1<<inflightCountBits - 1
)

// wake closes the channel a guard waits on, if any.
func (b *recBackend) wake() {
	if b.waiter.Load() == nil {
		return
	}
	if ch := b.waiter.Swap(nil); ch != nil {
		close(*ch)
	}
}

// record files one request in slice n, which lives in ring slot i.
func (b *recBackend) record(at recSlotRef, status int, elapsed time.Duration, bytes int64) {
	n, i := at.slice(), at.index()
	if e := b.epochs[i].Load(); e < n {
		b.reuse(i, n)
	}
	// When e > n the caller read the time, then stalled for a whole ring
	// before getting here: it is counted in the newer slice rather than
	// lost.
	s := &b.slots[i]
	k := recStatusIndex(status)
	s.status[k].Add(1)
	if bytes > 0 {
		s.bytes.Add(uint64(bytes))
	}
	if k == recStatusGone {
		s.gone[goneIndex(elapsed)].Add(1)
		return
	}
	s.hist[hgIndex(elapsed)].Add(1)
	if k >= 5 {
		b.wake()
	}
}

// reuse moves slot i to slice n, folding what it held into the totals.
// Counters are swapped out, so an add racing with the move is counted
// exactly once: in the fold if it came first, in slice n otherwise.
func (b *recBackend) reuse(i, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.epochs[i].Load() >= n {
		return
	}
	s := &b.slots[i]
	for k := range s.status {
		b.fold.status[k] += s.status[k].Swap(0)
	}
	b.fold.bytes += s.bytes.Swap(0)
	for k := range s.hist {
		if s.hist[k].Load() != 0 {
			b.fold.hist[k] += uint64(s.hist[k].Swap(0))
		}
	}
	for k := range s.gone {
		if s.gone[k].Load() != 0 {
			b.fold.gone[k] += uint64(s.gone[k].Swap(0))
		}
	}
	b.epochs[i].Store(n)
}

// total returns the counts since the backend was added. Holding mu while
// summing fold and slices keeps a reuse from moving counts between them
// mid-read, so totals never go down from one call to the next.
func (b *recBackend) total() (status [recStatuses]uint64, bytes uint64, h *Histogram) {
	h = new(Histogram)
	status, bytes = b.totalInto(h)
	return status, bytes, h
}

// totalInto sums every slice and what was folded from expired ones,
// overwriting h's counts.
func (b *recBackend) totalInto(h *Histogram) (status [recStatuses]uint64, bytes uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	status = b.fold.status
	bytes = b.fold.bytes
	h.n = 0
	h.counts = b.fold.hist
	h.gone = b.fold.gone
	for i := range b.slots {
		s := &b.slots[i]
		var n uint64
		for k := range status {
			c := s.status[k].Load()
			status[k] += c
			n += c
		}
		bytes += s.bytes.Load()
		if n == 0 {
			continue
		}
		s.addInto(h)
	}
	return status, bytes
}

// addInto adds the slice's latency counts to h.
func (s *recSlot) addInto(h *Histogram) {
	for k := range s.hist {
		h.counts[k] += uint64(s.hist[k].Load())
	}
	for k := range s.gone {
		if c := s.gone[k].Load(); c != 0 {
			h.gone[k] += uint64(c)
		}
	}
}

func recStatusIndex(status int) int {
	switch k := status / 100; {
	case status == StatusClientClosedRequest:
		return recStatusGone
	case k >= 1 && k <= 5:
		return k
	case status >= 600:
		return recStatusHigh
	}
	return 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// recState is a Recorder's configuration and shared state.
type recState struct {
	slice       int64 // slice width, ns
	slices      int64
	maxBackends int
	clk         clock.Clock // nil: the coarse wall clock below
	tick        time.Duration
	// In-flight ages: monotonic ns since origin (the injected clock's) or
	// since epoch (the wall clock's monotonic reading).
	inflightWidth int64
	origin        int64
	epoch         time.Time
	timer         *time.Timer

	mu sync.Mutex // serialises adding backends

	_ [cacheLine]byte
	// Read on every request, written at most once per tick.
	table  atomic.Pointer[recTable]
	coarse atomic.Int64 // recSlotRef of the coarse time, never decreasing
	stale  atomic.Bool  // coarse is older than one tick
	// ticking reports whether the timer is armed. It stops itself after a
	// tick with no requests, so an idle recorder costs nothing and leaves
	// nothing running when it is dropped.
	ticking atomic.Bool
	_       [cacheLine]byte
	dropped atomic.Int64
}

func newRecState(o RecorderOptions) *recState {
	if o.Span > 0 && o.SliceDuration == 0 {
		n := int64(cmp.Or(o.Slices, DefaultSlices)) - 1
		w := (int64(o.Span) + n - 1) / n
		ms := int64(time.Millisecond)
		o.SliceDuration = time.Duration((w + ms - 1) / ms * ms)
	}
	st := &recState{
		slice:       int64(cmp.Or(o.SliceDuration, DefaultSliceDuration)),
		slices:      int64(cmp.Or(o.Slices, DefaultSlices)),
		maxBackends: cmp.Or(o.MaxBackends, DefaultMaxBackends),
		clk:         o.Clock,

		inflightWidth: int64(cmp.Or(o.InFlightResolution, DefaultInFlightResolution)),
		epoch:         time.Now(),
	}
	if _, wall := st.clk.(clock.Real); wall {
		st.clk = nil
	}
	st.origin = st.exactNow()
	st.table.Store(&recTable{})
	if st.clk == nil {
		st.tick = min(max(time.Duration(st.slice)/100, time.Millisecond), 50*time.Millisecond)
		st.stale.Store(true)
		st.timer = time.AfterFunc(time.Hour, st.onTick)
		st.timer.Stop()
	}
	return st
}

// monoNow is the time since the recorder began, in ns: monotonic with the
// wall clock, and never negative.
func (st *recState) monoNow() int64 {
	if st.clk != nil {
		return max(0, st.clk.Now().UnixNano()-st.origin)
	}
	return int64(time.Since(st.epoch))
}

// exactNow is now in unix ns, read from the clock.
func (st *recState) exactNow() int64 {
	if st.clk != nil {
		return st.clk.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// recSlotRef names a slice and the ring slot that holds it in one word
// (slice number << 16 | slot index; Slices is at most 1<<16), so that the
// request path reads both with one atomic load and no division.
type recSlotRef int64

func (r recSlotRef) slice() int64 { return int64(r) >> 16 }
func (r recSlotRef) index() int64 { return int64(r) & (1<<16 - 1) }

// slotAt returns the slice that holds unix time ns.
func (st *recState) slotAt(ns int64) recSlotRef {
	n := floorDiv(ns, st.slice)
	i := n % st.slices
	if i < 0 {
		i += st.slices
	}
	return recSlotRef(n<<16 | i)
}

// observedSlot is the slice to file a request under: exact with an
// injected clock; otherwise that of the coarse clock, refreshed by the
// first request after each tick (reading the wall clock costs more than
// recording the request).
func (st *recState) observedSlot() recSlotRef {
	if st.clk != nil {
		return st.slotAt(st.clk.Now().UnixNano())
	}
	if st.stale.Load() {
		return st.refresh()
	}
	return recSlotRef(st.coarse.Load())
}

func (st *recState) refresh() recSlotRef {
	ref := int64(st.slotAt(time.Now().UnixNano()))
	for {
		old := st.coarse.Load()
		if ref <= old { // the wall clock stepped back: hold, never go back
			ref = old
			break
		}
		if st.coarse.CompareAndSwap(old, ref) {
			break
		}
	}
	st.stale.Store(false)
	if !st.ticking.Load() && st.ticking.CompareAndSwap(false, true) {
		st.timer.Reset(st.tick)
	}
	return recSlotRef(ref)
}

func (st *recState) onTick() {
	if !st.stale.Swap(true) {
		st.timer.Reset(st.tick) // requests flowed during the tick
		return
	}
	// A whole tick without a request: stop. A request that refreshed
	// after the Swap above but saw ticking still true is caught here.
	st.ticking.Store(false)
	if !st.stale.Load() && st.ticking.CompareAndSwap(false, true) {
		st.timer.Reset(st.tick)
	}
}

// recTable is an immutable set of backends: Observe finds its backend with
// one atomic load and no lock; adding one copies the table.
type recTable struct {
	list   []*recBackend
	byName map[string]*recBackend // nil while list is short enough to scan
}

// recScanLimit: below this many backends a scan beats a map lookup (most
// rollouts have two).
const recScanLimit = 8

func (t *recTable) get(name string) *recBackend {
	if t.byName != nil {
		return t.byName[name]
	}
	// The splitter passes the same string every time, usually the very
	// one the backend was added with: comparing pointers first skips a
	// call to compare bytes.
	p := unsafe.StringData(name)
	for _, b := range t.list {
		if unsafe.StringData(b.name) == p && len(b.name) == len(name) {
			return b
		}
	}
	for _, b := range t.list {
		if b.name == name {
			return b
		}
	}
	return nil
}

// add returns the backend named name, adding it when there is room; nil
// for an empty name or when the table is full.
func (st *recState) add(name string) *recBackend {
	if name == "" {
		return nil
	}
	if t := st.table.Load(); len(t.list) >= st.maxBackends {
		return t.get(name)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	t := st.table.Load()
	if b := t.get(name); b != nil {
		return b
	}
	if len(t.list) >= st.maxBackends {
		return nil
	}
	b := &recBackend{
		st:   st,
		name: name, // not cloned: the caller's own string compares fastest
		// Requests are filed by the coarse clock, up to one tick behind:
		// the backend exists from one tick ago so that its first request
		// never falls before it.
		created: st.exactNow() - int64(st.tick),
		epochs:  make([]atomic.Int64, st.slices),
		slots:   make([]recSlot, st.slices),
	}
	for i := range b.epochs {
		b.epochs[i].Store(-1 << 63)
	}
	nt := &recTable{list: append(t.list[:len(t.list):len(t.list)], b)}
	if len(nt.list) > recScanLimit {
		nt.byName = make(map[string]*recBackend, len(nt.list))
		for _, x := range nt.list {
			nt.byName[x.name] = x
		}
	}
	st.table.Store(nt)
	return b
}

// spanChecker is a WindowSource that can say whether it covers a span
// (a *Recorder can).
type spanChecker interface{ CheckSpan(time.Duration) error }

// checkSourceSpan forwards CheckSpan to src when src implements it.
func checkSourceSpan(src WindowSource, d time.Duration) error {
	if c, ok := src.(spanChecker); ok && src != nil {
		return c.CheckSpan(d)
	}
	return nil
}
