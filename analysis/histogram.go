package analysis

import (
	"iter"
	"math"
	"time"
)

// The latency histogram is log-linear: the range MinLatency..MaxLatency
// (2^10 ns ≈ 1 µs to 2^37 ns ≈ 137 s, 27 octaves) is cut into 36 buckets per
// octave, spaced geometrically by a factor of about 2^(1/36) ≈ 1.0194.
// Finding a bucket needs no logarithm: the octave is the exponent of the
// value as a float64 and the bucket within the octave is looked up from the
// top 11 bits of its mantissa in a 2 KiB table shared by the process. The
// edges therefore sit on a grid of 1/2048 of an octave, each within
// 1/4096 of the ideal geometric edge.
//
// A bucket holds the durations v with lower < v <= upper (whole
// nanoseconds, upper inclusive, like Prometheus' "le"), and stands for the
// single value 2·a·b/(a+b) where a and b are the smallest and largest
// durations it holds. That value is within (b-a)/(b+a) of every duration
// in the bucket; over all buckets the worst case is 0.979 %, so a quantile
// read from the histogram is within 1 % (relative) of the exact quantile of
// the recorded durations, as long as that quantile lies inside the range.
//
// Two more buckets count what falls outside: durations <= MinLatency
// (including zero and negative ones) and durations > MaxLatency. They are
// counted, never dropped, and stand for MinLatency and MaxLatency+1ns.
const (
	// MinLatency is the smallest duration the latency histogram resolves;
	// shorter ones are counted as MinLatency.
	MinLatency = time.Duration(1 << hgMinExp)
	// MaxLatency is the largest duration the latency histogram resolves;
	// longer ones are counted as MaxLatency+1ns ("more than MaxLatency").
	MaxLatency = time.Duration(1 << hgMaxExp)
)

const (
	hgMinExp    = 10
	hgMaxExp    = 37
	hgPerOctave = 36
	hgMantBits  = 11
	hgOctaves   = hgMaxExp - hgMinExp
	// hgBuckets: underflow, 27 octaves of 36, overflow.
	hgBuckets = hgOctaves*hgPerOctave + 2
)

var (
	// hgSub maps the top hgMantBits of a mantissa to the bucket within the
	// octave.
	hgSub [1 << hgMantBits]uint8
	// hgUpper[i] is the largest duration (ns) bucket i holds; the overflow
	// bucket's is MaxInt64.
	hgUpper [hgBuckets]int64
	// hgValue[i] is the duration (ns) bucket i stands for.
	hgValue [hgBuckets]int64
)

func init() {
	const grid = 1 << hgMantBits
	// edge[s]: the grid point nearest the ideal edge 2^(s/36) - 1 of an octave.
	var edge [hgPerOctave + 1]int64
	for s := range edge {
		edge[s] = int64(math.Round(grid * (math.Exp2(float64(s)/hgPerOctave) - 1)))
	}
	s := 0
	for m := range hgSub {
		for s+1 < hgPerOctave && int64(m) >= edge[s+1] {
			s++
		}
		hgSub[m] = uint8(s)
	}
	// Bucket 1 + o*36 + s holds x = v-1 in [(grid+edge[s])·2^(e-11),
	// (grid+edge[s+1])·2^(e-11)) with e = o+10. Its largest v is the
	// smallest x of the next bucket; v is a whole number of nanoseconds, so
	// fractional edges (octave 10 only) round up.
	lowX := func(o, s int) int64 {
		e := o + hgMinExp
		n := grid + edge[s]
		if e >= hgMantBits {
			return n << (e - hgMantBits)
		}
		sh := hgMantBits - e
		return (n + 1<<sh - 1) >> sh // ceil
	}
	hgUpper[0] = int64(MinLatency)
	hgValue[0] = int64(MinLatency)
	for o := range hgOctaves {
		for s := range hgPerOctave {
			i := 1 + o*hgPerOctave + s
			lo := lowX(o, s) + 1 // smallest v in the bucket
			hi := lowX(o, s+1)   // largest v: next bucket's smallest x
			hgUpper[i] = hi
			hgValue[i] = int64(math.Round(2 * float64(lo) * float64(hi) / float64(lo+hi)))
		}
	}
	hgUpper[hgBuckets-1] = math.MaxInt64
	// Above the range, the histogram only knows "more than MaxLatency".
	hgValue[hgBuckets-1] = int64(MaxLatency) + 1
}

// hgIndex returns the bucket that holds d. It is branch-light and
// allocation-free: it runs on every recorded request.
func hgIndex(d time.Duration) int {
	v := int64(d)
	if v <= int64(MinLatency) {
		return 0
	}
	if v > int64(MaxLatency) {
		return hgBuckets - 1
	}
	// v-1 < 2^37 converts to float64 exactly.
	b := math.Float64bits(float64(v - 1))
	exp := int(b>>52) - 1023
	return 1 + (exp-hgMinExp)*hgPerOctave + int(hgSub[(b>>(52-hgMantBits))&(1<<hgMantBits-1)])
}

// hgLower returns the largest duration below bucket i (its exclusive lower
// edge); for the underflow bucket, MinInt64.
func hgLower(i int) int64 {
	if i == 0 {
		return math.MinInt64
	}
	return hgUpper[i-1]
}

