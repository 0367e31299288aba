package traffic

import (
	"math/bits"
	"net/http"
	"net/textproto"
	"strings"
)

// HeaderKey returns a sticky-key function (for Options.StickyKey) that
// reads the first value of the named header. Requests without the header,
// or with an empty value, have no key.
//
// The name is canonicalised once, here, so the request path indexes the
// header map directly. "Host" reads Request.Host, where net/http keeps it.
func HeaderKey(name string) func(*http.Request) string {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if canon == "Host" {
		return func(r *http.Request) string { return r.Host }
	}
	return func(r *http.Request) string {
		if v := r.Header[canon]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// CookieKey returns a sticky-key function (for Options.StickyKey) that
// reads the value of the named cookie. Requests without the cookie, or with
// an empty value, have no key. Reading the cookie does not allocate.
func CookieKey(name string) func(*http.Request) string {
	return func(r *http.Request) string { return cookieValue(r.Header, name) }
}

// ClientIPKey is a sticky-key function (for Options.StickyKey) that keys a
// request by the IP address of its peer (Request.RemoteAddr without the
// port). Behind another proxy or load balancer the peer is that proxy:
// use HeaderKey with the header it sets (for example "X-Real-IP") instead.
func ClientIPKey(r *http.Request) string {
	return hostOnly(r.RemoteAddr)
}

// hostOnly strips the port from "host:port" or "[v6]:port" without
// allocating. An address without a port is returned as is.
func hostOnly(addr string) string {
	if strings.HasPrefix(addr, "[") {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			return addr[1:i]
		}
		return addr
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.IndexByte(addr[:i], ':') >= 0 {
		// No port, or a bare IPv6 address.
		return addr
	}
	return addr[:i]
}

// cookieValue returns the value of the first cookie called name in the
// Cookie header lines of h, with surrounding double quotes removed, or ""
// when there is none. Unlike Request.Cookie it does not allocate: it scans
// the header text in place. Pairs are separated by ';' as RFC 6265 section
// 4.2.1 says; whitespace around names and values is ignored.
func cookieValue(h http.Header, name string) string {
	if name == "" {
		return ""
	}
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			if v, ok := cookiePair(part, name); ok {
				return v
			}
		}
	}
	return ""
}

// cookiePair reports whether the cookie-pair part ("name=value", with
// optional surrounding whitespace) is called name, and returns its value
// without surrounding whitespace and double quotes.
func cookiePair(part, name string) (string, bool) {
	eq := strings.IndexByte(part, '=')
	if eq < 0 || strings.TrimSpace(part[:eq]) != name {
		return "", false
	}
	v := strings.TrimSpace(part[eq+1:])
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, true
}

// hashKey maps a sticky key to a point in [0, 2^64).
//
// It reads the key eight bytes at a time (a 36-byte UUID takes five
// steps where byte-wise FNV-1a takes 36): each word is mixed in by
// xor, multiply by an odd constant and rotate, the length is mixed into
// the last word, and the 64-bit finaliser of MurmurHash3 (fmix64, Austin
// Appleby, public domain) spreads every input bit over the high bits, which
// the splitter compares against share thresholds. Keys that differ only in
// their last bytes therefore spread as evenly as random ones.
//
// The mapping is fixed: every process, replica and version of this
// package puts a key at the same point, so replicas agree on a key's
// backend and a restart moves no one. TestHashKeyIsStable holds it.
func hashKey(s string) uint64 {
	h := uint64(hashSeed)
	n := uint64(len(s))
	for len(s) >= 8 {
		h = mixWord(h, le64(s))
		s = s[8:]
	}
	var tail uint64
	for i := len(s) - 1; i >= 0; i-- {
		tail = tail<<8 | uint64(s[i])
	}
	return fmix64(mixWord(h, tail^n<<56))
}

// hashSeed and hashMul are fixed odd constants: the 64-bit FNV offset
// basis, and 2^64 divided by the golden ratio (the multiplier of Knuth's
// multiplicative hashing).
const (
	hashSeed = 14695981039346656037
	hashMul  = 0x9e3779b97f4a7c15
)

func mixWord(h, w uint64) uint64 {
	return bits.RotateLeft64((h^w)*hashMul, 31)
}

// le64 reads s[0:8] as a little-endian word; the compiler turns it into
// one load.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// fmix64 is the 64-bit finaliser of MurmurHash3: a bijection that lets
// every input bit affect every output bit.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
