package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ramp-go/ramp/analysis"
)

// Histogram is a latency distribution merged from the histograms of many
// replicas' recorders. Every analysis.Histogram has the same bucket edges,
// so counts add bucket by bucket and the merge is exact: a quantile read
// from it is the one a single recorder that saw every request would give.
// It lists its buckets like analysis.Histogram, so guards read it in one
// pass. The zero Histogram is empty.
type Histogram struct {
	buckets []analysis.Bucket // increasing, non-empty
	n       int64
}

var _ analysis.Distribution = (*Histogram)(nil)

// Count is the number of samples.
func (h *Histogram) Count() int64 {
	if h == nil {
		return 0
	}
	return h.n
}

// Quantile is the nearest-rank q-quantile, as analysis.Histogram computes it.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h == nil || h.n == 0 || math.IsNaN(q) {
		return 0
	}
	rank := nearestRank(q, h.n)
	var seen int64
	for _, b := range h.buckets {
		seen += b.Count
		if seen >= rank {
			return b.Value
		}
	}
	return h.buckets[len(h.buckets)-1].Value
}

// nearestRank is ceil(q·n) clamped to [1, n], a product within a relative
// 1e-12 of a whole number counting as that number (as analysis does).
func nearestRank(q float64, n int64) int64 {
	if q <= 0 {
		return 1
	}
	if q >= 1 {
		return n
	}
	r := q * float64(n)
	return min(max(int64(math.Ceil(r-r*1e-12)), 1), n)
}

// CountAtMost counts the samples <= d: exact at bucket edges; the bucket
// holding d counts when the value it stands for is <= d (as analysis).
func (h *Histogram) CountAtMost(d time.Duration) int64 {
	if h == nil {
		return 0
	}
	var n int64
	for _, b := range h.buckets {
		if b.Upper <= d || (b.Lower < d && b.Value <= d) {
			n += b.Count
		}
	}
	return n
}

// Buckets yields the non-empty buckets in increasing order.
func (h *Histogram) Buckets() iter.Seq[analysis.Bucket] {
	return func(yield func(analysis.Bucket) bool) {
		if h == nil {
			return
		}
		for _, b := range h.buckets {
			if !yield(b) {
				return
			}
		}
	}
}

// bucketed is a distribution that lists its buckets (analysis.Histogram,
// Histogram).
type bucketed interface {
	Buckets() iter.Seq[analysis.Bucket]
}

// ErrNotMergeable is wrapped by MergeWindows when a window's latency
// distribution does not list its buckets, so it cannot be merged exactly.
var ErrNotMergeable = errors.New("fleet: latency distribution cannot be merged exactly")

// MergeWindows adds windows of one backend recorded by different
// replicas: counts add, the span covers them all, latency histograms
// merge bucket by bucket (exactly). A window without a latency
// distribution adds none.
func MergeWindows(ws ...analysis.Window) (analysis.Window, error) {
	var out analysis.Window
	byUpper := map[time.Duration]analysis.Bucket{}
	for i, w := range ws {
		if i == 0 || out.Backend == "" {
			out.Backend = w.Backend
		}
		if !w.Since.IsZero() && (out.Since.IsZero() || w.Since.Before(out.Since)) {
			out.Since = w.Since
		}
		if w.Until.After(out.Until) {
			out.Until = w.Until
		}
		out.Requests += w.Requests
		out.Errors += w.Errors
		out.Bytes += w.Bytes
		for k := range out.Classes {
			out.Classes[k] += w.Classes[k]
		}
		if w.Latency == nil {
			continue
		}
		bl, ok := w.Latency.(bucketed)
		if !ok {
			return analysis.Window{}, fmt.Errorf("%w: window %d of %q is a %T", ErrNotMergeable, i, w.Backend, w.Latency)
		}
		for b := range bl.Buckets() {
			if have, ok := byUpper[b.Upper]; ok {
				b.Count += have.Count
			}
			byUpper[b.Upper] = b
		}
	}
	h := &Histogram{buckets: make([]analysis.Bucket, 0, len(byUpper))}
	for _, b := range byUpper {
		h.buckets = append(h.buckets, b)
		h.n += b.Count
	}
	slices.SortFunc(h.buckets, func(a, b analysis.Bucket) int { return cmp.Compare(a.Upper, b.Upper) })
	out.Latency = h
	return out, nil
}

// wireWindow is a window as a replica serves it.
type wireWindow struct {
	Backend  string            `json:"backend"`
	Since    time.Time         `json:"since"`
	Until    time.Time         `json:"until"`
	Requests int64             `json:"requests"`
	Errors   int64             `json:"errors"`
	Classes  [6]int64          `json:"classes"`
	Bytes    int64             `json:"bytes"`
	Buckets  []analysis.Bucket `json:"buckets,omitempty"`
}

// WindowPath is where WindowHandler is expected on a replica's admin
// server (Config.Admin + WindowPath).
const WindowPath = "/fleet/window"