// Histogram is a snapshot of a latency distribution, as returned in
// Window.Latency by a Recorder. Quantiles read from it are within 1 % of
// the exact quantiles of the recorded durations (see MinLatency for the
// range). A Histogram never changes once returned, so it is safe to share.
//
// The zero Histogram is empty.
type Histogram struct {
	n      int64
	counts [hgBuckets]uint64
	// gone counts, by how long they waited, the requests whose client
	// went away (StatusClientClosedRequest): not part of the
	// distribution, only lower bounds on what it would have held.
	gone [goneBuckets]uint64
}

// Gone requests are kept at a quarter of an octave (9 of the latency
// buckets, 19%), which keeps a recorder within its memory budget; a count
// of gone requests that waited longer than d is exact when d is a bucket
// edge and otherwise leaves out the quarter octave that holds d.
const (
	goneGroup   = 9
	goneBuckets = (hgBuckets + goneGroup - 1) / goneGroup
)

func goneIndex(d time.Duration) int { return hgIndex(d) / goneGroup }

// GoneLongerThan returns how many requests whose client went away had
// waited longer than d when it did: requests known to be slower than d,
// though they never completed (right-censored observations). It counts
// only those surely longer than d, so it may leave out some that waited
// up to 19% longer.
func (h *Histogram) GoneLongerThan(d time.Duration) int64 {
	if h == nil {
		return 0
	}
	var n int64
	for k := len(h.gone) - 1; k >= 0; k-- {
		if hgLower(k*goneGroup) < int64(d) {
			break
		}
		n += int64(h.gone[k])
	}
	return n
}

// GoneCount returns how many requests whose client went away are counted.
func (h *Histogram) GoneCount() int64 {
	if h == nil {
		return 0
	}
	var n int64
	for _, c := range h.gone {
		n += int64(c)
	}
	return n
}

// Bucket is a range of durations and how many recorded durations fell in
// it: Lower < d <= Upper.
type Bucket struct {
	// Lower is the exclusive lower edge; math.MinInt64 for the bucket that
	// holds every duration <= MinLatency.
	Lower time.Duration
	// Upper is the inclusive upper edge; math.MaxInt64 for the bucket of
	// durations > MaxLatency.
	Upper time.Duration
	// Value is the duration the bucket stands for: within 1 % of every
	// duration in it (MinLatency and MaxLatency+1ns for the two outer
	// buckets).
	Value time.Duration
	// Count is how many durations fell in the bucket.
	Count int64
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() int64 {
	if h == nil {
		return 0
	}
	return h.n
}

// Quantile returns the q-quantile by the nearest-rank definition: the
// smallest recorded duration d such that at least q·Count() durations are
// <= d (q = 0 gives the smallest), within 1 %. q is clamped to [0, 1]; an
// empty histogram or a NaN q gives 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h == nil || h.n == 0 || math.IsNaN(q) {
		return 0
	}
	rank := hgRank(q, h.n)
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= rank {
			return time.Duration(hgValue[i])
		}
	}
	return time.Duration(hgValue[hgBuckets-1]) // unreachable: counts sum to n
}

// hgRank is the 1-based nearest rank of the q-quantile among n values:
// ceil(q·n) clamped to [1, n]. A product within a relative 1e-12 of a whole
// number counts as that number, so that 0.99·100 is rank 99, not 100.
func hgRank(q float64, n int64) int64 {
	if q <= 0 {
		return 1
	}
	if q >= 1 {
		return n
	}
	r := q * float64(n)
	k := int64(math.Ceil(r - r*1e-12))
	return min(max(k, 1), n)
}

// CountAtMost returns how many recorded durations are <= d. It is exact when
// d is a bucket edge (Bucket.Upper); otherwise the bucket that contains d is
// counted when its Value is <= d, so the answer is exact for some duration
// within 1 % of d. It agrees with Quantile: CountAtMost(Quantile(q)) >=
// q·Count().
func (h *Histogram) CountAtMost(d time.Duration) int64 {
	if h == nil || h.n == 0 {
		return 0
	}
	i := hgIndex(d)
	var n int64
	for j := range i {
		n += int64(h.counts[j])
	}
	if int64(d) >= hgValue[i] { // always so when d is the bucket's upper edge
		n += int64(h.counts[i])
	}
	return n
}

// Buckets yields the non-empty buckets in increasing order of duration.
func (h *Histogram) Buckets() iter.Seq[Bucket] {
	return func(yield func(Bucket) bool) {
		if h == nil {
			return
		}
		for i, c := range h.counts {
			if c == 0 {
				continue
			}
			b := Bucket{
				Lower: time.Duration(hgLower(i)),
				Upper: time.Duration(hgUpper[i]),
				Value: time.Duration(hgValue[i]),
				Count: int64(c),
			}
			if !yield(b) {
				return
			}
		}
	}
}

// sum estimates the total of the recorded durations from the buckets'
// values (within 1 % when all lie inside the histogram's range).
func (h *Histogram) sum() time.Duration {
	var s float64
	for i, c := range h.counts {
		if c != 0 {
			s += float64(c) * float64(hgValue[i])
		}
	}
	return time.Duration(s)
}

// emptyHistogram is shared by windows that saw nothing.
var emptyHistogram = &Histogram{}
