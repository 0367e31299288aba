package admin

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
)

// statusPage is the page GET / serves. It loads nothing from anywhere: its
// style and script are inline, allowed by their hashes in the
// Content-Security-Policy, which forbids everything else. It fetches
// "status" and posts operations relative to its own URL, so it works under
// any prefix the host mounts the handler at.
//
//go:embed status.html
var statusPage string

var pageCSP = func() string {
	hash := func(open, close string) string {
		_, rest, _ := strings.Cut(statusPage, open)
		body, _, _ := strings.Cut(rest, close)
		sum := sha256.Sum256([]byte(body))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; connect-src 'self'; img-src 'self' data:; " +
		"style-src " + hash("<style>", "</style>") + "; script-src " + hash("<script>", "</script>") +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

func servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, statusPage)
}
