package traffic

import (
	"bufio"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// recorder wraps the ResponseWriter handed to a backend to learn the
// status and the body bytes of the response. Recorders are reused so that
// the request path does not allocate; a backend must not use its
// ResponseWriter after ServeHTTP returns (the http.Handler contract).
//
// It passes Flush, Hijack and ReadFrom through and has Unwrap, so
// http.ResponseController (which httputil.ReverseProxy uses to flush and
// to switch protocols) reaches the server's writer.
//
// A recorder also carries the state of the splitter's weighted and mirror
// draws: a recorder serves one request at a time, so the draw needs
// neither a lock nor the runtime's shared generator.
type recorder struct {
	rw     http.ResponseWriter
	status int // final status written; 0 while the response has not started
	bytes  int64
	seed   uint64        // state of rand; kept across uses
	slot   *recorderSlot // the slot that holds it; nil for a pooled one
	// The padding makes a pooled recorder one 64-byte size class, so that
	// two recorders in use on two cores never share a cache line.
	_ [16]byte
}

// Recorders are kept in two places. recorderSlots is a fast cache that a
// goroutine reaches by a hash of its stack address, so a goroutine
// serving requests one after another (a connection's, under net/http)
// finds the recorder it used last, for one atomic compare-and-swap and
// one atomic store, on a cache line no other core uses meanwhile: a
// fraction of what sync.Pool's Get and Put cost. The slots take 128 bytes
// each, 8 KiB up to four processors. Each slot holds one
// recorder and a flag that its user sets by compare-and-swap, so a
// recorder is never handed to two requests at once; when the flag is
// already set (goroutines whose hashes collide) the recorder comes from,
// and goes back to, the recorders pool.
var (
	recorders     = sync.Pool{New: func() any { return &recorder{seed: rand.Uint64()} }}
	recorderSlots = newSlots(slotCount(runtime.GOMAXPROCS(0)))
	slotShift     = 64 - bits.TrailingZeros(uint(len(recorderSlots)))
)

// recorderSlot is a recorder with its in-use flag. Slots are 128 bytes
// apart, so that the bytes of two slots that requests touch (the first 56
// of each) are never on one cache line, however the slice is aligned.
type recorderSlot struct {
	busy atomic.Uint32
	rec  recorder
	_    [128 - 8 - 64]byte
}

func newSlots(n int) []recorderSlot {
	slots := make([]recorderSlot, n)
	for i := range slots {
		slots[i].rec.seed = rand.Uint64()
		slots[i].rec.slot = &slots[i]
	}
	return slots
}

// slotCount returns a power of two of at least 64 slots and 16 per
// processor, so that the goroutines running at a time seldom collide.
func slotCount(procs int) int {
	n := 64
	for n < 16*procs {
		n *= 2
	}
	return n
}

func getRecorder(w http.ResponseWriter) *recorder {
	// The address of a local variable identifies the goroutine's stack,
	// which is at least 2 KiB; Fibonacci hashing spreads neighbours.
	var anchor byte
	h := uint64(uintptr(unsafe.Pointer(&anchor))>>11) * 0x9e3779b97f4a7c15
	var rec *recorder
	if slot := &recorderSlots[h>>slotShift]; slot.busy.CompareAndSwap(0, 1) {
		rec = &slot.rec
	} else {
		rec = recorders.Get().(*recorder)
	}
	rec.rw = w
	return rec
}

func (rec *recorder) release() {
	rec.rw, rec.status, rec.bytes = nil, 0, 0
	if rec.slot != nil {
		rec.slot.busy.Store(0)
	} else {
		recorders.Put(rec)
	}
}

// rand returns the next point of the recorder's SplitMix64 sequence,
// uniform in [0, 2^64). SplitMix64 (Steele, Lea and Flood, "Fast
// Splittable Pseudorandom Number Generators", OOPSLA 2014; constants of
// Vigna's reference splitmix64.c) adds an odd constant to its state and
// scrambles the sum: its period is 2^64 and its output passes BigCrush.
// Each recorder starts at a point drawn from math/rand/v2 when it is
// created. It is not cryptographically secure: it only spreads requests
// over backends and mirrors.
func (rec *recorder) rand() uint64 {
	rec.seed += 0x9e3779b97f4a7c15
	z := rec.seed
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// started reports whether the response header has gone to the client.
func (rec *recorder) started() bool { return rec.status != 0 }

// result is the status the client got: 200 when the handler wrote nothing,
// as net/http sends then.
func (rec *recorder) result() int {
	if rec.status == 0 {
		return http.StatusOK
	}
	return rec.status
}

func (rec *recorder) Header() http.Header { return rec.rw.Header() }

func (rec *recorder) WriteHeader(code int) {
	// Informational responses (103 Early Hints, 100 Continue) precede the
	// final one; 101 Switching Protocols is final.
	if rec.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		rec.status = code
	}
	rec.rw.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.rw.Write(p)
	rec.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the server's sendfile path for handlers that io.Copy
// into the response (http.ServeContent does).
func (rec *recorder) ReadFrom(r io.Reader) (int64, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := rec.rw.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{rec.rw}, r)
	}
	rec.bytes += n
	return n, err
}

// writerOnly hides every method but Write, so io.Copy does not call
// ReadFrom back.
type writerOnly struct{ io.Writer }

// Flush sends buffered data to the client. It does nothing when the
// server's writer cannot flush.
func (rec *recorder) Flush() { _ = rec.FlushError() }

// FlushError is Flush that reports a writer unable to flush; it is what
// http.ResponseController calls.
func (rec *recorder) FlushError() error {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return http.NewResponseController(rec.rw).Flush()
}

// Hijack hands the connection to the handler. A hijacked connection is
// observed with status 101, whatever the handler then writes on it.
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rec.rw).Hijack()
	if err == nil && rec.status == 0 {
		rec.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap returns the server's writer, for http.ResponseController.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.rw }
