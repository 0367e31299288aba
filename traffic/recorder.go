package traffic

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// recorder wraps the ResponseWriter handed to a backend to learn the
// status and the body bytes of the response. Recorders are pooled so that
// the request path does not allocate; a backend must not use its
// ResponseWriter after ServeHTTP returns (the http.Handler contract).
//
// It passes Flush, Hijack and ReadFrom through and has Unwrap, so
// http.ResponseController (which httputil.ReverseProxy uses to flush and
// to switch protocols) reaches the server's writer.
type recorder struct {
	rw     http.ResponseWriter
	status int // final status written; 0 while the response has not started
	bytes  int64
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func getRecorder(w http.ResponseWriter) *recorder {
	rec := recorders.Get().(*recorder)
	rec.rw = w
	return rec
}

func (rec *recorder) release() {
	*rec = recorder{}
	recorders.Put(rec)
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