// WindowHandler serves src's windows to the fleet's leader: GET with
// backend, since and until (RFC 3339) returns the window as JSON, with its
// latency histogram's buckets.
//
// When src also has methods Errored(backend) <-chan struct{} and
// Total(backend) analysis.Window (as *analysis.Recorder has), GET with
// backend and errors_after=N (and optionally wait, a duration up to 1m,
// default 1s) is a long-poll: it answers {"errors": M} as soon as the
// backend's error count M exceeds N, or when wait ends; N = -1 answers at
// once. The leader's Source holds one per replica so that a replica's 5xx
// wakes the leader's guard at once (see Source.Errored).
func WindowHandler(src analysis.WindowSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		backend := q.Get("backend")
		if q.Has("errors_after") && backend != "" {
			serveErrors(w, r, src, backend)
			return
		}
		since, err1 := time.Parse(time.RFC3339Nano, q.Get("since"))
		until, err2 := time.Parse(time.RFC3339Nano, q.Get("until"))
		if backend == "" || err1 != nil || err2 != nil {
			http.Error(w, "want backend, since and until (RFC 3339): "+errors.Join(err1, err2).Error(), http.StatusBadRequest)
			return
		}
		win := src.Window(backend, since, until)
		out := wireWindow{Backend: win.Backend, Since: win.Since, Until: win.Until, Requests: win.Requests,
			Errors: win.Errors, Classes: win.Classes, Bytes: win.Bytes}
		if bl, ok := win.Latency.(bucketed); ok {
			for b := range bl.Buckets() {
				out.Buckets = append(out.Buckets, b)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// Source is an analysis.WindowSource over the whole fleet: the leader's
// guard and analyzers read windows merged from every live replica's
// recorder. Each Window lists the live replicas (kept by a watch on their
// keys, so a replica that just joined counts within the watch's delay; no
// etcd round trip) and pulls their windows from their admin servers
// concurrently; etcd carries no metrics. A replica that does not answer
// within Timeout is left out of that window and named by Missing.
type Source struct {
	r       *Replica
	client  *http.Client
	polls   *http.Client // long-polls (see Errored)
	timeout time.Duration
	n       nudges
	view    memberView

	mu      sync.Mutex
	missing []string
	members []Member // of the last Window
}

// NewSource returns the fleet's window source. timeout bounds each pull;
// 0 means one second.
func (r *Replica) NewSource(timeout time.Duration) *Source {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &Source{r: r, client: &http.Client{Timeout: timeout}, polls: &http.Client{Timeout: nudgeWait + timeout},
		timeout: timeout}
}

var _ analysis.WindowSource = (*Source)(nil)

// Window merges backend's window over [since, until) from every live
// replica that answers.
func (s *Source) Window(backend string, since, until time.Time) analysis.Window {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	members, err := s.liveMembers(ctx)
	if err != nil {
		s.setMissing([]string{"(replica list: " + err.Error() + ")"})
		return analysis.Window{Backend: backend, Since: since, Until: until}
	}
	s.mu.Lock()
	s.members = members
	s.mu.Unlock()
	s.reconcile()
	wins := make([]analysis.Window, len(members))
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() { defer wg.Done(); wins[i], errs[i] = s.pull(ctx, m, backend, since, until) }()
	}
	wg.Wait()
	var got []analysis.Window
	var missing []string
	for i, m := range members {
		if errs[i] != nil {
			missing = append(missing, m.ID)
			continue
		}
		got = append(got, wins[i])
	}
	s.setMissing(missing)
	merged, err := MergeWindows(got...)
	if err != nil || len(got) == 0 {
		return analysis.Window{Backend: backend, Since: since, Until: until}
	}
	merged.Backend = backend
	return merged
}

func (s *Source) pull(ctx context.Context, m Member, backend string, since, until time.Time) (analysis.Window, error) {
	if m.Admin == "" {
		return analysis.Window{}, errors.New("no admin address")
	}
	u := m.Admin + WindowPath + "?" + url.Values{"backend": {backend},
		"since": {since.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return analysis.Window{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return analysis.Window{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return analysis.Window{}, fmt.Errorf("%s: %s", u, resp.Status)
	}
	var ww wireWindow
	if err := json.NewDecoder(resp.Body).Decode(&ww); err != nil {
		return analysis.Window{}, err
	}
	h := &Histogram{buckets: ww.Buckets}
	for _, b := range ww.Buckets {
		h.n += b.Count
	}
	return analysis.Window{Backend: ww.Backend, Since: ww.Since, Until: ww.Until, Requests: ww.Requests,
		Errors: ww.Errors, Classes: ww.Classes, Bytes: ww.Bytes, Latency: h}, nil
}

func (s *Source) setMissing(ids []string) {
	s.mu.Lock()
	s.missing = ids
	s.mu.Unlock()
}

// Missing names the replicas left out of the last Window (unreachable,
// no admin address).
func (s *Source) Missing() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.missing)
}
